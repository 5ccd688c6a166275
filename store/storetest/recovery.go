package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// recoveryTests are the conformance tests of hookd.RecoveryStore.
var recoveryTests = []struct {
	name string
	fn   func(t *testing.T, f *fixture)
}{
	{"Replay/RoundTrip", testReplayRoundTrip},
	{"Replay/Count", testReplayCount},
	{"Replay/Step", testReplayStep},
	{"Replay/StepScan", testReplayStepScan},
	{"Replay/Lease", testReplayLease},
	{"Replay/Cancel", testReplayCancel},
	{"Replay/EndpointDeleted", testReplayEndpointDeleted},
	{"Replay/DisabledEndpointWaits", testReplayDisabledEndpoint},
	{"Health/Streak", testHealthStreak},
	{"Health/AutoDisable", testHealthAutoDisable},
	{"Health/Gone", testHealthGone},
	{"Health/Reset", testHealthReset},
	{"Stats/Endpoint", testEndpointStats},
	{"Stats/Truncated", testEndpointStatsTruncated},
	{"Stats/Backlog", testBacklog},
	{"Recovery/Purge", testRecoveryPurge},
}

// past stores one event of type typ created at t with one delivery to ep
// in state st after n attempts (the last one at t), as history a replay
// walks.
func (f *fixture) past(ep *hookd.Endpoint, typ string, t time.Time, st hookd.DeliveryState, n int) *hookd.Delivery {
	f.t.Helper()
	ev := f.event(ep.Tenant, typ, t)
	d := delivery(ev, ep)
	d.State, d.Attempts = st, n
	if st != hookd.StatePending {
		d.NextAttemptAt = time.Time{}
	}
	if n > 0 {
		d.LastAttemptAt, d.LastAttemptID, d.LastOutcome = t, hookd.NewID(hookd.PrefixAttempt), hookd.OutcomeHTTPError
		if st == hookd.StateSucceeded {
			d.LastOutcome = hookd.OutcomeSucceeded
		}
	}
	_, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{d}}})
	must(f.t, err)
	return d
}

// newReplay builds a running replay of ep's deliveries in [since, until).
func newReplay(ep *hookd.Endpoint, since, until, created time.Time, status string, types ...string) *hookd.Replay {
	if types == nil {
		types = []string{}
	}
	return &hookd.Replay{
		ID: hookd.NewID(hookd.PrefixReplay), Tenant: ep.Tenant, EndpointID: ep.ID,
		Since: since, Until: until, Status: status, EventTypes: types,
		State: hookd.ReplayRunning, CreatedAt: created, UpdatedAt: created,
	}
}

func (f *fixture) insertReplay(r *hookd.Replay) *hookd.Replay {
	f.t.Helper()
	must(f.t, f.s.ReplayInsert(f.ctx, r))
	return r
}

// sameReplay fails unless got is want field by field, times in UTC.
func sameReplay(t *testing.T, got, want *hookd.Replay) {
	t.Helper()
	sameTime(t, "Since", got.Since, want.Since)
	sameTime(t, "Until", got.Until, want.Until)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "FinishedAt", got.FinishedAt, want.FinishedAt)
	g, w := *got, *want
	g.Since, g.Until, g.CreatedAt, g.UpdatedAt, g.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	w.Since, w.Until, w.CreatedAt, w.UpdatedAt, w.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	deepEqual(t, "replay", &g, &w)
}

// step advances replay id as owner at now, leased for a minute.
func (f *fixture) step(id, owner string, now time.Time, window, scan int) *hookd.ReplayStepResult {
	f.t.Helper()
	res, err := f.s.ReplayStep(f.ctx, hookd.ReplayStepParams{ID: id, Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Window: window, Scan: scan})
	must(f.t, err)
	return res
}

// claimReplays claims up to max replays as owner at now.
func (f *fixture) claimReplays(owner string, now time.Time, max int) []string {
	f.t.Helper()
	rs, err := f.s.ReplayClaimMany(f.ctx, hookd.ReplayClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Max: max})
	must(f.t, err)
	return ids(rs, func(r *hookd.Replay) string { return r.ID })
}

// settle claims ep's due deliveries at now as owner and records one
// attempt for each: succeeded for those in ok, failed for the rest.
func (f *fixture) settle(ep *hookd.Endpoint, owner string, now time.Time, ok func(d *hookd.Delivery) bool) []*hookd.Delivery {
	f.t.Helper()
	got := f.claim(owner, now, 1000, func(p *hookd.DeliveryClaimParams) { p.EndpointID = ep.ID })
	var recs []hookd.AttemptRecord
	for _, d := range got {
		if ok(d) {
			recs = append(recs, hookd.AttemptRecord{Attempt: attempt(d, d.Attempts+1, now, hookd.OutcomeSucceeded), State: hookd.StateSucceeded, LeaseOwner: owner})
		} else {
			recs = append(recs, hookd.AttemptRecord{Attempt: attempt(d, d.Attempts+1, now, hookd.OutcomeHTTPError), State: hookd.StateFailed, LeaseOwner: owner})
		}
	}
	if len(recs) > 0 {
		must(f.t, f.s.AttemptRecordMany(f.ctx, recs))
	}
	return got
}

