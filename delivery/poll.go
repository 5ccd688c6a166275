package delivery

import (
	"container/heap"
	"slices"
	"time"

	"github.com/hookd/hookd"
)

// The poller claims due deliveries from the store. Fresh deliveries do not
// need it on a single node (they are dispatched from memory at publish); it
// serves retries, whose timer this node set when it recorded the failure,
// deliveries that did not fit their lane, deliveries announced by other
// nodes (Waker), and, through a periodic sweep, whatever nobody announced:
// expired leases of dead nodes, a restart's backlog.

// schedBucket rounds retry times up, so that deliveries due within the
// same few milliseconds share one timer, and a timer never fires before
// the time it stands for.
const schedBucket = 10 * time.Millisecond

// maxScheduled bounds the retry times kept; beyond it the sweep finds the
// rest, within PollInterval.
const maxScheduled = 100_000

// claimAhead is how early the retry timer fires: the poller claims what
// will be due by the retry's time (a claim with Now set to it) and the lane
// holds the delivery until that time. The claim's own latency (a store
// write) then no longer delays the request.
const claimAhead = 100 * time.Millisecond

type timeHeap []int64

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule arms the poller for a retry due at t.
func (e *Engine) schedule(t time.Time) {
	b := t.Truncate(schedBucket)
	if b.Before(t) {
		b = b.Add(schedBucket)
	}
	k := b.UnixNano()
	e.schedMu.Lock()
	if _, dup := e.schedSet[k]; dup || len(e.sched) >= maxScheduled {
		e.schedMu.Unlock()
		return
	}
	e.schedSet[k] = struct{}{}
	heap.Push(&e.sched, k)
	first := e.sched[0] == k
	e.schedMu.Unlock()
	if first {
		select {
		case e.rearm <- struct{}{}:
		default:
		}
	}
}

// nextScheduled returns the earliest scheduled retry time.
func (e *Engine) nextScheduled() (time.Time, bool) {
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	if len(e.sched) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, e.sched[0]), true
}

// popScheduled drops the retry times up to now.
func (e *Engine) popScheduled(now time.Time) {
	n := now.UnixNano()
	e.schedMu.Lock()
	for len(e.sched) > 0 && e.sched[0] <= n {
		delete(e.schedSet, heap.Pop(&e.sched).(int64))
	}
	e.schedMu.Unlock()
}

// kick asks the poller to claim now.
func (e *Engine) kick() {
	select {
	case e.kickc <- struct{}{}:
	default:
	}
}

func (e *Engine) poll() {
	sweepC, sweepStop := e.opts.NewTimer(e.opts.PollInterval)
	var (
		retryC    <-chan time.Time
		retryStop func() bool
		armed     time.Time
	)
	defer func() {
		sweepStop()
		if retryStop != nil {
			retryStop()
		}
	}()
	var wake <-chan struct{}
	if e.waker != nil {
		wake = e.waker.Wakeups()
	}
	e.claim()
	for {
		if at, ok := e.nextScheduled(); ok && (armed.IsZero() || at.Before(armed)) {
			if retryStop != nil {
				retryStop()
			}
			retryC, retryStop = e.opts.NewTimer(at.Sub(e.now()) - claimAhead)
			armed = at
		}
		select {
		case <-e.runCtx.Done():
			return
		case <-sweepC:
			sweepC, sweepStop = e.opts.NewTimer(e.opts.PollInterval)
			e.claim()
		case <-retryC:
			at := armed
			retryC, retryStop, armed = nil, nil, time.Time{}
			e.popScheduled(at)
			e.claimAt(at)
		case <-e.kickc:
			e.claim()
		case <-wake:
			e.claim()
		case <-e.rearm:
		}
	}
}

// maxClaimRounds bounds the claims one wake-up makes in a row, so that the
// poller still notices timers and shutdown during a long backlog.
const maxClaimRounds = 64

// claim leases due deliveries in batches and queues them in their lanes,
// skipping endpoints whose lanes are full.
func (e *Engine) claim() { e.claimAt(time.Time{}) }

// claimAt claims what is due by at (or now, if later). Deliveries claimed
// before they are due wait in their lane until then.
func (e *Engine) claimAt(at time.Time) {
	for range maxClaimRounds {
		if e.stopping.Load() {
			return
		}
		now := e.now()
		if at.After(now) {
			now = at
		}
		until := now.Add(e.claimTimeout() + e.opts.LeaseMargin)
		skip, backlogged := e.fullLanes()
		claims, err := e.store.DeliveryClaimMany(e.runCtx, hookd.DeliveryClaimParams{
			Owner:         e.opts.Owner,
			Now:           now,
			LeaseUntil:    until,
			Max:           e.opts.ClaimBatch,
			SkipEndpoints: skip,
			Ahead:         e.ahead(backlogged, skip),
		})
		if err != nil {
			if e.runCtx.Err() == nil {
				e.log.Warn("claiming deliveries", "err", err)
			}
			return
		}
		e.m.claimed.Add(float64(len(claims)))
		got := e.dispatchClaims(claims, until)
		if len(claims) < e.opts.ClaimBatch && e.waker == nil && newLanes(got, backlogged) {
			// Lanes that had no allowance beyond MaxInFlight (not yet
			// known to be backlogged) get theirs in the next round.
			continue
		}
		if len(claims) < e.opts.ClaimBatch {
			// The store had no more to give: lanes that got nothing and
			// were not held back by their own MaxInFlight have no
			// backlog left.
			for _, l := range backlogged {
				if !got[l] && !slices.Contains(skip, l.id) {
					e.clearBacklog(l)
				}
			}
			return
		}
	}
	e.kick() // more remain: continue after a look at the other channels
}

