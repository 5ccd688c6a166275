package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

func TestEndpointLifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.createEndpoint("acme", e.admin, map[string]any{
		"url": "https://example.com/hooks", "event_types": []string{"order.*"},
		"headers": map[string]string{"X-Team": "erp", "X-Env": "prod"},
		"retry":   map[string]any{"schedule": []string{"1m", "5m"}},
	})
	if !strings.HasPrefix(c.ID, hookd.PrefixEndpoint+"_") || c.Tenant != "acme" || !c.Enabled ||
		!hookd.ValidSecret(c.Secret) || c.Timeout != hookd.Duration(hookd.DefaultTimeout) ||
		c.Signature.Scheme != hookd.SchemeStandardWebhooks || c.MaxInFlight != hookd.DefaultMaxInFlight {
		t.Fatalf("created %+v", c)
	}
	path := "/v1/tenants/acme/endpoints/" + c.ID

	// Read: never the secret.
	r := e.get(path, e.admin).want(200)
	if strings.Contains(string(r.body), c.Secret) || strings.Contains(string(r.body), `"secret"`) {
		t.Errorf("GET shows the secret: %s", r.body)
	}
	var got hookd.Endpoint
	r.into(&got)
	if got.URL != c.URL || len(got.Retry.Schedule) != 2 || got.Headers["X-Team"] != "erp" {
		t.Errorf("read %+v", got)
	}
	var l list[hookd.Endpoint]
	e.get("/v1/tenants/acme/endpoints", e.admin).want(200).into(&l)
	if len(l.Data) != 1 || l.Data[0].ID != c.ID || strings.Contains(fmt.Sprint(l), c.Secret) {
		t.Errorf("list %+v", l)
	}

	// PATCH is a merge patch: absent stays, null resets, objects merge,
	// retry is replaced whole.
	var p hookd.Endpoint
	e.do(request{method: "PATCH", path: path, key: e.admin, contentType: "application/merge-patch+json", body: map[string]any{
		"description": "orders", "headers": map[string]any{"X-Env": nil, "X-New": "1"},
		"retry":       map[string]any{"backoff": map[string]any{"initial": "1s", "multiplier": 2, "max_age": "1h"}},
		"event_types": nil, "enabled": false,
		"id": "ep_other", "created_at": "garbage", // read-only: ignored
	}}).want(200).into(&p)
	if p.ID != c.ID || p.Description != "orders" || p.URL != c.URL || p.Enabled || len(p.EventTypes) != 0 ||
		p.Headers["X-Team"] != "erp" || p.Headers["X-New"] != "1" || len(p.Headers) != 2 ||
		p.Retry.Backoff == nil || p.Retry.Schedule != nil || !p.CreatedAt.Equal(c.CreatedAt) || !p.UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("patched %+v", p)
	}
	e.get(path, e.admin).want(200).into(&got)
	if got.Description != "orders" || got.Enabled {
		t.Errorf("patch not stored: %+v", got)
	}

	// PATCH refuses what it cannot do, naming the field, and stores nothing.
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"secret": "whsec_x"}`}).problem(422, "secret")
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"timeout": "soon", "url": "ftp://x"}`}).problem(422, "url", "timeout")
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"retry": {"schedule": ["1m"], "shedule": []}}`}).problem(422, "retry.shedule")
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"max_in_flight": "many"}`}).problem(422, "max_in_flight")
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `[]`}).problem(400)
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `null`}).problem(400)
	e.do(request{method: "PATCH", path: path, key: e.admin, body: ``}).problem(400)
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"filter": "event.type ==="}`}).problem(422, "filter")
	e.get(path, e.admin).want(200).into(&got)
	if got.Description != "orders" || got.URL != c.URL || got.Filter != "" {
		t.Errorf("a refused patch changed the endpoint: %+v", got)
	}
	// Re-enabling clears the reason hookd may have given.
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{"enabled": null}`}).want(200).into(&p)
	if !p.Enabled {
		t.Errorf("enabled: null should restore the default (true): %+v", p)
	}

	e.do(request{method: "DELETE", path: path, key: e.admin}).want(204)
	e.get(path, e.admin).problem(404)
	e.do(request{method: "DELETE", path: path, key: e.admin}).problem(404)
	e.do(request{method: "PATCH", path: path, key: e.admin, body: `{}`}).problem(404)
}

