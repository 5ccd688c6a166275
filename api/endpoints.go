package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/maphash"
	"net/http"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/hookd/hookd"
)

// endpointBody creates an endpoint. Every field but url is optional and
// defaults as hookd.Endpoint.Normalize says; enabled defaults to true.
type endpointBody struct {
	URL         string                `json:"url"`
	Description string                `json:"description,omitempty"`
	EventTypes  []string              `json:"event_types,omitempty"`
	Enabled     *bool                 `json:"enabled,omitempty"`
	Secret      string                `json:"secret,omitempty"`
	Timeout     hookd.Duration        `json:"timeout,omitempty"`
	Retry       hookd.RetryPolicy     `json:"retry,omitzero"`
	Headers     map[string]string     `json:"headers,omitempty"`
	Signature   hookd.SignatureConfig `json:"signature,omitzero"`
	MaxInFlight int                   `json:"max_in_flight,omitempty"`
	RateLimit   float64               `json:"rate_limit,omitempty"`
	Filter      string                `json:"filter,omitempty"`
	Body        string                `json:"body,omitempty"`
}

// endpointPatch documents PATCH: the fields of endpointBody but secret
// (rotate instead), all optional. A test keeps the two in step.
type endpointPatch struct {
	URL         string                `json:"url,omitempty"`
	Description string                `json:"description,omitempty"`
	EventTypes  []string              `json:"event_types,omitempty"`
	Enabled     *bool                 `json:"enabled,omitempty"`
	Timeout     hookd.Duration        `json:"timeout,omitempty"`
	Retry       hookd.RetryPolicy     `json:"retry,omitzero"`
	Headers     map[string]string     `json:"headers,omitempty"`
	Signature   hookd.SignatureConfig `json:"signature,omitzero"`
	MaxInFlight int                   `json:"max_in_flight,omitempty"`
	RateLimit   float64               `json:"rate_limit,omitempty"`
	Filter      string                `json:"filter,omitempty"`
	Body        string                `json:"body,omitempty"`
}

// apply copies the body onto e; Normalize fills what it leaves zero.
func (b *endpointBody) apply(e *hookd.Endpoint) {
	e.URL = b.URL
	e.Description = b.Description
	e.EventTypes = b.EventTypes
	e.Enabled = b.Enabled == nil || *b.Enabled
	e.Timeout = b.Timeout
	e.Retry = b.Retry
	e.Headers = b.Headers
	e.Signature = b.Signature
	e.MaxInFlight = b.MaxInFlight
	e.RateLimit = b.RateLimit
	e.Filter = b.Filter
	e.Body = b.Body
}

// bodyOf is the inverse of apply, the base a PATCH merges onto.
func bodyOf(e *hookd.Endpoint) endpointBody {
	enabled := e.Enabled
	return endpointBody{
		URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, Enabled: &enabled,
		Timeout: e.Timeout, Retry: e.Retry, Headers: e.Headers, Signature: e.Signature,
		MaxInFlight: e.MaxInFlight, RateLimit: e.RateLimit, Filter: e.Filter, Body: e.Body,
	}
}

// endpointWithSecret answers a create: the endpoint and, this once, its secret.
type endpointWithSecret struct {
	*hookd.Endpoint
	Secret string `json:"secret"`
}

// secretView reveals an endpoint's secrets.
type secretView struct {
	// Secret is the current secret.
	Secret string `json:"secret"`
	// Previous are rotated-out secrets that still sign until expires_at.
	Previous []hookd.Secret `json:"previous"`
}

func viewSecrets(e *hookd.Endpoint, now time.Time) secretView {
	v := secretView{Previous: []hookd.Secret{}}
	for i, s := range e.ActiveSecrets(now) {
		if i == 0 && s.ExpiresAt.IsZero() {
			v.Secret = s.Value
			continue
		}
		v.Previous = append(v.Previous, s)
	}
	return v
}

// rotateBody asks for a new secret.
type rotateBody struct {
	// Grace is how long the old secret keeps signing alongside the new
	// one (default 24h; "0s" retires it at once; at most 720h).
	Grace *hookd.Duration `json:"grace,omitempty"`
	// Secret is the new secret; hookd generates one when absent.
	Secret string `json:"secret,omitempty"`
}

// Rotation bounds.
const (
	defaultGrace = 24 * time.Hour
	maxGrace     = 720 * time.Hour
	// maxSecrets bounds the secrets that sign at once: rotating again
	// within the grace keeps the newest ones.
	maxSecrets = 5
)

// checkEndpoint validates an endpoint and its CEL expressions, reporting
// the fields of both at once.
func (c *call) checkEndpoint(e *hookd.Endpoint) error {
	e.Normalize()
	err1 := e.Validate()
	var err2 error
	if e.Filter != "" || e.Body != "" {
		err2 = c.s.engine.CheckExpressions(e)
	}
	return joinInvalid(err1, err2)
}

