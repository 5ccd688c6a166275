package examples_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/examples"
	"github.com/hookd/hookd/expr"
	"github.com/hookd/hookd/signature"
)

const m = time.Minute

// Each example: when its attempts start, counted from the first (each
// attempt taken to fail at once), and what its body holds.
var cases = map[string]struct {
	attempts []time.Duration
	keys     []string // top-level keys of the body, in order
	check    func(t *testing.T, body map[string]any, v expr.BodyVars)
}{
	"stripe-signature-six-attempts": {
		// Retries after 1 min, 5 min, 30 min, 60 min and 5 h.
		attempts: []time.Duration{0, 1 * m, 6 * m, 36 * m, 96 * m, 396 * m},
		keys:     []string{"event_payload"},
		check: func(t *testing.T, body map[string]any, v expr.BodyVars) {
			ev := body["event_payload"].(map[string]any)["event"].(map[string]any)
			if ev["id"] != v.Event.ID {
				t.Errorf("event_payload.event.id = %v, want the event id %q, the receiver's dedup key", ev["id"], v.Event.ID)
			}
		},
	},
	"numeric-id-backoff-three-days": {
		// 1, 2, 4, 8 … min apart until 72 h after the first: 2^n - 1
		// minutes, the last at 4095 min (68 h 15 min); 8191 would be late.
		attempts: []time.Duration{0, 1 * m, 3 * m, 7 * m, 15 * m, 31 * m, 63 * m, 127 * m, 255 * m, 511 * m, 1023 * m, 2047 * m, 4095 * m},
		keys:     []string{"id", "object", "date_created", "event_type", "payload", "version"},
		check: func(t *testing.T, body map[string]any, v expr.BodyVars) {
			want := map[string]any{
				"id": float64(v.Event.Seq), "object": "event", "date_created": "2024-01-02T03:04:05Z",
				"event_type": "order.created", "payload": map[string]any{"amount": 150.0}, "version": "1",
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body = %v, want %v", body, want)
			}
		},
	},
	"attempt-records-hmac": {
		// The default policy: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
		attempts: []time.Duration{0, 5 * time.Second, 5*m + 5*time.Second, 35*m + 5*time.Second,
			155*m + 5*time.Second, 455*m + 5*time.Second, 1055*m + 5*time.Second, 1655*m + 5*time.Second},
		keys: []string{"id", "kind", "date", "data", "deliveryAttempt", "timestampSent", "retryOf"},
		check: func(t *testing.T, body map[string]any, v expr.BodyVars) {
			want := map[string]any{
				"id": v.Attempt.ID, "kind": "order.created", "date": "2024-01-02T03:04:05Z",
				"data": map[string]any{"amount": 150.0}, "deliveryAttempt": float64(v.Attempt.Number),
				"timestampSent": float64(v.Attempt.Timestamp.Unix()), "retryOf": v.Attempt.RetryOf,
			}
			if v.Attempt.RetryOf == "" {
				delete(want, "retryOf") // absent on a first attempt, not empty
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body = %v, want %v", body, want)
			}
		},
	},
	"retries-30s-to-24h": {
		// Immediately, then after 30 s, 1 h, 6 h, 12 h and 24 h.
		attempts: []time.Duration{0, 30 * time.Second, 60*m + 30*time.Second, 420*m + 30*time.Second, 1140*m + 30*time.Second, 2580*m + 30*time.Second},
		keys:     []string{"id", "type", "timestamp", "data"},
		check: func(t *testing.T, body map[string]any, v expr.BodyVars) {
			if body["id"] != v.Event.ID || body["type"] != "order.created" {
				t.Errorf("default body = %v", body)
			}
		},
	},
}

func TestEveryFileIsTested(t *testing.T) {
	names := examples.Names()
	if len(names) != len(cases) {
		t.Errorf("examples %v, tested %d", names, len(cases))
	}
	for _, name := range names {
		if _, ok := cases[name]; !ok {
			t.Errorf("example %s has no test case", name)
		}
	}
}

