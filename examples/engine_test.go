package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v81/github"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/examples"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// engineCases say, for each example, the delay before each retry (its
// length is the number of attempts minus one) and how to check one
// request's body and signature.
var engineCases = map[string]struct {
	delays []time.Duration
	check  func(t *testing.T, q *hookdtest.Request, a *hookd.Attempt, prev *hookd.Attempt, ev *published, secret string)
}{
	"stripe-signature-six-attempts": {
		delays: []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 60 * time.Minute, 5 * time.Hour},
		check: func(t *testing.T, q *hookdtest.Request, a, _ *hookd.Attempt, ev *published, secret string) {
			sig := q.Header.Get("Acme-Signature")
			// stripe-go's verifier, minus its five-minute tolerance: the
			// fake clock runs hours ahead of the real one.
			if err := webhook.ValidatePayloadIgnoringTolerance(q.Body, sig, secret); err != nil {
				t.Errorf("attempt %d: stripe-go rejects Acme-Signature %q: %v", a.Number, sig, err)
			}
			if !strings.HasPrefix(sig, "t="+strconv.FormatInt(a.StartedAt.Unix(), 10)+",v1=") {
				t.Errorf("attempt %d: Acme-Signature %q is not timed at the attempt (%d)", a.Number, sig, a.StartedAt.Unix())
			}
			if err := webhook.ValidatePayloadIgnoringTolerance(q.Body, sig, hookd.NewSecret()); err == nil {
				t.Error("stripe-go accepts the signature under another secret")
			}
			wantBody(t, q.Body, []string{"event_payload"}, map[string]any{"event_payload": map[string]any{"event": map[string]any{
				"id": ev.ID, "type": "order.created", "created_at": "2024-01-02T03:04:05Z", "data": map[string]any{"amount": 150.0},
			}}})
		},
	},
	"numeric-id-backoff-three-days": {
		// 1, 2, 4 … 2048 min apart; the next (4096) would start after 72 h.
		delays: []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
		check: func(t *testing.T, q *hookdtest.Request, a, _ *hookd.Attempt, ev *published, secret string) {
			checkStandard(t, q, a, ev, secret)
			wantBody(t, q.Body, []string{"id", "object", "date_created", "event_type", "payload", "version"}, map[string]any{
				"id": float64(ev.Seq), "object": "event", "date_created": "2024-01-02T03:04:05Z",
				"event_type": "order.created", "payload": map[string]any{"amount": 150.0}, "version": "1",
			})
		},
	},
	"attempt-records-hmac": {
		// The default policy.
		delays: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		check: func(t *testing.T, q *hookdtest.Request, a, prev *hookd.Attempt, ev *published, secret string) {
			sig := q.Header.Get("X-Webhook-Signature")
			if err := github.ValidateSignature(sig, q.Body, []byte(secret)); err != nil {
				t.Errorf("attempt %d: go-github rejects X-Webhook-Signature %q: %v", a.Number, sig, err)
			}
			if err := github.ValidateSignature(sig, append(bytes.Clone(q.Body), ' '), []byte(secret)); err == nil {
				t.Error("go-github accepts the signature of another body")
			}
			keys := []string{"id", "kind", "date", "data", "deliveryAttempt", "timestampSent", "retryOf"}
			want := map[string]any{
				"id": a.ID, "kind": "order.created", "date": "2024-01-02T03:04:05Z", "data": map[string]any{"amount": 150.0},
				"deliveryAttempt": float64(a.Number), "timestampSent": float64(a.StartedAt.Unix()),
			}
			if prev != nil {
				want["retryOf"] = prev.ID
			} else {
				keys = keys[:len(keys)-1]
			}
			wantBody(t, q.Body, keys, want)
		},
	},
	"retries-30s-to-24h": {
		delays: []time.Duration{30 * time.Second, time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour},
		check: func(t *testing.T, q *hookdtest.Request, a, _ *hookd.Attempt, ev *published, secret string) {
			checkStandard(t, q, a, ev, secret)
			wantBody(t, q.Body, []string{"id", "type", "timestamp", "data"}, map[string]any{
				"id": ev.ID, "type": "order.created", "timestamp": "2024-01-02T03:04:05Z", "data": map[string]any{"amount": 150.0},
			})
		},
	},
}

