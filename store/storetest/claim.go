package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// claim leases up to max due deliveries at now for a minute.
func (f *fixture) claim(owner string, now time.Time, max int, mod ...func(*hookd.DeliveryClaimParams)) []*hookd.Delivery {
	f.t.Helper()
	p := hookd.DeliveryClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Max: max}
	for _, m := range mod {
		m(&p)
	}
	cs, err := f.s.DeliveryClaimMany(f.ctx, p)
	must(f.t, err)
	if len(cs) > max {
		f.t.Fatalf("claimed %d, more than Max %d", len(cs), max)
	}
	return claimDeliveries(cs)
}

func testClaimDue(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	// Deliveries due at 0s … 9s, published in a shuffled order so that
	// "oldest due first" is not insertion order.
	var due []*hookd.Delivery
	for _, i := range []int{3, 7, 0, 9, 5, 1, 8, 2, 6, 4} {
		ev := f.event("acme", "order.created", at(0))
		d := delivery(ev, ep)
		d.NextAttemptAt = at(time.Duration(i) * time.Second)
		_, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{d}}})
		must(t, err)
		due = append(due, d)
	}
	slices.SortFunc(due, func(a, b *hookd.Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	_, later := f.publish("acme", "order.created", at(time.Hour), ep)

	now := at(30 * time.Second)
	got := f.claim("n1", now, 3)
	sameSet(t, "first claim: the three oldest due", ids(got, deliveryID), ids(due[:3], deliveryID))
	for _, d := range got {
		if d.LeaseOwner != "n1" || d.State != hookd.StatePending {
			t.Errorf("claimed delivery %+v: want pending, leased to n1", d)
		}
		sameTime(t, "LeaseUntil", d.LeaseUntil, now.Add(time.Minute))
		stored, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
		must(t, err)
		if stored.LeaseOwner != "n1" {
			t.Errorf("stored lease owner %q, want n1", stored.LeaseOwner)
		}
		sameTime(t, "stored LeaseUntil", stored.LeaseUntil, now.Add(time.Minute))
	}
	got = f.claim("n2", now, 100)
	sameSet(t, "second claim: the rest that is due", ids(got, deliveryID), ids(due[3:], deliveryID))
	if got := f.claim("n3", now, 100); len(got) != 0 {
		t.Errorf("claimed %v while all due deliveries hold live leases", ids(got, deliveryID))
	}
	// Leases live until LeaseUntil; after it they are claimable again.
	if got := f.claim("n3", now.Add(time.Minute-time.Microsecond), 100); len(got) != 0 {
		t.Errorf("claimed %d deliveries a microsecond before their leases end", len(got))
	}
	got = f.claim("n3", now.Add(time.Minute), 100, func(p *hookd.DeliveryClaimParams) { p.LeaseUntil = at(24 * time.Hour) })
	sameSet(t, "claim after the leases expired", ids(got, deliveryID), ids(due, deliveryID))
	got = f.claim("n4", at(time.Hour), 100)
	sameSet(t, "claim when the later one is due", ids(got, deliveryID), ids(later, deliveryID))

	// Max ≤ 0 claims nothing.
	cs, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n5", Now: at(24 * time.Hour), LeaseUntil: at(25 * time.Hour), Max: 0})
	must(t, err)
	if len(cs) != 0 {
		t.Errorf("Max 0 claimed %d", len(cs))
	}
}

func testClaimReturnsEvent(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	ev, ds := f.publish("acme", "order.created", at(0), ep)
	stored, err := f.s.EventGet(f.ctx, "acme", ev.ID)
	must(t, err)
	cs, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: at(0), LeaseUntil: at(time.Minute), Max: 1})
	must(t, err)
	if len(cs) != 1 {
		t.Fatalf("claimed %d, want 1", len(cs))
	}
	want := *ds[0]
	want.LeaseOwner, want.LeaseUntil = "n1", at(time.Minute)
	sameDelivery(t, cs[0].Delivery, &want)
	if cs[0].Event == nil {
		t.Fatal("claim without its event")
	}
	sameEvent(t, cs[0].Event, ev)
	if cs[0].Event.Seq != stored.Seq {
		t.Errorf("claimed event seq %d, stored %d", cs[0].Event.Seq, stored.Seq)
	}
}