// joinInvalid merges EINVALID errors into one; any other error wins.
func joinInvalid(errs ...error) error {
	var fields []hookd.FieldError
	var v hookd.Validation
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *hookd.Error
		if !errors.As(err, &e) || e.Code != hookd.EINVALID {
			return err
		}
		if len(e.Fields) == 0 {
			v.Add("", "%s", e.Message)
		}
		fields = append(fields, e.Fields...)
	}
	for _, f := range fields {
		v.Add(f.Field, "%s", f.Message)
	}
	return v.Err()
}

func createEndpoint(c *call) error {
	var b endpointBody
	if err := c.decode(&b, c.s.maxBody); err != nil {
		return err
	}
	now := c.s.now().UTC()
	e := &hookd.Endpoint{ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: c.tenant, CreatedAt: now, UpdatedAt: now}
	b.apply(e)
	secret := b.Secret
	if secret == "" {
		secret = hookd.NewSecret()
	}
	e.Secrets = []hookd.Secret{{Value: secret}}
	if err := c.checkEndpoint(e); err != nil {
		return err
	}
	if err := c.s.store.EndpointInsert(c.r.Context(), e); err != nil {
		return err
	}
	c.s.engine.EndpointChanged(c.tenant)
	c.w.Header().Set("Location", "/v1/tenants/"+c.tenant+"/endpoints/"+e.ID)
	return c.respond(http.StatusCreated, endpointWithSecret{Endpoint: e, Secret: secret})
}

func listEndpoints(c *call) error {
	eps, next, err := c.s.store.EndpointList(c.r.Context(), hookd.EndpointListParams{ListParams: c.q.ListParams, Tenant: c.tenant})
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, newPage(eps, next))
}

func getEndpoint(c *call) error {
	e, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, e)
}

// readOnly are the endpoint fields a PATCH may carry (a client may send
// back what it read) but cannot change.
var readOnly = []string{"id", "tenant", "created_at", "updated_at", "disabled_reason"}

func updateEndpoint(c *call) error {
	buf, err := c.readBody(c.s.maxBody)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	var patch map[string]jsontext.Value
	if err := jsonv2.Unmarshal(buf.Bytes(), &patch); err != nil {
		if len(buf.Bytes()) == 0 {
			return hookd.Errorf(hookd.EMALFORMED, "the request body must be a JSON object")
		}
		return decodeError(err)
	}
	if patch == nil {
		return hookd.Errorf(hookd.EMALFORMED, "the request body must be a JSON object, not null")
	}
	if _, ok := patch["secret"]; ok {
		return hookd.Invalid("secret", "cannot be patched; POST …/secret/rotate to change it")
	}
	for _, k := range readOnly {
		delete(patch, k)
	}
	_, touchesEnabled := patch["enabled"]

	id := c.r.PathValue("id")
	unlock := lockEndpoint(c.tenant, id)
	defer unlock()
	old, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	base, err := json.Marshal(bodyOf(old))
	if err != nil {
		return err
	}
	merged, err := mergePatch(base, patch)
	if err != nil {
		return err
	}
	var b endpointBody
	if err := decodeError(jsonv2.Unmarshal(merged, &b, decodeOptions)); err != nil {
		return err
	}
	e := *old
	b.apply(&e)
	if touchesEnabled {
		e.DisabledReason = "" // a person decided; hookd's reason no longer holds
	}
	e.UpdatedAt = c.s.now().UTC()
	if err := c.checkEndpoint(&e); err != nil {
		return err
	}
	if err := c.s.store.EndpointUpdate(c.r.Context(), &e); err != nil {
		return err
	}
	c.s.engine.EndpointChanged(c.tenant)
	if rc, ok := c.s.engine.(hookd.Recovery); ok && old.Enabled != e.Enabled {
		rc.EndpointToggled(c.r.Context(), &e) // health afresh; operators hear of it
	}
	return c.respond(http.StatusOK, &e)
}

// mergePatch applies an RFC 7386 JSON merge patch to the object base:
// members of patch replace those of base, null removes one (so the field
// takes its default), and objects merge recursively, except retry, which
// is one policy and is replaced whole so that switching from schedule to
// backoff needs no explicit null.
func mergePatch(base []byte, patch map[string]jsontext.Value) ([]byte, error) {
	var doc map[string]jsontext.Value
	if err := jsonv2.Unmarshal(base, &doc); err != nil {
		return nil, err
	}
	for k, v := range patch {
		switch {
		case v.Kind() == 'n':
			delete(doc, k)
		case k == "retry" || v.Kind() != '{':
			doc[k] = v
		default:
			m, err := mergeValue(doc[k], v)
			if err != nil {
				return nil, err
			}
			doc[k] = m
		}
	}
	return jsonv2.Marshal(doc)
}