// newLanes reports whether a lane in got is not among backlogged.
func newLanes(got map[*lane]bool, backlogged []*lane) bool {
	for l := range got {
		if !slices.Contains(backlogged, l) {
			return true
		}
	}
	return false
}

// fullLanes returns the endpoints to skip (lanes with a backlog and no
// room) and the lanes with a backlog.
func (e *Engine) fullLanes() (skip []string, backlogged []*lane) {
	e.lanesMu.Lock()
	for l := range e.backlogs {
		backlogged = append(backlogged, l)
	}
	e.lanesMu.Unlock()
	for _, l := range backlogged {
		if l.full() {
			skip = append(skip, l.id)
		}
	}
	return skip, backlogged
}

// maxAhead bounds how many deliveries beyond MaxInFlight a claim leases to
// a lane: enough to keep the lane busy while the outcomes of those in
// flight are written and the next claim runs, few enough to keep a large
// backlog in the store rather than in memory.
const maxAhead = 2048

// ahead is the claim's allowance beyond MaxInFlight for the backlogged
// lanes that have room. Only a store this node owns alone gets one: on a
// shared store, leases are how nodes keep MaxInFlight between them. The
// allowance is what lets a backlog drain at the lane's pace instead of one
// claim per MaxInFlight outcomes.
func (e *Engine) ahead(backlogged []*lane, skip []string) map[string]int {
	if e.waker != nil || len(backlogged) == 0 {
		return nil
	}
	m := make(map[string]int, len(backlogged))
	for _, l := range backlogged {
		if !slices.Contains(skip, l.id) {
			m[l.id] = l.aheadRoom()
		}
	}
	return m
}

func (e *Engine) setBacklog(l *lane) {
	l.markBacklog()
	e.lanesMu.Lock()
	e.backlogs[l] = struct{}{}
	e.lanesMu.Unlock()
}

// clearBacklog forgets that the store holds due deliveries of l, after a
// claim gave it none. A lane holding as many leases as make done() hold
// back a claim may have got none for that reason alone (the store counts
// its leases), so it stays backlogged: the outcome that takes it below
// the mark asks for the next claim. Clearing it there would strand the
// store's deliveries until the next sweep.
func (e *Engine) clearBacklog(l *lane) {
	l.mu.Lock()
	capped := l.leased >= l.claimBelowLocked()
	if !capped {
		l.backlog = false
	}
	l.mu.Unlock()
	if !capped {
		e.lanesMu.Lock()
		delete(e.backlogs, l)
		e.lanesMu.Unlock()
	}
}

// dispatchClaims queues claimed deliveries, returning the lanes that got
// some.
func (e *Engine) dispatchClaims(claims []hookd.Claim, until time.Time) map[*lane]bool {
	got := make(map[*lane]bool)
	events := make(map[string]*eventRef)
	for _, c := range claims {
		d := c.Delivery
		conf, err := e.conf(e.runCtx, d.Tenant, d.EndpointID)
		if err != nil || conf == nil {
			// Its lease expires and a later claim tries again.
			e.log.Warn("claimed a delivery of an unknown endpoint", "delivery", d.ID, "endpoint", d.EndpointID, "err", err)
			continue
		}
		key := d.Tenant + "\x00" + d.EventID
		ref := events[key]
		if ref == nil {
			ref = &eventRef{ev: c.Event}
			events[key] = ref
		}
		j := &job{d: d, ev: ref, lane: conf.lane, leaseUntil: until, notBefore: d.NextAttemptAt, manual: e.takeManual(d.ID)}
		if !e.hold(j) {
			continue // held here already (see hold)
		}
		if !got[conf.lane] {
			got[conf.lane] = true
			e.setBacklog(conf.lane)
		}
		conf.lane.push(j, false)
	}
	return got
}

// takeManual reports (once) whether a person asked for delivery id.
func (e *Engine) takeManual(id string) bool {
	e.heldMu.Lock()
	defer e.heldMu.Unlock()
	if _, ok := e.manual[id]; ok {
		delete(e.manual, id)
		return true
	}
	return false
}