func testClaimFilters(t *testing.T, f *fixture) {
	ep1 := f.endpoint("acme", at(0))
	ep2 := f.endpoint("acme", at(0))
	ep3 := f.endpoint("globex", at(0))
	var d1, d2, d3 []string
	for i := range 3 {
		_, ds := f.publish("acme", "order.created", at(time.Duration(i)*time.Second), ep1, ep2)
		d1, d2 = append(d1, ds[0].ID), append(d2, ds[1].ID)
		_, ds = f.publish("globex", "order.created", at(time.Duration(i)*time.Second), ep3)
		d3 = append(d3, ds[0].ID)
	}
	now := at(time.Minute)
	got := f.claim("n1", now, 100, func(p *hookd.DeliveryClaimParams) { p.EndpointID = ep2.ID })
	sameSet(t, "claim of ep2", ids(got, deliveryID), d2)
	got = f.claim("n1", now, 100, func(p *hookd.DeliveryClaimParams) { p.SkipEndpoints = []string{ep1.ID} })
	sameSet(t, "claim skipping ep1", ids(got, deliveryID), d3)
	got = f.claim("n1", now, 100, func(p *hookd.DeliveryClaimParams) { p.SkipEndpoints = []string{ep1.ID, ep3.ID} })
	if len(got) != 0 {
		t.Errorf("claimed %v skipping every endpoint with work", ids(got, deliveryID))
	}
	got = f.claim("n1", now, 100)
	sameSet(t, "claim of the rest", ids(got, deliveryID), d1)
}

func testClaimDisabledEndpoint(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	on := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep, on)
	ep.Enabled, ep.UpdatedAt = false, at(time.Second)
	must(t, f.s.EndpointUpdate(f.ctx, ep))
	got := f.claim("n1", at(time.Minute), 100, func(p *hookd.DeliveryClaimParams) { p.LeaseUntil = at(24 * time.Hour) })
	sameIDs(t, "claimable with one endpoint disabled", ids(got, deliveryID), []string{ds[1].ID})
	d, err := f.s.DeliveryGet(f.ctx, "acme", ds[0].ID)
	must(t, err)
	if d.State != hookd.StatePending {
		t.Errorf("disabled endpoint's delivery is %s, want pending (waiting)", d.State)
	}
	ep.Enabled, ep.UpdatedAt = true, at(time.Hour)
	must(t, f.s.EndpointUpdate(f.ctx, ep))
	got = f.claim("n1", at(time.Hour), 100)
	sameIDs(t, "claimable once enabled again", ids(got, deliveryID), []string{ds[0].ID})
}

func testClaimMaxInFlight(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0), func(e *hookd.Endpoint) { e.MaxInFlight = 2 })
	wide := f.endpoint("acme", at(0), func(e *hookd.Endpoint) { e.MaxInFlight = 100 })
	for i := range 5 {
		f.publish("acme", "order.created", at(time.Duration(i)*time.Second), ep, wide)
	}
	// A lease taken at insert counts too.
	ev := f.event("acme", "order.created", at(10*time.Second))
	leased := delivery(ev, ep)
	leased.LeaseOwner, leased.LeaseUntil = "n0", at(time.Hour)
	_, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{leased}}})
	must(t, err)

	now := at(time.Minute)
	got := f.claim("n1", now, 100)
	n := 0
	for _, d := range got {
		if d.EndpointID == ep.ID {
			n++
		}
	}
	if n != 1 || len(got) != 6 {
		t.Fatalf("claimed %d of the narrow endpoint (MaxInFlight 2, one leased at insert) and %d in all; want 1 and 6", n, len(got))
	}
	if got := f.claim("n2", now, 100); len(got) != 0 {
		t.Fatalf("another owner claimed %d beyond MaxInFlight", len(got))
	}
	// An outcome frees a slot, whoever claims next.
	var mine *hookd.Delivery
	for _, d := range got {
		if d.EndpointID == ep.ID {
			mine = d
		}
	}
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: attempt(mine, 1, now, hookd.OutcomeSucceeded), State: hookd.StateSucceeded, LeaseOwner: "n1"}}))
	got = f.claim("n2", now, 100)
	if len(got) != 1 || got[0].EndpointID != ep.ID {
		t.Fatalf("after one outcome claimed %v, want one of the narrow endpoint", ids(got, deliveryID))
	}
	// Expired leases do not count.
	got = f.claim("n3", now.Add(2*time.Minute), 100)
	n = 0
	for _, d := range got {
		if d.EndpointID == ep.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("with one live lease (at insert) claimed %d of the narrow endpoint, want 1", n)
	}
	// Raising the limit takes effect at the next claim.
	ep.MaxInFlight, ep.UpdatedAt = 10, at(time.Hour)
	must(t, f.s.EndpointUpdate(f.ctx, ep))
	// Of the 6, one succeeded, one is leased since insert and one by n3.
	got = f.claim("n4", now.Add(2*time.Minute), 100)
	if len(got) != 3 {
		t.Errorf("after raising MaxInFlight claimed %d, want the 3 left", len(got))
	}
}

