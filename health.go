package hookd

import (
	"context"
	"slices"
	"time"
)

// EndpointHealth is what hookd keeps of an endpoint's recent outcomes,
// across nodes: when it last succeeded and failed, and since when every
// attempt has failed (its failing streak). An endpoint whose streak spans
// the engine's DisableAfter is disabled automatically.
type EndpointHealth struct {
	Tenant      string
	EndpointID  string
	LastSuccess time.Time
	LastFailure time.Time
	// FailingSince is the first failed attempt after the last success;
	// zero while the latest attempt succeeded.
	FailingSince time.Time
	// DisabledAt is when hookd disabled the endpoint (a 410, or a
	// streak); zero otherwise. It keeps the event about it from being
	// sent twice and, once a person enables the endpoint again, tells the
	// next observation to start its health afresh.
	DisabledAt time.Time
}

// HealthObservation sums up attempts to one endpoint seen since the engine
// last reported it: enough to move EndpointHealth on, however many
// attempts it stands for.
type HealthObservation struct {
	Tenant     string
	EndpointID string
	// LastSuccess is the start of the latest successful attempt.
	LastSuccess time.Time
	// FirstFailure is the start of the earliest failed attempt after
	// LastSuccess (zero: none), LastFailure of the latest failed one.
	FirstFailure time.Time
	LastFailure  time.Time
	// Gone says an attempt was answered 410, which disabled the endpoint.
	Gone bool
}

// Add folds one attempt, started at started, into o.
func (o *HealthObservation) Add(started time.Time, succeeded, gone bool) {
	o.Gone = o.Gone || gone
	if !succeeded {
		if started.After(o.LastFailure) {
			o.LastFailure = started
		}
		if started.After(o.LastSuccess) && (o.FirstFailure.IsZero() || started.Before(o.FirstFailure)) {
			o.FirstFailure = started
		}
		return
	}
	if !started.After(o.LastSuccess) {
		return
	}
	o.LastSuccess = started
	if !o.FirstFailure.After(started) {
		// The failures seen started before this success; those after it,
		// if any arrived out of order, are known only by the latest.
		o.FirstFailure = time.Time{}
		if o.LastFailure.After(started) {
			o.FirstFailure = o.LastFailure
		}
	}
}

// HealthRecordParams is a batch of observations for
// EndpointHealthRecordMany.
type HealthRecordParams struct {
	Observations []HealthObservation
	Now          time.Time
	// DisableAfter disables an enabled endpoint whose failing streak
	// (from FailingSince to LastFailure) lasts at least this long; 0
	// never does.
	DisableAfter time.Duration
}

// HealthUpdate is what one observation changed.
type HealthUpdate struct {
	Health EndpointHealth // after the observation
	// Recovered says the endpoint succeeded after a failing streak that
	// began at FailingSince.
	Recovered    bool
	FailingSince time.Time
	// Disable says the streak lasted DisableAfter: the store disables the
	// endpoint with Reason in the same transaction.
	Disable bool
	// Disabled says hookd disabled the endpoint (Disable, or a 410 first
	// reported now), with Reason: an endpoint.disabled event is due.
	Disabled bool
	Reason   string
}