func testReplayRoundTrip(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(0))
	r := newReplay(ep, at(-time.Hour), at(time.Hour), at(0), hookd.ReplayStatusFailed, "order.*", "invoice.paid")
	r.Total = 7
	f.insertReplay(r)
	got, err := f.s.ReplayGet(f.ctx, "acme", r.ID)
	must(t, err)
	sameReplay(t, got, r)

	// Since is optional; the list is newest first, of one endpoint if
	// asked, and pages.
	r2 := f.insertReplay(newReplay(ep, time.Time{}, at(time.Hour), at(time.Second), hookd.ReplayStatusAll))
	r3 := f.insertReplay(newReplay(other, time.Time{}, at(time.Hour), at(2*time.Second), hookd.ReplayStatusAll))
	got, err = f.s.ReplayGet(f.ctx, "acme", r2.ID)
	must(t, err)
	sameReplay(t, got, r2)
	all := walk(t, 2, func(p hookd.ListParams) ([]*hookd.Replay, string, error) {
		return f.s.ReplayList(f.ctx, hookd.ReplayListParams{ListParams: p, Tenant: "acme"})
	})
	replayID := func(r *hookd.Replay) string { return r.ID }
	sameIDs(t, "replays", ids(all, replayID), []string{r3.ID, r2.ID, r.ID})
	mine := walk(t, 1, func(p hookd.ListParams) ([]*hookd.Replay, string, error) {
		return f.s.ReplayList(f.ctx, hookd.ReplayListParams{ListParams: p, Tenant: "acme", EndpointID: ep.ID})
	})
	sameIDs(t, "replays of the endpoint", ids(mine, replayID), []string{r2.ID, r.ID})

	// Another tenant sees none of them.
	_, err = f.s.ReplayGet(f.ctx, "globex", r.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	list, _, err := f.s.ReplayList(f.ctx, hookd.ReplayListParams{Tenant: "globex"})
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("another tenant lists %d replays", len(list))
	}
	_, _, err = f.s.ReplayList(f.ctx, hookd.ReplayListParams{Tenant: "acme", ListParams: hookd.ListParams{Cursor: "nope"}})
	wantCursorError(t, err)
	wantCode(t, f.s.ReplayInsert(f.ctx, r), hookd.EDUPLICATE)
}

func testReplayCount(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(0))
	// More than a page of history, in every state, two types.
	n := hookd.DefaultReplayScan + 150
	failed, failedOrders, done := 0, 0, 0
	var ins []hookd.EventInsert
	for i := range n {
		st := []hookd.DeliveryState{hookd.StateFailed, hookd.StateSucceeded, hookd.StatePending, hookd.StateFailed, hookd.StateCancelled}[i%5]
		typ := []string{"order.created", "invoice.paid", "order.paid"}[i%3]
		var ds []*hookd.Delivery
		ev := f.event("acme", typ, at(time.Duration(i)*time.Second))
		d := delivery(ev, ep)
		d.State = st
		if st != hookd.StatePending {
			d.NextAttemptAt = time.Time{}
		}
		ds = append(ds, d, delivery(ev, other))
		ds[1].State, ds[1].NextAttemptAt = hookd.StateFailed, time.Time{}
		ins = append(ins, hookd.EventInsert{Event: ev, Deliveries: ds})
		if i >= 100 && i < 1100 {
			if st == hookd.StateFailed {
				failed++
				if typ != "invoice.paid" {
					failedOrders++
				}
			}
			if st != hookd.StatePending {
				done++
			}
		}
	}
	for len(ins) > 0 {
		k := min(len(ins), hookd.MaxBatch)
		_, err := f.s.EventInsertMany(f.ctx, ins[:k])
		must(t, err)
		ins = ins[k:]
	}
	count := func(status string, types ...string) int64 {
		t.Helper()
		c, err := f.s.ReplayCount(f.ctx, hookd.ReplayFilter{Tenant: "acme", EndpointID: ep.ID,
			Since: at(100 * time.Second), Until: at(1100 * time.Second), Status: status, EventTypes: types})
		must(t, err)
		return c
	}
	if got := count(hookd.ReplayStatusFailed); got != int64(failed) {
		t.Errorf("failed: %d, want %d", got, failed)
	}
	if got := count(hookd.ReplayStatusAll); got != int64(done) {
		t.Errorf("all: %d, want %d (every delivery but the pending ones)", got, done)
	}
	if got := count(hookd.ReplayStatusFailed, "order.*"); got != int64(failedOrders) {
		t.Errorf("failed orders: %d, want %d", got, failedOrders)
	}
	if got := count(hookd.ReplayStatusFailed, "nothing.like.this"); got != 0 {
		t.Errorf("no type matches: %d", got)
	}
	// Since open: from the first delivery; the bounds are [since, until).
	c, err := f.s.ReplayCount(f.ctx, hookd.ReplayFilter{Tenant: "acme", EndpointID: ep.ID, Until: at(5 * time.Second), Status: hookd.ReplayStatusAll})
	must(t, err)
	if c != 4 { // 0 failed, 1 succeeded, 3 failed, 4 cancelled
		t.Errorf("first five seconds: %d, want 4", c)
	}
	_, err = f.s.ReplayCount(f.ctx, hookd.ReplayFilter{Tenant: "globex", EndpointID: ep.ID, Until: at(time.Hour), Status: hookd.ReplayStatusAll})
	wantCode(t, err, hookd.ENOTFOUND)
}

