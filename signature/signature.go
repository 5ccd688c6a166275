// Package signature signs and verifies webhook requests in the three schemes
// hookd sends: Standard Webhooks (the default), Stripe's, and GitHub's
// hex HMAC. It imports only the standard library, so a receiver written in Go
// can verify hookd's requests with it without pulling in the server.
//
// A Signer is built once per endpoint configuration and signs each request
// with every secret that is valid at the request's timestamp: during a
// rotation's grace period the old and the new secret both sign, so a
// receiver holding either one accepts the request. A Verifier does the
// opposite: it accepts a request when any of its secrets produced any of the
// signatures, within a timestamp tolerance, comparing MACs in constant time.
//
// The key of each scheme is what its originators use, so receivers built
// for Stripe or GitHub verify hookd with their usual code:
//
//   - standard-webhooks: the key is the base64-decoded part of the secret
//     after "whsec_"; the MAC covers "<webhook-id>.<webhook-timestamp>.<body>"
//     and is sent base64-encoded as "v1,<mac>", several separated by spaces.
//   - stripe: the key is the whole secret string; the MAC covers
//     "<t>.<body>" and is sent as "t=<unix>,v1=<hex>[,v1=<hex>…]" in
//     Stripe-Signature (or a configured header).
//   - hmac-sha256-hex: the key is the whole secret string; the MAC covers
//     the body alone and is sent as "sha256=<hex>" in X-Hub-Signature-256
//     (or a configured header). With several secrets, each signature is its
//     own field line of that header, newest secret first. A receiver that
//     reads only the first line (such as go-github's ValidatePayload) thus
//     checks the newest secret; HTTP lets intermediaries merge the lines into
//     one comma-separated value, and Verifier accepts both forms. The scheme
//     carries no timestamp, so it cannot protect against replays.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Schemes.
const (
	StandardWebhooks = "standard-webhooks"
	Stripe           = "stripe"
	HMACSHA256Hex    = "hmac-sha256-hex"
)

// Header names. Go canonicalises header names; HTTP compares them without
// regard to case, so "Webhook-Id" is the "webhook-id" of the standard.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
	// DefaultStripeHeader carries stripe signatures unless renamed.
	DefaultStripeHeader = "Stripe-Signature"
	// DefaultHMACHeader carries hmac-sha256-hex signatures unless renamed.
	DefaultHMACHeader = "X-Hub-Signature-256"
)

// SecretPrefix starts a Standard Webhooks secret; the rest is base64.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a signed timestamp may be from the verifier's
// clock, as in Standard Webhooks and Stripe.
const DefaultTolerance = 5 * time.Minute

// Errors of verification. Verify wraps them with detail; test with errors.Is.
var (
	ErrMissing       = errors.New("signature: missing signature header")
	ErrMalformed     = errors.New("signature: malformed signature header")
	ErrNoMatch       = errors.New("signature: no signature matches")
	ErrTooOld        = errors.New("signature: timestamp too old")
	ErrTooNew        = errors.New("signature: timestamp too far in the future")
	ErrUnknownScheme = errors.New("signature: unknown scheme")
	ErrBadSecret     = errors.New("signature: secret is not whsec_ followed by base64")
)

// Secret is one signing secret. A zero ExpiresAt never expires; otherwise
// the secret signs requests made before ExpiresAt (a rotation's grace).
type Secret struct {
	Value     string
	ExpiresAt time.Time
}

// Signer signs requests for one endpoint. It is safe for concurrent use.
type Signer struct {
	scheme string
	header string
	keys   []signingKey
}

type signingKey struct {
	key     []byte
	expires time.Time
}

// NewSigner returns a Signer for scheme ("" means standard-webhooks).
// header renames the signature header of stripe and hmac-sha256-hex ("" for
// the default). Secrets should be newest first; their order is the order of
// the signatures.
func NewSigner(scheme, header string, secrets ...Secret) (*Signer, error) {
	s := &Signer{scheme: scheme}
	switch scheme {
	case "", StandardWebhooks:
		s.scheme = StandardWebhooks
		if header != "" {
			return nil, fmt.Errorf("signature: the %s scheme has fixed header names", StandardWebhooks)
		}
	case Stripe:
		s.header = DefaultStripeHeader
	case HMACSHA256Hex:
		s.header = DefaultHMACHeader
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownScheme, scheme)
	}
	if header != "" {
		s.header = http.CanonicalHeaderKey(header)
	}
	for _, sec := range secrets {
		k, err := key(s.scheme, sec.Value)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, signingKey{key: k, expires: sec.ExpiresAt})
	}
	return s, nil
}

