package delivery

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookd/hookd"
)

// job is one leased delivery waiting for, or making, its attempt.
type job struct {
	d      *hookd.Delivery
	ev     *eventRef
	lane   *lane
	manual bool // asked for by a person: retry, ping
	// notBefore holds back a delivery claimed ahead of its time.
	notBefore time.Time
	// leaseUntil is guarded by Engine.heldMu: a claim that finds the
	// delivery already held renews it.
	leaseUntil time.Time
	// ended (guarded by Engine.heldMu) is set once the job's outcome
	// (attempted) or its release is about to be written: from then on a
	// claim of the delivery may be a new lease, not a renewal of this one.
	ended, attempted bool
}

// eventRef is an event shared by the jobs it fanned out to, with its
// default body rendered once for all of them.
type eventRef struct {
	ev   *hookd.Event
	once sync.Once
	body []byte
	err  error
}

func (r *eventRef) defaultBody(render func(*hookd.Event) ([]byte, error)) ([]byte, error) {
	r.once.Do(func() { r.body, r.err = render(r.ev) })
	return r.body, r.err
}

// lane is one endpoint's queue and limits. At most MaxInFlight workers send
// at once, each waiting for the rate limiter first; the queue holds leased
// deliveries in memory, bounded so that nothing waits there longer than
// about half its lease margin. Lanes share nothing, so a slow, dead or
// rate-limited endpoint delays only its own deliveries.
type lane struct {
	e  *Engine
	id string

	mu      sync.Mutex
	conf    *epConf
	limiter *rate.Limiter // nil: unlimited
	fresh   fifo          // first attempts, manual ones in front
	retry   fifo          // later attempts
	picks   uint
	// reserved counts deliveries leased at publish whose commit is under
	// way; leased counts every delivery this node holds for the lane
	// (reserved, queued, in flight, or waiting for its outcome's write).
	reserved, leased, workers int
	// backlog is set when the store probably holds due deliveries of this
	// endpoint that the lane had no room for.
	backlog bool
	latency time.Duration // moving average of attempt durations
}

// laneFor returns the lane of endpoint id, made on first use, and gives it
// conf.
func (e *Engine) laneFor(id string, conf *epConf) *lane {
	e.lanesMu.Lock()
	l := e.lanes[id]
	if l == nil {
		l = &lane{e: e, id: id}
		e.lanes[id] = l
	}
	e.lanesMu.Unlock()
	l.setConf(conf)
	return l
}

// endpointGone forgets the lane of a deleted endpoint once it is idle.
func (e *Engine) endpointGone(id string) {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	if l := e.lanes[id]; l != nil && l.isIdle() {
		delete(e.lanes, id)
	}
}

func (l *lane) setConf(c *epConf) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conf = c
	r := c.ep.RateLimit
	switch {
	case r <= 0:
		l.limiter = nil
	case l.limiter == nil:
		l.limiter = rate.NewLimiter(rate.Limit(r), burst(r))
	default:
		l.limiter.SetLimit(rate.Limit(r))
		l.limiter.SetBurst(burst(r))
	}
	l.startWorkersLocked()
}

// burst lets a rate-limited lane send at most a tenth of a second's worth
// of requests back to back.
func burst(r float64) int { return max(1, int(r/10)) }

func (l *lane) isIdle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leased == 0 && l.workers == 0
}

// capacityLocked is how many deliveries the lane may hold besides those in
// flight: few enough that, at the endpoint's pace (its latency spread over
// MaxInFlight workers, or its rate limit), the last waits no longer than
// half the lease margin. Before the first attempt tells the latency, the
// lane assumes a fast endpoint: a first burst to a slow one leases more
// than it can send, and what waits too long is handed back unsent (see
// attempt), which costs a release but never a late request.
func (l *lane) capacityLocked() int {
	c := float64(l.e.opts.LaneCapacity)
	budget := l.e.opts.LeaseMargin / 2
	if l.latency > 0 {
		c = math.Min(c, float64(l.conf.ep.MaxInFlight)*float64(budget)/float64(l.latency))
	}
	if r := l.conf.ep.RateLimit; r > 0 {
		c = math.Min(c, r*budget.Seconds())
	}
	return max(int(c), 1)
}

func (l *lane) queuedLocked() int { return l.fresh.len() + l.retry.len() }

// full reports whether the lane has no room for claims.
func (l *lane) full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queuedLocked()+l.reserved >= l.capacityLocked()
}

// reserve takes room for one delivery about to be inserted leased to this
// node. It fails when the lane is full or the endpoint disabled; the
// delivery is then inserted unleased, for the poller.
func (l *lane) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.conf.ep.Enabled || l.queuedLocked()+l.reserved >= l.capacityLocked() {
		return false
	}
	l.reserved++
	l.leased++
	return true
}

// unreserve gives back a reservation whose delivery was not stored.
func (l *lane) unreserve() {
	l.mu.Lock()
	l.reserved--
	l.leased--
	l.mu.Unlock()
}

// markBacklog notes that the store holds due deliveries of the lane.
func (l *lane) markBacklog() {
	l.mu.Lock()
	l.backlog = true
	l.mu.Unlock()
}

