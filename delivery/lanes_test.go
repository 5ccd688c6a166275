package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

// A hanging endpoint delays only itself: the healthy one gets every event
// at once while the hanging one holds exactly its max_in_flight requests.
func TestHangingEndpointDelaysOnlyItself(t *testing.T) {
	h := newHarness(t)
	hang := hookdtest.NewReceiver(t)
	hang.SetDefault(hookdtest.Response{Hang: true})
	healthy := hookdtest.NewReceiver(t)
	h.endpoint(hang.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 2; e.Timeout = hookd.Duration(30 * time.Second) })
	h.endpoint(healthy.URL)
	const n = 20
	start := time.Now()
	for i := range n {
		h.publish("order.created", i)
	}
	healthy.Wait(n)
	took := time.Since(start)
	hang.Wait(2)
	now, peak := hang.Concurrency()
	t.Logf("healthy endpoint got %d events in %s", n, took)
	if took > 5*time.Second {
		t.Errorf("the healthy endpoint took %s for %d events", took, n)
	}
	if now != 2 || peak != 2 || hang.Count() != 2 {
		t.Errorf("hanging endpoint: %d in flight (peak %d), %d requests; want exactly max_in_flight = 2", now, peak, hang.Count())
	}
}

// max_in_flight caps concurrent requests to an endpoint, and all
// deliveries still arrive.
func TestMaxInFlight(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Delay: 20 * time.Millisecond})
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 3 })
	in := make([]hookd.EventInput, 30)
	for i := range in {
		in[i] = hookd.EventInput{Type: "order.created", Data: json.RawMessage(fmt.Sprint(i))}
	}
	_, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	r.Wait(30)
	_, peak := r.Concurrency()
	eq(t, "peak concurrency", peak, 3)
	h.waitRecords(30)
}

// rate_limit spaces requests to the endpoint.
func TestRateLimit(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.RateLimit = 20 })
	in := make([]hookd.EventInput, 11)
	for i := range in {
		in[i] = hookd.EventInput{Type: "order.created", Data: json.RawMessage(`{}`)}
	}
	start := time.Now()
	_, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	reqs := r.Wait(11)
	// Burst 2 at 20/s: 11 requests need at least (11-2)/20 s.
	if span := reqs[10].At.Sub(start); span < 400*time.Millisecond {
		t.Errorf("11 requests at 20/s took %s", span)
	}
}

// A lane smaller than the burst: what does not fit waits unleased in the
// store and is claimed as the lane drains. Every event arrives exactly
// once.
func TestOverflowGoesThroughTheStore(t *testing.T) {
	h := newHarness(t, withOptions(func(o *delivery.Options) { o.LaneCapacity = 4; o.PollInterval = time.Hour }))
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 2 })
	const n = 60
	in := make([]hookd.EventInput, n)
	for i := range in {
		in[i] = hookd.EventInput{Type: "order.created", Data: json.RawMessage(fmt.Sprint(i))}
	}
	_, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	reqs := r.Wait(n)
	seen := map[string]bool{}
	for _, q := range reqs {
		id := q.Header.Get("Webhook-Id")
		if seen[id] {
			t.Errorf("event %s sent twice", id)
		}
		seen[id] = true
	}
	h.waitRecords(n)
	eq(t, "requests", r.Count(), n)
}

// Deliveries pending when the engine starts (a restart) are claimed and
// sent without any publish.
func TestStartClaimsPending(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	ep := h.endpoint(r.URL)
	must(t, h.stop(time.Second)) // this engine is gone; its successor starts below
	h.insertPending(ep, 5)
	h2 := h.successor(delivery.Options{})
	r.Wait(5)
	for _, rec := range h2.waitRecords(5) {
		eq(t, "outcome", rec.Attempt.Outcome, hookd.OutcomeSucceeded)
	}
}

// A backlog in a store this node owns alone is leased beyond max_in_flight
// in one claim, so it drains without a claim per outcome; the lane still
// sends no more than max_in_flight at once, and each delivery once.
func TestBacklogClaimedAhead(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 2 })
	must(t, h.stop(time.Second))
	const n = 40
	h.insertPending(ep, n)
	arrived, gate := make(chan struct{}, n), make(chan struct{})
	var open sync.Once
	t.Cleanup(func() { open.Do(func() { close(gate) }) }) // before the receiver closes
	// The first two answer at once, so that the lane learns the
	// endpoint's pace (until then it leases only max_in_flight ahead);
	// the rest wait at the gate.
	r.Handle(func(q *hookdtest.Request) hookdtest.Response {
		if q.N <= 2 {
			return hookdtest.Response{}
		}
		arrived <- struct{}{}
		<-gate
		return hookdtest.Response{}
	})
	h2 := h.successor(delivery.Options{PollInterval: time.Hour})
	// Two outcomes are written before the gate, so without the allowance
	// the claims would stop at max_in_flight plus those two.
	deadline := time.After(10 * time.Second)
	for claimed := 0; claimed < n; {
		select {
		case c := <-h.store.claimed:
			claimed += c
		case <-deadline:
			t.Fatalf("claims leased %d of the %d due while two requests wait, want all", claimed, n)
		}
	}
	<-arrived
	<-arrived
	select {
	case <-arrived:
		t.Fatal("a third request arrived with max_in_flight 2")
	default:
	}
	open.Do(func() { close(gate) })
	r.Wait(n)
	h2.waitRecords(n)
	_, peak := r.Concurrency()
	eq(t, "peak concurrency", peak, 2)
	eq(t, "requests", r.Count(), n)
}

