package delivery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd"
)

// recovery is the engine's recovery and lifecycle work: replay runners,
// endpoint health, operational events and the backlog metrics. Each runs
// in its own goroutine beside the delivery path; the delivery path only
// hands them what it recorded (recorded), which costs a map update per
// attempt under one lock.
type recovery struct {
	e *Engine
	m *recoveryMetrics

	// Replays this node runs, by id: each runner's wake-up channel.
	replayMu   sync.Mutex
	replaying  map[string]chan struct{}
	replayKick chan struct{}
	// marks are the deliveries local replays fed and that have not been
	// attempted yet: their attempt is recorded as manual.
	marks  sync.Map
	nmarks atomic.Int64

	health healthTracker
	ops    opsQueue

	backlogMu sync.Mutex
	backlog   *hookd.Backlog
}

func newRecovery(e *Engine) *recovery {
	r := &recovery{
		e:          e,
		replaying:  make(map[string]chan struct{}),
		replayKick: make(chan struct{}, 1),
	}
	r.health.init()
	r.ops.init()
	r.m = newRecoveryMetrics(e, r)
	return r
}

// start starts the recovery loops; they end with the engine's run context.
func (r *recovery) start() {
	r.e.loops.Go(r.replayLoop)
	r.e.loops.Go(r.healthLoop)
	if r.e.opts.OpsTenant != "" {
		r.e.loops.Go(r.opsLoop)
	}
	if r.e.opts.Registerer != nil {
		r.e.loops.Go(r.backlogLoop)
	}
	if r.e.opts.Retention > 0 {
		r.e.loops.Go(r.purgeLoop)
	}
}