// push queues a leased job; reserved says it was reserved at publish.
func (l *lane) push(j *job, reserved bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reserved {
		l.reserved--
	} else {
		l.leased++
	}
	switch {
	case j.manual:
		l.fresh.pushFront(j)
	case j.d.Attempts == 0:
		l.fresh.push(j)
	default:
		l.retry.push(j)
	}
	l.startWorkersLocked()
}

// sendNow makes j's attempt at once, beside the lane's workers: a ping is
// a person waiting for an answer, and one request beyond max_in_flight is
// a small price for not queueing it behind a slow endpoint's requests.
func (l *lane) sendNow(j *job) {
	l.mu.Lock()
	l.leased++
	c := l.conf
	l.mu.Unlock()
	l.e.workers.Add(1)
	go func() {
		defer l.e.workers.Done()
		l.e.attempt(c, j)
	}()
}

// startWorkersLocked starts workers up to MaxInFlight while jobs wait.
func (l *lane) startWorkersLocked() {
	if l.e.stopping.Load() {
		return
	}
	for l.workers < l.conf.ep.MaxInFlight && l.workers < l.queuedLocked() {
		l.workers++
		l.e.workers.Add(1)
		go l.work()
	}
}

// popLocked takes the next job. First attempts go first, so a burst of
// retries cannot starve fresh events; every fourth pick serves a retry, so
// fresh events cannot starve retries either.
func (l *lane) popLocked() *job {
	l.picks++
	if l.retry.len() > 0 && (l.fresh.len() == 0 || l.picks%4 == 0) {
		return l.retry.pop()
	}
	return l.fresh.pop()
}

func (l *lane) work() {
	defer l.e.workers.Done()
	for {
		l.mu.Lock()
		if l.e.stopping.Load() || l.workers > l.conf.ep.MaxInFlight || l.queuedLocked() == 0 {
			l.workers--
			l.mu.Unlock()
			return
		}
		j := l.popLocked()
		c, lim := l.conf, l.limiter
		l.mu.Unlock()

		if !c.ep.Enabled && !j.manual {
			// Disabled: hand the delivery back; it stays pending and
			// the store leases it again once the endpoint is enabled.
			l.e.release(j)
			continue
		}
		if !l.e.waitUntil(j.notBefore) {
			l.e.release(j) // shutting down
			continue
		}
		if lim != nil && !j.manual {
			if err := lim.Wait(l.e.runCtx); err != nil {
				l.e.release(j) // shutting down
				continue
			}
		}
		l.e.attempt(c, j)
	}
}

// observe feeds an attempt's duration into the lane's latency average.
func (l *lane) observe(d time.Duration) {
	l.mu.Lock()
	if l.latency == 0 {
		l.latency = d
	} else {
		l.latency = (4*l.latency + d) / 5
	}
	l.mu.Unlock()
}

// disable stops the lane sending at once after a 410, before the store and
// a reload confirm it.
func (l *lane) disable(reason string) {
	l.mu.Lock()
	ep := *l.conf.ep
	ep.Enabled, ep.DisabledReason = false, reason
	c := *l.conf
	c.ep = &ep
	l.conf = &c
	l.mu.Unlock()
}

// aheadRoom is how many deliveries beyond MaxInFlight the lane may lease
// on a store this node owns alone (see Engine.ahead): what its queue has
// room for at the endpoint's pace, at most maxAhead. Until an attempt has
// told the pace, only MaxInFlight more: a slow endpoint's lane must not
// lease thousands it would hand back unsent when their leases run short.
func (l *lane) aheadRoom() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.aheadRoomLocked()
}

func (l *lane) aheadRoomLocked() int {
	if l.latency == 0 {
		return min(maxAhead, l.conf.ep.MaxInFlight)
	}
	return min(maxAhead, l.capacityLocked())
}

// leaseLimitLocked is the most deliveries the lane leases: MaxInFlight,
// and on a store this node owns alone the allowance beyond it.
func (l *lane) leaseLimitLocked() int {
	if l.e.waker != nil {
		return l.conf.ep.MaxInFlight
	}
	return l.conf.ep.MaxInFlight + l.aheadRoomLocked()
}

// claimBelowLocked is the number of leases under which a backlogged lane
// wants a claim: MaxInFlight, plus half of the allowance beyond it on a
// store this node owns alone.
func (l *lane) claimBelowLocked() int {
	mif := l.conf.ep.MaxInFlight
	return mif + (l.leaseLimitLocked()-mif)/2
}

// done accounts for a job whose outcome was written or whose lease was
// released. It reports whether the lane now wants a claim: the store holds
// more of its deliveries and the lane's leases fell below claimBelowLocked.
func (l *lane) done() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leased--
	return l.backlog && l.leased < l.claimBelowLocked()
}

// fifo is a queue of jobs on a slice.
type fifo struct {
	buf  []*job
	head int
}

func (q *fifo) len() int { return len(q.buf) - q.head }

func (q *fifo) push(j *job) { q.buf = append(q.buf, j) }

func (q *fifo) pushFront(j *job) {
	if q.head > 0 {
		q.head--
		q.buf[q.head] = j
		return
	}
	q.buf = append([]*job{j}, q.buf...)
}

func (q *fifo) pop() *job {
	if q.len() == 0 {
		return nil
	}
	j := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	} else if q.head > 1024 && q.head > len(q.buf)/2 {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return j
}