func testReplayStep(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(0))
	var want []string
	for i := range 7 {
		d := f.past(ep, "order.created", at(time.Duration(i)*time.Second), hookd.StateFailed, 3)
		want = append(want, d.ID)
		f.past(ep, "order.created", at(time.Duration(i)*time.Second+time.Millisecond), hookd.StateSucceeded, 1)
		f.past(other, "order.created", at(time.Duration(i)*time.Second), hookd.StateFailed, 3)
	}
	// Outside the window: before since, at until.
	f.past(ep, "order.created", at(-time.Second), hookd.StateFailed, 3)
	f.past(ep, "order.created", at(time.Minute), hookd.StateFailed, 3)

	now := at(time.Hour)
	r := f.insertReplay(newReplay(ep, at(0), at(time.Minute), now, hookd.ReplayStatusFailed))
	r.Total = 0
	if got := f.claimReplays("n1", now, 10); !slices.Equal(got, []string{r.ID}) {
		t.Fatalf("claimed %v, want the replay", got)
	}

	// A window of 3: the first three failed deliveries, oldest first,
	// pending and due now, without a lease.
	res := f.step(r.ID, "n1", now, 3, 0)
	sameIDs(t, "fed", res.Fed, want[:3])
	if res.Replay.State != hookd.ReplayRunning || res.Replay.Total != 3 || res.Replay.Done != 0 {
		t.Fatalf("after the first step: %+v", res.Replay)
	}
	d, err := f.s.DeliveryGet(f.ctx, "acme", want[0])
	must(t, err)
	if d.State != hookd.StatePending || d.Attempts != 3 || d.LeaseOwner != "" {
		t.Fatalf("a fed delivery: %+v, want pending with its 3 attempts and no lease", d)
	}
	sameTime(t, "NextAttemptAt", d.NextAttemptAt, now)

	// Nothing attempted yet: the window stays full.
	if res := f.step(r.ID, "n1", now.Add(time.Second), 3, 0); len(res.Fed) != 0 || res.Replay.Done != 0 {
		t.Fatalf("fed %v with a full window; replay %+v", res.Fed, res.Replay)
	}

	// The first delivery succeeds, the second fails: two settle, two more
	// are fed. A delivery attempted and then pending again settles too.
	n := 0
	f.settle(ep, "n9", now.Add(2*time.Second), func(d *hookd.Delivery) bool { n++; return d.ID == want[0] })
	if n != 3 {
		t.Fatalf("the store let %d fed deliveries be claimed, want 3", n)
	}
	res = f.step(r.ID, "n1", now.Add(3*time.Second), 3, 0)
	sameIDs(t, "fed next", res.Fed, want[3:6])
	if got := res.Replay; got.Done != 3 || got.Succeeded != 1 || got.Failed != 2 || got.Total != 6 {
		t.Fatalf("after settling: done %d succeeded %d failed %d total %d, want 3 1 2 6", got.Done, got.Succeeded, got.Failed, got.Total)
	}
	f.settle(ep, "n9", now.Add(4*time.Second), func(*hookd.Delivery) bool { return true })
	res = f.step(r.ID, "n1", now.Add(5*time.Second), 3, 0)
	sameIDs(t, "fed last", res.Fed, want[6:])
	f.settle(ep, "n9", now.Add(6*time.Second), func(*hookd.Delivery) bool { return true })

	// The walk is over and all settled: completed, exact, lease dropped.
	res = f.step(r.ID, "n1", now.Add(7*time.Second), 3, 0)
	got := res.Replay
	if got.State != hookd.ReplayCompleted || got.Total != 7 || got.Done != 7 || got.Succeeded != 5 || got.Failed != 2 {
		t.Fatalf("completed replay: %+v", got)
	}
	sameTime(t, "FinishedAt", got.FinishedAt, now.Add(7*time.Second))
	if len(res.Fed) != 0 {
		t.Fatalf("a completed replay fed %v", res.Fed)
	}
	stored, err := f.s.ReplayGet(f.ctx, "acme", r.ID)
	must(t, err)
	sameReplay(t, stored, got)
	if ids := f.claimReplays("n2", now.Add(8*time.Second), 10); len(ids) != 0 {
		t.Fatalf("a completed replay was claimed: %v", ids)
	}
	// Stepping it again only reports it.
	if res := f.step(r.ID, "n1", now.Add(9*time.Second), 3, 0); res.Replay.State != hookd.ReplayCompleted || len(res.Fed) != 0 {
		t.Fatalf("stepping a completed replay: %+v", res)
	}
	// The other endpoint's deliveries were never touched.
	for _, d := range f.claim("n9", now.Add(time.Hour), 100) {
		t.Fatalf("a delivery outside the replay became pending: %+v", d)
	}
}

