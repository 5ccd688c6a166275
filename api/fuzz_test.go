package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoute feeds arbitrary bodies to one route of a real server and
// fails on any 5xx, on an error answer that is not a problem document, and
// on a success whose body is not JSON.
func fuzzRoute(f *testing.F, method, path string, seeds ...string) {
	e := newEnv(f)
	fuzzOn(f, e, method, path, seeds...)
}

func fuzzOn(f *testing.F, e *env, method, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		case rec.Code >= 400:
			if rec.Header().Get("Content-Type") != "application/problem+json" || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%d without a problem document for %q: %s", rec.Code, body, rec.Body)
			}
		case rec.Code != http.StatusNoContent && !json.Valid(rec.Body.Bytes()):
			t.Fatalf("%d with a body that is not JSON for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

func FuzzPublish(f *testing.F) {
	fuzzRoute(f, "POST", "/v1/tenants/fuzz/events",
		`{"type": "order.created", "data": {"amount": 1}}`,
		`{"id": "x", "type": "a", "data": null, "occurred_at": "2024-01-01T00:00:00Z"}`,
		`{"type": "a", "data": [1, "two", {"3": null}], "id": "\u0000"}`,
		`{"type": "a", "data": 1e999}`,
		`{"type": "a", "data": "\ud800"}`,
		`{"type": "a", "data": {}, "occurred_at": "0000-00-00T00:00:00Z"}`,
		`{"type": "a", "data": {}, "occurred_at": "9999-12-31T23:59:59.999999999-23:59"}`,
		`{"type": "`+strings.Repeat("a", 200)+`", "data": 0}`,
		`[]`, `null`, ``, `{"type": "a", "data": {}}{}`,
	)
}

func FuzzPublishBatch(f *testing.F) {
	fuzzRoute(f, "POST", "/v1/tenants/fuzz/events/batch",
		`{"events": [{"type": "a", "data": 1}, {"id": "a", "type": "b", "data": 2}, {"id": "a", "type": "b", "data": 3}]}`,
		`{"events": [{"type": "a"}]}`, `{"events": null}`, `{"events": [null]}`,
	)
}

func FuzzCreateEndpoint(f *testing.F) {
	fuzzRoute(f, "POST", "/v1/tenants/fuzz/endpoints",
		`{"url": "https://example.com/hooks"}`,
		`{"url": "https://example.com", "event_types": ["order.*", "invoice.paid"], "enabled": true, "timeout": "30s",
		  "retry": {"schedule": ["1m", "5m"]}, "headers": {"X-Team": "erp"}, "signature": {"scheme": "stripe", "header": "X-Sig"},
		  "max_in_flight": 16, "rate_limit": 50, "filter": "event.data.amount > 100", "body": "{\"a\": event.id}"}`,
		`{"url": "https://example.com", "retry": {"backoff": {"initial": "1s", "multiplier": 2, "max_delay": "1h", "max_age": "72h", "max_attempts": 5}, "jitter": 0.2}}`,
		`{"url": "https://example.com", "retry": {"backoff": {"initial": "1s", "multiplier": 1e308, "max_age": "1h"}}}`,
		`{"url": "https://example.com", "rate_limit": 1e-320, "max_in_flight": 9223372036854775807}`,
		`{"url": "http://[::1]:99999/x"}`, `{"url": "https://example.com", "filter": "1/0 == 1"}`,
		`{"url": "https://example.com", "body": "event.data.x.y.z"}`,
	)
}

func FuzzPatchEndpoint(f *testing.F) {
	e := newEnv(f)
	c := e.createEndpoint("fuzz", e.admin, map[string]any{
		"url": "https://example.com/h", "headers": map[string]string{"X-A": "1"},
		"retry": map[string]any{"backoff": map[string]any{"initial": "1s", "multiplier": 2, "max_age": "1h"}},
	})
	fuzzOn(f, e, "PATCH", "/v1/tenants/fuzz/endpoints/"+c.ID,
		`{"description": "x", "headers": {"X-A": null, "X-B": "2"}}`,
		`{"retry": {"schedule": ["1m"]}}`, `{"retry": null, "signature": {"scheme": "stripe"}}`,
		`{"headers": {"X-A": {"nested": 1}}}`, `{"signature": "stripe"}`, `{"url": null}`,
		`{"enabled": false, "timeout": null, "max_in_flight": 1e3}`, `{"filter": "event.type == 'a'"}`,
		`{"": null}`, `{"id": 1, "tenant": [], "created_at": {}}`,
	)
}
