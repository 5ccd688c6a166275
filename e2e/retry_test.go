package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// TestRetrySchedule fails every attempt: a schedule of three delays makes
// exactly four attempts, chained by retry_of, and then the delivery is
// failed and nothing more is sent.
func TestRetrySchedule(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	rcv.SetDefault(hookdtest.Response{Status: http.StatusServiceUnavailable})
	s.createEndpoint("acme", obj{"url": rcv.URL, "retry": obj{"schedule": []string{"0s", "100ms", "200ms"}}})
	ev := s.publish("acme", obj{"type": "order.created", "data": obj{}})

	d := s.waitDelivery("acme", ev.ID, hookd.StateFailed, 20*time.Second)
	if d.Attempts != 4 {
		t.Errorf("delivery made %d attempts, want 4", d.Attempts)
	}
	atts := s.attempts("acme", d.ID)
	if len(atts) != 4 {
		t.Fatalf("%d attempts recorded, want 4", len(atts))
	}
	for i, a := range atts {
		if a.Number != i+1 || a.Outcome != hookd.OutcomeHTTPError || a.StatusCode != 503 {
			t.Errorf("attempt %d = %+v, want number %d, http_error 503", i, a, i+1)
		}
		switch {
		case i == 0 && a.RetryOf != "":
			t.Errorf("first attempt retries %q", a.RetryOf)
		case i > 0 && a.RetryOf != atts[i-1].ID:
			t.Errorf("attempt %d retry_of = %q, want %q", i+1, a.RetryOf, atts[i-1].ID)
		}
		if last := i == len(atts)-1; last != a.NextAttemptAt.IsZero() {
			t.Errorf("attempt %d next_attempt_at = %v", i+1, a.NextAttemptAt)
		}
	}
	// The 200ms delay runs from the end of the third attempt.
	if gap := atts[3].StartedAt.Sub(atts[2].StartedAt); gap < 200*time.Millisecond {
		t.Errorf("fourth attempt %v after the third, want at least 200ms", gap)
	}
	if n := rcv.Count(); n != 4 {
		t.Errorf("receiver got %d requests, want 4", n)
	}
	// Every webhook-id is the event's, so the receiver can dedupe.
	for _, r := range rcv.Requests() {
		if r.Header.Get("Webhook-Id") != ev.ID {
			t.Errorf("request %d has webhook-id %q, want %q", r.N, r.Header.Get("Webhook-Id"), ev.ID)
		}
	}

	// A failed delivery can be retried by hand; this time it succeeds.
	rcv.SetDefault(hookdtest.Response{Status: http.StatusOK})
	var retried hookd.Delivery
	s.must(http.StatusAccepted, "POST", "/v1/tenants/acme/deliveries/"+d.ID+"/retry", nil, &retried)
	if retried.ID != d.ID {
		t.Errorf("retry answered delivery %q, want %q", retried.ID, d.ID)
	}
	rcv.Wait(5)
	s.waitDelivery("acme", ev.ID, hookd.StateSucceeded, 10*time.Second)
}

// TestGoneDisablesEndpoint: a 410 disables the endpoint, which then gets
// no new deliveries.
func TestGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	rcv := hookdtest.NewReceiver(t)
	rcv.SetDefault(hookdtest.Response{Status: http.StatusGone})
	ep := s.createEndpoint("acme", obj{"url": rcv.URL, "retry": obj{"schedule": []string{"0s", "0s"}}})
	s.publish("acme", obj{"type": "order.created", "data": obj{}})
	rcv.Wait(1)

	var got hookd.Endpoint
	eventually(t, 10*time.Second, "the endpoint is disabled", func() bool {
		s.must(http.StatusOK, "GET", "/v1/tenants/acme/endpoints/"+ep.ID, nil, &got)
		return !got.Enabled
	})
	if got.DisabledReason == "" {
		t.Error("the endpoint was disabled without a reason")
	}
	ev := s.publish("acme", obj{"type": "order.created", "data": obj{}})
	if ev.DeliveryCount != 0 {
		t.Errorf("a disabled endpoint got %d new deliveries", ev.DeliveryCount)
	}
}

// TestRetryAfter: Retry-After on 429 and 503 may push the next attempt
// later than the schedule says, never earlier.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverConfig{})
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		schedule   string
		minGap     time.Duration
	}{
		{"429 later than schedule", http.StatusTooManyRequests, "2", "100ms", 2 * time.Second},
		{"503 earlier than schedule", http.StatusServiceUnavailable, "0", "1500ms", 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := hookdtest.NewReceiver(t)
			rcv.Respond(hookdtest.Response{Status: tc.status, Header: http.Header{"Retry-After": {tc.retryAfter}}})
			tenant := "ra" + tc.retryAfter
			s.createEndpoint(tenant, obj{"url": rcv.URL, "retry": obj{"schedule": []string{tc.schedule}}})
			ev := s.publish(tenant, obj{"type": "order.created", "data": obj{}})
			reqs := rcv.Wait(2)
			if gap := reqs[1].At.Sub(reqs[0].At); gap < tc.minGap {
				t.Errorf("second attempt came %v after the first, want at least %v", gap, tc.minGap)
			}
			d := s.waitDelivery(tenant, ev.ID, hookd.StateSucceeded, 10*time.Second)
			atts := s.attempts(tenant, d.ID)
			if len(atts) != 2 {
				t.Fatalf("%d attempts, want 2", len(atts))
			}
			first := atts[0]
			if want := first.StartedAt.Add(tc.minGap); first.NextAttemptAt.Before(want) {
				t.Errorf("next_attempt_at = %v, want at or after %v", first.NextAttemptAt, want)
			}
		})
	}
}