// Observe folds o into h, given the endpoint's state now, and returns
// what changed. Stores call it under their write lock, so that of several
// nodes reporting at once exactly one learns of each change.
func (h *EndpointHealth) Observe(o HealthObservation, enabled bool, disabledReason string, now time.Time, disableAfter time.Duration) HealthUpdate {
	if enabled && !h.DisabledAt.IsZero() {
		// Enabled again since hookd disabled it: the old streak must
		// not disable it again at its first failure.
		h.DisabledAt, h.FailingSince = time.Time{}, time.Time{}
	}
	was := h.FailingSince
	if o.LastSuccess.After(h.LastSuccess) {
		h.LastSuccess = o.LastSuccess
	}
	if o.LastFailure.After(h.LastFailure) {
		h.LastFailure = o.LastFailure
	}
	switch {
	case !h.LastFailure.After(h.LastSuccess):
		h.FailingSince = time.Time{}
	case h.FailingSince.After(h.LastSuccess):
		if o.FirstFailure.After(h.LastSuccess) && o.FirstFailure.Before(h.FailingSince) {
			h.FailingSince = o.FirstFailure
		}
	case o.FirstFailure.After(h.LastSuccess):
		h.FailingSince = o.FirstFailure
	default:
		h.FailingSince = h.LastFailure
	}
	var u HealthUpdate
	if !was.IsZero() && h.LastSuccess.After(was) {
		u.Recovered, u.FailingSince = true, was
	}
	switch {
	case enabled && disableAfter > 0 && !h.FailingSince.IsZero() && h.LastFailure.Sub(h.FailingSince) >= disableAfter:
		u.Disable, u.Disabled = true, true
		u.Reason = "every attempt failed for " + disableAfter.String() + " (since " + h.FailingSince.UTC().Format(time.RFC3339) + ")"
		h.DisabledAt = now
	case !enabled && o.Gone && h.DisabledAt.IsZero():
		u.Disabled, u.Reason = true, disabledReason
		h.DisabledAt = now
	}
	u.Health = *h
	return u
}

// EndpointStatsParams asks for an endpoint's statistics.
type EndpointStatsParams struct {
	Tenant     string
	EndpointID string
	Now        time.Time
	// Window is how far back attempts count (default
	// DefaultStatsWindow), MaxAttempts how many of the newest count at
	// most (default DefaultStatsAttempts): the window is whichever is
	// shorter. MaxPending bounds the pending deliveries counted (default
	// DefaultStatsPending).
	Window      time.Duration
	MaxAttempts int
	MaxPending  int
}

// Defaults of EndpointStatsParams.
const (
	DefaultStatsWindow   = 24 * time.Hour
	DefaultStatsAttempts = 10000
	DefaultStatsPending  = 100000
)

// Normalize fills the defaults.
func (p *EndpointStatsParams) Normalize() {
	if p.Window <= 0 {
		p.Window = DefaultStatsWindow
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultStatsAttempts
	}
	if p.MaxPending <= 0 {
		p.MaxPending = DefaultStatsPending
	}
}