func testReplayStepScan(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	for i := range 10 {
		st := hookd.StateSucceeded
		// The failed one is in the fourth pair, which the third page
		// holds whole: within a pair the order of ids is not defined.
		if i == 7 {
			st = hookd.StateFailed
		}
		// Pairs created at the same time: the walk's pages split them.
		f.past(ep, "order.created", at(time.Duration(i/2)*time.Second), st, 1)
	}
	now := at(time.Hour)
	r := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	f.claimReplays("n1", now, 1)
	// Examining 3 at a time, so that pages split the pairs, the only
	// failed delivery comes in the third step, and the walk ends in the
	// fourth; the steps before say there is more to walk.
	var fed []string
	for i, more := range []bool{true, true, true, false} {
		res := f.step(r.ID, "n1", now, 10, 3)
		fed = append(fed, res.Fed...)
		if res.More != more || len(fed) != min(i/2, 1) {
			t.Fatalf("step %d: fed %v, more %v; want %d fed and more %v", i, fed, res.More, min(i/2, 1), more)
		}
	}
	f.settle(ep, "n9", now, func(*hookd.Delivery) bool { return true })
	if res := f.step(r.ID, "n1", now, 10, 3); res.Replay.State != hookd.ReplayCompleted || res.Replay.Total != 1 {
		t.Fatalf("final step: %+v", res.Replay)
	}
}

func testReplayLease(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	f.past(ep, "order.created", at(0), hookd.StateFailed, 1)
	now := at(time.Hour)
	r1 := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	r2 := f.insertReplay(newReplay(ep, time.Time{}, now, now.Add(time.Second), hookd.ReplayStatusFailed))
	if got := f.claimReplays("n1", now, 1); !slices.Equal(got, []string{r1.ID}) {
		t.Fatalf("n1 claimed %v, want the oldest replay", got)
	}
	if got := f.claimReplays("n2", now, 10); !slices.Equal(got, []string{r2.ID}) {
		t.Fatalf("n2 claimed %v, want only the free replay", got)
	}
	// Another node cannot step a replay it does not hold.
	_, err := f.s.ReplayStep(f.ctx, hookd.ReplayStepParams{ID: r1.ID, Owner: "n2", Now: now, LeaseUntil: now.Add(time.Minute), Window: 1})
	wantCode(t, err, hookd.ECONFLICT)
	// A step renews the lease: still n1's a minute later.
	f.step(r1.ID, "n1", now.Add(30*time.Second), 1, 0)
	if got := f.claimReplays("n2", now.Add(80*time.Second), 10); !slices.Equal(got, []string{r2.ID}) {
		t.Fatalf("n2 claimed %v while n1's renewed lease lasts", got)
	}
	// Expired, it is anyone's; a release frees it at once.
	if got := f.claimReplays("n2", now.Add(91*time.Second), 10); !slices.Contains(got, r1.ID) {
		t.Fatalf("n2 claimed %v after n1's lease expired", got)
	}
	must(t, f.s.ReplayReleaseMany(f.ctx, "n2"))
	if got := f.claimReplays("n3", now.Add(92*time.Second), 10); len(got) != 2 {
		t.Fatalf("n3 claimed %v after n2 released both", got)
	}
	_, err = f.s.ReplayStep(f.ctx, hookd.ReplayStepParams{ID: "rpl_nope", Owner: "n3", Now: now, LeaseUntil: now.Add(time.Minute), Window: 1})
	wantCode(t, err, hookd.ENOTFOUND)
}

