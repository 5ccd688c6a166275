package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
)

// opsEvent is an operational event as an ordinary endpoint receives it.
type opsEvent struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// sink collects the events an endpoint receives.
type sink struct {
	t *testing.T
	r *hookdtest.Receiver
}

func newSink(t *testing.T) *sink {
	s := &sink{t: t, r: hookdtest.NewReceiver(t)}
	s.r.SetDefault(hookdtest.Response{Status: http.StatusNoContent})
	return s
}

// events returns the first n events received, in order of arrival,
// waiting for them.
func (s *sink) events(n int) []opsEvent {
	s.t.Helper()
	reqs := s.r.Wait(n)
	out := make([]opsEvent, len(reqs))
	for i, q := range reqs {
		if err := json.Unmarshal(q.Body, &out[i]); err != nil {
			s.t.Fatalf("event %d: %v in %s", i, err, q.Body)
		}
	}
	return out
}

// attempts waits until the endpoint has k recorded attempts.
func (n *node) attempts(tenant, id string, k int) {
	n.t.Helper()
	count := func() int {
		var page struct{ Data []json.RawMessage }
		n.call("GET", "/v1/tenants/"+tenant+"/endpoints/"+id+"/attempts?limit=1000", nil, http.StatusOK, &page)
		return len(page.Data)
	}
	eventually(n.t, 30*time.Second, func() bool { return count() >= k },
		func() string { return fmt.Sprintf("%d of %d attempts recorded", count(), k) })
}

// An endpoint that fails every attempt for five days (on a fake clock) is
// disabled: its pending retry waits, still pending, and goes out once a
// person enables it again. Operators hear of each step.
func TestAutoDisableAndResume(t *testing.T) {
	clock := hookdtest.NewClock(time.Now().UTC().Truncate(time.Second))
	t0 := clock.Now()
	n := newNode(t, clock, func(o *delivery.Options) { o.OpsTenant = "ops" })
	ops := newSink(t)
	opsEp := n.endpoint("ops", `{"url": "`+ops.r.URL+`"}`)
	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: http.StatusServiceUnavailable})
	ep := n.endpoint("acme", `{"url": "`+r.URL+`", "retry": {"schedule": ["1h"]}}`)

	n.publish("acme", "order.created", 1)
	n.attempts("acme", ep.ID, 1)
	clock.Advance(time.Hour) // the retry fails: retries exhausted
	n.attempts("acme", ep.ID, 2)
	failed := ops.events(1)[0]
	if failed.Type != hookd.EventDeliveryFailed || failed.Data["endpoint_id"] != ep.ID || failed.Data["tenant"] != "acme" ||
		failed.Data["attempts"] != 2.0 || failed.Data["last_status_code"] != 503.0 {
		t.Fatalf("delivery.failed: %+v", failed)
	}

	// Five days after the first failure, the next one disables it. (The
	// clock moves only once every attempt is recorded: a jump of days
	// past a lease whose outcome is being written may send it again.)
	n.waitSettled(opsEp)
	clock.Advance(5*24*time.Hour - time.Hour)
	n.publish("acme", "order.created", 1)
	n.attempts("acme", ep.ID, 3)
	disabled := ops.events(2)[1]
	if disabled.Type != hookd.EventEndpointDisabled || disabled.Data["automatic"] != true || disabled.Data["endpoint_id"] != ep.ID ||
		!strings.Contains(disabled.Data["reason"].(string), "every attempt failed for 120h0m0s") {
		t.Fatalf("endpoint.disabled: %+v", disabled)
	}
	var got hookd.Endpoint
	n.call("GET", "/v1/tenants/acme/endpoints/"+ep.ID, nil, http.StatusOK, &got)
	if got.Enabled || got.DisabledReason != disabled.Data["reason"] {
		t.Fatalf("endpoint after five days of failures: enabled %v, reason %q", got.Enabled, got.DisabledReason)
	}
	st := n.stats("acme", ep.ID)
	if st.Enabled || !st.FailingSince.Equal(t0) || st.Pending != 1 {
		t.Fatalf("stats of the disabled endpoint: %+v", st)
	}

	// Its retry comes due and waits, still pending.
	n.waitSettled(opsEp)
	clock.Advance(2 * time.Hour)
	if k := n.deliveries("acme", hookd.StatePending); k != 1 {
		t.Fatalf("%d pending deliveries, want the one waiting", k)
	}
	if k := r.Count(); k != 3 {
		t.Fatalf("%d requests to the disabled endpoint, want 3", k)
	}

	// Enabled again, it is sent at once.
	r.SetDefault(hookdtest.Response{Status: http.StatusOK})
	var after hookd.Endpoint
	n.call("PATCH", "/v1/tenants/acme/endpoints/"+ep.ID, map[string]any{"enabled": true}, http.StatusOK, &after)
	if !after.Enabled || after.DisabledReason != "" {
		t.Fatalf("after enabling: %+v", after)
	}
	r.Wait(4)
	n.waitSettled(ep)
	if k := n.deliveries("acme", hookd.StateSucceeded); k != 1 {
		t.Fatalf("%d deliveries succeeded, want the one that waited", k)
	}
	enabled := ops.events(3)[2]
	if enabled.Type != hookd.EventEndpointEnabled || enabled.Data["automatic"] != false || enabled.Data["endpoint_id"] != ep.ID {
		t.Fatalf("endpoint.enabled: %+v", enabled)
	}

	// Its health started afresh: one failure and one success in the
	// window, no failing streak.
	n.attempts("acme", ep.ID, 4)
	eventually(t, 10*time.Second, func() bool { return n.stats("acme", ep.ID).LastSuccessAt.Equal(clock.Now()) },
		func() string { return fmt.Sprintf("stats: %+v", n.stats("acme", ep.ID)) })
	st = n.stats("acme", ep.ID)
	if !st.Enabled || st.Attempts != 2 || st.Succeeded != 1 || st.SuccessRate == nil || *st.SuccessRate != 0.5 ||
		!st.FailingSince.IsZero() || st.Pending != 0 || !st.LastFailureAt.Equal(t0.Add(5*24*time.Hour)) {
		t.Fatalf("stats after enabling: %+v", st)
	}
	if !st.WindowStart.Equal(clock.Now().Add(-24*time.Hour)) || !st.AsOf.Equal(clock.Now()) {
		t.Fatalf("window [%v, %v], want the last 24 hours", st.WindowStart, st.AsOf)
	}
}

