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

func testDeliveryTenantIsolation(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	id := ds[0].ID
	_, err := f.s.DeliveryGet(f.ctx, "globex", id)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.DeliveryGet(f.ctx, "acme", "dlv_nonexistent")
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.DeliveryRetry(f.ctx, "globex", id, at(time.Hour))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.DeliveryRetry(f.ctx, "acme", "dlv_nonexistent", at(time.Hour))
	wantCode(t, err, hookd.ENOTFOUND)
	_, _, err = f.s.AttemptListByDelivery(f.ctx, "globex", id, hookd.ListParams{})
	wantCode(t, err, hookd.ENOTFOUND)
	_, _, err = f.s.AttemptListByDelivery(f.ctx, "acme", "dlv_nonexistent", hookd.ListParams{})
	wantCode(t, err, hookd.ENOTFOUND)
	_, _, err = f.s.AttemptListByEndpoint(f.ctx, hookd.AttemptListParams{Tenant: "globex", EndpointID: ep.ID})
	wantCode(t, err, hookd.ENOTFOUND)
	_, _, err = f.s.AttemptListByEndpoint(f.ctx, hookd.AttemptListParams{Tenant: "acme", EndpointID: "ep_nonexistent"})
	wantCode(t, err, hookd.ENOTFOUND)
	for _, p := range []hookd.DeliveryListParams{{}, {EndpointID: ep.ID}, {EventID: ds[0].EventID}} {
		p.Tenant = "globex"
		list, _, err := f.s.DeliveryList(f.ctx, p)
		must(t, err)
		if len(list) != 0 {
			t.Errorf("globex lists acme's deliveries with %+v", p)
		}
	}
	// The failed retry changed nothing.
	d, err := f.s.DeliveryGet(f.ctx, "acme", id)
	must(t, err)
	sameDelivery(t, d, ds[0])
}