func testReplayCancel(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	for i := range 5 {
		f.past(ep, "order.created", at(time.Duration(i)*time.Second), hookd.StateFailed, 1)
	}
	now := at(time.Hour)
	r := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	f.claimReplays("n1", now, 1)
	res := f.step(r.ID, "n1", now, 2, 0)
	if len(res.Fed) != 2 {
		t.Fatalf("fed %v, want 2", res.Fed)
	}
	_, err := f.s.ReplayCancel(f.ctx, "globex", r.ID, now)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.ReplayCancel(f.ctx, "acme", "rpl_nope", now)
	wantCode(t, err, hookd.ENOTFOUND)
	got, err := f.s.ReplayCancel(f.ctx, "acme", r.ID, now.Add(time.Second))
	must(t, err)
	if got.State != hookd.ReplayCancelled || got.Total != 2 {
		t.Fatalf("cancelled: %+v", got)
	}
	sameTime(t, "FinishedAt", got.FinishedAt, now.Add(time.Second))
	// Twice is fine; the owner's next step sees it and feeds nothing.
	again, err := f.s.ReplayCancel(f.ctx, "acme", r.ID, now.Add(2*time.Second))
	must(t, err)
	sameReplay(t, again, got)
	res = f.step(r.ID, "n1", now.Add(3*time.Second), 2, 0)
	if res.Replay.State != hookd.ReplayCancelled || len(res.Fed) != 0 {
		t.Fatalf("step after cancel: %+v", res)
	}
	if got := f.claimReplays("n2", now.Add(4*time.Second), 10); len(got) != 0 {
		t.Fatalf("a cancelled replay was claimed: %v", got)
	}
	// What was fed stays pending and is still sent; the rest is not.
	if got := f.settle(ep, "n9", now.Add(5*time.Second), func(*hookd.Delivery) bool { return true }); len(got) != 2 {
		t.Fatalf("%d deliveries pending after the cancel, want the 2 fed", len(got))
	}

	// A completed replay cannot be cancelled.
	r2 := f.insertReplay(newReplay(ep, at(time.Minute), now, now.Add(time.Second), hookd.ReplayStatusFailed))
	f.claimReplays("n1", now.Add(6*time.Second), 10)
	if res := f.step(r2.ID, "n1", now.Add(6*time.Second), 2, 0); res.Replay.State != hookd.ReplayCompleted {
		t.Fatalf("an empty replay: %+v, want completed", res.Replay)
	}
	_, err = f.s.ReplayCancel(f.ctx, "acme", r2.ID, now)
	wantCode(t, err, hookd.ECONFLICT)
}

func testReplayEndpointDeleted(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	for i := range 3 {
		f.past(ep, "order.created", at(time.Duration(i)*time.Second), hookd.StateFailed, 1)
	}
	now := at(time.Hour)
	r := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	f.claimReplays("n1", now, 1)
	f.step(r.ID, "n1", now, 1, 0)
	must(t, f.s.EndpointDelete(f.ctx, "acme", ep.ID, now.Add(time.Second)))
	res := f.step(r.ID, "n1", now.Add(2*time.Second), 1, 0)
	if res.Replay.State != hookd.ReplayCancelled || len(res.Fed) != 0 {
		t.Fatalf("replay of a deleted endpoint: %+v, want cancelled", res)
	}
}