// Graceful stop lets the request under way finish and be recorded, and
// releases the leases of the deliveries not attempted.
func TestStopFinishesInFlightAndReleasesLeases(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Delay: 300 * time.Millisecond})
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 1 })
	var ids []string
	for i := range 5 {
		ids = append(ids, h.publish("order.created", i).Event.ID)
	}
	r.Wait(1)
	must(t, h.stop(5*time.Second))
	recs := h.records()
	eq(t, "attempts recorded", len(recs), 1)
	eq(t, "outcome of the request under way", recs[0].Attempt.Outcome, hookd.OutcomeSucceeded)
	eq(t, "requests", r.Count(), 1)
	for _, id := range ids {
		d := h.delivery(id)
		if d.LeaseOwner != "" {
			t.Errorf("delivery %s still leased to %q after Stop", d.ID, d.LeaseOwner)
		}
		if id != recs[0].Attempt.EventID && d.State != hookd.StatePending {
			t.Errorf("unattempted delivery %s is %s", d.ID, d.State)
		}
	}
	_, err := h.eng.Publish(h.ctx, h.tenant, []hookd.EventInput{{Type: "x", Data: json.RawMessage(`1`)}})
	eq(t, "publish after stop", hookd.ErrorCode(err), hookd.EUNAVAILABLE)
}

// When Stop's context ends first, the hanging request is cut short, not
// recorded as the endpoint's failure, and its lease is released.
func TestStopDeadlineCutsRequests(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Hang: true})
	h.endpoint(r.URL, func(e *hookd.Endpoint) { e.Timeout = hookd.Duration(time.Minute) })
	res := h.publish("order.created", 1)
	r.Wait(1)
	start := time.Now()
	err := h.stop(200 * time.Millisecond)
	if err != context.DeadlineExceeded {
		t.Errorf("Stop: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %s with a 200ms deadline", d)
	}
	eq(t, "attempts recorded", len(h.records()), 0)
	d := h.delivery(res.Event.ID)
	eq(t, "state", d.State, hookd.StatePending)
	eq(t, "lease owner", d.LeaseOwner, "")
}

// Without AllowNetworks, loopback is blocked: nothing is sent.
func TestBlockedWithoutAllowNetwork(t *testing.T) {
	h := newHarness(t, withOptions(func(o *delivery.Options) { o.AllowNetworks = nil }))
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL)
	h.endpoint(strings.Replace(r.URL, "127.0.0.1", "localhost", 1)) // a name resolving to loopback
	h.publish("order.created", 1)
	for _, rec := range h.waitRecords(2) {
		a := rec.Attempt
		eq(t, "outcome", a.Outcome, hookd.OutcomeBlocked)
		if !strings.Contains(a.Error, "--allow-network") {
			t.Errorf("error %q does not say how to allow it", a.Error)
		}
	}
	eq(t, "requests", r.Count(), 0)
	// Ping obeys the same rule.
	eps, err := h.store.EndpointListAll(h.ctx, h.tenant)
	must(t, err)
	a, err := h.eng.Ping(h.ctx, eps[0])
	must(t, err)
	eq(t, "ping outcome", a.Outcome, hookd.OutcomeBlocked)
}

// AllowNetworks admits exactly the listed prefixes.
func TestAllowNetworkIsExact(t *testing.T) {
	h := newHarness(t, withOptions(func(o *delivery.Options) {
		o.AllowNetworks = []netipPrefix{mustPrefix("127.0.0.2/32")}
	}))
	r := hookdtest.NewReceiver(t) // on 127.0.0.1
	h.endpoint(r.URL)
	h.publish("order.created", 1)
	eq(t, "outcome", h.waitRecords(1)[0].Attempt.Outcome, hookd.OutcomeBlocked)
}

