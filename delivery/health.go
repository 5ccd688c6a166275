package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// healthTracker sums up the outcomes of each endpoint between writes of
// its health. The store holds the health (hookd.EndpointHealth) for every
// node; this node writes an endpoint's observation when its state seems
// to turn (a success after failures, a failure after successes, a 410),
// and otherwise at most every HealthRefresh, so a busy healthy endpoint
// costs one small write every few seconds, not one per attempt.
type healthTracker struct {
	mu      sync.Mutex
	pending map[string]*observed   // by endpoint id, since the last write
	known   map[string]knownHealth // what the last write returned
	poked   chan struct{}
}

type observed struct {
	o hookd.HealthObservation
	// lastOK is the latest successful attempt, for delivery.recovered.
	lastOK *hookd.Attempt
}

type knownHealth struct {
	failing bool
	// latest is the start of the latest attempt the last write covered.
	// Refreshes are timed by attempts, not by the clock of the writes: a
	// write that happens late then delays no later one.
	latest time.Time
}

// maxKnown bounds the endpoints whose health this node remembers; beyond
// it the map is dropped and rebuilt, which costs one write per endpoint.
const maxKnown = 100_000

func (h *healthTracker) init() {
	h.pending = make(map[string]*observed)
	h.known = make(map[string]knownHealth)
	h.poked = make(chan struct{}, 1)
}

// observe folds attempt a into its endpoint's observation. gone says the
// attempt disabled the endpoint (410). It reports whether the endpoint's
// state seems to turn, which is worth a write at once.
func (h *healthTracker) observe(a *hookd.Attempt, gone bool) bool {
	ok := a.Outcome == hookd.OutcomeSucceeded
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[a.EndpointID]
	if p == nil {
		p = &observed{o: hookd.HealthObservation{Tenant: a.Tenant, EndpointID: a.EndpointID}}
		h.pending[a.EndpointID] = p
	}
	p.o.Add(a.StartedAt, ok, gone)
	if ok && (p.lastOK == nil || a.StartedAt.After(p.lastOK.StartedAt)) {
		p.lastOK = a
	}
	k, seen := h.known[a.EndpointID]
	return gone || !seen || k.failing == ok
}

func (h *healthTracker) poke() {
	select {
	case h.poked <- struct{}{}:
	default:
	}
}

// take removes the observations due for a write: those of endpoints
// whose state seems to turn, seen for the first time, or with attempts
// HealthRefresh later than the last write covered; all of them when force
// is set.
func (h *healthTracker) take(refresh time.Duration, force bool) []*observed {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*observed
	for id, p := range h.pending {
		k, seen := h.known[id]
		failing := p.o.LastFailure.After(p.o.LastSuccess)
		latest := p.o.LastFailure
		if !failing {
			latest = p.o.LastSuccess
		}
		if force || !seen || p.o.Gone || k.failing != failing || (k.failing && !p.o.LastSuccess.IsZero()) ||
			latest.Sub(k.latest) >= refresh {
			out = append(out, p)
			delete(h.pending, id)
		}
	}
	return out
}

// putBack returns observations whose write failed, merged with what
// arrived meanwhile.
func (h *healthTracker) putBack(ps []*observed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range ps {
		cur := h.pending[p.o.EndpointID]
		if cur == nil {
			h.pending[p.o.EndpointID] = p
			continue
		}
		if !p.o.LastSuccess.IsZero() {
			cur.o.Add(p.o.LastSuccess, true, false)
		}
		if !p.o.FirstFailure.IsZero() {
			cur.o.Add(p.o.FirstFailure, false, false)
		}
		if !p.o.LastFailure.IsZero() {
			cur.o.Add(p.o.LastFailure, false, false)
		}
		cur.o.Gone = cur.o.Gone || p.o.Gone
		if cur.lastOK == nil || p.lastOK != nil && p.lastOK.StartedAt.After(cur.lastOK.StartedAt) {
			cur.lastOK = p.lastOK
		}
	}
}