func testReplayDisabledEndpoint(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	f.past(ep, "order.created", at(0), hookd.StateFailed, 1)
	ep.Enabled = false
	must(t, f.s.EndpointUpdate(f.ctx, ep))
	now := at(time.Hour)
	r := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	f.claimReplays("n1", now, 1)
	if res := f.step(r.ID, "n1", now, 5, 0); len(res.Fed) != 1 {
		t.Fatalf("fed %v, want the failed delivery", res.Fed)
	}
	// Fed but not sent while disabled; sent once enabled again.
	if got := f.claim("n9", now.Add(time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %d deliveries of a disabled endpoint", len(got))
	}
	ep.Enabled = true
	must(t, f.s.EndpointUpdate(f.ctx, ep))
	if got := f.claim("n9", now.Add(2*time.Second), 10); len(got) != 1 {
		t.Fatalf("claimed %d after enabling, want 1", len(got))
	}
}

// observe records one observation at now and returns its update, if any.
func (f *fixture) observe(o hookd.HealthObservation, now time.Time, disableAfter time.Duration) *hookd.HealthUpdate {
	f.t.Helper()
	us, err := f.s.EndpointHealthRecordMany(f.ctx, hookd.HealthRecordParams{Observations: []hookd.HealthObservation{o}, Now: now, DisableAfter: disableAfter})
	must(f.t, err)
	if len(us) > 1 {
		f.t.Fatalf("%d updates for one observation", len(us))
	}
	if len(us) == 0 {
		return nil
	}
	return &us[0]
}

func failure(ep *hookd.Endpoint, t time.Time) hookd.HealthObservation {
	var o hookd.HealthObservation
	o.Tenant, o.EndpointID = ep.Tenant, ep.ID
	o.Add(t, false, false)
	return o
}

func success(ep *hookd.Endpoint, t time.Time) hookd.HealthObservation {
	var o hookd.HealthObservation
	o.Tenant, o.EndpointID = ep.Tenant, ep.ID
	o.Add(t, true, false)
	return o
}

func testHealthStreak(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	u := f.observe(success(ep, at(0)), at(0), 0)
	if u == nil || !u.Health.FailingSince.IsZero() || u.Recovered || u.Disabled {
		t.Fatalf("a success: %+v", u)
	}
	sameTime(t, "LastSuccess", u.Health.LastSuccess, at(0))
	u = f.observe(failure(ep, at(time.Minute)), at(time.Minute), 0)
	sameTime(t, "FailingSince", u.Health.FailingSince, at(time.Minute))
	u = f.observe(failure(ep, at(2*time.Minute)), at(2*time.Minute), 0)
	sameTime(t, "FailingSince after a second failure", u.Health.FailingSince, at(time.Minute))
	sameTime(t, "LastFailure", u.Health.LastFailure, at(2*time.Minute))
	if u.Recovered {
		t.Fatal("recovered without a success")
	}
	// A success ends the streak, once.
	u = f.observe(success(ep, at(3*time.Minute)), at(3*time.Minute), 0)
	if !u.Recovered || !u.Health.FailingSince.IsZero() {
		t.Fatalf("after a success: %+v, want recovered", u)
	}
	sameTime(t, "recovered streak start", u.FailingSince, at(time.Minute))
	if u := f.observe(success(ep, at(4*time.Minute)), at(4*time.Minute), 0); u.Recovered {
		t.Fatal("recovered twice")
	}
	// A late report of an old failure changes nothing.
	if u := f.observe(failure(ep, at(2*time.Minute)), at(5*time.Minute), 0); !u.Health.FailingSince.IsZero() {
		t.Fatalf("an old failure started a streak: %+v", u.Health)
	}
	// An endpoint that does not exist is left out.
	ghost := newEndpoint("acme", at(0))
	if u := f.observe(failure(ghost, at(time.Minute)), at(time.Minute), time.Second); u != nil {
		t.Fatalf("an update for a missing endpoint: %+v", u)
	}
}

func testHealthAutoDisable(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	const after = 5 * 24 * time.Hour
	f.observe(failure(ep, at(0)), at(0), after)
	if u := f.observe(failure(ep, at(after-time.Second)), at(after-time.Second), after); u.Disabled || u.Disable {
		t.Fatalf("disabled before the period: %+v", u)
	}
	u := f.observe(failure(ep, at(after)), at(after), after)
	if !u.Disable || !u.Disabled || u.Reason == "" {
		t.Fatalf("after failing for the period: %+v, want disabled with a reason", u)
	}
	got, err := f.s.EndpointGet(f.ctx, "acme", ep.ID)
	must(t, err)
	if got.Enabled || got.DisabledReason != u.Reason {
		t.Fatalf("endpoint after auto-disable: enabled %v reason %q, want disabled with %q", got.Enabled, got.DisabledReason, u.Reason)
	}
	// Its pending delivery waits, still pending.
	if c := f.claim("n1", at(after+time.Second), 10); len(c) != 0 {
		t.Fatalf("claimed %d deliveries of an auto-disabled endpoint", len(c))
	}
	d, err := f.s.DeliveryGet(f.ctx, "acme", ds[0].ID)
	must(t, err)
	if d.State != hookd.StatePending {
		t.Fatalf("delivery of a disabled endpoint is %s, want pending", d.State)
	}
	// Reported once.
	if u := f.observe(failure(ep, at(after+time.Minute)), at(after+time.Minute), after); u.Disabled {
		t.Fatal("disabled twice")
	}
	// Enabled again by a person: the old streak does not count, and the
	// delivery is claimed again.
	got.Enabled, got.DisabledReason = true, ""
	must(t, f.s.EndpointUpdate(f.ctx, got))
	if c := f.claim("n1", at(after+2*time.Minute), 10); len(c) != 1 {
		t.Fatalf("claimed %d after enabling, want the waiting delivery", len(c))
	}
	u = f.observe(failure(ep, at(after+3*time.Minute)), at(after+3*time.Minute), after)
	if u.Disabled {
		t.Fatal("disabled again at the first failure after being enabled")
	}
	sameTime(t, "new streak", u.Health.FailingSince, at(after+3*time.Minute))
	if u := f.observe(failure(ep, at(2*after+3*time.Minute)), at(2*after+3*time.Minute), after); !u.Disabled {
		t.Fatal("a new streak of the whole period did not disable it")
	}
	// Without a period, never.
	ep2 := f.endpoint("acme", at(0))
	f.observe(failure(ep2, at(0)), at(0), 0)
	if u := f.observe(failure(ep2, at(100*after)), at(100*after), 0); u.Disabled {
		t.Fatal("disabled without a DisableAfter")
	}
}

func testHealthGone(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	f.claim("n1", at(0), 10)
	a := attempt(ds[0], 1, at(time.Second), hookd.OutcomeHTTPError)
	a.StatusCode = 410
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: a, State: hookd.StatePending, NextAttemptAt: at(time.Minute), LeaseOwner: "n1", DisableEndpoint: "410 Gone"}}))
	o := failure(ep, at(time.Second))
	o.Gone = true
	u := f.observe(o, at(2*time.Second), 0)
	if !u.Disabled || u.Disable || u.Reason != "410 Gone" {
		t.Fatalf("after a 410: %+v, want reported disabled with the endpoint's reason", u)
	}
	if u := f.observe(o, at(3*time.Second), 0); u.Disabled {
		t.Fatal("a second 410 reported again")
	}
}

