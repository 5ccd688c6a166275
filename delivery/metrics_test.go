package delivery_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, withOptions(func(o *delivery.Options) { o.Registerer = reg }))
	ok := hookdtest.NewReceiver(t)
	bad := hookdtest.NewReceiver(t)
	bad.SetDefault(hookdtest.Response{Status: 500})
	h.endpoint(ok.URL)
	h.endpoint(bad.URL)
	h.publish("order.created", 1)
	h.publish("order.created", 2)
	h.waitRecords(4)
	for name, want := range map[string]float64{
		"hookd_events_published_total":   2,
		"hookd_deliveries_created_total": 4,
	} {
		if got := gather(t, reg, name, ""); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for outcome, want := range map[hookd.Outcome]float64{hookd.OutcomeSucceeded: 2, hookd.OutcomeHTTPError: 2, hookd.OutcomeTimeout: 0} {
		if got := gather(t, reg, "hookd_attempts_total", string(outcome)); got != want {
			t.Errorf("attempts %s = %v, want %v", outcome, got, want)
		}
	}
	mfs, err := reg.Gather()
	must(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"hookd_attempt_duration_seconds", "hookd_lane_queued", "hookd_requests_in_flight", "hookd_deliveries_held"} {
		if !names[n] {
			t.Errorf("no series %s", n)
		}
	}
}

// gather returns the value of the counter name (with outcome label when
// given).
func gather(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if outcome != "" {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == "outcome" && l.GetValue() == outcome
				}
				if !found {
					continue
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