func testDeliveryList(t *testing.T, f *fixture) {
	ep1 := f.endpoint("acme", at(0))
	ep2 := f.endpoint("acme", at(0))
	other := f.endpoint("globex", at(0))
	var all, byEp1, created []string
	var someEvent string
	var someEventDs []string
	for i := range 25 {
		typ := "order.created"
		if i%2 == 1 {
			typ = "invoice.paid"
		}
		ev, ds := f.publish("acme", typ, at(time.Duration(i)*time.Second), ep1, ep2)
		// Within one event the order is the store's; keep the suite's
		// expectation independent of it by sorting the pair as listed.
		pair, _, err := f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", EventID: ev.ID})
		must(t, err)
		sameSet(t, "deliveries of one event", ids(pair, deliveryID), ids(ds, deliveryID))
		for j := len(pair) - 1; j >= 0; j-- { // oldest first, like the loop
			all = append(all, pair[j].ID)
			if pair[j].EndpointID == ep1.ID {
				byEp1 = append(byEp1, pair[j].ID)
			}
			if typ == "order.created" {
				created = append(created, pair[j].ID)
			}
		}
		if i == 12 {
			someEvent, someEventDs = ev.ID, ids(pair, deliveryID)
		}
	}
	f.publish("globex", "order.created", at(time.Second), other)

	// Settle some deliveries: the first four succeed, the next two fail.
	claims, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: at(time.Hour), LeaseUntil: at(2 * time.Hour), Max: 6, EndpointID: ep1.ID})
	must(t, err)
	var recs []hookd.AttemptRecord
	var succeeded, failed []string
	for i, c := range claims {
		st, o := hookd.StateSucceeded, hookd.OutcomeSucceeded
		if i >= 4 {
			st, o = hookd.StateFailed, hookd.OutcomeHTTPError
			failed = append(failed, c.Delivery.ID)
		} else {
			succeeded = append(succeeded, c.Delivery.ID)
		}
		recs = append(recs, hookd.AttemptRecord{Attempt: attempt(c.Delivery, 1, at(time.Hour), o), State: st, LeaseOwner: "n1"})
	}
	must(t, f.s.AttemptRecordMany(f.ctx, recs))

	list := func(p hookd.DeliveryListParams) []string {
		t.Helper()
		p.Tenant = "acme"
		return ids(walk(t, 7, func(lp hookd.ListParams) ([]*hookd.Delivery, string, error) {
			p.ListParams = lp
			return f.s.DeliveryList(f.ctx, p)
		}), deliveryID)
	}
	sameIDs(t, "all deliveries", list(hookd.DeliveryListParams{}), reversed(all))
	sameIDs(t, "by endpoint", list(hookd.DeliveryListParams{EndpointID: ep1.ID}), reversed(byEp1))
	sameIDs(t, "by event type", list(hookd.DeliveryListParams{EventType: "order.created"}), reversed(created))
	sameIDs(t, "by event id", list(hookd.DeliveryListParams{EventID: someEvent}), someEventDs)
	sameIDs(t, "since/until", list(hookd.DeliveryListParams{Since: at(10 * time.Second), Until: at(15 * time.Second)}), reversed(all[20:30]))
	sameIDs(t, "endpoint and until", list(hookd.DeliveryListParams{EndpointID: ep1.ID, Until: at(3 * time.Second)}), reversed(byEp1[:3]))
	sameSet(t, "succeeded", list(hookd.DeliveryListParams{State: hookd.StateSucceeded}), succeeded)
	sameSet(t, "failed", list(hookd.DeliveryListParams{State: hookd.StateFailed}), failed)
	if n := len(list(hookd.DeliveryListParams{State: hookd.StatePending})); n != len(all)-6 {
		t.Errorf("%d pending deliveries, want %d", n, len(all)-6)
	}
	if n := len(list(hookd.DeliveryListParams{State: hookd.StateCancelled})); n != 0 {
		t.Errorf("%d cancelled deliveries, want 0", n)
	}
	if n := len(list(hookd.DeliveryListParams{EventID: "evt_nonexistent"})); n != 0 {
		t.Errorf("%d deliveries of an unknown event", n)
	}
	sameSet(t, "failed by endpoint, event type", list(hookd.DeliveryListParams{State: hookd.StateFailed, EndpointID: ep1.ID, EventType: "order.created"}), pick(f, failed, "order.created"))

	// Listed deliveries carry their event's id and type.
	ds, _, err := f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", EventID: someEvent})
	must(t, err)
	for _, d := range ds {
		if d.EventID != someEvent || d.EventType != "order.created" || d.Tenant != "acme" {
			t.Errorf("listed delivery %+v lacks its event's id, type or tenant", d)
		}
	}
	// Rows arriving between pages, newer and older, neither repeat nor
	// push rows out; the older ones may show up on a later page.
	first, next, err := f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", ListParams: hookd.ListParams{Limit: 7}})
	must(t, err)
	f.publish("acme", "order.created", at(time.Minute), ep1)
	_, older := f.publish("acme", "order.created", at(-time.Minute), ep1)
	rest := walk(t, 7, func(lp hookd.ListParams) ([]*hookd.Delivery, string, error) {
		if lp.Cursor == "" {
			lp.Cursor = next
		}
		return f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", ListParams: lp})
	})
	sameIDs(t, "deliveries walked while inserting", ids(append(first, rest...), deliveryID), append(reversed(all), older[0].ID))
	_, _, err = f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", ListParams: hookd.ListParams{Cursor: "x"}})
	wantCursorError(t, err)
}

// pick keeps the deliveries among ids whose event has type typ.
func pick(f *fixture, ids []string, typ string) []string {
	var out []string
	for _, id := range ids {
		d, err := f.s.DeliveryGet(f.ctx, "acme", id)
		must(f.t, err)
		if d.EventType == typ {
			out = append(out, id)
		}
	}
	return out
}

func testDeliveryLeaseAtInsert(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	ev := f.event("acme", "order.created", at(0))
	d := delivery(ev, ep)
	d.LeaseOwner, d.LeaseUntil = "n1", at(time.Minute)
	_, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{d}}})
	must(t, err)
	got, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
	must(t, err)
	sameDelivery(t, got, d)

	claims, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: at(time.Second), LeaseUntil: at(time.Hour), Max: 10})
	must(t, err)
	if len(claims) != 0 {
		t.Fatalf("claimed %d deliveries leased at insert", len(claims))
	}
	// The owner records its attempt under the insert lease.
	a := attempt(d, 1, at(time.Second), hookd.OutcomeSucceeded)
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "n1"}}))
	got, err = f.s.DeliveryGet(f.ctx, "acme", d.ID)
	must(t, err)
	if got.State != hookd.StateSucceeded {
		t.Errorf("state %s after an attempt under the insert lease", got.State)
	}

	// Another leased at insert becomes claimable once its lease expires.
	ev2, ds := f.event("acme", "order.created", at(0)), []*hookd.Delivery(nil)
	d2 := delivery(ev2, ep)
	d2.LeaseOwner, d2.LeaseUntil = "n1", at(time.Minute)
	ds = append(ds, d2)
	_, err = f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev2, Deliveries: ds}})
	must(t, err)
	claims, err = f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: at(time.Minute + time.Second), LeaseUntil: at(time.Hour), Max: 10})
	must(t, err)
	sameIDs(t, "claimed after the insert lease expired", ids(claimDeliveries(claims), deliveryID), []string{d2.ID})
}

