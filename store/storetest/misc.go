package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func testAPIKey(t *testing.T, f *fixture) {
	var want []string
	keys := map[string]*hookd.APIKey{}
	for i := range 12 {
		_, hash := hookd.NewAPIKeySecret()
		k := &hookd.APIKey{
			ID:        hookd.NewID(hookd.PrefixAPIKey),
			Name:      fmt.Sprintf("key %d", i),
			Scopes:    []string{hookd.ScopeEventsWrite, hookd.ScopeDeliveriesRead},
			Prefix:    "hk_abcd",
			Hash:      hash,
			CreatedAt: at(time.Duration(i) * time.Second),
		}
		if i%2 == 0 {
			k.Tenant = "acme"
			k.ExpiresAt = at(24 * time.Hour)
			k.Scopes = []string{hookd.ScopeAdmin}
		}
		must(t, f.s.APIKeyInsert(f.ctx, k))
		want = append(want, k.ID)
		keys[k.ID] = k
	}
	same := func(got, want *hookd.APIKey) {
		t.Helper()
		sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
		sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
		if !bytes.Equal(got.Hash, want.Hash) {
			t.Errorf("hash %x, want %x", got.Hash, want.Hash)
		}
		g, w := *got, *want
		g.CreatedAt, g.ExpiresAt, g.Hash, w.CreatedAt, w.ExpiresAt, w.Hash = time.Time{}, time.Time{}, nil, time.Time{}, time.Time{}, nil
		deepEqual(t, "api key", &g, &w)
	}
	for _, k := range keys {
		got, err := f.s.APIKeyGetByHash(f.ctx, k.Hash)
		must(t, err)
		same(got, k)
	}
	_, missing := hookd.NewAPIKeySecret()
	_, err := f.s.APIKeyGetByHash(f.ctx, missing)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.APIKeyGetByHash(f.ctx, nil)
	wantCode(t, err, hookd.ENOTFOUND)

	got := walk(t, 5, func(p hookd.ListParams) ([]*hookd.APIKey, string, error) { return f.s.APIKeyList(f.ctx, p) })
	sameIDs(t, "api keys, newest first", ids(got, func(k *hookd.APIKey) string { return k.ID }), reversed(want))
	for _, k := range got {
		same(k, keys[k.ID])
	}
	_, _, err = f.s.APIKeyList(f.ctx, hookd.ListParams{Cursor: "!"})
	wantCursorError(t, err)

	must(t, f.s.APIKeyDelete(f.ctx, want[3]))
	wantCode(t, f.s.APIKeyDelete(f.ctx, want[3]), hookd.ENOTFOUND)
	_, err = f.s.APIKeyGetByHash(f.ctx, keys[want[3]].Hash)
	wantCode(t, err, hookd.ENOTFOUND)
	got = walk(t, 100, func(p hookd.ListParams) ([]*hookd.APIKey, string, error) { return f.s.APIKeyList(f.ctx, p) })
	if len(got) != 11 {
		t.Errorf("%d keys listed after a delete, want 11", len(got))
	}
	dup := *keys[want[0]]
	wantCode(t, f.s.APIKeyInsert(f.ctx, &dup), hookd.EDUPLICATE)
}

