package delivery_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

// A schedule of three delays makes exactly four attempts, each at the
// scheduled time on the engine's clock, chained by retry_of, and then the
// delivery is failed.
func TestScheduleExactAttempts(t *testing.T) {
	h := newHarness(t, withClock())
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: 500})
	delays := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute}
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.Retry = schedule(delays...) })
	res := h.publish("order.created", 1)
	start := h.clock.Now()

	for i := range len(delays) + 1 {
		rec := h.waitRecords(i + 1)[i]
		a := rec.Attempt
		eq(t, "attempt number", a.Number, i+1)
		if !a.StartedAt.Equal(h.clock.Now()) {
			t.Errorf("attempt %d started at %v, want %v", i+1, a.StartedAt, h.clock.Now())
		}
		if i < len(delays) {
			eq(t, "state", rec.State, hookd.StatePending)
			if want := h.clock.Now().Add(delays[i]); !a.NextAttemptAt.Equal(want) || !rec.NextAttemptAt.Equal(want) {
				t.Errorf("attempt %d: next at %v, want %v", i+1, a.NextAttemptAt, want)
			}
			// Nothing happens before the time comes.
			h.clock.Advance(delays[i] - time.Millisecond)
			if n := r.Count(); n != i+1 {
				t.Fatalf("%d requests %s before the retry was due", n, time.Millisecond)
			}
			h.clock.Advance(time.Millisecond)
			r.Wait(i + 2)
		} else {
			eq(t, "state after the last attempt", rec.State, hookd.StateFailed)
			if !a.NextAttemptAt.IsZero() {
				t.Errorf("last attempt has a next attempt at %v", a.NextAttemptAt)
			}
		}
	}
	// Days later, still four.
	h.clock.Advance(72 * time.Hour)
	h.eng.EndpointChanged(h.tenant) // a kick: the poller claims once more
	d := h.delivery(res.Event.ID)
	eq(t, "state", d.State, hookd.StateFailed)
	eq(t, "attempts", d.Attempts, 4)
	as := h.attempts(d.ID)
	eq(t, "stored attempts", len(as), 4)
	for i, a := range as {
		if i > 0 && a.RetryOf != as[i-1].ID {
			t.Errorf("attempt %d retry_of %q, want %q", i+1, a.RetryOf, as[i-1].ID)
		}
	}
	eq(t, "first attempt retry_of", as[0].RetryOf, "")
	want := start
	for i, q := range r.Requests() {
		// The timestamp header is each attempt's own time; the id is the
		// event's, the same every time.
		eq(t, "webhook-timestamp", q.Header.Get("Webhook-Timestamp"), itoa(want.Unix()))
		eq(t, "webhook-id", q.Header.Get("Webhook-Id"), res.Event.ID)
		if i < len(delays) {
			want = want.Add(delays[i])
		}
	}
	eq(t, "requests", r.Count(), 4)
}

// Backoff with max_age: delays double from the initial one, and no attempt
// starts after max_age from the first.
func TestBackoffMaxAge(t *testing.T) {
	h := newHarness(t, withClock())
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: 503})
	h.endpoint(r.URL, func(e *hookd.Endpoint) {
		e.Retry = hookd.RetryPolicy{Backoff: &hookd.Backoff{
			Initial: hookd.Duration(time.Minute), Multiplier: 2, MaxAge: hookd.Duration(10 * time.Minute),
		}}
	})
	h.publish("order.created", 1)
	// Attempts at 0, 1, 3, 7 minutes; the next would be at 15 > 10.
	for i, d := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		rec := h.waitRecords(i + 1)[i]
		eq(t, "state", rec.State, hookd.StatePending)
		eq(t, "delay", rec.NextAttemptAt.Sub(rec.Attempt.StartedAt), d)
		h.clock.Advance(d)
		r.Wait(i + 2)
	}
	eq(t, "state after max_age", h.waitRecords(4)[3].State, hookd.StateFailed)
}

