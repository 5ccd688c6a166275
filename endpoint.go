package hookd

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Endpoint is a subscription: where to send which events, how to sign them,
// and how hard to try. Every field but URL has a default (see Normalize).
type Endpoint struct {
	ID          string            `json:"id"`
	Tenant      string            `json:"tenant"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	EventTypes  []string          `json:"event_types"`
	Enabled     bool              `json:"enabled"`
	Timeout     Duration          `json:"timeout"`
	Retry       RetryPolicy       `json:"retry"`
	Headers     map[string]string `json:"headers"`
	Signature   SignatureConfig   `json:"signature"`
	MaxInFlight int               `json:"max_in_flight"`
	RateLimit   float64           `json:"rate_limit"` // requests per second; 0 means unlimited
	Filter      string            `json:"filter,omitempty"`
	Body        string            `json:"body,omitempty"`

	// DisabledReason says why an endpoint was disabled by hookd itself
	// (e.g. "410 Gone"); empty when enabled or disabled by a person.
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`

	// Secrets are the signing secrets, newest first. Only the first has a
	// zero ExpiresAt; older ones sign until they expire (rotation grace).
	// Never serialised: the API reveals a secret only on request.
	Secrets []Secret `json:"-"`
}

// Secret is one signing secret of an endpoint.
type Secret struct {
	Value     string    `json:"value"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// SignatureConfig chooses how requests are signed.
type SignatureConfig struct {
	Scheme string `json:"scheme"`
	Header string `json:"header,omitempty"` // renames the header of stripe and hmac-sha256-hex
}

// Signature schemes.
const (
	SchemeStandardWebhooks = "standard-webhooks"
	SchemeStripe           = "stripe"
	SchemeHMACSHA256Hex    = "hmac-sha256-hex"
)

// Defaults applied by Normalize.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 16
	MaxTimeout         = 5 * time.Minute
	MaxMaxInFlight     = 1024
	MaxHeaders         = 32
	MaxURLLength       = 2048
	MaxDescription     = 1024
	MaxEventTypes      = 256
)

// SecretPrefix starts every secret hookd generates or accepts.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh secret: "whsec_" + base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidSecret reports whether s is "whsec_" + base64 of 24 to 64 bytes.
func ValidSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	return err == nil && len(b) >= 24 && len(b) <= 64
}

// ActiveSecrets returns the secrets that sign at now: the current one and
// any rotated-out one whose grace has not ended.
func (e *Endpoint) ActiveSecrets(now time.Time) []Secret {
	out := make([]Secret, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out
}

// Subscribed reports whether the endpoint's event_types admit typ.
// Patterns are exact names or a dotted prefix with a trailing "*".
func (e *Endpoint) Subscribed(typ string) bool {
	if len(e.EventTypes) == 0 {
		return true
	}
	for _, p := range e.EventTypes {
		if MatchEventType(p, typ) {
			return true
		}
	}
	return false
}

// MatchEventType reports whether pattern ("order.created", "order.*", "*")
// matches the event type typ.
func MatchEventType(pattern, typ string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(typ, prefix)
	}
	return pattern == typ
}

var (
	tenantRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	eventTypeRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	patternRe   = regexp.MustCompile(`^(\*|[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}|([A-Za-z0-9_-][A-Za-z0-9_-]*\.)+\*)$`)
)

// ValidTenantID reports whether id is a valid tenant identifier.
func ValidTenantID(id string) bool { return tenantRe.MatchString(id) }

// ValidEventType reports whether typ is a valid event type.
func ValidEventType(typ string) bool { return eventTypeRe.MatchString(typ) }

// reservedHeaders are set by hookd and cannot be overridden per endpoint.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "User-Agent": true,
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
	"Transfer-Encoding": true, "Connection": true,
}

// Normalize fills defaults for absent fields. Call it before Validate.
func (e *Endpoint) Normalize() {
	if e.Timeout == 0 {
		e.Timeout = Duration(DefaultTimeout)
	}
	if e.MaxInFlight == 0 {
		e.MaxInFlight = DefaultMaxInFlight
	}
	if e.Signature.Scheme == "" {
		e.Signature.Scheme = SchemeStandardWebhooks
	}
	if len(e.EventTypes) == 1 && e.EventTypes[0] == "*" {
		e.EventTypes = nil
	}
	if e.Retry.IsZero() {
		e.Retry = DefaultRetryPolicy()
	}
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
}

// Validate reports every invalid field of e at once. CEL expressions are
// checked by the engine, which owns the compiler.
func (e *Endpoint) Validate() error {
	var v Validation
	if !ValidTenantID(e.Tenant) {
		v.Add("tenant", "must match [A-Za-z0-9_.-]{1,64}")
	}
	validateURL(&v, "url", e.URL)
	if len(e.Description) > MaxDescription {
		v.Add("description", "must be at most %d bytes", MaxDescription)
	}
	if len(e.EventTypes) > MaxEventTypes {
		v.Add("event_types", "at most %d patterns", MaxEventTypes)
	}
	for _, p := range e.EventTypes {
		if !patternRe.MatchString(p) {
			v.Add("event_types", "%q is not an event type or a dotted prefix ending in *", p)
			break
		}
	}
	switch {
	case !e.Timeout.Valid():
		v.Add("timeout", DurationMessage)
	case e.Timeout < Duration(time.Second) || e.Timeout > Duration(MaxTimeout):
		v.Add("timeout", "must be between 1s and %s", MaxTimeout)
	}
	e.Retry.validate(&v, "retry")
	if len(e.Headers) > MaxHeaders {
		v.Add("headers", "at most %d headers", MaxHeaders)
	}
	for k, val := range e.Headers {
		if !validHeaderName(k) || strings.ContainsAny(val, "\r\n\x00") || len(val) > 1024 {
			v.Add("headers", "%q is not a valid header", k)
			break
		}
		if reservedHeaders[http.CanonicalHeaderKey(k)] {
			v.Add("headers", "%q is set by hookd and cannot be overridden", k)
			break
		}
	}
	switch e.Signature.Scheme {
	case SchemeStandardWebhooks:
		if e.Signature.Header != "" {
			v.Add("signature.header", "only the stripe and hmac-sha256-hex schemes take a header name")
		}
	case SchemeStripe, SchemeHMACSHA256Hex:
		if e.Signature.Header != "" && !validHeaderName(e.Signature.Header) {
			v.Add("signature.header", "is not a valid header name")
		}
	default:
		v.Add("signature.scheme", "must be one of standard-webhooks, stripe, hmac-sha256-hex")
	}
	if e.MaxInFlight < 1 || e.MaxInFlight > MaxMaxInFlight {
		v.Add("max_in_flight", "must be between 1 and %d", MaxMaxInFlight)
	}
	if e.RateLimit < 0 || e.RateLimit > 1e6 {
		v.Add("rate_limit", "must be between 0 (unlimited) and 1000000 requests per second")
	}
	for i, s := range e.Secrets {
		if !ValidSecret(s.Value) {
			if i == 0 {
				v.Add("secret", "must be %q followed by base64 of 24 to 64 bytes", SecretPrefix)
			}
			break
		}
	}
	if len(e.Filter) > 4096 {
		v.Add("filter", "must be at most 4096 bytes")
	}
	if len(e.Body) > 4096 {
		v.Add("body", "must be at most 4096 bytes")
	}
	return v.Err()
}

func validateURL(v *Validation, field, raw string) {
	if raw == "" {
		v.Add(field, "is required")
		return
	}
	if len(raw) > MaxURLLength {
		v.Add(field, "must be at most %d bytes", MaxURLLength)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.Add(field, "is not a valid URL")
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		v.Add(field, "scheme must be http or https")
		return
	}
	if u.Hostname() == "" {
		v.Add(field, "must have a host")
		return
	}
	if u.User != nil {
		v.Add(field, "must not carry credentials; use headers")
		return
	}
	if u.Fragment != "" {
		v.Add(field, "must not have a fragment")
	}
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
