package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// seqTests are the conformance tests of hookd.SeqReserver.
var seqTests = []struct {
	name string
	fn   func(t *testing.T, f *fixture)
}{
	{"Event/ReservedSeq", testEventReservedSeq},
}

func testEventReservedSeq(t *testing.T, f *fixture) {
	r, ok := f.s.(hookd.SeqReserver)
	if !ok {
		t.Fatal("the store does not reserve event numbers (hookd.SeqReserver)")
	}
	ep := f.endpoint("acme", at(0))
	seqs, err := r.EventSeqReserve(f.ctx, 3)
	must(t, err)
	if len(seqs) != 3 || seqs[0] <= 0 || seqs[0] >= seqs[1] || seqs[1] >= seqs[2] {
		t.Fatalf("reserved %v, want 3 distinct rising numbers", seqs)
	}
	// Two reserved events and one not, in one batch: the reserved keep
	// their numbers, the other gets one of its own.
	a, b, c := f.event("acme", "order.created", at(0)), f.event("acme", "order.created", at(0)), f.event("acme", "order.created", at(0))
	a.Seq, c.Seq = seqs[0], seqs[2]
	res, err := f.s.EventInsertMany(f.ctx, []hookd.EventInsert{
		{Event: a, Deliveries: []*hookd.Delivery{delivery(a, ep)}},
		{Event: b, Deliveries: []*hookd.Delivery{delivery(b, ep)}},
		{Event: c, Deliveries: []*hookd.Delivery{delivery(c, ep)}},
	})
	must(t, err)
	if res[0].Event.Seq != seqs[0] || res[2].Event.Seq != seqs[2] || slices.Contains(seqs, res[1].Event.Seq) || res[1].Event.Seq <= 0 {
		t.Fatalf("seqs %d %d %d, want %d, another, %d", res[0].Event.Seq, res[1].Event.Seq, res[2].Event.Seq, seqs[0], seqs[2])
	}
	for _, ev := range []*hookd.Event{a, b, c} {
		got, err := f.s.EventGet(f.ctx, "acme", ev.ID)
		must(t, err)
		if got.Seq != ev.Seq {
			t.Errorf("stored seq %d, inserted %d", got.Seq, ev.Seq)
		}
	}
	claimed, err := f.s.DeliveryClaimMany(f.ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: at(time.Second), LeaseUntil: at(time.Minute), Max: 10})
	must(t, err)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d deliveries, want 3", len(claimed))
	}
	for _, cl := range claimed {
		if cl.Event.Seq != map[string]int64{a.ID: a.Seq, b.ID: b.Seq, c.ID: c.Seq}[cl.Event.ID] {
			t.Errorf("claimed event %s with seq %d", cl.Event.ID, cl.Event.Seq)
		}
	}
	// Later events number above every reservation; the same event object
	// again is a duplicate, its number kept.
	d := f.event("acme", "order.created", at(time.Second))
	res, err = f.s.EventInsertMany(f.ctx, []hookd.EventInsert{{Event: d}, {Event: a}})
	must(t, err)
	if d.Seq <= seqs[2] {
		t.Errorf("a later event has seq %d, not above the reserved %d", d.Seq, seqs[2])
	}
	if !res[1].Duplicate || res[1].Event.Seq != seqs[0] {
		t.Errorf("the same event again: %+v, want a duplicate with seq %d", res[1], seqs[0])
	}
}