// Operational events reach an ordinary endpoint of the ops tenant: a
// delivery failing for good, an endpoint recovering, a 410 disabling it,
// a person enabling it. The ops tenant's own failing deliveries are not
// reported, or a failing ops endpoint would feed itself.
func TestOpsEvents(t *testing.T) {
	n := newNode(t, nil, func(o *delivery.Options) { o.OpsTenant = "ops" })
	ops := newSink(t)
	n.endpoint("ops", `{"url": "`+ops.r.URL+`", "event_types": ["endpoint.*", "delivery.*"]}`)
	broken := hookdtest.NewReceiver(t)
	broken.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	brokenEp := n.endpoint("ops", endpointBody(broken.URL))

	r := hookdtest.NewReceiver(t)
	r.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	ep := n.endpoint("acme", endpointBody(r.URL))
	n.publish("acme", "order.created", 1)
	ev := ops.events(1)[0]
	if ev.Type != hookd.EventDeliveryFailed || ev.Data["tenant"] != "acme" || ev.Data["last_status_code"] != 500.0 ||
		ev.Data["last_outcome"] != "http_error" || ev.Data["event_type"] != "order.created" {
		t.Fatalf("first event: %+v, want delivery.failed", ev)
	}

	// Once hookd knows it is failing, a success recovers it.
	eventually(t, 10*time.Second, func() bool { return !n.stats("acme", ep.ID).FailingSince.IsZero() },
		func() string { return "the endpoint is not failing" })
	r.SetDefault(hookdtest.Response{Status: http.StatusOK})
	n.publish("acme", "order.created", 1)
	ev = ops.events(2)[1]
	if ev.Type != hookd.EventDeliveryRecovered || ev.Data["endpoint_id"] != ep.ID || ev.Data["failing_since"] == nil ||
		ev.Data["failed_for"] == nil || ev.Data["delivery_id"] == nil {
		t.Fatalf("second event: %+v, want delivery.recovered", ev)
	}

	// A 410 fails the delivery for good and disables the endpoint.
	r.SetDefault(hookdtest.Response{Status: http.StatusGone})
	n.publish("acme", "order.created", 1)
	evs := ops.events(4)
	if ev := evs[2]; ev.Type != hookd.EventDeliveryFailed || ev.Data["last_status_code"] != 410.0 {
		t.Fatalf("third event: %+v, want delivery.failed with the 410", ev)
	}
	if ev := evs[3]; ev.Type != hookd.EventEndpointDisabled || ev.Data["reason"] != "410 Gone" || ev.Data["automatic"] != true {
		t.Fatalf("fourth event: %+v, want endpoint.disabled by the 410", ev)
	}

	n.call("PATCH", "/v1/tenants/acme/endpoints/"+ep.ID, map[string]any{"enabled": true}, http.StatusOK, nil)
	ev = ops.events(5)[4]
	if ev.Type != hookd.EventEndpointEnabled || ev.Data["endpoint_id"] != ep.ID {
		t.Fatalf("fifth event: %+v, want endpoint.enabled", ev)
	}

	// The broken ops endpoint failed each of the five for good; none of
	// that was reported. A last acme failure is, and comes next.
	broken.Wait(5)
	n.waitSettled(brokenEp)
	r.SetDefault(hookdtest.Response{Status: http.StatusInternalServerError})
	n.publish("acme", "order.created", 1)
	ev = ops.events(6)[5]
	if ev.Type != hookd.EventDeliveryFailed || ev.Data["tenant"] != "acme" {
		t.Fatalf("sixth event: %+v, want the acme delivery.failed", ev)
	}
	n.waitSettled(ep)
	if k := ops.r.Count(); k != 6 {
		t.Fatalf("the ops endpoint got %d events, want 6", k)
	}
	// Each event is stored in the ops tenant like any other.
	var page struct{ Data []hookd.Event }
	n.call("GET", "/v1/tenants/ops/events", nil, http.StatusOK, &page)
	if len(page.Data) != 6 {
		t.Fatalf("%d events in the ops tenant, want 6", len(page.Data))
	}

	// A replay that fails again is a person's doing: its attempts are
	// manual, and no delivery.failed goes out for them.
	var created replayAnswer
	n.call("POST", "/v1/tenants/acme/endpoints/"+ep.ID+"/replay", nil, http.StatusAccepted, &created)
	if created.Count != 3 {
		t.Fatalf("replay of %d failed deliveries, want 3", created.Count)
	}
	eventually(t, 30*time.Second, func() bool { return n.replay("acme", created.ID).State == hookd.ReplayCompleted },
		func() string { return fmt.Sprintf("replay: %+v", n.replay("acme", created.ID)) })
	if rp := n.replay("acme", created.ID); rp.Failed != 3 {
		t.Fatalf("replay: %+v, want 3 failed", rp)
	}
	var atts struct{ Data []hookd.Attempt }
	n.call("GET", "/v1/tenants/acme/endpoints/"+ep.ID+"/attempts?limit=3", nil, http.StatusOK, &atts)
	for _, a := range atts.Data {
		if !a.Manual || a.Number != 2 {
			t.Errorf("replayed attempt %s: number %d, manual %v; want the second, manual", a.ID, a.Number, a.Manual)
		}
	}
	n.publish("acme", "order.created", 1) // a sentinel: its failure is reported
	if ev := ops.events(7)[6]; ev.Type != hookd.EventDeliveryFailed || ev.Data["attempts"] != 1.0 {
		t.Fatalf("seventh event: %+v, want the sentinel's delivery.failed, none of the replay's", ev)
	}
}