// Retry-After on a 429 or 503 pushes the next attempt later, never
// earlier, in seconds or as an HTTP date; on other statuses it is ignored.
func TestRetryAfter(t *testing.T) {
	h := newHarness(t, withClock())
	now := h.clock.Now()
	cases := []struct {
		name   string
		resp   hookdtest.Response
		policy time.Duration
		want   time.Duration
	}{
		{"429 seconds later", hookdtest.Response{Status: 429, Header: http.Header{"Retry-After": {"120"}}}, time.Second, 120 * time.Second},
		{"503 date later", hookdtest.Response{Status: 503, Header: http.Header{"Retry-After": {now.Add(time.Hour).Format(http.TimeFormat)}}}, time.Minute, time.Hour},
		{"503 seconds earlier", hookdtest.Response{Status: 503, Header: http.Header{"Retry-After": {"10"}}}, time.Hour, time.Hour},
		{"429 date in the past", hookdtest.Response{Status: 429, Header: http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}}, time.Minute, time.Minute},
		{"429 garbage", hookdtest.Response{Status: 429, Header: http.Header{"Retry-After": {"soon"}}}, time.Minute, time.Minute},
		{"500 ignored", hookdtest.Response{Status: 500, Header: http.Header{"Retry-After": {"3600"}}}, time.Minute, time.Minute},
	}
	names := map[string]string{}
	for _, c := range cases {
		r := hookdtest.NewReceiver(t)
		r.SetDefault(c.resp)
		ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.Retry = schedule(c.policy) })
		names[ep.ID] = c.name
	}
	h.publish("order.created", 1)
	recs := h.waitRecords(len(cases))
	for _, rec := range recs {
		name := names[rec.Attempt.EndpointID]
		for _, c := range cases {
			if c.name == name {
				eq(t, name+": delay", rec.NextAttemptAt.Sub(rec.Attempt.StartedAt), c.want)
			}
		}
	}
}

// A 410 disables the endpoint; its pending delivery waits, is not sent
// while disabled, and goes out once the endpoint is enabled again.
func TestGoneDisablesAndEnableResumes(t *testing.T) {
	h := newHarness(t, withClock())
	r := hookdtest.NewReceiver(t)
	r.Respond(hookdtest.Response{Status: 410})
	ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.Retry = schedule(time.Minute) })
	res := h.publish("order.created", 1)
	rec := h.waitRecords(1)[0]
	eq(t, "disable", rec.DisableEndpoint, "410 Gone")
	eq(t, "state", rec.State, hookd.StatePending)
	stored, err := h.store.EndpointGet(h.ctx, h.tenant, ep.ID)
	must(t, err)
	eq(t, "enabled after 410", stored.Enabled, false)
	eq(t, "disabled reason", stored.DisabledReason, "410 Gone")

	// While disabled: the retry comes due but is not sent, and new events
	// make no deliveries.
	h.clock.Advance(time.Hour)
	second := h.publish("order.created", 2)
	eq(t, "deliveries to a disabled endpoint", second.DeliveryCount, 0)
	eq(t, "requests while disabled", r.Count(), 1)
	eq(t, "state while disabled", h.delivery(res.Event.ID).State, hookd.StatePending)

	stored.Enabled, stored.DisabledReason = true, ""
	h.update(stored)
	r.Wait(2)
	rec = h.waitRecords(2)[1]
	eq(t, "outcome after enable", rec.Attempt.Outcome, hookd.OutcomeSucceeded)
	eq(t, "attempt number", rec.Attempt.Number, 2)
}

// A retry due in one second arrives within 1.1 s on the real clock: the
// poller's timer is set to it, not left to a poll.
func TestOneSecondRetryIsPunctual(t *testing.T) {
	h := newHarness(t, withOptions(func(o *delivery.Options) { o.PollInterval = time.Hour }))
	r := hookdtest.NewReceiver(t)
	r.Respond(hookdtest.Response{Status: 500})
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.Retry = schedule(time.Second) })
	h.publish("order.created", 1)
	reqs := r.Wait(2)
	first := h.waitRecords(1)[0].Attempt
	gap := reqs[1].At.Sub(reqs[0].At)
	second := h.waitRecords(2)[1].Attempt
	t.Logf("second attempt %s after the first (which took %dms); due at +%s, started at +%s, arrived at +%s",
		gap, first.Duration, first.NextAttemptAt.Sub(reqs[0].At), second.StartedAt.Sub(reqs[0].At), gap)
	if gap < time.Second || gap > 1100*time.Millisecond {
		t.Errorf("a 1s retry arrived %s after the first attempt, want within [1s, 1.1s]", gap)
	}
	eq(t, "outcome", h.waitRecords(2)[1].Attempt.Outcome, hookd.OutcomeSucceeded)
}

