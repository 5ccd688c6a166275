package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	path := "/v1/tenants/acme/endpoints"
	r := e.get(path, "")
	r.problem(401)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.get(path, "hk_not_a_real_key").problem(401)
	e.get(path, "some-oauth-token").problem(401)
	r = e.do(request{method: "GET", path: path})
	r.problem(401)
	if r := e.get(path, strings.Repeat("x", 5000)); r.status != 401 {
		t.Errorf("huge token: %d", r.status)
	}
	// Basic auth is not a bearer token, even around a valid key.
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.SetBasicAuth("admin", e.admin)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("basic auth: %d", res.StatusCode)
	}
	// The scheme is case-insensitive.
	req, _ = http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "bearer "+e.admin)
	if res, err = e.client.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("lower-case bearer: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	e.get(path, e.admin).want(200)
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	reader := e.insertKey("", hookd.ScopeEndpointsRead)
	publisher := e.insertKey("acme", hookd.ScopeEventsWrite)
	e.get("/v1/tenants/acme/endpoints", reader).want(200)
	e.post("/v1/tenants/acme/endpoints", reader, map[string]any{"url": "https://example.com"}).problem(403)
	e.get("/v1/tenants/acme/events", reader).problem(403)
	e.post("/v1/tenants/acme/events", publisher, map[string]any{"type": "a", "data": 1}).want(202)
	e.get("/v1/tenants/acme/events", publisher).problem(403)
	e.get("/v1/tenants/acme/deliveries", publisher).problem(403)
	// Key management needs admin, and an admin bound to no tenant.
	e.get("/v1/api-keys", reader).problem(403)
	tenantAdmin := e.insertKey("acme", hookd.ScopeAdmin)
	e.get("/v1/tenants/acme/endpoints", tenantAdmin).want(200)
	e.get("/v1/api-keys", tenantAdmin).problem(403)
	e.get("/v1/tenants", tenantAdmin).problem(403)
	var ts list[hookd.Tenant]
	e.get("/v1/tenants", e.admin).want(200).into(&ts)
	if len(ts.Data) != 1 || ts.Data[0].ID != "acme" {
		t.Errorf("tenants %+v", ts.Data)
	}
	// A bad tenant id in the path is a 422 naming "tenant".
	e.get("/v1/tenants/bad%20tenant/endpoints", e.admin).problem(422, "tenant")
	e.get("/v1/tenants/"+strings.Repeat("t", 65)+"/endpoints", e.admin).problem(422, "tenant")
}