// /metrics serves the delivery and backlog series, parsed as Prometheus
// does, with labels only for the tenants and endpoints allowed.
func TestMetricsScraped(t *testing.T) {
	n := newNode(t, nil, func(o *delivery.Options) {
		o.MetricsTenants = []string{"acme"}
		o.MetricsTopEndpoints = 1
		o.BacklogInterval = 50 * time.Millisecond
	})
	ok := hookdtest.NewReceiver(t)
	okEp := n.endpoint("acme", endpointBody(ok.URL))
	n.publish("acme", "order.created", 20)
	ok.Wait(20)
	// globex's endpoint fails and retries in an hour: a backlog of 5;
	// initech's has 1 more waiting; only the largest gets a series.
	down := hookdtest.NewReceiver(t)
	down.SetDefault(hookdtest.Response{Status: http.StatusBadGateway})
	downEp := n.endpoint("globex", `{"url": "`+down.URL+`", "retry": {"schedule": ["1h"]}}`)
	n.publish("globex", "order.created", 5)
	other := n.endpoint("initech", `{"url": "`+down.URL+`", "retry": {"schedule": ["1h"]}}`)
	n.publish("initech", "order.created", 1)
	n.attempts("globex", downEp.ID, 5)
	n.attempts("initech", other.ID, 1)
	n.waitSettled(okEp)

	var mfs map[string]*dto.MetricFamily
	value := func(name string, labels map[string]string) (float64, bool) {
		mf := mfs[name]
		if mf == nil {
			return 0, false
		}
	metrics:
		for _, m := range mf.Metric {
			for k, v := range labels {
				found := false
				for _, l := range m.Label {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
	scrape := func() {
		res, err := http.Get(n.srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d", res.StatusCode)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		if mfs, err = p.TextToMetricFamilies(res.Body); err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
	}
	eventually(t, 10*time.Second, func() bool {
		scrape()
		v, ok := value("hookd_deliveries_pending", nil)
		return ok && v == 6
	}, func() string {
		v, _ := value("hookd_deliveries_pending", nil)
		return fmt.Sprintf("hookd_deliveries_pending %v, want 6", v)
	})

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		what   string
	}{
		{"hookd_attempts_total", map[string]string{"outcome": "succeeded"}, eq(20), "20"},
		{"hookd_attempts_total", map[string]string{"outcome": "http_error"}, eq(6), "6"},
		{"hookd_attempt_duration_seconds", nil, eq(26), "26 observations"},
		{"hookd_events_published_total", nil, eq(26), "26"},
		{"hookd_deliveries_finished_total", map[string]string{"state": "succeeded"}, eq(20), "20"},
		{"hookd_deliveries_finished_total", map[string]string{"state": "failed"}, eq(0), "0"},
		{"hookd_tenant_events_published_total", map[string]string{"tenant": "acme"}, eq(20), "20"},
		{"hookd_tenant_attempts_total", map[string]string{"tenant": "acme", "outcome": "succeeded"}, eq(20), "20"},
		{"hookd_deliveries_oldest_pending_age_seconds", nil, func(v float64) bool { return v >= 0 && v < 60 }, "under a minute"},
		{"hookd_endpoint_deliveries_pending", map[string]string{"tenant": "globex", "endpoint": downEp.ID}, eq(5), "5"},
		{"hookd_http_requests_total", map[string]string{"route": "POST /v1/tenants/{tenant}/events/batch", "code": "202"}, eq(3), "3"},
		{"hookd_replays_running", nil, eq(0), "0"},
	} {
		v, ok := value(c.name, c.labels)
		if !ok || !c.want(v) {
			t.Errorf("%s%v = %v (present %v), want %s", c.name, c.labels, v, ok, c.what)
		}
	}
	// Bounded labels: no series for tenants not named, one endpoint.
	for _, name := range []string{"hookd_tenant_events_published_total", "hookd_tenant_attempts_total"} {
		for _, m := range mfs[name].GetMetric() {
			for _, l := range m.Label {
				if l.GetName() == "tenant" && l.GetValue() != "acme" {
					t.Errorf("%s has a series for tenant %s", name, l.GetValue())
				}
			}
		}
	}
	if k := len(mfs["hookd_endpoint_deliveries_pending"].GetMetric()); k != 1 {
		t.Errorf("%d endpoint backlog series, want the top 1", k)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// The statistics of an endpoint over HTTP: bounded, and another tenant's
// endpoint is not found.
func TestEndpointStatsRoute(t *testing.T) {
	n := newNode(t, nil, nil)
	r := hookdtest.NewReceiver(t)
	r.Respond(hookdtest.Response{Status: 500}, hookdtest.Response{Status: 500})
	ep := n.endpoint("acme", endpointBody(r.URL))
	n.publish("acme", "order.created", 10)
	r.Wait(10)
	n.waitSettled(ep)
	eventually(t, 10*time.Second, func() bool { return !n.stats("acme", ep.ID).LastSuccessAt.IsZero() },
		func() string { return "no last success" })
	st := n.stats("acme", ep.ID)
	if st.Attempts != 10 || st.Succeeded != 8 || st.Failed != 2 || *st.SuccessRate != 0.8 || st.Truncated ||
		st.Pending != 0 || st.DurationP99 < st.DurationP50 || st.LastFailureAt.IsZero() {
		t.Fatalf("stats: %+v", st)
	}
	n.call("GET", "/v1/tenants/globex/endpoints/"+ep.ID+"/stats", nil, http.StatusNotFound, nil)
	n.call("GET", "/v1/tenants/acme/endpoints/ep_nope/stats", nil, http.StatusNotFound, nil)
	n.call("GET", "/v1/tenants/acme/endpoints/"+ep.ID+"/stats?window=1h", nil, http.StatusUnprocessableEntity, nil)
}
