package hookd

import (
	"slices"
	"time"
)

// A Replay redelivers, as a background job, an endpoint's past deliveries:
// those created in [Since, Until) whose state Status admits and whose
// event type matches EventTypes. It survives restarts (its progress and a
// keyset cursor into the endpoint's deliveries are stored with it), runs
// on one node at a time (a lease on the job), and never floods the
// endpoint or starves its fresh events: it hands the endpoint's lane at
// most a window of deliveries at a time, as retries, which the lane
// serves after first attempts and paces by rate_limit and max_in_flight.
//
// Replaying a delivery is what a manual retry does: it becomes pending
// and due at once, and its next attempt is counted (Done) and judged
// (Succeeded or Failed) by its outcome. Like a manual retry, a delivery
// whose retry policy is exhausted gets that one attempt; one with
// attempts left in its policy (a succeeded one, with status "all") is
// retried on its schedule if the replayed attempt fails.
type Replay struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	EndpointID string    `json:"endpoint_id"`
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until"`
	// Status is the filter given: "failed" or "all".
	Status     string   `json:"status"`
	EventTypes []string `json:"event_types"`

	State ReplayState `json:"state"`
	// Total is how many deliveries the replay redelivers: counted when it
	// was created, raised if the walk finds more (a pending delivery that
	// failed meanwhile), and exact once it is completed.
	Total int64 `json:"total"`
	// Done counts the deliveries whose replayed attempt was made (or that
	// left the pending state otherwise, e.g. by a deletion of the
	// endpoint), Succeeded and Failed split them by that attempt's
	// outcome.
	Done       int64     `json:"done"`
	Succeeded  int64     `json:"succeeded"`
	Failed     int64     `json:"failed"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// ReplayState is where a replay stands.
type ReplayState string

// Replay states. Only a running replay changes.
const (
	ReplayRunning   ReplayState = "running"
	ReplayCompleted ReplayState = "completed"
	ReplayCancelled ReplayState = "cancelled"
)

// Replay status filters.
const (
	// ReplayStatusFailed replays failed deliveries (retries exhausted).
	ReplayStatusFailed = "failed"
	// ReplayStatusAll replays every delivery that is not pending:
	// succeeded, failed and cancelled ones. Pending deliveries are on
	// their way already and are left alone.
	ReplayStatusAll = "all"
)

// PrefixReplay starts replay IDs.
const PrefixReplay = "rpl"

// ReplayParams is a request for a replay.
type ReplayParams struct {
	Tenant     string
	EndpointID string
	Since      time.Time // zero: from the oldest delivery kept
	Until      time.Time // zero: the time of the request
	Status     string    // "failed" (default) or "all"
	EventTypes []string  // exact types or dotted prefixes ending in *; none: all
	// DryRun only counts: nothing is stored or sent.
	DryRun bool
}

// MaxReplayEventTypes bounds the event type patterns of one replay.
const MaxReplayEventTypes = 64

// Normalize fills the defaults: Until is now, Status is "failed".
func (p *ReplayParams) Normalize(now time.Time) {
	if p.Until.IsZero() {
		p.Until = now
	}
	if p.Status == "" {
		p.Status = ReplayStatusFailed
	}
	p.Since, p.Until = p.Since.UTC(), p.Until.UTC()
	if len(p.EventTypes) == 1 && p.EventTypes[0] == "*" {
		p.EventTypes = nil
	}
}

// Validate reports every invalid field of p at once. There is no bound on
// the window or the number of deliveries: a replay reaches back as far as
// retention keeps deliveries.
func (p *ReplayParams) Validate() error {
	var v Validation
	if !ValidTenantID(p.Tenant) {
		v.Add("tenant", "must match [A-Za-z0-9_.-]{1,64}")
	}
	if p.EndpointID == "" {
		v.Add("endpoint_id", "is required")
	}
	if !p.Since.IsZero() && !p.Since.Before(p.Until) {
		v.Add("until", "must be after since")
	}
	if p.Status != ReplayStatusFailed && p.Status != ReplayStatusAll {
		v.Add("status", "must be %q or %q", ReplayStatusFailed, ReplayStatusAll)
	}
	if len(p.EventTypes) > MaxReplayEventTypes {
		v.Add("event_types", "at most %d patterns", MaxReplayEventTypes)
	}
	for _, t := range p.EventTypes {
		if !patternRe.MatchString(t) {
			v.Add("event_types", "%q is not an event type or a dotted prefix ending in *", t)
			break
		}
	}
	return v.Err()
}

// Filter returns the deliveries p selects.
func (p *ReplayParams) Filter() ReplayFilter {
	return ReplayFilter{Tenant: p.Tenant, EndpointID: p.EndpointID, Since: p.Since, Until: p.Until,
		Status: p.Status, EventTypes: slices.Clone(p.EventTypes)}
}

// ReplayFilter selects deliveries of one endpoint: created at or after
// Since (zero: any) and before Until, in a state Status admits, of an
// event whose type matches one of EventTypes (none: any).
type ReplayFilter struct {
	Tenant     string
	EndpointID string
	Since      time.Time
	Until      time.Time
	Status     string
	EventTypes []string
}

// Filter returns the deliveries r selects.
func (r *Replay) Filter() ReplayFilter {
	return ReplayFilter{Tenant: r.Tenant, EndpointID: r.EndpointID, Since: r.Since, Until: r.Until,
		Status: r.Status, EventTypes: r.EventTypes}
}

// Match reports whether a delivery in state st, of an event of type typ,
// is selected (its endpoint and creation time are the store's to check).
func (f *ReplayFilter) Match(st DeliveryState, typ string) bool {
	switch f.Status {
	case ReplayStatusAll:
		if st == StatePending {
			return false
		}
	default:
		if st != StateFailed {
			return false
		}
	}
	if len(f.EventTypes) == 0 {
		return true
	}
	for _, p := range f.EventTypes {
		if MatchEventType(p, typ) {
			return true
		}
	}
	return false
}

// NeedsType reports whether Match looks at the event type, so a store can
// skip reading it.
func (f *ReplayFilter) NeedsType() bool { return len(f.EventTypes) > 0 }

// ReplayListParams filters ReplayList (newest first).
type ReplayListParams struct {
	ListParams
	Tenant     string
	EndpointID string // optional
}

// ReplayClaimParams says which replays ReplayClaimMany may lease: running
// ones whose lease is free, expired at Now, or Owner's already.
type ReplayClaimParams struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Max        int
}

// ReplayStepParams advance a replay Owner holds (see ReplayStep).
type ReplayStepParams struct {
	ID         string
	Owner      string
	Now        time.Time // fed deliveries are due at Now
	LeaseUntil time.Time // the renewed lease
	// Window bounds the fed deliveries not yet settled (at least 1).
	Window int
	// Scan bounds the deliveries the walk examines in one step (default
	// DefaultReplayScan), so that one step never holds the store long
	// when few deliveries match.
	Scan int
}

// DefaultReplayScan is the default of ReplayStepParams.Scan and the page
// size of ReplayCount.
const DefaultReplayScan = 1000

// ReplayStepResult is what one step did.
type ReplayStepResult struct {
	Replay *Replay
	// Fed lists the deliveries this step made pending.
	Fed []string
	// More says the walk stopped at Scan with room left in the window:
	// step again without waiting.
	More bool
}
