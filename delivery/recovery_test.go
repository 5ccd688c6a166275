package delivery_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// With a retention, replays that finished before it are purged with the
// rest; running ones stay.
func TestRetentionPurgesFinishedReplays(t *testing.T) {
	h := newHarness(t, withClock(), withOptions(func(o *delivery.Options) {
		o.Retention = time.Hour
		o.RetentionInterval = time.Minute
		o.ReplayPoll = time.Hour // the running replay stays unclaimed
	}))
	now := h.clock.Now()
	ep := h.endpoint("https://example.com/hooks")
	old := &hookd.Replay{ID: hookd.NewID(hookd.PrefixReplay), Tenant: h.tenant, EndpointID: ep.ID, Until: now,
		Status: hookd.ReplayStatusFailed, State: hookd.ReplayRunning, CreatedAt: now, UpdatedAt: now}
	running := *old
	running.ID = hookd.NewID(hookd.PrefixReplay)
	must(t, h.store.ReplayInsert(h.ctx, old))
	must(t, h.store.ReplayInsert(h.ctx, &running))
	_, err := h.store.ReplayCancel(h.ctx, h.tenant, old.ID, now)
	must(t, err)

	// Two hours on, the next purge takes the cancelled replay.
	h.clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := h.store.ReplayGet(h.ctx, h.tenant, old.ID)
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the finished replay was not purged: %v", err)
		}
		<-tick.C
	}
	_, err = h.store.ReplayGet(h.ctx, h.tenant, running.ID)
	must(t, err)
}
