package delivery

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// Replays. A replay is a job in the store (hookd.Replay); every node runs
// a loop that leases running replays (at most ReplayWorkers at a time) and
// a runner per leased replay that steps it: each step, one store
// transaction, counts the deliveries it fed that have been attempted since
// and feeds more while fewer than a window are outstanding. The window is
// four times the endpoint's max_in_flight (16 to 1000), so a replay
// never holds more of the endpoint's deliveries pending than its lane can
// soon send, whatever the replay's size.
//
// Fed deliveries are ordinary pending deliveries with attempts behind
// them: the poller claims them and their lane serves them as retries,
// after first attempts (every fourth pick excepted) and within the
// endpoint's rate_limit and max_in_flight. Fresh events therefore go
// first, and a replay of a million deliveries costs the store a window at
// a time. (With a shared store, where fresh deliveries too are claimed
// rather than dispatched at publish, claims take the oldest due first: a
// fresh event then waits at most behind the window fed before it.) A runner steps again as soon as outcomes are recorded (at most
// every replayMinStep), and at least every replayMaxStep, which renews
// its lease; a node that dies loses nothing but the lease's time, after
// which another node resumes the replay from its stored cursor.

const (
	replayMinStep = 20 * time.Millisecond
	replayMaxStep = time.Second
	maxMarks      = 100_000
)

var _ hookd.Recovery = (*Engine)(nil)

// ReplayStart validates p, counts what it selects and, unless p.DryRun,
// stores the replay and starts it on this node (or whichever node claims
// it first). It implements hookd.Recovery.
func (e *Engine) ReplayStart(ctx context.Context, p hookd.ReplayParams) (*hookd.Replay, error) {
	now := e.now()
	p.Normalize(now)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := p.Filter()
	count, err := e.store.ReplayCount(ctx, f)
	if err != nil {
		return nil, err
	}
	r := &hookd.Replay{
		Tenant: p.Tenant, EndpointID: p.EndpointID, Since: p.Since, Until: p.Until, Status: p.Status,
		EventTypes: f.EventTypes, Total: count,
	}
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	if p.DryRun {
		return r, nil
	}
	if !e.running() {
		return nil, hookd.Errorf(hookd.EUNAVAILABLE, "the delivery engine is not running")
	}
	r.ID, r.State, r.CreatedAt, r.UpdatedAt = hookd.NewID(hookd.PrefixReplay), hookd.ReplayRunning, now, now
	if err := e.store.ReplayInsert(ctx, r); err != nil {
		return nil, err
	}
	select {
	case e.rec.replayKick <- struct{}{}:
	default:
	}
	return r, nil
}

// replayLoop leases running replays and starts their runners: at start,
// every ReplayPoll, and when a replay is created here.
func (r *recovery) replayLoop() {
	e := r.e
	t := time.NewTicker(e.opts.ReplayPoll)
	defer t.Stop()
	for {
		r.claimReplays()
		select {
		case <-e.runCtx.Done():
			return
		case <-t.C:
		case <-r.replayKick:
		}
	}
}

func (r *recovery) claimReplays() {
	e := r.e
	r.replayMu.Lock()
	room := e.opts.ReplayWorkers - len(r.replaying)
	r.replayMu.Unlock()
	if room <= 0 {
		return
	}
	now := e.now()
	rs, err := e.store.ReplayClaimMany(e.runCtx, hookd.ReplayClaimParams{
		Owner: e.opts.Owner, Now: now, LeaseUntil: now.Add(e.opts.ReplayLease), Max: room,
	})
	if err != nil {
		if e.runCtx.Err() == nil {
			e.log.Warn("claiming replays", "err", err)
		}
		return
	}
	for _, rp := range rs {
		r.replayMu.Lock()
		_, running := r.replaying[rp.ID]
		wake := make(chan struct{}, 1)
		if !running {
			r.replaying[rp.ID] = wake
		}
		r.replayMu.Unlock()
		if running {
			continue // claiming renewed the lease of a replay already running here
		}
		r.m.replays.Inc()
		e.loops.Go(func() { r.runReplay(rp, wake) })
	}
}