func mergeValue(base, patch jsontext.Value) (jsontext.Value, error) {
	if patch.Kind() != '{' {
		return patch, nil
	}
	var b, p map[string]jsontext.Value
	if base.Kind() == '{' {
		if err := jsonv2.Unmarshal(base, &b); err != nil {
			return nil, err
		}
	}
	if b == nil {
		b = map[string]jsontext.Value{}
	}
	if err := jsonv2.Unmarshal(patch, &p); err != nil {
		return nil, decodeError(err)
	}
	for k, v := range p {
		if v.Kind() == 'n' {
			delete(b, k)
			continue
		}
		m, err := mergeValue(b[k], v)
		if err != nil {
			return nil, err
		}
		b[k] = m
	}
	return jsonv2.Marshal(b)
}

// endpointLocks serialise this node's read-modify-write changes of one
// endpoint (PATCH, rotate), so two concurrent rotations cannot drop each
// other's secret. Sharded: endpoint changes are rare, a shared lock is
// cheap, and contention between unrelated endpoints is unlikely.
var (
	endpointLocks [64]sync.Mutex
	lockSeed      = maphash.MakeSeed()
)

func lockEndpoint(tenant, id string) (unlock func()) {
	var h maphash.Hash
	h.SetSeed(lockSeed)
	h.WriteString(tenant)
	h.WriteByte(0)
	h.WriteString(id)
	mu := &endpointLocks[h.Sum64()%uint64(len(endpointLocks))]
	mu.Lock()
	return mu.Unlock
}

func deleteEndpoint(c *call) error {
	if err := c.s.store.EndpointDelete(c.r.Context(), c.tenant, c.r.PathValue("id"), c.s.now().UTC()); err != nil {
		return err
	}
	c.s.engine.EndpointChanged(c.tenant)
	return c.noContent()
}

func getSecret(c *call) error {
	e, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, viewSecrets(e, c.s.now()))
}

func rotateSecret(c *call) error {
	var b rotateBody
	buf, err := c.readBody(c.s.maxBody)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	// An empty body asks for the defaults.
	if len(bytes.TrimSpace(buf.Bytes())) > 0 {
		if err := decodeError(jsonv2.Unmarshal(buf.Bytes(), &b, decodeOptions)); err != nil {
			return err
		}
	}
	grace := defaultGrace
	var v hookd.Validation
	if b.Grace != nil {
		switch g := time.Duration(*b.Grace); {
		case !b.Grace.Valid():
			v.Add("grace", hookd.DurationMessage)
		case g > maxGrace:
			v.Add("grace", "must be at most %s", maxGrace)
		default:
			grace = g
		}
	}
	secret := b.Secret
	if secret == "" {
		secret = hookd.NewSecret()
	} else if !hookd.ValidSecret(secret) {
		v.Add("secret", "must be %q followed by base64 of 24 to 64 bytes", hookd.SecretPrefix)
	}
	if err := v.Err(); err != nil {
		return err
	}

	id := c.r.PathValue("id")
	unlock := lockEndpoint(c.tenant, id)
	defer unlock()
	e, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	now := c.s.now().UTC()
	secrets := []hookd.Secret{{Value: secret}}
	for i, s := range e.ActiveSecrets(now) {
		if len(secrets) == maxSecrets {
			break
		}
		if i == 0 && s.ExpiresAt.IsZero() {
			if grace == 0 {
				continue
			}
			s.ExpiresAt = now.Add(grace)
		}
		if s.Value != secret {
			secrets = append(secrets, s)
		}
	}
	e.Secrets = secrets
	e.UpdatedAt = now
	if err := c.s.store.EndpointUpdate(c.r.Context(), e); err != nil {
		return err
	}
	c.s.engine.EndpointChanged(c.tenant)
	return c.respond(http.StatusOK, viewSecrets(e, now))
}

func pingEndpoint(c *call) error {
	e, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := c.s.engine.Ping(c.r.Context(), e)
	if err != nil {
		return err
	}
	return c.respond(http.StatusOK, a)
}

func listEndpointAttempts(c *call) error {
	id := c.r.PathValue("id")
	as, next, err := c.s.store.AttemptListByEndpoint(c.r.Context(), hookd.AttemptListParams{
		ListParams: c.q.ListParams, Tenant: c.tenant, EndpointID: id,
		Failed: c.q.Failed, Since: c.q.Since, Until: c.q.Until,
	})
	if err != nil {
		return err
	}
	if len(as) == 0 && c.q.Cursor == "" {
		// An empty first page: tell an endpoint without attempts from
		// one that does not exist (or is another tenant's).
		if _, err := c.s.store.EndpointGet(c.r.Context(), c.tenant, id); err != nil {
			return err
		}
	}
	return c.respond(http.StatusOK, newPage(as, next))
}
