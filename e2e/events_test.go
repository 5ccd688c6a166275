package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// TestIdempotentPublish: the same id twice is 202 then 200 with the stored
// event, and only one delivery (and one request) results.
func TestIdempotentPublish(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	s.createEndpoint("acme", obj{"url": rcv.URL})

	first := s.publish("acme", obj{"id": "ord_1001", "type": "order.created", "data": obj{"amount": 1}})
	if first.ID != "ord_1001" || first.DeliveryCount != 1 || first.Duplicate {
		t.Fatalf("first publish = %+v", first)
	}
	var second publishedEvent
	s.must(http.StatusOK, "POST", "/v1/tenants/acme/events", obj{"id": "ord_1001", "type": "order.updated", "data": obj{"amount": 2}}, &second)
	if !second.Duplicate || second.Type != "order.created" || string(second.Data) != `{"amount":1}` || second.Seq != first.Seq {
		t.Errorf("second publish = %+v, want the stored event marked duplicate", second)
	}
	s.waitDelivery("acme", "ord_1001", hookd.StateSucceeded, 10*time.Second)
	if p := s.deliveries("acme", url.Values{"event_id": {"ord_1001"}}); len(p.Data) != 1 {
		t.Errorf("%d deliveries for the event, want 1", len(p.Data))
	}
	// The delivery succeeded, so every request it made has arrived.
	if n := rcv.Count(); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}

	// A batch with a known id and a new one stores only the new one.
	var batch struct {
		Data []publishedEvent `json:"data"`
	}
	s.must(http.StatusAccepted, "POST", "/v1/tenants/acme/events/batch", obj{"events": []obj{
		{"id": "ord_1001", "type": "order.created", "data": obj{}},
		{"id": "ord_1002", "type": "order.created", "data": obj{}},
	}}, &batch)
	if len(batch.Data) != 2 || !batch.Data[0].Duplicate || batch.Data[1].Duplicate || batch.Data[1].DeliveryCount != 1 {
		t.Errorf("batch results = %+v", batch.Data)
	}
}