// wakeReplays tells every runner that outcomes were recorded.
func (r *recovery) wakeReplays() {
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	for _, c := range r.replaying {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// runReplay steps one replay until it is over, cancelled, taken by
// another node, or the engine stops.
func (r *recovery) runReplay(rp *hookd.Replay, wake chan struct{}) {
	e := r.e
	defer func() {
		r.replayMu.Lock()
		delete(r.replaying, rp.ID)
		r.replayMu.Unlock()
		r.m.replays.Dec()
	}()
	e.log.Info("replay running", "replay", rp.ID, "tenant", rp.Tenant, "endpoint", rp.EndpointID, "total", rp.Total)
	retry := replayMaxStep
	for e.runCtx.Err() == nil {
		now := e.now()
		res, err := e.store.ReplayStep(e.runCtx, hookd.ReplayStepParams{
			ID: rp.ID, Owner: e.opts.Owner, Now: now, LeaseUntil: now.Add(e.opts.ReplayLease),
			Window: r.replayWindow(rp),
		})
		switch code := hookd.ErrorCode(err); {
		case err == nil:
			retry = replayMaxStep
		case code == hookd.ECONFLICT || code == hookd.ENOTFOUND:
			e.log.Info("replay taken over or gone", "replay", rp.ID, "err", err)
			return
		default:
			if e.runCtx.Err() != nil {
				return
			}
			e.log.Warn("replay step failed; trying again", "replay", rp.ID, "err", err)
			if !r.replayWait(wake, retry, false) {
				return
			}
			retry = min(2*retry, e.opts.ReplayLease/3)
			continue
		}
		if len(res.Fed) > 0 {
			r.mark(res.Fed)
			r.m.replayFed.Add(float64(len(res.Fed)))
			e.kick()
		}
		if res.Replay.State != hookd.ReplayRunning {
			got := res.Replay
			e.log.Info("replay "+string(got.State), "replay", got.ID, "total", got.Total, "succeeded", got.Succeeded, "failed", got.Failed)
			return
		}
		if res.More {
			continue
		}
		if !r.replayWait(wake, replayMaxStep, true) {
			return
		}
	}
}

// replayWait waits for a wake-up (when woken is set) or d, then at least
// replayMinStep, so that a burst of outcomes makes one step. It reports
// false when the engine stops.
func (r *recovery) replayWait(wake chan struct{}, d time.Duration, woken bool) bool {
	done := r.e.runCtx.Done()
	t := time.NewTimer(d)
	defer t.Stop()
	if !woken {
		wake = nil
	}
	select {
	case <-done:
		return false
	case <-wake:
	case <-t.C:
		return true
	}
	t.Reset(replayMinStep)
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

// replayWindow is how many of the replay's deliveries may be outstanding:
// four times the endpoint's max_in_flight, from 16 to 1000.
func (r *recovery) replayWindow(rp *hookd.Replay) int {
	c, err := r.e.conf(r.e.runCtx, rp.Tenant, rp.EndpointID)
	if err != nil || c == nil {
		return 1 // the step finds out what became of the endpoint
	}
	return min(max(4*c.ep.MaxInFlight, 16), 1000)
}

// mark remembers deliveries a local replay fed, so that their attempt is
// recorded as manual (and so sends no delivery.failed).
func (r *recovery) mark(ids []string) {
	if r.nmarks.Load() > maxMarks {
		// Fed here, attempted elsewhere (another node claimed them):
		// the marks only make attempts manual, so start over.
		r.marks.Clear()
		r.nmarks.Store(0)
	}
	for _, id := range ids {
		if _, loaded := r.marks.LoadOrStore(id, struct{}{}); !loaded {
			r.nmarks.Add(1)
		}
	}
}

// takeMark reports (once) whether delivery id was fed by a local replay.
// It costs an atomic load while no replay runs here.
func (r *recovery) takeMark(id string) bool {
	if r.nmarks.Load() == 0 {
		return false
	}
	if _, ok := r.marks.LoadAndDelete(id); ok {
		r.nmarks.Add(-1)
		return true
	}
	return false
}