func init() {
	// The backoff delays above are in minutes, to keep the table short.
	c := engineCases["numeric-id-backoff-three-days"]
	for i := range c.delays {
		c.delays[i] *= time.Minute
	}
}

// checkStandard verifies the Standard Webhooks headers with the
// reference library.
func checkStandard(t *testing.T, q *hookdtest.Request, a *hookd.Attempt, ev *published, secret string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp(q.Body, q.Header); err != nil {
		t.Errorf("attempt %d: standard-webhooks rejects the signature: %v", a.Number, err)
	}
	if got := q.Header.Get("Webhook-Id"); got != ev.ID {
		t.Errorf("attempt %d: webhook-id %q, want the event id %q", a.Number, got, ev.ID)
	}
	if got := q.Header.Get("Webhook-Timestamp"); got != strconv.FormatInt(a.StartedAt.Unix(), 10) {
		t.Errorf("attempt %d: webhook-timestamp %s, want the attempt's %d", a.Number, got, a.StartedAt.Unix())
	}
}

// wantBody checks a body's top-level keys, in the order sent, and its
// value.
func wantBody(t *testing.T, body []byte, keys []string, want map[string]any) {
	t.Helper()
	if got := topKeys(t, body); !slices.Equal(got, keys) {
		t.Errorf("body keys %v, want %v: %s", got, keys, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n%v\nwant\n%v", got, want)
	}
}

type published struct {
	ID            string `json:"id"`
	Seq           int64  `json:"seq"`
	DeliveryCount int    `json:"delivery_count"`
}

// TestExamplesThroughTheEngine applies each example through the API, as a
// user would, pointed at a receiver that fails every request, publishes
// one event, and walks the real engine through every attempt on a fake
// clock: each attempt comes exactly when the example says, not a
// millisecond earlier, with the body and signature it promises, and after
// the last nothing more comes.
func TestExamplesThroughTheEngine(t *testing.T) {
	if len(engineCases) != len(examples.Names()) {
		t.Fatalf("%d examples, %d run through the engine", len(examples.Names()), len(engineCases))
	}
	for _, name := range examples.Names() {
		t.Run(name, func(t *testing.T) {
			tc := engineCases[name]
			e := newEngineEnv(t)
			r := hookdtest.NewReceiver(t)
			r.SetDefault(hookdtest.Response{Status: 500, Body: "no"})

			var cfg map[string]any
			raw, err := examples.JSON(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg["url"] = r.URL + "/hooks"
			var ep struct {
				ID     string `json:"id"`
				Secret string `json:"secret"`
			}
			e.call(t, "POST", "/v1/tenants/acme/endpoints", cfg, 201, &ep)
			var ev published
			e.call(t, "POST", "/v1/tenants/acme/events", map[string]any{
				"type": "order.created", "data": map[string]any{"amount": 150}, "occurred_at": "2024-01-02T03:04:05Z",
			}, 202, &ev)
			if ev.DeliveryCount != 1 {
				t.Fatalf("published %+v, want one delivery", ev)
			}

			var prev *hookd.Attempt
			for i := range len(tc.delays) + 1 {
				rec := e.next(t)
				a := rec.Attempt
				if a.Number != i+1 || !a.StartedAt.Equal(e.clock.Now()) || a.Outcome != hookd.OutcomeHTTPError || a.StatusCode != 500 {
					t.Fatalf("attempt %d: %+v at %v, want number %d at %v failing with 500", i+1, a, a.StartedAt, i+1, e.clock.Now())
				}
				if prev != nil && a.RetryOf != prev.ID {
					t.Errorf("attempt %d retry_of %q, want %q", a.Number, a.RetryOf, prev.ID)
				}
				q := r.Requests()[i]
				tc.check(t, q, a, prev, &ev, ep.Secret)
				prev = a
				if i == len(tc.delays) {
					if rec.State != hookd.StateFailed || !rec.NextAttemptAt.IsZero() {
						t.Fatalf("after the last attempt: state %s, next at %v; want failed and none", rec.State, rec.NextAttemptAt)
					}
					break
				}
				d := tc.delays[i]
				if rec.State != hookd.StatePending || !rec.NextAttemptAt.Equal(a.StartedAt.Add(d)) {
					t.Fatalf("attempt %d: state %s, next at %v; want pending, %v later", a.Number, rec.State, rec.NextAttemptAt, d)
				}
				// Not a millisecond early…
				e.clock.Advance(d - time.Millisecond)
				if n := r.Count(); n != i+1 {
					t.Fatalf("%d requests %v before attempt %d was due", n, time.Millisecond, i+2)
				}
				// …and then at once.
				e.clock.Advance(time.Millisecond)
				r.Wait(i + 2)
			}

			// A week later, nothing more has come.
			e.clock.Advance(7 * 24 * time.Hour)
			e.eng.EndpointChanged("acme") // a kick: the poller claims once more
			var dl struct {
				Data []hookd.Delivery `json:"data"`
			}
			e.call(t, "GET", "/v1/tenants/acme/deliveries?event_id="+ev.ID, nil, 200, &dl)
			if len(dl.Data) != 1 || dl.Data[0].State != hookd.StateFailed || dl.Data[0].Attempts != len(tc.delays)+1 {
				t.Fatalf("deliveries a week later: %+v", dl.Data)
			}
			if n := r.Count(); n != len(tc.delays)+1 {
				t.Fatalf("%d requests, want %d", n, len(tc.delays)+1)
			}
			// The failed attempts are listed per endpoint, page by page.
			var ids []string
			for cursor := ""; ; {
				var page struct {
					Data       []hookd.Attempt `json:"data"`
					NextCursor string          `json:"next_cursor"`
				}
				e.call(t, "GET", "/v1/tenants/acme/endpoints/"+ep.ID+"/attempts?failed=true&limit=4&cursor="+cursor, nil, 200, &page)
				for _, a := range page.Data {
					ids = append(ids, a.ID)
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if len(ids) != len(tc.delays)+1 || ids[0] != prev.ID {
				t.Fatalf("failed attempts listed: %v, want %d, newest (%s) first", ids, len(tc.delays)+1, prev.ID)
			}
		})
	}
}

// engineEnv is the API and the real engine on SQLite, on a fake clock.
type engineEnv struct {
	srv   *httptest.Server
	eng   *delivery.Engine
	clock *hookdtest.Clock
	admin string
	recs  chan hookd.AttemptRecord
}

func newEngineEnv(t *testing.T) *engineEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Start at the real time, so stored times look ordinary.
	e := &engineEnv{clock: hookdtest.NewClock(time.Now().UTC().Truncate(time.Second)), recs: make(chan hookd.AttemptRecord, 64)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.eng = delivery.New(st, delivery.Options{
		Owner:         "examples",
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Now:           e.clock.Now, NewTimer: e.clock.NewTimer,
		Logger: log,
		// Called from the engine's one writer goroutine; the buffer
		// holds every attempt of the longest example.
		OnRecord: func(recs []hookd.AttemptRecord) {
			for _, r := range recs {
				e.recs <- r
			}
		},
	})
	if err := e.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.eng.Stop(ctx)
	})
	e.srv = httptest.NewServer(api.New(api.Config{Store: st, Engine: e.eng, Logger: log, Now: e.clock.Now}))
	t.Cleanup(e.srv.Close)
	e.admin = hookdtest.InsertAPIKey(t, st, "", hookd.ScopeAdmin)
	return e
}

// next waits for the engine to record the next attempt.
func (e *engineEnv) next(t *testing.T) hookd.AttemptRecord {
	t.Helper()
	select {
	case r := <-e.recs:
		return r
	case <-time.After(15 * time.Second):
		t.Fatalf("no attempt recorded within 15s; timers pending at %v", e.clock.Pending())
		return hookd.AttemptRecord{}
	}
}

func (e *engineEnv) call(t *testing.T, method, path string, body any, status int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %s, want %d: %s", method, path, res.Status, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