func (h *healthTracker) learned(u *hookd.HealthUpdate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.known) >= maxKnown {
		clear(h.known)
	}
	latest := u.Health.LastFailure
	if u.Health.LastSuccess.After(latest) {
		latest = u.Health.LastSuccess
	}
	h.known[u.Health.EndpointID] = knownHealth{failing: !u.Health.FailingSince.IsZero(), latest: latest}
}

// forget drops what this node knows of an endpoint's health, after a
// person enabled or disabled it.
func (h *healthTracker) forget(id string) {
	h.mu.Lock()
	delete(h.known, id)
	h.mu.Unlock()
}

// healthLoop writes observations every HealthInterval (at once when the
// delivery path pokes it with a turn of state), and acts on what the
// store reports: an endpoint disabled (its lanes stop, operators hear of
// it) or recovered.
func (r *recovery) healthLoop() {
	t := time.NewTicker(r.e.opts.HealthInterval)
	defer t.Stop()
	// Turns of state are written at once, but no more often than this,
	// so a flapping endpoint does not write at every outcome batch.
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		select {
		case <-r.e.runCtx.Done():
			return
		case <-t.C:
		case <-r.health.poked:
		}
		r.writeHealth(false)
		pause.Reset(r.e.opts.HealthInterval / 10)
		select {
		case <-r.e.runCtx.Done():
			return
		case <-pause.C:
		}
	}
}

// writeHealth writes the observations due (all of them with force).
func (r *recovery) writeHealth(force bool) {
	e := r.e
	now := e.now()
	ps := r.health.take(e.opts.HealthRefresh, force)
	if len(ps) == 0 {
		return
	}
	obs := make([]hookd.HealthObservation, len(ps))
	byID := make(map[string]*observed, len(ps))
	for i, p := range ps {
		obs[i] = p.o
		byID[p.o.EndpointID] = p
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.runCtx), 30*time.Second)
	defer cancel()
	us, err := e.store.EndpointHealthRecordMany(ctx, hookd.HealthRecordParams{Observations: obs, Now: now, DisableAfter: max(e.opts.DisableAfter, 0)})
	if err != nil {
		e.log.Warn("recording endpoint health; trying again", "err", err)
		r.health.putBack(ps)
		return
	}
	changed := map[string]bool{}
	for i := range us {
		u := &us[i]
		r.health.learned(u)
		id, tenant := u.Health.EndpointID, u.Health.Tenant
		if u.Disabled {
			reason := "gone"
			if u.Disable {
				reason = "failing"
				changed[tenant] = true
				e.log.Warn("endpoint disabled: every attempt failed", "tenant", tenant, "endpoint", id, "since", u.Health.FailingSince, "reason", u.Reason)
			}
			r.m.disabled.WithLabelValues(reason).Inc()
			r.endpointEvent(hookd.EventEndpointDisabled, tenant, id, u.Reason, true, u.Health.DisabledAt, u.Health.FailingSince)
		}
		if u.Recovered {
			r.deliveryRecovered(u, byID[id].lastOK)
		}
	}
	for tenant := range changed {
		e.EndpointChanged(tenant)
	}
}

// EndpointToggled tells the engine that a person enabled or disabled
// endpoint ep: its health starts afresh (a streak from before no longer
// counts towards disabling it), and operators get endpoint.enabled or
// endpoint.disabled.
func (e *Engine) EndpointToggled(ctx context.Context, ep *hookd.Endpoint) {
	r := e.rec
	r.health.forget(ep.ID)
	if err := e.store.EndpointHealthReset(ctx, ep.Tenant, ep.ID); err != nil {
		e.log.Warn("resetting endpoint health", "tenant", ep.Tenant, "endpoint", ep.ID, "err", err)
	}
	typ, reason := hookd.EventEndpointEnabled, ""
	if !ep.Enabled {
		typ, reason = hookd.EventEndpointDisabled, "disabled by a person"
		if ep.DisabledReason != "" {
			reason = ep.DisabledReason
		}
	}
	r.endpointEvent(typ, ep.Tenant, ep.ID, reason, false, ep.UpdatedAt, time.Time{})
}
