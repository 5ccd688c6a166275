package hookdtest

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a fake clock: time stands still until Advance or Set moves it,
// and its timers fire when it passes their deadline. Its Now and NewTimer
// methods fit the Now and NewTimer fields of delivery.Options, so a test of
// a five-hour retry schedule runs in milliseconds. It is safe for
// concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a channel that receives the clock's time once d has
// passed on the clock (at once if d ≤ 0), and a function that stops the
// timer, reporting whether it was still pending.
func (c *Clock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
		return t.c, func() bool { return false }
	}
	c.timers = append(c.timers, t)
	return t.c, func() bool { return c.stop(t) }
}

func (c *Clock) stop(t *fakeTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d, firing due timers in deadline
// order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.set(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the clock to t (never backwards), firing due timers.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.set(t)
	}
	c.mu.Unlock()
}

func (c *Clock) set(t time.Time) {
	c.now = t
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	keep := c.timers[:0]
	for _, x := range c.timers {
		if x.at.After(t) {
			keep = append(keep, x)
			continue
		}
		x.c <- t
	}
	clear(c.timers[len(keep):])
	c.timers = keep
}

// Pending returns the deadlines of the timers not yet fired, earliest
// first.
func (c *Clock) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.timers))
	for i, x := range c.timers {
		out[i] = x.at
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// SkewClock is the real clock moved ahead by Advance: time passes as
// usual, so timestamps a store takes itself agree with it, and a test can
// still jump past a TTL or an expiry. Its Now fits the Now fields of
// delivery.Options, api.Config and ui.Config. It is safe for concurrent
// use; the zero value reads the real time.
type SkewClock struct{ offset atomic.Int64 }

// Now returns the real time plus the offset.
func (c *SkewClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock d ahead of where it was.
func (c *SkewClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