func testHealthReset(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	f.observe(failure(ep, at(0)), at(0), 0)
	must(t, f.s.EndpointHealthReset(f.ctx, "globex", ep.ID)) // another tenant's: nothing
	u := f.observe(failure(ep, at(time.Hour)), at(time.Hour), 0)
	sameTime(t, "FailingSince", u.Health.FailingSince, at(0))
	must(t, f.s.EndpointHealthReset(f.ctx, "acme", ep.ID))
	u = f.observe(failure(ep, at(2*time.Hour)), at(2*time.Hour), 2*time.Hour)
	sameTime(t, "FailingSince after a reset", u.Health.FailingSince, at(2*time.Hour))
	if u.Disabled {
		t.Fatal("the streak before the reset counted")
	}
}

func testEndpointStats(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(0))
	now := at(48 * time.Hour)
	// Attempts of 10, 20 … 100 ms in the last day, every third failed;
	// older ones and another endpoint's do not count.
	var recs []hookd.AttemptRecord
	add := func(e *hookd.Endpoint, t time.Time, ms int64, o hookd.Outcome) {
		_, ds := f.publish("acme", "order.created", t, e)
		a := attempt(ds[0], 1, t, o)
		a.Duration = ms
		recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StatePending, NextAttemptAt: now.Add(time.Hour), LeaseOwner: "none"})
	}
	for i := 1; i <= 10; i++ {
		o := hookd.OutcomeSucceeded
		if i%3 == 0 {
			o = hookd.OutcomeTimeout
		}
		add(ep, now.Add(-time.Duration(i)*time.Hour), int64(10*i), o)
	}
	add(ep, now.Add(-25*time.Hour), 5000, hookd.OutcomeSucceeded)
	add(other, now.Add(-time.Hour), 7000, hookd.OutcomeHTTPError)
	must(t, f.s.AttemptRecordMany(f.ctx, recs))
	// Pending: the deliveries above (their leases never taken), the
	// oldest created 25 hours ago.
	f.observe(success(ep, now.Add(-30*24*time.Hour)), now, 0)
	f.observe(failure(ep, now.Add(-3*time.Hour)), now, 0)
	f.observe(success(ep, now.Add(-time.Hour)), now, 0)

	st, err := f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "acme", EndpointID: ep.ID, Now: now})
	must(t, err)
	if st.Attempts != 10 || st.Succeeded != 7 || st.Failed != 3 || st.Truncated {
		t.Fatalf("attempts %d succeeded %d failed %d truncated %v, want 10 7 3 false", st.Attempts, st.Succeeded, st.Failed, st.Truncated)
	}
	if st.SuccessRate == nil || *st.SuccessRate != 0.7 {
		t.Fatalf("success rate %v, want 0.7", st.SuccessRate)
	}
	if st.DurationP50 != 50 || st.DurationP99 != 100 {
		t.Fatalf("p50 %d p99 %d, want 50 and 100", st.DurationP50, st.DurationP99)
	}
	sameTime(t, "WindowStart", st.WindowStart, now.Add(-24*time.Hour))
	sameTime(t, "AsOf", st.AsOf, now)
	if st.Pending != 11 || st.PendingMore {
		t.Fatalf("pending %d (more %v), want 11", st.Pending, st.PendingMore)
	}
	sameTime(t, "OldestPendingAt", st.OldestPendingAt, now.Add(-25*time.Hour))
	if st.OldestPendingAge != hookd.Duration(25*time.Hour) {
		t.Errorf("OldestPendingAge %v, want 25h", st.OldestPendingAge)
	}
	sameTime(t, "LastSuccessAt", st.LastSuccessAt, now.Add(-time.Hour))
	sameTime(t, "LastFailureAt", st.LastFailureAt, now.Add(-3*time.Hour))
	sameTime(t, "FailingSince", st.FailingSince, time.Time{})
	if !st.Enabled || st.EndpointID != ep.ID {
		t.Fatalf("stats of %s, enabled %v", st.EndpointID, st.Enabled)
	}
	// Pending beyond the cap is reported as more.
	st, err = f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "acme", EndpointID: ep.ID, Now: now, MaxPending: 4})
	must(t, err)
	if st.Pending != 4 || !st.PendingMore {
		t.Fatalf("pending %d (more %v) with a cap of 4", st.Pending, st.PendingMore)
	}
	// Health reaches beyond the window.
	quiet := f.endpoint("acme", at(0))
	f.observe(success(quiet, now.Add(-30*24*time.Hour)), now, 0)
	f.observe(failure(quiet, now.Add(-29*24*time.Hour)), now, 0)
	st, err = f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "acme", EndpointID: quiet.ID, Now: now})
	must(t, err)
	if st.Attempts != 0 || st.SuccessRate != nil || st.Pending != 0 || st.DurationP50 != 0 {
		t.Fatalf("a quiet endpoint: %+v", st)
	}
	sameTime(t, "LastSuccessAt", st.LastSuccessAt, now.Add(-30*24*time.Hour))
	sameTime(t, "FailingSince", st.FailingSince, now.Add(-29*24*time.Hour))
	_, err = f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "globex", EndpointID: ep.ID, Now: now})
	wantCode(t, err, hookd.ENOTFOUND)
}