func testDeliveryRetry(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep, ep, ep)
	// ds[0] fails for good, ds[1] succeeds, ds[2] stays leased.
	claims, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: at(time.Second), LeaseUntil: at(time.Minute), Max: 10})
	must(t, err)
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
		{Attempt: attempt(ds[0], 1, at(time.Second), hookd.OutcomeHTTPError), State: hookd.StateFailed, LeaseOwner: "n1"},
		{Attempt: attempt(ds[1], 1, at(time.Second), hookd.OutcomeSucceeded), State: hookd.StateSucceeded, LeaseOwner: "n1"},
	}))
	now := at(time.Hour)
	for _, d := range ds {
		got, err := f.s.DeliveryRetry(f.ctx, "acme", d.ID, now)
		must(t, err)
		if got.ID != d.ID || got.State != hookd.StatePending || got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
			t.Errorf("retried delivery: %+v, want pending without lease", got)
		}
		sameTime(t, "NextAttemptAt", got.NextAttemptAt, now)
		sameTime(t, "UpdatedAt", got.UpdatedAt, now)
		stored, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
		must(t, err)
		sameDelivery(t, stored, got)
	}
	// All three are due now, the leased one included.
	claims, err = f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: now, LeaseUntil: now.Add(time.Minute), Max: 10})
	must(t, err)
	sameSet(t, "claimed after retry", ids(claimDeliveries(claims), deliveryID), ids(ds, deliveryID))
	// n1's lease on ds[2] is gone: its late outcome changes nothing.
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
		{Attempt: attempt(ds[2], 1, at(time.Second), hookd.OutcomeSucceeded), State: hookd.StateSucceeded, LeaseOwner: "n1"},
	}))
	got, err := f.s.DeliveryGet(f.ctx, "acme", ds[2].ID)
	must(t, err)
	if got.State != hookd.StatePending || got.LeaseOwner != "n2" {
		t.Errorf("after a stale outcome: state %s, lease %q; want pending, n2", got.State, got.LeaseOwner)
	}
}

func testDeliveryRelease(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep, ep, ep, ep)
	now, until := at(time.Second), at(time.Hour)
	c1, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: now, LeaseUntil: until, Max: 3})
	must(t, err)
	c2, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: now, LeaseUntil: until, Max: 3})
	must(t, err)
	if len(c1) != 3 || len(c2) != 1 {
		t.Fatalf("claimed %d and %d, want 3 and 1", len(c1), len(c2))
	}
	n1 := ids(claimDeliveries(c1), deliveryID)
	claimAll := func() []string {
		t.Helper()
		cs, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n3", Now: now, LeaseUntil: until, Max: 10})
		must(t, err)
		return ids(claimDeliveries(cs), deliveryID)
	}
	must(t, f.s.DeliveryReleaseMany(f.ctx, "n1", []string{n1[0]}))
	sameIDs(t, "claimable after releasing one", claimAll(), n1[:1])
	// Releasing someone else's lease does nothing.
	must(t, f.s.DeliveryReleaseMany(f.ctx, "n1", ids(claimDeliveries(c2), deliveryID)))
	must(t, f.s.DeliveryReleaseMany(f.ctx, "n1", nil))
	sameSet(t, "claimable after releasing all of n1's", claimAll(), n1[1:])
	must(t, f.s.DeliveryReleaseMany(f.ctx, "n1", nil)) // nothing left: no error
	if got := claimAll(); len(got) != 0 {
		t.Errorf("claimed %v with every delivery leased", got)
	}
	for _, id := range n1[1:] {
		d, err := f.s.DeliveryGet(f.ctx, "acme", id)
		must(t, err)
		if d.State != hookd.StatePending || d.LeaseOwner != "n3" || d.Attempts != 0 {
			t.Errorf("released then claimed delivery: %+v", d)
		}
	}
	_ = ds
}
