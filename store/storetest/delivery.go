package storetest

import (
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// sameDelivery fails unless got is want field by field, times in UTC.
func sameDelivery(t *testing.T, got, want *hookd.Delivery) {
	t.Helper()
	sameTime(t, "NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	sameTime(t, "LastAttemptAt", got.LastAttemptAt, want.LastAttemptAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "LeaseUntil", got.LeaseUntil, want.LeaseUntil)
	g, w := *got, *want
	g.NextAttemptAt, g.LastAttemptAt, g.CreatedAt, g.UpdatedAt, g.LeaseUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	w.NextAttemptAt, w.LastAttemptAt, w.CreatedAt, w.UpdatedAt, w.LeaseUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Fatalf("delivery = %+v\n      want %+v", g, w)
	}
}

// attempt builds attempt number n of d, started at t.
func attempt(d *hookd.Delivery, n int, t time.Time, o hookd.Outcome) *hookd.Attempt {
	a := &hookd.Attempt{
		ID:         hookd.NewID(hookd.PrefixAttempt),
		Tenant:     d.Tenant,
		DeliveryID: d.ID,
		EndpointID: d.EndpointID,
		EventID:    d.EventID,
		Number:     n,
		StartedAt:  t,
		Duration:   42,
		Outcome:    o,
	}
	switch o {
	case hookd.OutcomeSucceeded:
		a.StatusCode = 200
		a.Response = `{"ok":true}`
	case hookd.OutcomeHTTPError:
		a.StatusCode = 500
		a.Response = "boom"
	default:
		a.Error = "dial tcp: connection refused"
	}
	return a
}

// claimDeliveries returns the deliveries of claims.
func claimDeliveries(cs []hookd.Claim) []*hookd.Delivery {
	out := make([]*hookd.Delivery, len(cs))
	for i, c := range cs {
		out[i] = c.Delivery
	}
	return out
}
