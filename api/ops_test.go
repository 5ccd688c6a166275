package api_test

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	e.get("/healthz", "").want(200)
	e.get("/healthz?from=lb", "").want(200) // probes may add a query
	e.get("/readyz", "").want(200)
	e.api.SetReady(false)
	e.get("/readyz", "").problem(503)
	e.get("/healthz", "").want(200) // alive while draining
	e.api.SetReady(true)
	e.get("/readyz", "").want(200)
	_ = e.store.Close()
	e.get("/readyz", "").problem(503)
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/tenants/acme/events", e.admin, map[string]any{"type": "a", "data": 1}).want(202)
	e.post("/v1/tenants/acme/events", e.admin, `{`).want(400)
	e.get("/no/such/thing/"+strings.Repeat("x", 10), "").want(404)
	body := string(e.get("/metrics", "").want(200).body)
	for _, want := range []string{
		`hookd_http_requests_total{code="202",route="POST /v1/tenants/{tenant}/events"} 1`,
		`hookd_http_requests_total{code="400",route="POST /v1/tenants/{tenant}/events"} 1`,
		`hookd_http_requests_total{code="404",route="unmatched"} 1`,
		`hookd_http_request_duration_seconds_count{route="POST /v1/tenants/{tenant}/events"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "/v1/tenants/acme") || strings.Contains(body, "xxxxxxxxxx") {
		t.Error("a raw path became a label")
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newEnv(t)
	e.get("/v2/anything", e.admin).problem(404)
	e.get("/v1/tenants/acme/endpoints/", e.admin).problem(404)
	r := e.do(request{method: "PUT", path: "/v1/tenants/acme/endpoints", key: e.admin, body: `{}`})
	r.problem(405)
	if allow := r.header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("Allow %q", allow)
	}
	r = e.do(request{method: "POST", path: "/v1/tenants/acme/events/ord_1", key: e.admin, body: `{}`})
	r.problem(405)
	if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("Allow %q", allow)
	}
	e.do(request{method: "DELETE", path: "/healthz"}).problem(405)
}

func TestBodyHygiene(t *testing.T) {
	e := newEnv(t, envOptions{maxBody: 4096})
	path := "/v1/tenants/acme/events"
	big := `{"type": "a", "data": "` + strings.Repeat("x", 5000) + `"}`
	e.post(path, e.admin, big).problem(413)
	// Without a Content-Length the limit holds as well.
	e.do(request{method: "POST", path: path, key: e.admin, body: io.MultiReader(strings.NewReader(big))}).problem(413)
	e.do(request{method: "POST", path: path, key: e.admin, body: `{"type":"a","data":1}`, contentType: "text/plain"}).problem(415)
	e.do(request{method: "POST", path: path, key: e.admin, body: `{"type":"a","data":1}`, contentType: "multipart/form-data; boundary=x"}).problem(415)
	e.do(request{method: "POST", path: path, key: e.admin, body: `{"type":"a","data":1}`, contentType: "application/json; charset=utf-8"}).want(202)
	e.do(request{method: "POST", path: path, key: e.admin, body: `{"type":"a","data":1}`, contentType: "-"}).want(202)
	// What curl -d sends by default is read as JSON too.
	e.do(request{method: "POST", path: path, key: e.admin, body: `{"type":"a","data":1}`, contentType: "application/x-www-form-urlencoded"}).want(202)
	e.do(request{method: "POST", path: path, key: e.admin, body: `type=a&data=1`, contentType: "application/x-www-form-urlencoded"}).problem(400)
	// A batch may be larger than one event, but no event in it may be.
	ev := map[string]any{"type": "a", "data": strings.Repeat("y", 3000)}
	e.post(path+"/batch", e.admin, map[string]any{"events": []any{ev, ev, ev}}).want(202)
	ev["data"] = strings.Repeat("y", 5000)
	e.post(path+"/batch", e.admin, map[string]any{"events": []any{ev}}).problem(413)
}

// TestOpenAPIServesEveryRoute fetches the document and calls every
// operation in it: each must reach a route (not the 404/405 fallback), and
// what answered must be in the document.
func TestOpenAPIServesEveryRoute(t *testing.T) {
	e := newEnv(t)
	r := e.get("/openapi.json", "").want(200)
	if !json.Valid(r.body) {
		t.Fatal("the document is not JSON")
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.into(&doc)
	if doc.OpenAPI != "3.1.0" || len(doc.Paths) < 15 {
		t.Fatalf("openapi %q with %d paths", doc.OpenAPI, len(doc.Paths))
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			concrete := param.ReplaceAllStringFunc(path, func(p string) string {
				if p == "{tenant}" {
					return "acme"
				}
				return "nope"
			})
			res := e.do(request{method: strings.ToUpper(method), path: concrete, key: e.admin, body: nil})
			if res.status == 405 || res.status == 404 && strings.Contains(string(res.body), "no such route") {
				t.Errorf("%s %s is documented but not served: %d %s", method, path, res.status, res.body)
			}
		}
	}
}

// TestNoStoreWritesOnRefusal: a refused request leaves no trace.
func TestNoStoreWritesOnRefusal(t *testing.T) {
	e := newEnv(t)
	e.post("/v1/tenants/fresh/endpoints", e.admin, `{"url": "nope"}`).problem(422, "url")
	e.post("/v1/tenants/fresh/events", e.admin, `{"type": "a"}`).problem(422, "data")
	ts, _, err := e.store.TenantList(context.Background(), hookd.ListParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 0 {
		t.Errorf("refused requests created tenants %+v", ts)
	}
}