// EndpointStats describes an endpoint's recent deliveries. Attempt figures
// cover the attempts started in [WindowStart, AsOf): the last 24 hours, or
// the newest 10,000 attempts if there were more (Truncated), so that
// reading them costs the same on any table. Pending counts at most 100,000
// deliveries (PendingMore beyond). Last success and failure reach beyond
// the window.
type EndpointStats struct {
	EndpointID     string    `json:"endpoint_id"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	AsOf           time.Time `json:"as_of"`
	WindowStart    time.Time `json:"window_start"`
	// Truncated says the window holds only the newest attempts.
	Truncated bool `json:"truncated"`
	Attempts  int  `json:"attempts"`
	Succeeded int  `json:"succeeded"`
	Failed    int  `json:"failed"`
	// SuccessRate is Succeeded/Attempts, from 0 to 1; null without
	// attempts.
	SuccessRate *float64 `json:"success_rate"`
	// DurationP50 and DurationP99 are percentiles of attempt durations in
	// milliseconds (nearest rank); 0 without attempts.
	DurationP50 int64 `json:"duration_p50_ms"`
	DurationP99 int64 `json:"duration_p99_ms"`
	Pending     int   `json:"pending"`
	PendingMore bool  `json:"pending_more,omitempty"`
	// OldestPendingAt is when the oldest pending delivery was created
	// (of those counted), OldestPendingAge how long ago that is.
	OldestPendingAt  time.Time `json:"oldest_pending_at,omitzero"`
	OldestPendingAge Duration  `json:"oldest_pending_age"`
	LastSuccessAt    time.Time `json:"last_success_at,omitzero"`
	LastFailureAt    time.Time `json:"last_failure_at,omitzero"`
	// FailingSince is when the endpoint's current failing streak began:
	// every attempt since has failed. Absent while healthy.
	FailingSince time.Time `json:"failing_since,omitzero"`

	durations []int64
}

// AddAttempt counts one attempt of the window. Stores call it for each
// and then Finish.
func (s *EndpointStats) AddAttempt(started time.Time, durationMs int64, succeeded bool) {
	s.Attempts++
	if succeeded {
		s.Succeeded++
		if started.After(s.LastSuccessAt) {
			s.LastSuccessAt = started
		}
	} else {
		s.Failed++
		if started.After(s.LastFailureAt) {
			s.LastFailureAt = started
		}
	}
	s.durations = append(s.durations, durationMs)
}

// Finish computes the rate and percentiles, merges what h knows beyond
// the window (h may be nil), and the age of the oldest pending delivery.
func (s *EndpointStats) Finish(h *EndpointHealth) {
	if s.Attempts > 0 {
		r := float64(s.Succeeded) / float64(s.Attempts)
		s.SuccessRate = &r
		slices.Sort(s.durations)
		s.DurationP50 = nearestRank(s.durations, 50)
		s.DurationP99 = nearestRank(s.durations, 99)
	}
	s.durations = nil
	if h != nil {
		if h.LastSuccess.After(s.LastSuccessAt) {
			s.LastSuccessAt = h.LastSuccess
		}
		if h.LastFailure.After(s.LastFailureAt) {
			s.LastFailureAt = h.LastFailure
		}
		s.FailingSince = h.FailingSince
	}
	if !s.OldestPendingAt.IsZero() && s.AsOf.After(s.OldestPendingAt) {
		s.OldestPendingAge = Duration(s.AsOf.Sub(s.OldestPendingAt).Truncate(time.Millisecond))
	}
}

// nearestRank returns the p-th percentile of sorted values.
func nearestRank(sorted []int64, p int) int64 {
	i := (p*len(sorted) + 99) / 100 // ⌈p·n/100⌉
	return sorted[max(i, 1)-1]
}

// Backlog sums up the pending deliveries of every tenant, for metrics.
type Backlog struct {
	Pending int64
	// OldestPendingAt is when the oldest pending delivery was created.
	OldestPendingAt time.Time
	// Top are the endpoints with the most pending deliveries, most first.
	Top []EndpointBacklog
}

// EndpointBacklog is one endpoint's pending deliveries.
type EndpointBacklog struct {
	Tenant     string
	EndpointID string
	Pending    int64
}

// Operational event types: hookd publishes them to the operators' tenant
// (delivery.Options.OpsTenant), so that operators subscribe to them with
// ordinary endpoints.
const (
	EventEndpointDisabled  = "endpoint.disabled"
	EventEndpointEnabled   = "endpoint.enabled"
	EventDeliveryFailed    = "delivery.failed"
	EventDeliveryRecovered = "delivery.recovered"
)

// Recovery is what an engine offers besides Engine for replays and
// endpoint lifecycle; delivery.Engine implements it. The API and the
// dashboard find it with a type assertion on their Engine, so an Engine
// without it (a test's) still serves everything else.
type Recovery interface {
	// ReplayStart validates p, counts the deliveries it selects and,
	// unless p.DryRun, stores a running replay and starts it. A dry run
	// returns a Replay with no ID and only the filter and Total set.
	ReplayStart(ctx context.Context, p ReplayParams) (*Replay, error)
	// EndpointToggled tells the engine that a person enabled or disabled
	// the endpoint e (as stored after the change): its health starts
	// afresh and an endpoint.enabled or endpoint.disabled event goes to
	// the operators.
	EndpointToggled(ctx context.Context, e *Endpoint)
}