// testClaimAhead: one node's store leases Ahead deliveries of an endpoint
// beyond its MaxInFlight; a shared one ignores the allowance, since its
// leases are what keeps MaxInFlight across nodes.
func testClaimAhead(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0), func(e *hookd.Endpoint) { e.MaxInFlight = 2 })
	other := f.endpoint("acme", at(0), func(e *hookd.Endpoint) { e.MaxInFlight = 2 })
	for i := range 10 {
		f.publish("acme", "order.created", at(time.Duration(i)*time.Second), ep, other)
	}
	now := at(time.Minute)
	claim := func(owner string, ahead map[string]int) map[string]int {
		t.Helper()
		got, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{
			Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Max: 100, Ahead: ahead,
		})
		must(t, err)
		n := map[string]int{}
		for _, c := range got {
			n[c.Delivery.EndpointID]++
		}
		return n
	}
	_, shared := f.s.(hookd.Waker)
	want := 2 + 5
	if shared {
		want = 2
	}
	n := claim("n1", map[string]int{ep.ID: 5, "ep_unknown": 100})
	if n[ep.ID] != want || n[other.ID] != 2 {
		t.Fatalf("with Ahead 5 claimed %d of the endpoint and %d of the other (no allowance); want %d and 2 (shared store: %v)", n[ep.ID], n[other.ID], want, shared)
	}
	// The allowance counts live leases like MaxInFlight does.
	n = claim("n1", map[string]int{ep.ID: 6})
	if want := 1; shared {
		if n[ep.ID] != 0 {
			t.Errorf("a shared store claimed %d more beyond MaxInFlight", n[ep.ID])
		}
	} else if n[ep.ID] != want {
		t.Errorf("raising Ahead from 5 to 6 claimed %d more, want %d", n[ep.ID], want)
	}
	if n := claim("n1", map[string]int{ep.ID: -3}); n[ep.ID] != 0 || n[other.ID] != 0 {
		t.Errorf("a negative allowance claimed %v, want nothing (all slots taken)", n)
	}
}

func testClaimConcurrent(t *testing.T, f *fixture) {
	var eps []*hookd.Endpoint
	for range 4 {
		eps = append(eps, f.endpoint("acme", at(0), func(e *hookd.Endpoint) { e.MaxInFlight = 7 }))
	}
	var want []string
	var in []hookd.EventInsert
	for i := range 100 {
		ev := f.event("acme", "order.created", at(time.Duration(i)*time.Millisecond))
		d := delivery(ev, eps[i%len(eps)])
		in = append(in, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{d}})
		want = append(want, d.ID)
	}
	_, err := f.s.EventInsertMany(f.ctx, in)
	must(t, err)

	// Claimers race; each records an outcome for what it got, freeing the
	// slot, until nothing is left. No delivery may go to two claimers, and
	// no endpoint may ever have more than 7 in flight.
	var mu sync.Mutex
	seen := map[string]string{}
	inFlight := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 6 {
		owner := fmt.Sprintf("node%d", w)
		wg.Go(func() {
			for empty := 0; empty < 100000; {
				cs, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: owner, Now: at(time.Second), LeaseUntil: at(time.Hour), Max: 5})
				if err != nil {
					errs <- err
					return
				}
				if len(cs) == 0 {
					mu.Lock()
					done := len(seen) == len(want)
					mu.Unlock()
					if done {
						return
					}
					empty++ // others hold the rest; try again
					continue
				}
				mu.Lock()
				for _, c := range cs {
					if prev, dup := seen[c.Delivery.ID]; dup {
						errs <- fmt.Errorf("%s claimed by %s and %s", c.Delivery.ID, prev, owner)
					}
					seen[c.Delivery.ID] = owner
					inFlight[c.Delivery.EndpointID]++
					if inFlight[c.Delivery.EndpointID] > 7 {
						errs <- fmt.Errorf("endpoint %s has %d in flight, MaxInFlight 7", c.Delivery.EndpointID, inFlight[c.Delivery.EndpointID])
					}
				}
				mu.Unlock()
				recs := make([]hookd.AttemptRecord, len(cs))
				for i, c := range cs {
					recs[i] = hookd.AttemptRecord{Attempt: attempt(c.Delivery, 1, at(time.Second), hookd.OutcomeSucceeded), State: hookd.StateSucceeded, LeaseOwner: owner}
				}
				// Count the slot free before the store does, never after.
				mu.Lock()
				for _, c := range cs {
					inFlight[c.Delivery.EndpointID]--
				}
				mu.Unlock()
				if err := f.s.AttemptRecordMany(f.ctx, recs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := make([]string, 0, len(seen))
	for id := range seen {
		got = append(got, id)
	}
	sameSet(t, "claimed by the racing claimers", got, want)
}