func testEndpointStatsTruncated(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	now := at(time.Hour)
	_, ds := f.publish("acme", "order.created", at(0), ep)
	var recs []hookd.AttemptRecord
	for i := range 10 {
		a := attempt(ds[0], i+1, now.Add(-time.Duration(10-i)*time.Minute), hookd.OutcomeSucceeded)
		a.Duration = int64(i)
		recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StatePending, NextAttemptAt: now, LeaseOwner: "none"})
	}
	must(t, f.s.AttemptRecordMany(f.ctx, recs))
	st, err := f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "acme", EndpointID: ep.ID, Now: now, MaxAttempts: 4})
	must(t, err)
	if st.Attempts != 4 || !st.Truncated {
		t.Fatalf("attempts %d truncated %v, want the newest 4", st.Attempts, st.Truncated)
	}
	sameTime(t, "WindowStart", st.WindowStart, now.Add(-4*time.Minute))
	if st.DurationP50 != 7 || st.DurationP99 != 9 {
		t.Fatalf("p50 %d p99 %d of durations 6..9, want 7 and 9", st.DurationP50, st.DurationP99)
	}
}

func testBacklog(t *testing.T, f *fixture) {
	b, err := f.s.BacklogGet(f.ctx, 5)
	must(t, err)
	if b.Pending != 0 || len(b.Top) != 0 || !b.OldestPendingAt.IsZero() {
		t.Fatalf("empty backlog: %+v", b)
	}
	var eps []*hookd.Endpoint
	for i := range 3 {
		eps = append(eps, f.endpoint(fmt.Sprintf("t%d", i), at(0)))
	}
	for i, ep := range eps {
		for j := range 3 * (i + 1) {
			f.publish(ep.Tenant, "order.created", at(time.Duration(10*i+j)*time.Second), ep)
		}
	}
	f.past(eps[0], "order.created", at(-time.Hour), hookd.StateFailed, 1) // not pending
	b, err = f.s.BacklogGet(f.ctx, 2)
	must(t, err)
	if b.Pending != 18 {
		t.Fatalf("pending %d, want 18", b.Pending)
	}
	sameTime(t, "OldestPendingAt", b.OldestPendingAt, at(0))
	want := []hookd.EndpointBacklog{{Tenant: "t2", EndpointID: eps[2].ID, Pending: 9}, {Tenant: "t1", EndpointID: eps[1].ID, Pending: 6}}
	deepEqual(t, "top endpoints", b.Top, want)
}

func testRecoveryPurge(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	gone := f.endpoint("acme", at(0))
	now := at(time.Hour)
	old := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	running := f.insertReplay(newReplay(ep, time.Time{}, now, now, hookd.ReplayStatusFailed))
	f.claimReplays("n1", now, 10)
	f.step(old.ID, "n1", now, 1, 0) // nothing to replay: completed at now
	f.observe(failure(ep, now), now, 0)
	f.observe(failure(gone, now), now, 0)
	must(t, f.s.EndpointDelete(f.ctx, "acme", gone.ID, now))
	for i := 0; ; i++ {
		n, err := f.s.RecoveryPurge(f.ctx, now.Add(time.Second), 1)
		must(t, err)
		if n == 0 {
			break
		}
		if i > 10 {
			t.Fatal("purge does not end")
		}
	}
	_, err := f.s.ReplayGet(f.ctx, "acme", old.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.ReplayGet(f.ctx, "acme", running.ID)
	must(t, err)
	// The existing endpoint keeps its health.
	st, err := f.s.EndpointStatsGet(f.ctx, hookd.EndpointStatsParams{Tenant: "acme", EndpointID: ep.ID, Now: now})
	must(t, err)
	sameTime(t, "FailingSince", st.FailingSince, now)
}