// purgeLoop deletes, with the rest of retention, replays finished longer
// ago than the retention and the health of deleted endpoints, at start
// and every RetentionInterval.
func (r *recovery) purgeLoop() {
	e := r.e
	for {
		before := e.now().Add(-e.opts.Retention)
		for {
			n, err := e.store.RecoveryPurge(e.runCtx, before, e.opts.RetentionBatch)
			if err != nil {
				if e.runCtx.Err() == nil {
					e.log.Warn("purging finished replays", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		c, stop := e.opts.NewTimer(e.opts.RetentionInterval)
		select {
		case <-e.runCtx.Done():
			stop()
			return
		case <-c:
		}
	}
}

// stop hands this node's replays back, so that another node, or the next
// start, takes them up at once. The loops have ended.
func (r *recovery) stop(ctx context.Context) error {
	if err := r.e.store.ReplayReleaseMany(ctx, r.e.opts.Owner); err != nil {
		r.e.log.Error("releasing replays on shutdown", "err", err)
		return err
	}
	return nil
}

// recorded takes the outcomes the writer just committed: they feed the
// endpoints' health, the delivery.failed events, the metrics, and wake
// the replay runners, whose deliveries may be among them.
func (r *recovery) recorded(batch []recItem) {
	got, turned := false, false
	for _, it := range batch {
		rec := it.rec
		if rec == nil {
			continue
		}
		got = true
		a := rec.Attempt
		switch rec.State {
		case hookd.StateSucceeded, hookd.StateFailed:
			r.m.finished[rec.State].Inc()
		}
		r.m.tenantAttempt(a.Tenant, a.Outcome)
		if r.health.observe(a, rec.DisableEndpoint != "") {
			turned = true
		}
		if rec.State == hookd.StateFailed && !a.Manual {
			r.deliveryFailed(it.j.d, rec)
		}
	}
	if got {
		r.wakeReplays()
	}
	if turned {
		r.health.poke()
	}
}

// metrics of recovery and lifecycle. Labels are bounded: states, outcomes,
// event types, reasons; tenants only those named in Options.MetricsTenants;
// endpoints only the MetricsTopEndpoints with the largest backlog.
type recoveryMetrics struct {
	finished       map[hookd.DeliveryState]prometheus.Counter
	replayFed      prometheus.Counter
	replays        prometheus.Gauge
	opsEvents      *prometheus.CounterVec
	opsDropped     prometheus.Counter
	disabled       *prometheus.CounterVec
	tenantPublish  map[string]prometheus.Counter
	tenantAttempts map[string]map[hookd.Outcome]prometheus.Counter
}

func newRecoveryMetrics(e *Engine, r *recovery) *recoveryMetrics {
	finished := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookd_deliveries_finished_total",
		Help: "Deliveries that reached a final state on this node, by state (succeeded, or failed with retries exhausted).",
	}, []string{"state"})
	m := &recoveryMetrics{
		finished: map[hookd.DeliveryState]prometheus.Counter{
			hookd.StateSucceeded: finished.WithLabelValues(string(hookd.StateSucceeded)),
			hookd.StateFailed:    finished.WithLabelValues(string(hookd.StateFailed)),
		},
		replayFed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_replay_deliveries_total",
			Help: "Deliveries made pending again by replays this node ran.",
		}),
		replays: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_replays_running",
			Help: "Replays this node is running.",
		}),
		opsEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_ops_events_total",
			Help: "Operational events published to the operators' tenant, by type.",
		}, []string{"type"}),
		opsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_ops_events_dropped_total",
			Help: "Operational events dropped: the queue was full or the publish kept failing.",
		}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_endpoints_disabled_total",
			Help: "Endpoints hookd disabled, by reason: gone (a 410) or failing (every attempt failed for the disable-after period).",
		}, []string{"reason"}),
	}
	tenantPublished := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookd_tenant_events_published_total",
		Help: "Events stored by Publish, for the tenants named in the engine's MetricsTenants.",
	}, []string{"tenant"})
	tenantAttempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookd_tenant_attempts_total",
		Help: "Delivery attempts by outcome, for the tenants named in the engine's MetricsTenants.",
	}, []string{"tenant", "outcome"})
	if len(e.opts.MetricsTenants) > 0 {
		m.tenantPublish = make(map[string]prometheus.Counter)
		m.tenantAttempts = make(map[string]map[hookd.Outcome]prometheus.Counter)
		for _, t := range e.opts.MetricsTenants {
			m.tenantPublish[t] = tenantPublished.WithLabelValues(t)
			byOutcome := make(map[hookd.Outcome]prometheus.Counter)
			for _, o := range outcomes {
				byOutcome[o] = tenantAttempts.WithLabelValues(t, string(o))
			}
			m.tenantAttempts[t] = byOutcome
		}
	}
	for _, t := range []string{hookd.EventEndpointDisabled, hookd.EventEndpointEnabled, hookd.EventDeliveryFailed, hookd.EventDeliveryRecovered} {
		m.opsEvents.WithLabelValues(t)
	}
	m.disabled.WithLabelValues("gone")
	m.disabled.WithLabelValues("failing")
	if reg := e.opts.Registerer; reg != nil {
		cs := []prometheus.Collector{finished, m.replayFed, m.replays, m.opsEvents, m.opsDropped, m.disabled, &backlogCollector{r: r}}
		if m.tenantPublish != nil {
			cs = append(cs, tenantPublished, tenantAttempts)
		}
		for _, c := range cs {
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

var outcomes = []hookd.Outcome{hookd.OutcomeSucceeded, hookd.OutcomeHTTPError, hookd.OutcomeRedirect,
	hookd.OutcomeConnectError, hookd.OutcomeTLSError, hookd.OutcomeTimeout, hookd.OutcomeBlocked}

// tenantPublished counts n events published by tenant, if it is one of
// MetricsTenants.
func (m *recoveryMetrics) tenantPublished(tenant string, n int) {
	if c := m.tenantPublish[tenant]; c != nil {
		c.Add(float64(n))
	}
}

func (m *recoveryMetrics) tenantAttempt(tenant string, o hookd.Outcome) {
	if m.tenantAttempts == nil {
		return
	}
	if c := m.tenantAttempts[tenant][o]; c != nil {
		c.Inc()
	}
}

// The backlog series come from the store, read every BacklogInterval by
// one loop rather than at each scrape: a scrape then costs nothing, and
// the store reads every pending delivery's index entry once per interval
// however many scrapers there are.
var (
	backlogPendingDesc = prometheus.NewDesc("hookd_deliveries_pending",
		"Pending deliveries in the store, of every tenant (read every backlog interval).", nil, nil)
	backlogAgeDesc = prometheus.NewDesc("hookd_deliveries_oldest_pending_age_seconds",
		"Age of the oldest pending delivery: how long since it was created (0 when none is pending).", nil, nil)
	backlogEndpointDesc = prometheus.NewDesc("hookd_endpoint_deliveries_pending",
		"Pending deliveries of the endpoints with the largest backlog (the engine's MetricsTopEndpoints of them).", []string{"tenant", "endpoint"}, nil)
)

type backlogCollector struct{ r *recovery }

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogPendingDesc
	ch <- backlogAgeDesc
	ch <- backlogEndpointDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.r.backlogMu.Lock()
	b := c.r.backlog
	c.r.backlogMu.Unlock()
	if b == nil {
		return // not read yet
	}
	ch <- prometheus.MustNewConstMetric(backlogPendingDesc, prometheus.GaugeValue, float64(b.Pending))
	age := 0.0
	if !b.OldestPendingAt.IsZero() {
		age = max(c.r.e.now().Sub(b.OldestPendingAt).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(backlogAgeDesc, prometheus.GaugeValue, age)
	for _, x := range b.Top {
		ch <- prometheus.MustNewConstMetric(backlogEndpointDesc, prometheus.GaugeValue, float64(x.Pending), x.Tenant, x.EndpointID)
	}
}

// backlogLoop reads the backlog at start and every BacklogInterval.
func (r *recovery) backlogLoop() {
	t := time.NewTicker(r.e.opts.BacklogInterval)
	defer t.Stop()
	for {
		r.refreshBacklog()
		select {
		case <-r.e.runCtx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *recovery) refreshBacklog() {
	ctx, cancel := context.WithTimeout(r.e.runCtx, r.e.opts.BacklogInterval)
	defer cancel()
	b, err := r.e.store.BacklogGet(ctx, max(r.e.opts.MetricsTopEndpoints, 0))
	if err != nil {
		if r.e.runCtx.Err() == nil {
			r.e.log.Warn("reading the backlog for metrics", "err", err)
		}
		return
	}
	r.backlogMu.Lock()
	r.backlog = b
	r.backlogMu.Unlock()
}