// TestTenantIsolation drives the API as two tenants' keys: neither sees
// the other's objects, and what it does not see is a 404, never a 403.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	rcv := hookdtest.NewReceiver(t)
	all := []string{hookd.ScopeEndpointsRead, hookd.ScopeEndpointsWrite, hookd.ScopeEventsRead, hookd.ScopeEventsWrite, hookd.ScopeDeliveriesRead, hookd.ScopeDeliveriesWrite}
	keyA := e.insertKey("a", all...)
	keyB := e.insertKey("b", all...)
	readOnlyA := e.insertKey("a", hookd.ScopeEventsRead)

	epB := e.createEndpoint("b", keyB, map[string]any{"url": rcv.URL})
	epA := e.createEndpoint("a", keyA, map[string]any{"url": rcv.URL})
	var evB published
	e.post("/v1/tenants/b/events", keyB, map[string]any{"id": "shared-id", "type": "x", "data": 1}).want(202).into(&evB)
	// The same caller id in another tenant is another event.
	var evA published
	e.post("/v1/tenants/a/events", keyA, map[string]any{"id": "shared-id", "type": "x", "data": 2}).want(202).into(&evA)
	if evA.Duplicate || string(evA.Data) != "2" {
		t.Errorf("tenant a's publish of a b id: %+v", evA)
	}
	var dsB list[hookd.Delivery]
	e.get("/v1/tenants/b/deliveries", keyB).want(200).into(&dsB)
	if len(dsB.Data) != 1 {
		t.Fatalf("b's deliveries %+v", dsB.Data)
	}
	dlvB := dsB.Data[0].ID
	e.waitDelivery("b", dlvB, func(d hookd.Delivery) bool { return d.Attempts > 0 })

	// A's key on b's paths: 404 for everything, even where it lacks the
	// scope, and even for lists.
	for _, r := range []request{
		{method: "GET", path: "/v1/tenants/b/endpoints"},
		{method: "GET", path: "/v1/tenants/b/endpoints/" + epB.ID},
		{method: "PATCH", path: "/v1/tenants/b/endpoints/" + epB.ID, body: `{"description": "x"}`},
		{method: "DELETE", path: "/v1/tenants/b/endpoints/" + epB.ID},
		{method: "GET", path: "/v1/tenants/b/endpoints/" + epB.ID + "/secret"},
		{method: "POST", path: "/v1/tenants/b/endpoints/" + epB.ID + "/secret/rotate"},
		{method: "POST", path: "/v1/tenants/b/endpoints/" + epB.ID + "/ping"},
		{method: "GET", path: "/v1/tenants/b/endpoints/" + epB.ID + "/attempts"},
		{method: "POST", path: "/v1/tenants/b/events", body: `{"type": "x", "data": 1}`},
		{method: "GET", path: "/v1/tenants/b/events"},
		{method: "GET", path: "/v1/tenants/b/events/shared-id"},
		{method: "GET", path: "/v1/tenants/b/deliveries"},
		{method: "GET", path: "/v1/tenants/b/deliveries/" + dlvB},
		{method: "GET", path: "/v1/tenants/b/deliveries/" + dlvB + "/attempts"},
		{method: "POST", path: "/v1/tenants/b/deliveries/" + dlvB + "/retry"},
	} {
		for _, key := range []string{keyA, readOnlyA} {
			r.key = key
			if got := e.do(r); got.status != 404 {
				t.Errorf("%s %s as a: %d, want 404: %s", r.method, r.path, got.status, got.body)
			}
		}
	}
	// A's key on its own paths with b's ids: 404 too.
	for _, p := range []string{
		"/v1/tenants/a/endpoints/" + epB.ID, "/v1/tenants/a/deliveries/" + dlvB,
		"/v1/tenants/a/deliveries/" + dlvB + "/attempts", "/v1/tenants/a/endpoints/" + epB.ID + "/attempts",
	} {
		e.get(p, keyA).problem(404)
	}
	// Lists hold only a's.
	var eps list[hookd.Endpoint]
	e.get("/v1/tenants/a/endpoints", keyA).want(200).into(&eps)
	if len(eps.Data) != 1 || eps.Data[0].ID != epA.ID {
		t.Errorf("a's endpoints %+v", eps.Data)
	}
	var ev hookd.Event
	e.get("/v1/tenants/a/events/shared-id", keyA).want(200).into(&ev)
	if string(ev.Data) != "2" {
		t.Errorf("a reads b's event: %+v", ev)
	}
	// And b's endpoint is untouched.
	var got hookd.Endpoint
	e.get("/v1/tenants/b/endpoints/"+epB.ID, keyB).want(200).into(&got)
	if got.Description != "" {
		t.Errorf("a changed b's endpoint: %+v", got)
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	var k struct {
		hookd.APIKey
		Key string `json:"key"`
	}
	r := e.post("/v1/api-keys", e.admin, map[string]any{"name": "acme app", "tenant": "acme", "scopes": []string{"events:write", "events:read", "events:write"}}).want(201)
	r.into(&k)
	if !strings.HasPrefix(k.Key, hookd.KeyPrefix) || !strings.HasPrefix(k.Key, k.Prefix) || k.Tenant != "acme" ||
		len(k.Scopes) != 2 || !strings.HasPrefix(k.ID, hookd.PrefixAPIKey+"_") || strings.Contains(string(r.body), "hash") {
		t.Fatalf("created key %s", r.body)
	}
	e.post("/v1/tenants/acme/events", k.Key, map[string]any{"type": "a", "data": 1}).want(202)
	e.get("/v1/tenants/other/events", k.Key).problem(404)

	lr := e.get("/v1/api-keys", e.admin).want(200)
	if strings.Contains(string(lr.body), k.Key) || strings.Contains(string(lr.body), `"hash"`) || strings.Contains(string(lr.body), `"key"`) {
		t.Errorf("list shows keys: %s", lr.body)
	}
	var keys list[hookd.APIKey]
	lr.into(&keys)
	if len(keys.Data) != 2 {
		t.Errorf("%d keys, want 2", len(keys.Data))
	}

	// Deleting through the API stops the key at once, cache or not.
	e.do(request{method: "DELETE", path: "/v1/api-keys/" + k.ID, key: e.admin}).want(204)
	e.post("/v1/tenants/acme/events", k.Key, map[string]any{"type": "a", "data": 1}).problem(401)
	e.do(request{method: "DELETE", path: "/v1/api-keys/" + k.ID, key: e.admin}).problem(404)

	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"scopes": ["admin"]}`, []string{"name"}},
		{`{"name": "x", "scopes": []}`, []string{"scopes"}},
		{`{"name": "x", "scopes": ["root"]}`, []string{"scopes"}},
		{`{"name": "x", "scopes": ["admin"], "tenant": "no spaces"}`, []string{"tenant"}},
		{`{"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}`, []string{"expires_at"}},
		{`{"name": "x", "scopes": "admin"}`, []string{"scopes"}},
	} {
		e.post("/v1/api-keys", e.admin, tc.body).problem(422, tc.fields...)
	}
	// An expiring key works until it expires.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.post("/v1/api-keys", e.admin, map[string]any{"name": "short", "scopes": []string{"admin"}, "expires_at": exp}).want(201).into(&k)
	e.get("/v1/tenants/acme/events", k.Key).want(200)
	e.clock.Advance(2 * time.Hour)
	e.get("/v1/tenants/acme/events", k.Key).problem(401)
}

// TestKeyCacheExpires: a key removed behind the API's back (another node)
// stops working once the cache's TTL has passed.
func TestKeyCacheExpires(t *testing.T) {
	e := newEnv(t, envOptions{keyTTL: time.Minute})
	var k struct {
		hookd.APIKey
		Key string `json:"key"`
	}
	e.post("/v1/api-keys", e.admin, map[string]any{"name": "n", "scopes": []string{"events:read"}}).want(201).into(&k)
	e.get("/v1/tenants/acme/events", k.Key).want(200)
	if err := e.store.APIKeyDelete(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	e.get("/v1/tenants/acme/events", k.Key).want(200) // cached
	e.clock.Advance(61 * time.Second)
	e.get("/v1/tenants/acme/events", k.Key).problem(401)
}