func TestExamples(t *testing.T) {
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ep, err := examples.Endpoint(name)
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL != "https://example.com/webhooks" {
				t.Errorf("url = %q", ep.URL)
			}
			// As the API does: the tenant from the path, then defaults.
			ep.Tenant = "acme"
			ep.Normalize()
			if err := ep.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := expr.CompileFilter(ep.Filter); err != nil {
				t.Fatalf("filter: %v", err)
			}
			body, err := expr.CompileBody(ep.Body)
			if err != nil {
				t.Fatalf("body: %v", err)
			}

			t.Run("attempt times", func(t *testing.T) {
				first := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
				got := []time.Duration{0}
				for n, at := 1, first; n < 1000; n++ {
					next, ok := ep.Retry.Next(n, first, at, 0.5)
					if !ok {
						break
					}
					got = append(got, next.Sub(first))
					at = next
				}
				if !slices.Equal(got, tc.attempts) {
					t.Errorf("attempts start at\n%v\nwant\n%v", got, tc.attempts)
				}
			})

			t.Run("body", func(t *testing.T) {
				for n := 1; n <= 2; n++ {
					v := vars(n)
					out, err := body.Render(v)
					if err != nil {
						t.Fatal(err)
					}
					if keys := topKeys(t, out); !slices.Equal(keys, tc.keys) && !(n == 1 && slices.Equal(keys, without(tc.keys, "retryOf"))) {
						t.Errorf("attempt %d: keys %v, want %v", n, keys, tc.keys)
					}
					var m map[string]any
					if err := json.Unmarshal(out, &m); err != nil {
						t.Fatal(err)
					}
					tc.check(t, m, v)
				}
			})

			t.Run("signature", func(t *testing.T) {
				checkSignature(t, ep)
			})
		})
	}
}

func vars(n int) expr.BodyVars {
	v := expr.BodyVars{
		Event: &hookd.Event{
			ID: "evt_01HX", Tenant: "acme", Seq: 1234, Type: "order.created",
			Data: []byte(`{"amount": 150.0}`), OccurredAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		EndpointID: "ep_1",
		Attempt:    expr.AttemptVars{ID: fmt.Sprintf("att_%d", n), Number: n, Timestamp: time.Date(2024, 1, 2, 3, 4, 6+n, 0, time.UTC)},
	}
	if n > 1 {
		v.Attempt.RetryOf = fmt.Sprintf("att_%d", n-1)
	}
	return v
}

// topKeys returns the keys of a JSON object in the order they were sent.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %s is not an object", b)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func without(s []string, x string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(e string) bool { return e == x })
}

// checkSignature signs a body as the endpoint is configured to and checks
// the header against an HMAC computed here, by each scheme's definition.
func checkSignature(t *testing.T, ep *hookd.Endpoint) {
	secret := hookd.NewSecret()
	signer, err := signature.NewSigner(ep.Signature.Scheme, ep.Signature.Header, signature.Secret{Value: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"a":1}`)
	ts := time.Unix(1704164645, 0)
	h := http.Header{}
	signer.Sign(h, "evt_01HX", ts, body)
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	switch ep.Signature.Scheme {
	case hookd.SchemeStripe:
		want := "t=1704164645,v1=" + hex.EncodeToString(mac([]byte(secret), "1704164645."+string(body)))
		if got := h.Get("Acme-Signature"); got != want {
			t.Errorf("Acme-Signature = %q, want %q (headers %v)", got, want, h)
		}
	case hookd.SchemeHMACSHA256Hex:
		want := "sha256=" + hex.EncodeToString(mac([]byte(secret), string(body)))
		if got := h.Get("X-Webhook-Signature"); got != want {
			t.Errorf("X-Webhook-Signature = %q, want %q (headers %v)", got, want, h)
		}
	case hookd.SchemeStandardWebhooks:
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, hookd.SecretPrefix))
		want := "v1," + base64.StdEncoding.EncodeToString(mac(key, "evt_01HX.1704164645."+string(body)))
		if got := h.Get("Webhook-Signature"); got != want || h.Get("Webhook-Id") != "evt_01HX" || h.Get("Webhook-Timestamp") != "1704164645" {
			t.Errorf("standard webhooks headers %v, want signature %q", h, want)
		}
	default:
		t.Fatalf("scheme %q", ep.Signature.Scheme)
	}
}