// key returns the HMAC key of secret under scheme.
func key(scheme, secret string) ([]byte, error) {
	if scheme != StandardWebhooks {
		return []byte(secret), nil
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// Scheme returns the signer's scheme.
func (s *Signer) Scheme() string { return s.scheme }

// Header returns the canonical name of the header holding the signatures.
func (s *Signer) Header() string {
	if s.scheme == StandardWebhooks {
		return HeaderSignature
	}
	return s.header
}

// Sign sets on h the headers that sign body, sent at ts. id is the message
// id, the receiver's deduplication key; only standard-webhooks sends it
// (as webhook-id, with webhook-timestamp). Secrets that expired at ts do not
// sign; with none left the signature header is absent.
func (s *Signer) Sign(h http.Header, id string, ts time.Time, body []byte) {
	unix := ts.Unix()
	var tsbuf [20]byte
	t := strconv.AppendInt(tsbuf[:0], unix, 10)
	var mac [sha256.Size]byte
	switch s.scheme {
	case StandardWebhooks:
		h[HeaderID] = []string{id}
		h[HeaderTimestamp] = []string{string(t)}
		buf := make([]byte, 0, 48*len(s.keys))
		for _, k := range s.keys {
			if !k.active(ts) {
				continue
			}
			if len(buf) > 0 {
				buf = append(buf, ' ')
			}
			sum(&mac, k.key, []byte(id), t, body)
			buf = append(buf, "v1,"...)
			buf = base64.StdEncoding.AppendEncode(buf, mac[:])
		}
		if len(buf) > 0 {
			h[HeaderSignature] = []string{string(buf)}
		}
	case Stripe:
		buf := make([]byte, 0, 16+70*len(s.keys))
		buf = append(buf, "t="...)
		buf = append(buf, t...)
		n := 0
		for _, k := range s.keys {
			if !k.active(ts) {
				continue
			}
			sum(&mac, k.key, nil, t, body)
			buf = append(buf, ",v1="...)
			buf = hex.AppendEncode(buf, mac[:])
			n++
		}
		if n > 0 {
			h[s.header] = []string{string(buf)}
		}
	case HMACSHA256Hex:
		var vals []string
		for _, k := range s.keys {
			if !k.active(ts) {
				continue
			}
			sum(&mac, k.key, nil, nil, body)
			buf := make([]byte, 0, 7+2*sha256.Size)
			buf = append(buf, "sha256="...)
			vals = append(vals, string(hex.AppendEncode(buf, mac[:])))
		}
		if len(vals) > 0 {
			h[s.header] = vals
		}
	}
}

func (k *signingKey) active(ts time.Time) bool {
	return k.expires.IsZero() || ts.Before(k.expires)
}

// sum writes into mac the HMAC-SHA256 under key of the message the schemes
// sign: "id.ts.body", "ts.body" or "body", omitting absent parts. Writing
// the parts in turn avoids copying the body into one buffer.
func sum(mac *[sha256.Size]byte, key, id, ts, body []byte) {
	h := hmac.New(sha256.New, key)
	if id != nil {
		h.Write(id)
		h.Write(dot)
	}
	if ts != nil {
		h.Write(ts)
		h.Write(dot)
	}
	h.Write(body)
	h.Sum(mac[:0])
}

var dot = []byte{'.'}

// Verifier checks signed requests. The zero value verifies
// standard-webhooks signatures with DefaultTolerance, once Secrets is set.
type Verifier struct {
	// Scheme is one of the scheme constants; "" means standard-webhooks.
	Scheme string
	// Header renames the signature header of stripe and hmac-sha256-hex.
	Header string
	// Secrets are the accepted secrets: a request signed by any one passes.
	Secrets []string
	// Tolerance bounds the distance between the signed timestamp and Now;
	// 0 means DefaultTolerance and a negative value skips the check.
	// hmac-sha256-hex carries no timestamp.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify reports whether h and body carry a valid signature: nil if so,
// else an error wrapping one of the Err* values.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	scheme := v.Scheme
	if scheme == "" {
		scheme = StandardWebhooks
	}
	switch scheme {
	case StandardWebhooks:
		return v.verifyStandard(h, body)
	case Stripe:
		return v.verifyStripe(h, body)
	case HMACSHA256Hex:
		return v.verifyHMAC(h, body)
	}
	return fmt.Errorf("%w %q", ErrUnknownScheme, scheme)
}

func (v *Verifier) header(def string) string {
	if v.Header != "" {
		return v.Header
	}
	return def
}

func (v *Verifier) verifyStandard(h http.Header, body []byte) error {
	id, ts, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), strings.Join(h.Values(HeaderSignature), " ")
	if id == "" || ts == "" || sig == "" {
		return fmt.Errorf("%w: need %s, %s and %s", ErrMissing, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return err
	}
	if err := v.checkTime(unix); err != nil {
		return err
	}
	sigs, err := parseStandard(sig)
	if err != nil {
		return err
	}
	var mac [sha256.Size]byte
	for _, secret := range v.Secrets {
		k, err := key(StandardWebhooks, secret)
		if err != nil {
			return err
		}
		sum(&mac, k, []byte(id), []byte(ts), body)
		if anyEqual(sigs, mac[:]) {
			return nil
		}
	}
	return ErrNoMatch
}

func (v *Verifier) verifyStripe(h http.Header, body []byte) error {
	name := v.header(DefaultStripeHeader)
	val := strings.Join(h.Values(name), ",")
	if val == "" {
		return fmt.Errorf("%w: %s", ErrMissing, name)
	}
	unix, sigs, err := parseStripe(val)
	if err != nil {
		return err
	}
	if err := v.checkTime(unix); err != nil {
		return err
	}
	ts := strconv.AppendInt(nil, unix, 10)
	var mac [sha256.Size]byte
	for _, secret := range v.Secrets {
		sum(&mac, []byte(secret), nil, ts, body)
		if anyEqual(sigs, mac[:]) {
			return nil
		}
	}
	return ErrNoMatch
}

func (v *Verifier) verifyHMAC(h http.Header, body []byte) error {
	name := v.header(DefaultHMACHeader)
	vals := h.Values(name)
	if len(vals) == 0 {
		return fmt.Errorf("%w: %s", ErrMissing, name)
	}
	sigs, err := parseHMAC(vals)
	if err != nil {
		return err
	}
	var mac [sha256.Size]byte
	for _, secret := range v.Secrets {
		sum(&mac, []byte(secret), nil, nil, body)
		if anyEqual(sigs, mac[:]) {
			return nil
		}
	}
	return ErrNoMatch
}

func (v *Verifier) checkTime(unix int64) error {
	tol := v.Tolerance
	if tol < 0 {
		return nil
	}
	if tol == 0 {
		tol = DefaultTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	d := now().Sub(time.Unix(unix, 0))
	switch {
	case d > tol:
		return ErrTooOld
	case d < -tol:
		return ErrTooNew
	}
	return nil
}

// anyEqual compares mac with every candidate in constant time, without
// stopping at the first match, so timing reveals nothing about which
// candidate (or how much of it) was right.
func anyEqual(sigs [][]byte, mac []byte) bool {
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, mac) {
			ok = true
		}
	}
	return ok
}

// maxSignatures bounds how many signatures one header may make us check,
// so a hostile header cannot make verification arbitrarily expensive.
const maxSignatures = 16

// parseUnix parses a timestamp of Unix seconds.
func parseUnix(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, fmt.Errorf("%w: timestamp %q", ErrMalformed, clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: timestamp %q", ErrMalformed, clip(s))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp %q", ErrMalformed, clip(s))
	}
	return n, nil
}