// TestFiltersAndPagination walks lists page by page and checks each
// filter of events and deliveries against what was published.
func TestFiltersAndPagination(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	ok := hookdtest.NewReceiver(t)
	bad := hookdtest.NewReceiver(t)
	bad.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	orders := s.createEndpoint("acme", obj{"url": ok.URL, "event_types": []string{"order.*"}})
	all := s.createEndpoint("acme", obj{"url": bad.URL, "retry": obj{"schedule": []string{"0s"}}})

	const n = 23
	var ids []string
	start := time.Now().UTC().Add(-time.Second)
	for i := range n {
		typ := "order.created"
		if i%3 == 0 {
			typ = "invoice.paid"
		}
		ev := s.publish("acme", obj{"id": fmt.Sprintf("e%02d", i), "type": typ, "data": obj{"i": i}})
		ids = append(ids, ev.ID)
	}
	// Another tenant's events never show up in acme's lists.
	s.publish("other", obj{"type": "order.created", "data": obj{}})

	// Events: newest first, every one once, across pages of 5.
	var got []string
	cursor := ""
	pages := 0
	for {
		var p page[hookd.Event]
		s.must(http.StatusOK, "GET", "/v1/tenants/acme/events?limit=5&cursor="+url.QueryEscape(cursor), nil, &p)
		if len(p.Data) > 5 {
			t.Fatalf("page of %d events, limit 5", len(p.Data))
		}
		for _, e := range p.Data {
			got = append(got, e.ID)
		}
		pages++
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("paged events = %v, want %v", got, want)
	}
	if pages != 5 {
		t.Errorf("%d pages of 5 for %d events, want 5", pages, n)
	}

	var invoices page[hookd.Event]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/events?type=invoice.paid&limit=1000", nil, &invoices)
	if len(invoices.Data) != 8 {
		t.Errorf("type=invoice.paid: %d events, want 8", len(invoices.Data))
	}
	for _, e := range invoices.Data {
		if e.Type != "invoice.paid" {
			t.Errorf("type filter let %s through", e.Type)
		}
	}
	var none page[hookd.Event]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/events?until="+url.QueryEscape(start.Format(time.RFC3339Nano)), nil, &none)
	if len(none.Data) != 0 {
		t.Errorf("until before the first publish: %d events", len(none.Data))
	}
	var since page[hookd.Event]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/events?limit=1000&since="+url.QueryEscape(start.Format(time.RFC3339Nano)), nil, &since)
	if len(since.Data) != n {
		t.Errorf("since the first publish: %d events, want %d", len(since.Data), n)
	}

	// Deliveries: the order endpoint got 15, the catch-all 23, which all
	// fail after two attempts.
	var pending []hookd.Delivery
	defer func() {
		if t.Failed() {
			t.Logf("pending deliveries: %+v", pending)
		}
	}()
	eventually(t, 20*time.Second, "all deliveries are settled", func() bool {
		pending = s.deliveries("acme", url.Values{"status": {"pending"}}).Data
		return len(pending) == 0
	})
	count := func(q url.Values) int {
		q.Set("limit", "7")
		total := 0
		for {
			p := s.deliveries("acme", q)
			total += len(p.Data)
			if p.NextCursor == "" {
				return total
			}
			q.Set("cursor", p.NextCursor)
		}
	}
	for _, tc := range []struct {
		q    url.Values
		want int
	}{
		{url.Values{}, 15 + n},
		{url.Values{"endpoint_id": {orders.ID}}, 15},
		{url.Values{"endpoint_id": {all.ID}}, n},
		{url.Values{"status": {"succeeded"}}, 15},
		{url.Values{"status": {"failed"}}, n},
		{url.Values{"status": {"failed"}, "endpoint_id": {orders.ID}}, 0},
		{url.Values{"event_id": {"e01"}}, 2},
		{url.Values{"event_id": {"e00"}}, 1},
		{url.Values{"event_type": {"invoice.paid"}}, 8},
		{url.Values{"until": {start.Format(time.RFC3339Nano)}}, 0},
	} {
		if got := count(tc.q); got != tc.want {
			t.Errorf("deliveries?%s: %d, want %d", tc.q.Encode(), got, tc.want)
		}
	}

	// An endpoint's failed attempts, and a bad filter value.
	var failed page[hookd.Attempt]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/endpoints/"+all.ID+"/attempts?failed=true&limit=1000", nil, &failed)
	if len(failed.Data) != 2*n {
		t.Errorf("failed attempts of the catch-all: %d, want %d", len(failed.Data), 2*n)
	}
	var succeeded page[hookd.Attempt]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/endpoints/"+all.ID+"/attempts?failed=false", nil, &succeeded)
	if len(succeeded.Data) != 0 {
		t.Errorf("successful attempts of the catch-all: %d, want 0", len(succeeded.Data))
	}
	var p problem
	s.must(http.StatusUnprocessableEntity, "GET", "/v1/tenants/acme/deliveries?status=lost", nil, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "status" {
		t.Errorf("bad status filter: %+v, want an error naming status", p)
	}
}

// TestTenantIsolation: a key bound to one tenant gets 404 for everything of
// another tenant, and 403 for what its scopes do not allow.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	alphaEP := s.createEndpoint("alpha", obj{"url": rcv.URL})
	betaEP := s.createEndpoint("beta", obj{"url": rcv.URL})
	betaEv := s.publish("beta", obj{"type": "order.created", "data": obj{}})
	betaDl := s.deliveryOf("beta", betaEv.ID)

	var alpha apiKeyWithSecret
	s.must(http.StatusCreated, "POST", "/v1/api-keys", obj{
		"name": "alpha app", "tenant": "alpha",
		"scopes": []string{"endpoints:read", "events:write", "events:read", "deliveries:read"},
	}, &alpha)
	if alpha.Key == "" || alpha.Tenant != "alpha" {
		t.Fatalf("created key = %+v", alpha)
	}

	// Its own tenant works.
	s.mustAs(alpha.Key, http.StatusOK, "GET", "/v1/tenants/alpha/endpoints/"+alphaEP.ID, nil, nil)
	s.mustAs(alpha.Key, http.StatusAccepted, "POST", "/v1/tenants/alpha/events", obj{"type": "a.b", "data": 1}, nil)

	// Another tenant's objects do not exist for it, whether addressed by
	// their own tenant or through its own.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/tenants/beta/endpoints"},
		{"GET", "/v1/tenants/beta/endpoints/" + betaEP.ID},
		{"GET", "/v1/tenants/beta/events"},
		{"GET", "/v1/tenants/beta/events/" + betaEv.ID},
		{"GET", "/v1/tenants/beta/deliveries/" + betaDl.ID},
		{"GET", "/v1/tenants/beta/deliveries/" + betaDl.ID + "/attempts"},
		{"POST", "/v1/tenants/beta/events"},
		{"GET", "/v1/tenants/alpha/endpoints/" + betaEP.ID},
		{"GET", "/v1/tenants/alpha/events/" + betaEv.ID},
		{"GET", "/v1/tenants/alpha/deliveries/" + betaDl.ID},
	} {
		var body any
		if c.method == "POST" {
			body = obj{"type": "a.b", "data": 1}
		}
		if status, b := s.callAs(alpha.Key, c.method, c.path, body); status != http.StatusNotFound {
			t.Errorf("alpha key: %s %s = %d, want 404: %s", c.method, c.path, status, b)
		}
	}

	// Scopes: no endpoints:write, no deliveries:write.
	if status, _ := s.callAs(alpha.Key, "POST", "/v1/tenants/alpha/endpoints", obj{"url": rcv.URL}); status != http.StatusForbidden {
		t.Errorf("alpha key creating an endpoint: %d, want 403", status)
	}
	// No key and a wrong key.
	if status, _ := s.callAs("", "GET", "/v1/tenants/alpha/endpoints", nil); status != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", status)
	}
	if status, _ := s.callAs(newAdminKey(), "GET", "/v1/tenants/alpha/endpoints", nil); status != http.StatusUnauthorized {
		t.Errorf("unknown key: %d, want 401", status)
	}
	// The admin key sees both.
	s.must(http.StatusOK, "GET", "/v1/tenants/beta/endpoints/"+betaEP.ID, nil, nil)
}

