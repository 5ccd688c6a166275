package hookd_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func decodeEndpoint(t *testing.T, body string) *hookd.Endpoint {
	t.Helper()
	var e hookd.Endpoint
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	e.Tenant = "acme"
	e.Normalize()
	return &e
}

func fields(err error) []string {
	var he *hookd.Error
	if !errors.As(err, &he) {
		return nil
	}
	var out []string
	for _, f := range he.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestEndpointValidate(t *testing.T) {
	for _, tc := range []struct {
		body  string
		field string // "" means valid
	}{
		{`{"url":"https://example.com/hooks"}`, ""},
		{`{"url":"http://127.0.0.1:9999/x","event_types":["order.*","invoice.paid","*"]}`, ""},
		{`{"url":"https://example.com","retry":{"backoff":{"initial":"1m","multiplier":2,"max_age":"72h"}}}`, ""},
		{`{"url":"https://example.com","signature":{"scheme":"stripe","header":"Acme-Signature"}}`, ""},
		{`{"url":""}`, "url"},
		{`{"url":"ftp://example.com"}`, "url"},
		{`{"url":"https://user:pw@example.com"}`, "url"},
		{`{"url":"not a url"}`, "url"},
		{`{"url":"https://example.com","timeout":"soon"}`, "timeout"},
		{`{"url":"https://example.com","timeout":30}`, "timeout"},
		{`{"url":"https://example.com","timeout":"-5s"}`, "timeout"},
		{`{"url":"https://example.com","timeout":"10m"}`, "timeout"},
		{`{"url":"https://example.com","retry":{"schedule":["1m","x"]}}`, "retry.schedule"},
		{`{"url":"https://example.com","retry":{"backoff":{"initial":"1m","multiplier":2}}}`, "retry.backoff"},
		{`{"url":"https://example.com","retry":{"schedule":["1m"],"jitter":2}}`, "retry.jitter"},
		{`{"url":"https://example.com","event_types":["order created"]}`, "event_types"},
		{`{"url":"https://example.com","event_types":["order*"]}`, "event_types"},
		{`{"url":"https://example.com","signature":{"scheme":"md5"}}`, "signature.scheme"},
		{`{"url":"https://example.com","signature":{"header":"X-Sig"}}`, "signature.header"},
		{`{"url":"https://example.com","headers":{"Webhook-Signature":"x"}}`, "headers"},
		{`{"url":"https://example.com","headers":{"X-Bad":"a\r\nb"}}`, "headers"},
		{`{"url":"https://example.com","max_in_flight":-1}`, "max_in_flight"},
		{`{"url":"https://example.com","rate_limit":-1}`, "rate_limit"},
	} {
		e := decodeEndpoint(t, tc.body)
		err := e.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: unexpected %v", tc.body, err)
			}
			continue
		}
		if hookd.ErrorCode(err) != hookd.EINVALID || !slices.Contains(fields(err), tc.field) {
			t.Errorf("%s: got %v (fields %v), want field %q", tc.body, err, fields(err), tc.field)
		}
	}
}

func TestValidationReportsEveryField(t *testing.T) {
	e := decodeEndpoint(t, `{"url":"gopher://x","timeout":"x","signature":{"scheme":"nope"}}`)
	got := fields(e.Validate())
	for _, f := range []string{"url", "timeout", "signature.scheme"} {
		if !slices.Contains(got, f) {
			t.Errorf("missing %q in %v", f, got)
		}
	}
}

func TestSubscribed(t *testing.T) {
	e := &hookd.Endpoint{EventTypes: []string{"order.*", "invoice.paid"}}
	for typ, want := range map[string]bool{
		"order.created": true, "order.line.added": true, "invoice.paid": true,
		"invoice.void": false, "orders.created": false, "order": false,
	} {
		if got := e.Subscribed(typ); got != want {
			t.Errorf("Subscribed(%q) = %v", typ, got)
		}
	}
	if !(&hookd.Endpoint{}).Subscribed("anything") {
		t.Error("no event_types must mean all")
	}
}

func TestSecrets(t *testing.T) {
	s := hookd.NewSecret()
	if !hookd.ValidSecret(s) {
		t.Fatalf("NewSecret %q is not valid", s)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "sk_" + s[6:], "whsec_" + strings.Repeat("A", 20)} {
		if hookd.ValidSecret(bad) {
			t.Errorf("ValidSecret(%q) = true", bad)
		}
	}
	now := time.Now()
	e := hookd.Endpoint{Secrets: []hookd.Secret{{Value: "new"}, {Value: "old", ExpiresAt: now.Add(time.Hour)}, {Value: "gone", ExpiresAt: now.Add(-time.Second)}}}
	var got []string
	for _, s := range e.ActiveSecrets(now) {
		got = append(got, s.Value)
	}
	if !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("active secrets %v", got)
	}
}

func TestBatchValidation(t *testing.T) {
	in := []hookd.EventInput{
		{Type: "order.created", Data: json.RawMessage(`{"a":1}`)},
		{Type: "bad type", Data: json.RawMessage(`{`)},
	}
	got := fields(hookd.ValidateBatch(in))
	if !slices.Equal(got, []string{"events[1].type", "events[1].data"}) {
		t.Errorf("fields %v", got)
	}
	if hookd.ValidateBatch(in[:1]) != nil {
		t.Error("valid batch rejected")
	}
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"30s"`, `"5h"`, `"0s"`, `"-1s"`, `30`, `null`, `"1h30m"`, `"9999999999h"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d hookd.Duration
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return // not JSON at all
		}
		if !d.Valid() {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back hookd.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("round trip %s → %s → %v (%v)", s, b, back, err)
		}
	})
}

func FuzzEndpointValidate(f *testing.F) {
	f.Add(`{"url":"https://example.com","event_types":["a.*"],"retry":{"schedule":["1s"]}}`)
	f.Add(`{"url":"http://[::1]:80/x","headers":{"A":"b"},"timeout":"2s"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var e hookd.Endpoint
		if json.Unmarshal([]byte(body), &e) != nil {
			return
		}
		e.Tenant = "t"
		e.Normalize()
		if err := e.Validate(); err != nil && hookd.ErrorCode(err) != hookd.EINVALID {
			t.Fatalf("validation error with code %s", hookd.ErrorCode(err))
		}
	})
}