// parseStandard parses "v1,<base64> v1,<base64> …", ignoring signatures of
// other versions (such as v1a) as the standard asks.
func parseStandard(s string) ([][]byte, error) {
	var sigs [][]byte
	for part := range strings.FieldsSeq(s) {
		ver, b64, ok := strings.Cut(part, ",")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not <version>,<signature>", ErrMalformed, clip(part))
		}
		if ver != "v1" {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != sha256.Size {
			return nil, fmt.Errorf("%w: v1 signature %q is not base64 of 32 bytes", ErrMalformed, clip(b64))
		}
		if len(sigs) == maxSignatures {
			return nil, fmt.Errorf("%w: more than %d signatures", ErrMalformed, maxSignatures)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	return sigs, nil
}

// parseStripe parses "t=<unix>,v1=<hex>,v1=<hex>…"; other keys (v0) are
// ignored, as Stripe's libraries do.
func parseStripe(s string) (int64, [][]byte, error) {
	var (
		unix  int64
		haveT bool
		sigs  [][]byte
	)
	for pair := range strings.SplitSeq(s, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: %q is not key=value", ErrMalformed, clip(pair))
		}
		switch k {
		case "t":
			if haveT {
				return 0, nil, fmt.Errorf("%w: two timestamps", ErrMalformed)
			}
			n, err := parseUnix(val)
			if err != nil {
				return 0, nil, err
			}
			unix, haveT = n, true
		case "v1":
			sig, err := hex.DecodeString(val)
			if err != nil || len(sig) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1 signature %q is not hex of 32 bytes", ErrMalformed, clip(val))
			}
			if len(sigs) == maxSignatures {
				return 0, nil, fmt.Errorf("%w: more than %d signatures", ErrMalformed, maxSignatures)
			}
			sigs = append(sigs, sig)
		}
	}
	if !haveT {
		return 0, nil, fmt.Errorf("%w: no t=<timestamp>", ErrMalformed)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	return unix, sigs, nil
}

// parseHMAC parses "sha256=<hex>" values, each possibly a comma-separated
// list (field lines merged by an intermediary).
func parseHMAC(vals []string) ([][]byte, error) {
	var sigs [][]byte
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			alg, hx, ok := strings.Cut(item, "=")
			if !ok || alg != "sha256" {
				return nil, fmt.Errorf("%w: %q is not sha256=<hex>", ErrMalformed, clip(item))
			}
			sig, err := hex.DecodeString(hx)
			if err != nil || len(sig) != sha256.Size {
				return nil, fmt.Errorf("%w: %q is not hex of 32 bytes", ErrMalformed, clip(hx))
			}
			if len(sigs) == maxSignatures {
				return nil, fmt.Errorf("%w: more than %d signatures", ErrMalformed, maxSignatures)
			}
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	return sigs, nil
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
