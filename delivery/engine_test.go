package delivery_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

// A published event reaches its endpoint at once, signed, with the default
// body, and its attempt is recorded.
func TestPublishDelivers(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	ep := h.endpoint(r.URL+"/hooks", func(e *hookd.Endpoint) {
		e.Headers = map[string]string{"X-Team": "erp", "Authorization": "Bearer s3cr3t"}
	})
	occurred := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	res, err := h.eng.Publish(h.ctx, h.tenant, []hookd.EventInput{{ID: "order-1", Type: "order.created", Data: json.RawMessage(`{"amount":100}`), OccurredAt: &occurred}})
	must(t, err)
	eq(t, "delivery count", res[0].DeliveryCount, 1)
	eq(t, "event id", res[0].Event.ID, "order-1")

	req := r.Wait(1)[0]
	eq(t, "method", req.Method, "POST")
	eq(t, "path", req.Path, "/hooks")
	eq(t, "content type", req.Header.Get("Content-Type"), "application/json")
	eq(t, "user agent", req.Header.Get("User-Agent"), "hookd/"+hookd.Version)
	eq(t, "custom header", req.Header.Get("X-Team"), "erp")
	eq(t, "webhook-id", req.Header.Get("webhook-id"), "order-1")
	eq(t, "body", string(req.Body), `{"id":"order-1","type":"order.created","timestamp":"2026-03-04T05:06:07.89Z","data":{"amount":100}}`)
	wh, err := standardwebhooks.NewWebhook(ep.Secrets[0].Value)
	must(t, err)
	if err := wh.Verify(req.Body, req.Header); err != nil {
		t.Errorf("Standard Webhooks library rejects the request: %v", err)
	}

	rec := h.waitRecords(1)[0]
	a := rec.Attempt
	eq(t, "outcome", a.Outcome, hookd.OutcomeSucceeded)
	eq(t, "state", rec.State, hookd.StateSucceeded)
	eq(t, "status", a.StatusCode, 200)
	eq(t, "number", a.Number, 1)
	eq(t, "recorded webhook-id", a.RequestHeaders["Webhook-Id"], "order-1")
	eq(t, "recorded authorization", a.RequestHeaders["Authorization"], "[redacted]")
	if a.RequestHeaders["Webhook-Signature"] == "" {
		t.Errorf("recorded headers lack the signature: %v", a.RequestHeaders)
	}
	for k, v := range a.RequestHeaders {
		if strings.Contains(v, ep.Secrets[0].Value) || strings.Contains(v, "s3cr3t") {
			t.Errorf("recorded header %s leaks a secret", k)
		}
	}
	d := h.delivery("order-1")
	eq(t, "stored state", d.State, hookd.StateSucceeded)
	eq(t, "stored attempts", d.Attempts, 1)
	eq(t, "lease owner after the attempt", d.LeaseOwner, "")
}

// Every row of the outcome table, one endpoint each.
func TestOutcomes(t *testing.T) {
	h := newHarness(t)
	ok := hookdtest.NewReceiver(t)
	failing := hookdtest.NewReceiver(t)
	failing.SetDefault(hookdtest.Response{Status: 500, Body: strings.Repeat("x", 10000)})
	redirect := hookdtest.NewReceiver(t)
	redirect.SetDefault(hookdtest.Response{Status: 301, Header: http.Header{"Location": {"http://10.0.0.1/"}}})
	reset := hookdtest.NewReceiver(t)
	reset.SetDefault(hookdtest.Response{Reset: true})
	hang := hookdtest.NewReceiver(t)
	hang.SetDefault(hookdtest.Response{Hang: true})
	untrusted := hookdtest.NewUntrustedTLSReceiver(t)

	cases := []struct {
		name    string
		url     string
		timeout time.Duration
		outcome hookd.Outcome
		status  int
		errHas  string
	}{
		{"succeeded", ok.URL, 0, hookd.OutcomeSucceeded, 200, ""},
		{"http_error", failing.URL, 0, hookd.OutcomeHTTPError, 500, "500"},
		{"redirect", redirect.URL, 0, hookd.OutcomeRedirect, 301, "http://10.0.0.1/"},
		{"connect_error refused", hookdtest.ClosedURL(t), 0, hookd.OutcomeConnectError, 0, "refused"},
		{"connect_error reset", reset.URL, 0, hookd.OutcomeConnectError, 0, ""},
		{"connect_error dns", "http://no-such-host.invalid/", 0, hookd.OutcomeConnectError, 0, "no-such-host.invalid"},
		{"tls_error", untrusted.URL, 0, hookd.OutcomeTLSError, 0, "certificate"},
		{"timeout", hang.URL, 300 * time.Millisecond, hookd.OutcomeTimeout, 0, "timeout"},
	}
	byEndpoint := map[string]string{}
	for _, c := range cases {
		ep := h.endpoint(c.url, func(e *hookd.Endpoint) {
			if c.timeout > 0 {
				e.Timeout = hookd.Duration(c.timeout)
			}
		})
		byEndpoint[ep.ID] = c.name
	}
	h.publish("order.created", map[string]int{"n": 1})
	recs := h.waitRecords(len(cases))
	got := map[string]*hookd.Attempt{}
	for _, r := range recs {
		got[byEndpoint[r.Attempt.EndpointID]] = r.Attempt
		if r.Attempt.Outcome != hookd.OutcomeSucceeded && r.State != hookd.StateFailed {
			t.Errorf("%s: state %s after the only attempt, want failed", byEndpoint[r.Attempt.EndpointID], r.State)
		}
	}
	for _, c := range cases {
		a := got[c.name]
		if a == nil {
			t.Errorf("%s: no attempt", c.name)
			continue
		}
		if a.Outcome != c.outcome || a.StatusCode != c.status || !strings.Contains(a.Error, c.errHas) {
			t.Errorf("%s: outcome %s, status %d, error %q; want %s, %d, error containing %q", c.name, a.Outcome, a.StatusCode, a.Error, c.outcome, c.status, c.errHas)
		}
	}
	if a := got["http_error"]; a != nil && len(a.Response) != hookd.MaxResponseExcerpt {
		t.Errorf("response excerpt of %d bytes, want %d", len(a.Response), hookd.MaxResponseExcerpt)
	}
	if a := got["timeout"]; a != nil && (a.Duration < 300 || a.Duration > 2000) {
		t.Errorf("timeout attempt took %dms with a 300ms timeout", a.Duration)
	}
	if n := redirect.Count(); n != 1 {
		t.Errorf("redirect receiver got %d requests", n)
	}
}

// A TLS endpoint whose certificate the engine trusts succeeds.
func TestTLSTrusted(t *testing.T) {
	r := hookdtest.NewTLSReceiver(t)
	h := newHarness(t, withOptions(func(o *delivery.Options) { o.RootCAs = r.CertPool() }))
	h.endpoint(r.URL)
	h.publish("order.created", 1)
	eq(t, "outcome", h.waitRecords(1)[0].Attempt.Outcome, hookd.OutcomeSucceeded)
}