// Ping reaches an endpoint whatever its event types, and returns the
// recorded attempt.
func TestPing(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.EventTypes = []string{"order.*"} })
	a, err := h.eng.Ping(h.ctx, ep)
	must(t, err)
	eq(t, "outcome", a.Outcome, hookd.OutcomeSucceeded)
	eq(t, "manual", a.Manual, true)
	q := r.Wait(1)[0]
	var body struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	must(t, json.Unmarshal(q.Body, &body))
	eq(t, "type", body.Type, hookd.PingEventType)
	stored := h.attempts(a.DeliveryID)
	eq(t, "stored attempts", len(stored), 1)
}

// Filters decide fan-out; a body expression shapes each attempt.
func TestFilterAndBody(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL, func(e *hookd.Endpoint) {
		e.Filter = `event.data.amount > 100`
		e.Body = `{"event": event.id, "seq": event.seq, "n": attempt.number, "amount": event.data.amount, "tenant": tenant}`
	})
	small := h.publish("order.created", map[string]int{"amount": 5})
	big := h.publish("order.created", map[string]int{"amount": 500})
	eq(t, "deliveries of a filtered-out event", small.DeliveryCount, 0)
	eq(t, "deliveries of a matching event", big.DeliveryCount, 1)
	q := r.Wait(1)[0]
	if big.Event.Seq <= small.Event.Seq {
		t.Errorf("seq %d after %d", big.Event.Seq, small.Event.Seq)
	}
	eq(t, "body", string(q.Body), fmt.Sprintf(`{"event":%q,"seq":%d,"n":1,"amount":500,"tenant":"acme"}`, big.Event.ID, big.Event.Seq))
	eq(t, "requests", r.Count(), 1)
}

// The same event id twice stores and sends once.
func TestPublishDuplicate(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL)
	in := []hookd.EventInput{{ID: "same", Type: "order.created", Data: json.RawMessage(`1`)}}
	first, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	second, err := h.eng.Publish(h.ctx, h.tenant, in)
	must(t, err)
	eq(t, "first duplicate", first[0].Duplicate, false)
	eq(t, "second duplicate", second[0].Duplicate, true)
	eq(t, "second delivery count", second[0].DeliveryCount, 0)
	h.waitRecords(1)
	eq(t, "deliveries", len(h.deliveries("same")), 1)
	eq(t, "requests", r.Count(), 1)
}

func TestCheckExpressions(t *testing.T) {
	h := newHarness(t)
	ok := &hookd.Endpoint{Filter: `event.type == "a"`, Body: `{"x": event.id}`}
	must(t, h.eng.CheckExpressions(ok))
	err := h.eng.CheckExpressions(&hookd.Endpoint{Filter: `event.nope ==`, Body: `{"x": nope}`})
	var he *hookd.Error
	if !asError(err, &he) || he.Code != hookd.EINVALID || len(he.Fields) != 2 || he.Fields[0].Field != "filter" || he.Fields[1].Field != "body" {
		t.Fatalf("CheckExpressions: %v, want EINVALID naming filter and body", err)
	}
}

// Retention purges old rows in batches with the engine's clock.
func TestRetention(t *testing.T) {
	h := newHarness(t, withClock(), withOptions(func(o *delivery.Options) {
		o.Retention = time.Hour
		o.RetentionInterval = time.Minute
		o.RetentionBatch = 2
	}))
	r := hookdtest.NewReceiver(t)
	h.endpoint(r.URL)
	var ids []string
	for i := range 3 {
		ids = append(ids, h.publish("order.created", i).Event.ID)
	}
	h.waitRecords(3)
	drain(h.store.purged)
	h.clock.Advance(2 * time.Hour)
	total := 0
	for n := range h.store.purged {
		total += n
		if n == 0 {
			break
		}
		if n > 2 {
			t.Errorf("a purge batch of %d rows, want at most 2", n)
		}
	}
	if total < 9 { // 3 events, 3 deliveries, 3 attempts
		t.Errorf("purged %d rows, want at least 9", total)
	}
	for _, id := range ids {
		_, err := h.store.EventGet(h.ctx, h.tenant, id)
		eq(t, "old event", hookd.ErrorCode(err), hookd.ENOTFOUND)
	}
}

func drain(c chan int) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// A ping is answered at once even when the endpoint's lane is full of
// hanging requests.
func TestPingBesideSaturatedLane(t *testing.T) {
	h := newHarness(t)
	r := hookdtest.NewReceiver(t)
	r.Handle(func(q *hookdtest.Request) hookdtest.Response {
		if strings.Contains(string(q.Body), hookd.PingEventType) {
			return hookdtest.Response{Status: 204}
		}
		return hookdtest.Response{Hang: true}
	})
	ep := h.endpoint(r.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 1; e.Timeout = hookd.Duration(time.Minute) })
	h.publish("order.created", 1)
	h.publish("order.created", 2)
	r.Wait(1)
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	a, err := h.eng.Ping(ctx, ep)
	must(t, err)
	eq(t, "ping status", a.StatusCode, 204)
	eq(t, "requests", r.Count(), 2) // the hanging one and the ping
}