// Retry redelivers a failed delivery at once, as a manual attempt.
func TestManualRetry(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	r.Respond(hookdtest.Response{Status: 500})
	h.endpoint(r.URL)
	res := h.publish("order.created", 1)
	eq(t, "state", h.waitRecords(1)[0].State, hookd.StateFailed)
	d := h.delivery(res.Event.ID)
	got, err := h.eng.Retry(h.ctx, h.tenant, d.ID)
	must(t, err)
	eq(t, "state after Retry", got.State, hookd.StatePending)
	rec := h.waitRecords(2)[1]
	eq(t, "outcome", rec.Attempt.Outcome, hookd.OutcomeSucceeded)
	eq(t, "manual", rec.Attempt.Manual, true)
	eq(t, "retry_of", rec.Attempt.RetryOf, h.waitRecords(1)[0].Attempt.ID)
	eq(t, "state", h.delivery(res.Event.ID).State, hookd.StateSucceeded)

	_, err = h.eng.Retry(h.ctx, "globex", d.ID)
	eq(t, "retry of another tenant's delivery", hookd.ErrorCode(err), hookd.ENOTFOUND)
}

// During a rotation both secrets sign, in every scheme, and each verifies
// with the scheme's own library.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	cur, old := hookd.NewSecret(), hookd.NewSecret()
	expired := hookd.NewSecret()
	secrets := []hookd.Secret{{Value: cur}, {Value: old, ExpiresAt: time.Now().Add(time.Hour)}, {Value: expired, ExpiresAt: time.Now().Add(-time.Minute)}}
	std := h.endpoint(r.URL+"/std", func(e *hookd.Endpoint) { e.Secrets = secrets })
	stripe := h.endpoint(r.URL+"/stripe", func(e *hookd.Endpoint) {
		e.Secrets = secrets
		e.Signature = hookd.SignatureConfig{Scheme: hookd.SchemeStripe, Header: "Acme-Signature"}
	})
	gh := h.endpoint(r.URL+"/gh", func(e *hookd.Endpoint) {
		e.Secrets = secrets
		e.Signature = hookd.SignatureConfig{Scheme: hookd.SchemeHMACSHA256Hex}
	})
	_, _ = stripe, gh
	h.publish("order.created", map[string]string{"x": "y"})
	for _, q := range r.Wait(3) {
		switch q.Path {
		case "/std":
			for _, s := range []string{cur, old} {
				wh, _ := standardwebhooks.NewWebhook(s)
				if err := wh.Verify(q.Body, q.Header); err != nil {
					t.Errorf("standard-webhooks: %v", err)
				}
			}
			wh, _ := standardwebhooks.NewWebhook(expired)
			if wh.Verify(q.Body, q.Header) == nil {
				t.Error("the expired secret still signs")
			}
			_ = std
		case "/stripe":
			for _, s := range []string{cur, old} {
				if err := stripeValidate(q.Body, q.Header.Get("Acme-Signature"), s); err != nil {
					t.Errorf("stripe: %v", err)
				}
			}
		case "/gh":
			vals := q.Header.Values("X-Hub-Signature-256")
			if len(vals) != 2 {
				t.Fatalf("X-Hub-Signature-256: %q, want two", vals)
			}
			if err := githubValidate(vals[0], q.Body, cur); err != nil {
				t.Errorf("go-github, current secret: %v", err)
			}
			if err := githubValidate(vals[1], q.Body, old); err != nil {
				t.Errorf("go-github, old secret: %v", err)
			}
		}
	}
}

// A body expression is evaluated per attempt: a retry (claimed from the
// store, not dispatched from memory) sees its own number and retry_of.
func TestBodyPerAttempt(t *testing.T) {
	h := newHarness(t, withClock())
	r := hookdtest.NewReceiver(t)
	r.Respond(hookdtest.Response{Status: 500})
	h.endpoint(r.URL, func(e *hookd.Endpoint) {
		e.Retry = schedule(time.Minute)
		e.Body = `{"id": event.id, "seq": event.seq, "n": attempt.number, "retry_of": attempt.retry_of, "data": event.data}`
	})
	res := h.publish("order.created", map[string]int{"amount": 7})
	first := h.waitRecords(1)[0].Attempt
	h.clock.Advance(time.Minute)
	reqs := r.Wait(2)
	eq(t, "first body", string(reqs[0].Body), fmt.Sprintf(`{"id":%q,"seq":%d,"n":1,"retry_of":"","data":{"amount":7}}`, res.Event.ID, res.Event.Seq))
	eq(t, "second body", string(reqs[1].Body), fmt.Sprintf(`{"id":%q,"seq":%d,"n":2,"retry_of":%q,"data":{"amount":7}}`, res.Event.ID, res.Event.Seq, first.ID))
}