func TestEndpointCreateValidation(t *testing.T) {
	e := newEnv(t)
	base := "/v1/tenants/acme/endpoints"
	for _, tc := range []struct {
		body   string
		status int
		fields []string
	}{
		{`{}`, 422, []string{"url"}},
		{`{"url": "ftp://example.com"}`, 422, []string{"url"}},
		{`{"url": "https://u:p@example.com"}`, 422, []string{"url"}},
		{`{"url": "https://example.com", "timeout": "forever"}`, 422, []string{"timeout"}},
		{`{"url": "https://example.com", "timeout": 30}`, 422, []string{"timeout"}},
		{`{"url": "https://example.com", "retry": {"schedule": ["1m", "-5s"]}}`, 422, []string{"retry.schedule"}},
		{`{"url": "https://example.com", "retry": {"backoff": {"initial": "1s", "multiplier": 2}}}`, 422, []string{"retry.backoff"}},
		{`{"url": "https://example.com", "signature": {"scheme": "md5"}}`, 422, []string{"signature.scheme"}},
		{`{"url": "https://example.com", "event_types": ["order.*.paid"]}`, 422, []string{"event_types"}},
		{`{"url": "https://example.com", "event_types": "order.*"}`, 422, []string{"event_types"}},
		{`{"url": "https://example.com", "headers": {"Host": "x"}}`, 422, []string{"headers"}},
		{`{"url": "https://example.com", "secret": "whsec_short"}`, 422, []string{"secret"}},
		{`{"url": "https://example.com", "secret": "sk_` + strings.Repeat("A", 40) + `"}`, 422, []string{"secret"}},
		{`{"url": "https://example.com", "filter": "event.data.amount >"}`, 422, []string{"filter"}},
		{`{"url": "https://example.com", "body": "nonsense("}`, 422, []string{"body"}},
		{`{"url": "https://example.com", "max_in_flight": -1, "rate_limit": -2}`, 422, []string{"max_in_flight", "rate_limit"}},
		{`{"url": "https://example.com", "colour": "blue"}`, 422, []string{"colour"}},
		{`{"url": "https://example.com"`, 400, nil},
		{`{"url": "https://example.com", "url": "https://example.org"}`, 400, nil},
	} {
		t.Run(tc.body, func(t *testing.T) {
			e.t = t
			e.post(base, e.admin, tc.body).problem(tc.status, tc.fields...)
		})
	}
	e.t = t
	var l list[hookd.Endpoint]
	e.get(base, e.admin).want(200).into(&l)
	if len(l.Data) != 0 {
		t.Errorf("refused creates stored endpoints: %+v", l.Data)
	}
	// A caller's own valid secret is kept, and all the documented fields
	// are accepted.
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	c := e.createEndpoint("acme", e.admin, map[string]any{
		"url": "https://example.com/h", "secret": secret, "description": "d", "event_types": []string{"*"},
		"enabled": false, "timeout": "10s", "signature": map[string]string{"scheme": "stripe", "header": "Acme-Signature"},
		"max_in_flight": 4, "rate_limit": 2.5, "filter": `event.type.startsWith("order.")`, "body": `{"id": event.id}`,
	})
	if c.Secret != secret || c.Enabled || c.Timeout != hookd.Duration(10*time.Second) || c.Signature.Header != "Acme-Signature" ||
		c.RateLimit != 2.5 || c.Filter == "" || c.Body == "" || len(c.EventTypes) != 0 {
		t.Errorf("created %+v", c)
	}
}