func testRetentionPurge(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	old, recent := at(-40*24*time.Hour), at(-time.Hour)
	cutoff := at(-30 * 24 * time.Hour)

	// Old and done: goes, with its attempts and event.
	doneEv, done := f.publish("acme", "order.created", old, ep, ep)
	// Old but still pending (e.g. a retry of an old failure): stays, and
	// so does its event.
	pendEv, pend := f.publish("acme", "order.created", old, ep, ep)
	// Recent and done: stays.
	recentEv, recentDs := f.publish("acme", "order.created", recent, ep)
	// An old event without deliveries: goes.
	bareEv, _ := f.publish("acme", "order.created", old)

	f.claim("n1", old, 100, func(p *hookd.DeliveryClaimParams) { p.LeaseUntil = old.Add(time.Minute) })
	var recs []hookd.AttemptRecord
	var doneAtts []string
	for _, d := range done {
		a := attempt(d, 1, old, hookd.OutcomeSucceeded)
		doneAtts = append(doneAtts, a.ID)
		recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "n1"})
	}
	// pend[0] failed once, pend[1] failed for good and was retried.
	recs = append(recs,
		hookd.AttemptRecord{Attempt: attempt(pend[0], 1, old, hookd.OutcomeHTTPError), State: hookd.StatePending, NextAttemptAt: at(time.Hour), LeaseOwner: "n1"},
		hookd.AttemptRecord{Attempt: attempt(pend[1], 1, old, hookd.OutcomeHTTPError), State: hookd.StateFailed, LeaseOwner: "n1"})
	// done[0] also has manual attempts, more than a purge batch.
	for i := range 3 {
		a := attempt(done[0], 2+i, old.Add(time.Duration(i+1)*time.Second), hookd.OutcomeSucceeded)
		a.Manual = true
		doneAtts = append(doneAtts, a.ID)
		recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "ping"})
	}
	must(t, f.s.AttemptRecordMany(f.ctx, recs))
	_, err := f.s.DeliveryRetry(f.ctx, "acme", pend[1].ID, at(0))
	must(t, err)
	f.claim("n1", recent, 100, func(p *hookd.DeliveryClaimParams) { p.EndpointID = ep.ID; p.LeaseUntil = recent.Add(time.Minute) })
	recentAtt := attempt(recentDs[0], 1, recent, hookd.OutcomeSucceeded)
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: recentAtt, State: hookd.StateSucceeded, LeaseOwner: "n1"}}))

	total := 0
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("RetentionPurge never returns 0")
		}
		n, err := f.s.RetentionPurge(f.ctx, cutoff, 2)
		must(t, err)
		if n < 0 {
			t.Fatalf("RetentionPurge returned %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total == 0 {
		t.Fatal("RetentionPurge deleted nothing")
	}

	for _, d := range done {
		_, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
		wantCode(t, err, hookd.ENOTFOUND)
		_, _, err = f.s.AttemptListByDelivery(f.ctx, "acme", d.ID, hookd.ListParams{})
		wantCode(t, err, hookd.ENOTFOUND)
	}
	for _, ev := range []*hookd.Event{doneEv, bareEv} {
		_, err = f.s.EventGet(f.ctx, "acme", ev.ID)
		wantCode(t, err, hookd.ENOTFOUND)
	}
	for _, ev := range []*hookd.Event{pendEv, recentEv} {
		_, err = f.s.EventGet(f.ctx, "acme", ev.ID)
		must(t, err)
	}
	for _, d := range append(pend, recentDs...) {
		_, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
		must(t, err)
	}
	atts, _, err := f.s.AttemptListByDelivery(f.ctx, "acme", recentDs[0].ID, hookd.ListParams{})
	must(t, err)
	sameIDs(t, "recent attempts kept", ids(atts, attemptID), []string{recentAtt.ID})
	all := walk(t, 100, func(p hookd.ListParams) ([]*hookd.Attempt, string, error) {
		return f.s.AttemptListByEndpoint(f.ctx, hookd.AttemptListParams{ListParams: p, Tenant: "acme", EndpointID: ep.ID})
	})
	for _, a := range all {
		for _, gone := range doneAtts {
			if a.ID == gone {
				t.Errorf("purged delivery's attempt %s still listed", gone)
			}
		}
	}
	// The pending deliveries still get claimed with their events.
	cs, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: at(2 * time.Hour), LeaseUntil: at(3 * time.Hour), Max: 10})
	must(t, err)
	sameSet(t, "claimable after purge", ids(claimDeliveries(cs), deliveryID), ids(pend, deliveryID))
	for _, c := range cs {
		if c.Event == nil || c.Event.ID != pendEv.ID || len(c.Event.Data) == 0 {
			t.Errorf("claim after purge lacks its event: %+v", c.Event)
		}
	}
	n, err := f.s.RetentionPurge(f.ctx, cutoff, 1000)
	must(t, err)
	if n != 0 {
		t.Errorf("a second purge deleted %d", n)
	}
}

func testListLimits(t *testing.T, f *fixture) {
	var in []hookd.EventInsert
	for i := range hookd.MaxLimit + 5 {
		in = append(in, hookd.EventInsert{Event: f.event("acme", "order.created", at(time.Duration(i)*time.Millisecond))})
	}
	_, err := f.s.EventInsertMany(f.ctx, in)
	must(t, err)
	for _, tc := range []struct{ limit, want int }{
		{0, hookd.DefaultLimit}, {-3, hookd.DefaultLimit}, {1, 1}, {hookd.MaxLimit, hookd.MaxLimit}, {hookd.MaxLimit + 1, hookd.MaxLimit}, {1 << 40, hookd.MaxLimit},
	} {
		evs, next, err := f.s.EventList(f.ctx, hookd.EventListParams{Tenant: "acme", ListParams: hookd.ListParams{Limit: tc.limit}})
		must(t, err)
		if len(evs) != tc.want || next == "" {
			t.Errorf("limit %d: %d rows (next %q), want %d and a next cursor", tc.limit, len(evs), next, tc.want)
		}
	}
	// The last page has no next cursor, also when it is exactly full.
	evs, next, err := f.s.EventList(f.ctx, hookd.EventListParams{Tenant: "acme", Since: at(time.Duration(hookd.MaxLimit+5-10) * time.Millisecond), ListParams: hookd.ListParams{Limit: 10}})
	must(t, err)
	if len(evs) != 10 || next != "" {
		t.Errorf("exactly full last page: %d rows, next %q; want 10 and none", len(evs), next)
	}
}

// testCursors feeds every list malformed cursors.
func testCursors(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	bad := []string{"x", "!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%00", " ", "Zm9v\n"}
	lp := func(c string) hookd.ListParams { return hookd.ListParams{Cursor: c} }
	for _, c := range bad {
		t.Run(fmt.Sprintf("%q", c), func(t *testing.T) {
			_, _, err := f.s.TenantList(f.ctx, lp(c))
			wantCursorError(t, err)
			_, _, err = f.s.EndpointList(f.ctx, hookd.EndpointListParams{ListParams: lp(c), Tenant: "acme"})
			wantCursorError(t, err)
			_, _, err = f.s.EventList(f.ctx, hookd.EventListParams{ListParams: lp(c), Tenant: "acme"})
			wantCursorError(t, err)
			_, _, err = f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{ListParams: lp(c), Tenant: "acme"})
			wantCursorError(t, err)
			_, _, err = f.s.AttemptListByDelivery(f.ctx, "acme", ds[0].ID, lp(c))
			wantCursorError(t, err)
			_, _, err = f.s.AttemptListByEndpoint(f.ctx, hookd.AttemptListParams{ListParams: lp(c), Tenant: "acme", EndpointID: ep.ID})
			wantCursorError(t, err)
			_, _, err = f.s.APIKeyList(f.ctx, lp(c))
			wantCursorError(t, err)
		})
	}
	must(t, f.s.Ping(f.ctx))
}
