package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func asError(err error, target **hookd.Error) bool { return errors.As(err, target) }

// sameEvent fails unless got is want, Seq aside.
func sameEvent(t *testing.T, got, want *hookd.Event) {
	t.Helper()
	sameTime(t, "OccurredAt", got.OccurredAt, want.OccurredAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Type != want.Type || string(got.Data) != string(want.Data) {
		t.Fatalf("event = {%s %s %s %s}, want {%s %s %s %s}", got.ID, got.Tenant, got.Type, got.Data, want.ID, want.Tenant, want.Type, want.Data)
	}
}

func testEventInsertMany(t *testing.T, f *fixture) {
	ep1 := f.endpoint("acme", at(0))
	ep2 := f.endpoint("acme", at(0))
	var in []hookd.EventInsert
	for i := range 5 {
		ev := f.event("acme", fmt.Sprintf("order.n%d", i), at(time.Duration(i)*time.Millisecond))
		var ds []*hookd.Delivery
		for _, ep := range []*hookd.Endpoint{ep1, ep2}[:i%3] {
			ds = append(ds, delivery(ev, ep))
		}
		in = append(in, hookd.EventInsert{Event: ev, Deliveries: ds})
	}
	res, err := f.s.EventInsertMany(f.ctx, in)
	must(t, err)
	if len(res) != len(in) {
		t.Fatalf("%d results for %d events", len(res), len(in))
	}
	var last int64
	for i, r := range res {
		if r.Duplicate {
			t.Errorf("result %d is a duplicate", i)
		}
		sameEvent(t, r.Event, in[i].Event)
		if r.Event.Seq <= last {
			t.Errorf("result %d has seq %d after %d: want strictly rising in input order", i, r.Event.Seq, last)
		}
		last = r.Event.Seq
		got, err := f.s.EventGet(f.ctx, "acme", in[i].Event.ID)
		must(t, err)
		sameEvent(t, got, in[i].Event)
		if got.Seq != r.Event.Seq {
			t.Errorf("EventGet seq %d, EventInsertMany said %d", got.Seq, r.Event.Seq)
		}
		for _, d := range in[i].Deliveries {
			got, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
			must(t, err)
			sameDelivery(t, got, d)
		}
	}
	// A later call continues the sequence.
	ev, _ := f.publish("acme", "order.later", at(time.Second))
	got, err := f.s.EventGet(f.ctx, "acme", ev.ID)
	must(t, err)
	if got.Seq <= last {
		t.Errorf("later event has seq %d, not above %d", got.Seq, last)
	}

	// An empty call is harmless.
	res, err = f.s.EventInsertMany(f.ctx, nil)
	must(t, err)
	if len(res) != 0 {
		t.Errorf("%d results for no events", len(res))
	}
}

func testEventDuplicateStored(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	first, ds := f.publish("acme", "order.created", at(0), ep)
	stored, err := f.s.EventGet(f.ctx, "acme", first.ID)
	must(t, err)

	again := f.event("acme", "order.updated", at(time.Hour))
	again.ID = first.ID
	fresh := f.event("acme", "order.created", at(time.Hour))
	dAgain, dFresh := delivery(again, ep), delivery(fresh, ep)
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{
		{Event: again, Deliveries: []*hookd.Delivery{dAgain}},
		{Event: fresh, Deliveries: []*hookd.Delivery{dFresh}},
	})
	must(t, err)
	if len(res) != 2 || !res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("results %+v: want a duplicate then a new event", res)
	}
	sameEvent(t, res[0].Event, first)
	if res[0].Event.Seq != stored.Seq {
		t.Errorf("duplicate's seq %d, stored %d", res[0].Event.Seq, stored.Seq)
	}
	sameEvent(t, res[1].Event, fresh)
	_, err = f.s.DeliveryGet(f.ctx, "acme", dAgain.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.DeliveryGet(f.ctx, "acme", dFresh.ID)
	must(t, err)
	got, err := f.s.EventGet(f.ctx, "acme", first.ID)
	must(t, err)
	sameEvent(t, got, first)
	dl, _, err := f.s.DeliveryList(f.ctx, hookd.DeliveryListParams{Tenant: "acme", EventID: first.ID})
	must(t, err)
	sameIDs(t, "deliveries of the first event", ids(dl, deliveryID), []string{ds[0].ID})
}

