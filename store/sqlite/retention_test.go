package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// TestRetentionBatch checks that one purge call deletes at most batch rows,
// also when one delivery alone has more attempts than that, and still
// makes progress.
func TestRetentionBatch(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	ep := endpoint("acme")
	if err := s.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	var in []hookd.EventInsert
	for i := range 5 {
		e := insert("acme", ep, i)
		e.Deliveries[0].LeaseOwner, e.Deliveries[0].LeaseUntil = "n1", t0.Add(time.Hour)
		in = append(in, e)
	}
	if _, err := s.EventInsertMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Each delivery gets 7 attempts, the last one succeeding.
	var recs []hookd.AttemptRecord
	for _, e := range in {
		d := e.Deliveries[0]
		for n := 1; n <= 7; n++ {
			st, owner := hookd.StatePending, "n1-earlier"
			if n == 7 {
				st, owner = hookd.StateSucceeded, "n1"
			}
			recs = append(recs, hookd.AttemptRecord{Attempt: &hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Tenant: "acme", DeliveryID: d.ID,
				EndpointID: ep.ID, EventID: e.Event.ID, Number: n, StartedAt: t0, Outcome: hookd.OutcomeSucceeded}, State: st, LeaseOwner: owner})
		}
	}
	if err := s.AttemptRecordMany(ctx, recs); err != nil {
		t.Fatal(err)
	}
	const want = 5 + 5*7 + 5 // deliveries, attempts, events
	total := 0
	for calls := 0; ; calls++ {
		if calls > want {
			t.Fatal("RetentionPurge makes no progress")
		}
		n, err := s.RetentionPurge(ctx, t0.Add(24*time.Hour), 3)
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Fatalf("a purge with batch 3 deleted %d rows", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != want {
		t.Errorf("purged %d rows, want %d", total, want)
	}
}