func TestSecretShownOnceRevealedAndRotated(t *testing.T) {
	e := newEnv(t)
	c := e.createEndpoint("acme", e.admin, map[string]any{"url": "https://example.com/h"})
	path := "/v1/tenants/acme/endpoints/" + c.ID
	type view struct {
		Secret   string         `json:"secret"`
		Previous []hookd.Secret `json:"previous"`
	}
	var v view
	e.get(path+"/secret", e.admin).want(200).into(&v)
	if v.Secret != c.Secret || len(v.Previous) != 0 {
		t.Fatalf("reveal %+v, want %s", v, c.Secret)
	}

	// Rotation with the default grace: both sign, the new one first.
	before := time.Now()
	var rot view
	e.post(path+"/secret/rotate", e.admin, nil).want(200).into(&rot)
	if rot.Secret == c.Secret || !hookd.ValidSecret(rot.Secret) || len(rot.Previous) != 1 || rot.Previous[0].Value != c.Secret {
		t.Fatalf("rotate %+v", rot)
	}
	if exp := rot.Previous[0].ExpiresAt; exp.Before(before.Add(24*time.Hour-time.Minute)) || exp.After(time.Now().Add(24*time.Hour+time.Minute)) {
		t.Errorf("old secret expires at %v, want in 24h", exp)
	}
	e.get(path+"/secret", e.admin).want(200).into(&v)
	if v.Secret != rot.Secret || len(v.Previous) != 1 || v.Previous[0].Value != c.Secret {
		t.Errorf("reveal after rotation %+v", v)
	}
	if r := e.get(path, e.admin); strings.Contains(string(r.body), rot.Secret) || strings.Contains(string(r.body), c.Secret) {
		t.Errorf("GET shows a secret after rotation: %s", r.body)
	}

	// A caller's secret and a grace of 1h; both earlier secrets still sign.
	mine := "whsec_" + "dGhpcyBpcyBhIHNlY3JldCBvZiAzMiBieXRlcyEhISE="
	e.post(path+"/secret/rotate", e.admin, map[string]string{"grace": "1h", "secret": mine}).want(200).into(&rot)
	if rot.Secret != mine || len(rot.Previous) != 2 {
		t.Fatalf("rotate with secret %+v", rot)
	}
	// "0s" retires the current secret at once; earlier ones keep their grace.
	e.post(path+"/secret/rotate", e.admin, map[string]string{"grace": "0s"}).want(200).into(&rot)
	for _, p := range rot.Previous {
		if p.Value == mine {
			t.Errorf("grace 0s kept the retired secret: %+v", rot)
		}
	}
	e.post(path+"/secret/rotate", e.admin, map[string]string{"grace": "1 day"}).problem(422, "grace")
	e.post(path+"/secret/rotate", e.admin, map[string]string{"grace": "9000h"}).problem(422, "grace")
	e.post(path+"/secret/rotate", e.admin, map[string]string{"secret": "whsec_AAAA"}).problem(422, "secret")
	e.post(path+"/secret/rotate", e.admin, map[string]any{"grace": "1h", "extra": 1}).problem(422, "extra")
	e.post("/v1/tenants/acme/endpoints/ep_missing/secret/rotate", e.admin, nil).problem(404)
	e.get("/v1/tenants/acme/endpoints/ep_missing/secret", e.admin).problem(404)
}

func TestPing(t *testing.T) {
	e := newEnv(t)
	rcv := hookdtest.NewReceiver(t)
	c := e.createEndpoint("acme", e.admin, map[string]any{"url": rcv.URL + "/hooks", "event_types": []string{"order.created"}})
	var a hookd.Attempt
	e.post("/v1/tenants/acme/endpoints/"+c.ID+"/ping", e.admin, nil).want(200).into(&a)
	if a.Outcome != hookd.OutcomeSucceeded || a.StatusCode != 200 || a.EndpointID != c.ID {
		t.Errorf("ping attempt %+v", a)
	}
	if n := rcv.Count(); n != 1 {
		t.Fatalf("the receiver got %d requests, want the ping", n)
	}
	if req := rcv.Requests()[0]; req.Header.Get("webhook-signature") == "" || !strings.Contains(string(req.Body), hookd.PingEventType) {
		t.Errorf("ping request %+v %s", req.Header, req.Body)
	}
	e.post("/v1/tenants/acme/endpoints/ep_nope/ping", e.admin, nil).problem(404)
}