func testEventDuplicateInBatch(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	a := f.event("acme", "order.created", at(0))
	b := f.event("acme", "order.updated", at(time.Second))
	b.ID = a.ID
	da, db := delivery(a, ep), delivery(b, ep)
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{
		{Event: a, Deliveries: []*hookd.Delivery{da}},
		{Event: b, Deliveries: []*hookd.Delivery{db}},
	})
	must(t, err)
	if len(res) != 2 || res[0].Duplicate || !res[1].Duplicate {
		t.Fatalf("results %+v: want a new event then its duplicate", res)
	}
	sameEvent(t, res[0].Event, a)
	sameEvent(t, res[1].Event, a)
	if res[0].Event.Seq != res[1].Event.Seq || res[0].Event.Seq == 0 {
		t.Errorf("seqs %d and %d: want the same, set", res[0].Event.Seq, res[1].Event.Seq)
	}
	_, err = f.s.DeliveryGet(f.ctx, "acme", da.ID)
	must(t, err)
	_, err = f.s.DeliveryGet(f.ctx, "acme", db.ID)
	wantCode(t, err, hookd.ENOTFOUND)
}

func testEventSameIDTwoTenants(t *testing.T, f *fixture) {
	a := f.event("acme", "order.created", at(0))
	b := f.event("globex", "order.created", at(0))
	b.ID = a.ID
	b.Data = []byte(`{"globex":true}`)
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: a}, {Event: b}})
	must(t, err)
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("same id in two tenants reported as duplicate: %+v", res)
	}
	got, err := f.s.EventGet(f.ctx, "acme", a.ID)
	must(t, err)
	sameEvent(t, got, a)
	got, err = f.s.EventGet(f.ctx, "globex", a.ID)
	must(t, err)
	sameEvent(t, got, b)
}

func testEventAllOrNothing(t *testing.T, f *fixture) {
	acme := f.endpoint("acme", at(0))
	_, taken := f.publish("acme", "order.created", at(0), acme)
	// A batch for a new tenant whose second delivery reuses a stored id.
	ep := newEndpoint("globex", at(0))
	must(t, f.s.EndpointInsert(f.ctx, ep))
	e1 := f.event("globex", "order.created", at(time.Second))
	e2 := f.event("globex", "order.created", at(time.Second))
	d1, d2 := delivery(e1, ep), delivery(e2, ep)
	d2.ID = taken[0].ID
	_, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{
		{Event: e1, Deliveries: []*hookd.Delivery{d1}},
		{Event: e2, Deliveries: []*hookd.Delivery{d2}},
	})
	wantCode(t, err, hookd.EDUPLICATE)
	for _, ev := range []*hookd.Event{e1, e2} {
		_, err := f.s.EventGet(f.ctx, "globex", ev.ID)
		wantCode(t, err, hookd.ENOTFOUND)
	}
	_, err = f.s.DeliveryGet(f.ctx, "globex", d1.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	d, err := f.s.DeliveryGet(f.ctx, "acme", taken[0].ID)
	must(t, err)
	sameDelivery(t, d, taken[0])

	// A tenant first used by a failed batch is not created either.
	fresh := f.event("initech", "order.created", at(0))
	dup := delivery(fresh, acme)
	dup.Tenant, dup.ID = "initech", taken[0].ID
	_, err = f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: fresh, Deliveries: []*hookd.Delivery{dup}}})
	wantCode(t, err, hookd.EDUPLICATE)
	tenants, _, err := f.s.TenantList(f.ctx, hookd.ListParams{})
	must(t, err)
	sameSet(t, "tenants", ids(tenants, func(x hookd.Tenant) string { return x.ID }), []string{"acme", "globex"})

	// The same events go in once the conflict is gone.
	d2.ID = hookd.NewID(hookd.PrefixDelivery)
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{
		{Event: e1, Deliveries: []*hookd.Delivery{d1}},
		{Event: e2, Deliveries: []*hookd.Delivery{d2}},
	})
	must(t, err)
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("a failed batch left its events behind: %+v", res)
	}
}

