package delivery

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
)

// metrics are the engine's Prometheus series. Labels are bounded: outcomes
// only, never endpoints or tenants, whose number has no limit.
type metrics struct {
	attempts  *prometheus.CounterVec
	byOutcome map[hookd.Outcome]prometheus.Counter
	duration  prometheus.Histogram
	published prometheus.Counter
	created   prometheus.Counter
	inflight  prometheus.Gauge
	claimed   prometheus.Counter
	released  prometheus.Counter
}

func newMetrics(e *Engine, reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_attempts_total",
			Help: "Delivery attempts made, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, from request to the end of the response excerpt.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_events_published_total",
			Help: "Events stored by Publish (duplicates not counted).",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_deliveries_created_total",
			Help: "Deliveries created by fan-out.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_requests_in_flight",
			Help: "Requests to endpoints under way on this node.",
		}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_deliveries_claimed_total",
			Help: "Deliveries this node leased by claiming them from the store (not at publish).",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_deliveries_released_total",
			Help: "Leased deliveries handed back unattempted: shutdown, a disabled endpoint, or too long a wait in a lane.",
		}),
	}
	m.byOutcome = make(map[hookd.Outcome]prometheus.Counter)
	for _, o := range []hookd.Outcome{hookd.OutcomeSucceeded, hookd.OutcomeHTTPError, hookd.OutcomeRedirect,
		hookd.OutcomeConnectError, hookd.OutcomeTLSError, hookd.OutcomeTimeout, hookd.OutcomeBlocked} {
		m.byOutcome[o] = m.attempts.WithLabelValues(string(o))
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_lane_queued",
		Help: "Leased deliveries waiting in this node's endpoint lanes.",
	}, func() float64 { return float64(e.queued()) })
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookd_deliveries_held",
		Help: "Deliveries leased to this node: queued, in flight, or awaiting their outcome's write.",
	}, func() float64 { return float64(e.heldCount()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.duration, m.published, m.created, m.inflight, m.claimed, m.released, queued, held} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					e.log.Warn("registering metrics", "err", err)
				}
			}
		}
	}
	return m
}

func (m *metrics) observe(o hookd.Outcome, d time.Duration) {
	if c := m.byOutcome[o]; c != nil {
		c.Inc()
	}
	m.duration.Observe(d.Seconds())
}

func (e *Engine) queued() int {
	e.lanesMu.Lock()
	ls := make([]*lane, 0, len(e.lanes))
	for _, l := range e.lanes {
		ls = append(ls, l)
	}
	e.lanesMu.Unlock()
	n := 0
	for _, l := range ls {
		l.mu.Lock()
		n += l.queuedLocked()
		l.mu.Unlock()
	}
	return n
}

func (e *Engine) heldCount() int {
	e.heldMu.Lock()
	defer e.heldMu.Unlock()
	return len(e.held)
}