// TestServedRoutes: the binary serves the API, the operational routes and
// the dashboard from one address, and answers unknown routes with a problem
// document rather than a bare 404 page.
func TestServedRoutes(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, wantType string
		wantStatus     int
		wantLocation   string
	}{
		{"/", "", http.StatusFound, "/ui/"},
		{"/ui/login", "text/html", http.StatusOK, ""},
		{"/healthz", "application/json", http.StatusOK, ""},
		{"/readyz", "application/json", http.StatusOK, ""},
		{"/openapi.json", "application/json", http.StatusOK, ""},
		{"/metrics", "text/plain", http.StatusOK, ""},
		{"/v1/nope", "application/problem+json", http.StatusNotFound, ""},
	} {
		resp, err := client.Get(s.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tc.path == "/metrics" {
			// One registry holds the engine's, the API's and the runtime's.
			for _, name := range []string{"hookd_requests_in_flight", "hookd_http_requests_in_flight", "go_goroutines", "process_resident_memory_bytes"} {
				if !strings.Contains(string(body), name) {
					t.Errorf("/metrics has no %s", name)
				}
			}
		}
		if resp.StatusCode != tc.wantStatus || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) || resp.Header.Get("Location") != tc.wantLocation {
			t.Errorf("GET %s = %d %q (Location %q), want %d %q (Location %q)", tc.path,
				resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location"), tc.wantStatus, tc.wantType, tc.wantLocation)
		}
	}
}

// TestBadInput: malformed or invalid requests get a clear 4xx problem
// naming the field, never a 500, and nothing is stored.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	big := `{"type": "a.b", "data": "` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"malformed JSON", "POST", "/v1/tenants/acme/events", `{"type": "a.b", "data": `, 400, ""},
		{"body over 1 MiB", "POST", "/v1/tenants/acme/events", big, 413, ""},
		{"bad event type", "POST", "/v1/tenants/acme/events", obj{"type": "a b", "data": 1}, 422, "type"},
		{"missing data", "POST", "/v1/tenants/acme/events", obj{"type": "a.b"}, 422, "data"},
		{"bad tenant", "POST", "/v1/tenants/a%20b/events", obj{"type": "a.b", "data": 1}, 422, "tenant"},
		{"bad URL scheme", "POST", "/v1/tenants/acme/endpoints", obj{"url": "ftp://example.com"}, 422, "url"},
		{"bad duration", "POST", "/v1/tenants/acme/endpoints", obj{"url": "https://example.com", "timeout": "soon"}, 422, "timeout"},
		{"unknown scheme", "POST", "/v1/tenants/acme/endpoints", obj{"url": "https://example.com", "signature": obj{"scheme": "md5"}}, 422, "signature.scheme"},
		{"bad CEL filter", "POST", "/v1/tenants/acme/endpoints", obj{"url": "https://example.com", "filter": "event.type ==="}, 422, "filter"},
		{"bad cursor", "GET", "/v1/tenants/acme/events?cursor=not-a-cursor", nil, 422, "cursor"},
		{"malformed query", "GET", "/v1/tenants/acme/events?limit=%%%", nil, 400, ""},
	} {
		status, b := s.callAs(s.AdminKey, tc.method, tc.path, tc.body)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d: %.300s", tc.name, status, tc.status, b)
			continue
		}
		var p problem
		if err := json.Unmarshal(b, &p); err != nil || p.Status != tc.status || p.Detail == "" {
			t.Errorf("%s: not a problem document: %.300s", tc.name, b)
			continue
		}
		if tc.field != "" && !slices.ContainsFunc(p.Errors, func(e hookd.FieldError) bool { return e.Field == tc.field }) {
			t.Errorf("%s: errors %+v do not name %q", tc.name, p.Errors, tc.field)
		}
	}
	var events page[hookd.Event]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/events", nil, &events)
	var endpoints page[hookd.Endpoint]
	s.must(http.StatusOK, "GET", "/v1/tenants/acme/endpoints", nil, &endpoints)
	if len(events.Data)+len(endpoints.Data) != 0 {
		t.Errorf("bad requests stored %d events and %d endpoints", len(events.Data), len(endpoints.Data))
	}
}