func testEventConcurrent(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	const n = 50
	evs := make([]*hookd.Event, n)
	ds := make([]*hookd.Delivery, n)
	seqs := make([]int64, n)
	for i := range n {
		evs[i] = f.event("acme", "order.created", at(time.Duration(i)*time.Millisecond))
		ds[i] = delivery(evs[i], ep)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: evs[i], Deliveries: []*hookd.Delivery{ds[i]}}})
			if err == nil {
				seqs[i] = res[0].Event.Seq
			}
			errs[i] = err
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		must(t, errs[i])
		if seqs[i] == 0 || seen[seqs[i]] {
			t.Errorf("event %d has seq %d: want set and unique", i, seqs[i])
		}
		seen[seqs[i]] = true
		_, err := f.s.DeliveryGet(f.ctx, "acme", ds[i].ID)
		must(t, err)
	}
	all := walk(t, 1000, func(p hookd.ListParams) ([]*hookd.Event, string, error) {
		return f.s.EventList(f.ctx, hookd.EventListParams{ListParams: p, Tenant: "acme"})
	})
	if len(all) != n {
		t.Errorf("%d events stored, want %d", len(all), n)
	}
}

func testEventTenantIsolation(t *testing.T, f *fixture) {
	ev, _ := f.publish("acme", "order.created", at(0))
	_, err := f.s.EventGet(f.ctx, "globex", ev.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = f.s.EventGet(f.ctx, "acme", "evt_nonexistent")
	wantCode(t, err, hookd.ENOTFOUND)
	list, _, err := f.s.EventList(f.ctx, hookd.EventListParams{Tenant: "globex"})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("globex lists acme's events: %v", ids(list, eventID))
	}
}

func testEventList(t *testing.T, f *fixture) {
	var all, created, updated []string
	for i := range 50 {
		typ := "order.created"
		if i%3 == 0 {
			typ = "order.updated"
		}
		ev, _ := f.publish("acme", typ, at(time.Duration(i)*time.Second))
		all = append(all, ev.ID)
		if typ == "order.created" {
			created = append(created, ev.ID)
		} else {
			updated = append(updated, ev.ID)
		}
	}
	f.publish("globex", "order.created", at(time.Second))
	list := func(p hookd.EventListParams) []string {
		t.Helper()
		p.Tenant = "acme"
		return ids(walk(t, 7, func(lp hookd.ListParams) ([]*hookd.Event, string, error) {
			p.ListParams = lp
			return f.s.EventList(f.ctx, p)
		}), eventID)
	}
	sameIDs(t, "all events", list(hookd.EventListParams{}), reversed(all))
	sameIDs(t, "type filter", list(hookd.EventListParams{Type: "order.updated"}), reversed(updated))
	sameIDs(t, "since/until", list(hookd.EventListParams{Since: at(10 * time.Second), Until: at(20 * time.Second)}), reversed(all[10:20]))
	sameIDs(t, "type and since", list(hookd.EventListParams{Type: "order.created", Since: at(40 * time.Second)}), reversed(created[len(created)-7:]))
	sameIDs(t, "until", list(hookd.EventListParams{Until: at(5 * time.Second)}), reversed(all[:5]))

	evs, _, err := f.s.EventList(f.ctx, hookd.EventListParams{Tenant: "acme", ListParams: hookd.ListParams{Limit: 1}})
	must(t, err)
	if len(evs) != 1 || string(evs[0].Data) == "" || evs[0].Seq == 0 {
		t.Errorf("listed event lacks data or seq: %+v", evs)
	}

	_, _, err = f.s.EventList(f.ctx, hookd.EventListParams{Tenant: "acme", ListParams: hookd.ListParams{Cursor: "garbage"}})
	wantCursorError(t, err)
}
