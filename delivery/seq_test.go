package delivery_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/hookdtest"
)

// A filter on event.seq sees the number the event is stored with: the
// engine reserves it before fan-out.
func TestFilterSeesSeq(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL, func(e *hookd.Endpoint) {
		e.Filter = "event.seq % 2 == 0"
		e.Body = `{"seq": event.seq}`
	})
	// A batch, as the API sends it, and single events.
	in := make([]hookd.EventInput, 7)
	for i := range in {
		in[i] = hookd.EventInput{Type: "order.created", Data: json.RawMessage(strconv.Itoa(i))}
	}
	res, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	for range 3 {
		res = append(res, h.publish("order.created", 1))
	}
	even := map[int64]bool{}
	for _, p := range res {
		stored, err := h.store.EventGet(h.ctx, h.tenant, p.Event.ID)
		must(t, err)
		eq(t, "seq answered and stored", p.Event.Seq, stored.Seq)
		if p.Event.Seq%2 == 0 {
			even[p.Event.Seq] = true
			eq(t, "deliveries of an even event", p.DeliveryCount, 1)
		} else {
			eq(t, "deliveries of an odd event", p.DeliveryCount, 0)
		}
	}
	if len(even) == 0 {
		t.Fatal("no event had an even seq")
	}
	for _, q := range r.Wait(len(even)) {
		var body struct{ Seq int64 }
		must(t, json.Unmarshal(q.Body, &body))
		if !even[body.Seq] {
			t.Errorf("received seq %d, not one of the even events %v", body.Seq, even)
		}
		delete(even, body.Seq)
	}
}
