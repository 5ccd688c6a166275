package hookd

import (
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestHealthObservationAdd(t *testing.T) {
	var o HealthObservation
	o.Add(at(5), false, false)
	o.Add(at(3), false, false)
	o.Add(at(4), true, false)
	// The success at 4 ended the failure at 3; the one at 5 starts the
	// streak.
	if !o.LastSuccess.Equal(at(4)) || !o.FirstFailure.Equal(at(5)) || !o.LastFailure.Equal(at(5)) {
		t.Fatalf("got %+v", o)
	}
	o.Add(at(6), true, true)
	if !o.FirstFailure.IsZero() || !o.Gone {
		t.Fatalf("after a later success: %+v, want no streak, gone kept", o)
	}
}

func TestHealthObserve(t *testing.T) {
	var h EndpointHealth
	obs := func(ok bool, s int) HealthObservation {
		var o HealthObservation
		o.Add(at(s), ok, false)
		return o
	}
	h.Observe(obs(false, 10), true, "", at(10), time.Minute)
	u := h.Observe(obs(false, 69), true, "", at(69), time.Minute)
	if u.Disabled || !h.FailingSince.Equal(at(10)) {
		t.Fatalf("59s of failures: %+v", u)
	}
	u = h.Observe(obs(false, 70), true, "", at(70), time.Minute)
	if !u.Disable || !u.Disabled || u.Reason == "" || !h.DisabledAt.Equal(at(70)) {
		t.Fatalf("60s of failures: %+v", u)
	}
	// Enabled again, a success recovers nothing (the streak was reset),
	// and a later failure starts afresh.
	u = h.Observe(obs(true, 80), true, "", at(80), time.Minute)
	if u.Recovered || !h.DisabledAt.IsZero() || !h.FailingSince.IsZero() {
		t.Fatalf("after enabling: %+v %+v", u, h)
	}
	h.Observe(obs(false, 90), true, "", at(90), time.Minute)
	u = h.Observe(obs(true, 95), true, "", at(95), time.Minute)
	if !u.Recovered || !u.FailingSince.Equal(at(90)) {
		t.Fatalf("success after failure: %+v", u)
	}
	// Success then failure in one observation: recovered and failing.
	h.Observe(obs(false, 100), true, "", at(100), 0)
	var o HealthObservation
	o.Add(at(101), true, false)
	o.Add(at(102), false, false)
	u = h.Observe(o, true, "", at(102), 0)
	if !u.Recovered || !h.FailingSince.Equal(at(102)) {
		t.Fatalf("blip: %+v %+v", u, h)
	}
}

// FuzzHealthObserve feeds arbitrary attempt sequences, in arbitrary
// reporting order, and checks the invariants of EndpointHealth.
func FuzzHealthObserve(f *testing.F) {
	f.Add([]byte{1, 0, 2, 1, 3, 0}, uint8(2))
	f.Add([]byte{5, 0, 1, 0, 9, 1, 2, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, seq []byte, batch uint8) {
		var h EndpointHealth
		var o HealthObservation
		n := int(batch%4) + 1
		for i := 0; i+1 < len(seq); i += 2 {
			o.Add(at(int(seq[i])), seq[i+1]%2 == 0, false)
			if (i/2)%n == n-1 || i+3 >= len(seq) {
				h.Observe(o, true, "", at(300), 10*time.Second)
				o = HealthObservation{}
			}
			if !h.FailingSince.IsZero() {
				if !h.FailingSince.After(h.LastSuccess) || h.FailingSince.After(h.LastFailure) {
					t.Fatalf("streak %v outside (last success %v, last failure %v]", h.FailingSince, h.LastSuccess, h.LastFailure)
				}
			} else if h.LastFailure.After(h.LastSuccess) && h.DisabledAt.IsZero() {
				t.Fatalf("latest attempt failed (%v after %v) but no streak", h.LastFailure, h.LastSuccess)
			}
		}
	})
}

func TestNearestRank(t *testing.T) {
	for _, tc := range []struct {
		vals   []int64
		p      int
		expect int64
	}{
		{[]int64{7}, 50, 7}, {[]int64{7}, 99, 7},
		{[]int64{1, 2, 3, 4}, 50, 2}, {[]int64{1, 2, 3, 4}, 99, 4},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50, 5},
	} {
		if got := nearestRank(tc.vals, tc.p); got != tc.expect {
			t.Errorf("p%d of %v = %d, want %d", tc.p, tc.vals, got, tc.expect)
		}
	}
}

func TestReplayParams(t *testing.T) {
	p := ReplayParams{Tenant: "acme", EndpointID: "ep_1", EventTypes: []string{"*"}}
	p.Normalize(t0)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if !p.Until.Equal(t0) || p.Status != ReplayStatusFailed || p.EventTypes != nil {
		t.Fatalf("defaults: %+v", p)
	}
	bad := ReplayParams{Tenant: "a b", Since: at(10), Until: at(5), Status: "some", EventTypes: []string{"order.*", "x y"}}
	err := bad.Validate()
	fields := map[string]bool{}
	if e, ok := err.(*Error); ok {
		for _, f := range e.Fields {
			fields[f.Field] = true
		}
	}
	for _, f := range []string{"tenant", "endpoint_id", "until", "status", "event_types"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, err)
		}
	}
	f := p.Filter()
	if !f.Match(StateFailed, "x") || f.Match(StateSucceeded, "x") || f.Match(StatePending, "x") {
		t.Error("status failed matches only failed deliveries")
	}
	f.Status, f.EventTypes = ReplayStatusAll, []string{"order.*"}
	if !f.Match(StateSucceeded, "order.paid") || !f.Match(StateCancelled, "order.paid") || f.Match(StatePending, "order.paid") || f.Match(StateFailed, "invoice.paid") {
		t.Error("status all matches every state but pending, of the types given")
	}
}
