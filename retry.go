package hookd

import (
	"math"
	"time"
)

// RetryPolicy says when the attempts after the first are made. Exactly one
// of Schedule and Backoff is set (Normalize supplies the default schedule).
type RetryPolicy struct {
	// Schedule lists the delay before the 2nd, 3rd … attempt, each counted
	// from the end of the previous one: len(Schedule)+1 attempts in all.
	Schedule []Duration `json:"schedule,omitempty"`
	// Backoff grows delays geometrically instead.
	Backoff *Backoff `json:"backoff,omitempty"`
	// Jitter spreads each delay uniformly by ±Jitter of itself (0 to 1).
	Jitter float64 `json:"jitter,omitempty"`
}

// Backoff is an exponential retry policy: the n-th retry waits
// Initial·Multiplier^(n-1), capped at MaxDelay; no attempt starts later than
// MaxAge after the first, and at most MaxAttempts are made when set.
type Backoff struct {
	Initial     Duration `json:"initial"`
	Multiplier  float64  `json:"multiplier"`
	MaxDelay    Duration `json:"max_delay,omitempty"`
	MaxAge      Duration `json:"max_age,omitempty"`
	MaxAttempts int      `json:"max_attempts,omitempty"`
}

// MaxScheduleLength bounds retry schedules.
const MaxScheduleLength = 100

// DefaultRetryPolicy is used when an endpoint names none.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Schedule: []Duration{
		Duration(5 * time.Second), Duration(5 * time.Minute), Duration(30 * time.Minute),
		Duration(2 * time.Hour), Duration(5 * time.Hour), Duration(10 * time.Hour), Duration(10 * time.Hour),
	}}
}

// IsZero reports whether no policy was given.
func (p RetryPolicy) IsZero() bool {
	return p.Schedule == nil && p.Backoff == nil && p.Jitter == 0
}

// Next returns when the attempt after the n-th (n ≥ 1) should start, given
// that the first attempt started at first and the n-th ended at now. ok is
// false when the policy allows no further attempt. rnd, in [0,1), drives
// jitter; pass 0.5 for none.
func (p RetryPolicy) Next(n int, first, now time.Time, rnd float64) (at time.Time, ok bool) {
	var d time.Duration
	switch {
	case p.Backoff != nil:
		b := p.Backoff
		if b.MaxAttempts > 0 && n >= b.MaxAttempts {
			return time.Time{}, false
		}
		f := float64(b.Initial) * math.Pow(b.Multiplier, float64(n-1))
		if b.MaxDelay > 0 && f > float64(b.MaxDelay) {
			f = float64(b.MaxDelay)
		}
		if f > float64(math.MaxInt64/2) {
			f = float64(math.MaxInt64 / 2)
		}
		d = time.Duration(f)
	default:
		if n < 1 || n > len(p.Schedule) {
			return time.Time{}, false
		}
		d = time.Duration(p.Schedule[n-1])
	}
	if p.Jitter > 0 {
		d += time.Duration(float64(d) * p.Jitter * (2*rnd - 1))
	}
	at = now.Add(d)
	if p.Backoff != nil && p.Backoff.MaxAge > 0 && at.Sub(first) > time.Duration(p.Backoff.MaxAge) {
		return time.Time{}, false
	}
	return at, true
}

func (p RetryPolicy) validate(v *Validation, field string) {
	if p.Schedule != nil && p.Backoff != nil {
		v.Add(field, "give either schedule or backoff, not both")
		return
	}
	if len(p.Schedule) > MaxScheduleLength {
		v.Add(field+".schedule", "at most %d delays", MaxScheduleLength)
	}
	for _, d := range p.Schedule {
		if !d.Valid() {
			v.Add(field+".schedule", DurationMessage)
			break
		}
	}
	if p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter) {
		v.Add(field+".jitter", "must be between 0 and 1")
	}
	if b := p.Backoff; b != nil {
		if !b.Initial.Valid() || b.Initial <= 0 {
			v.Add(field+".backoff.initial", "must be a positive duration string")
		}
		if b.Multiplier < 1 || b.Multiplier > 100 || math.IsNaN(b.Multiplier) {
			v.Add(field+".backoff.multiplier", "must be between 1 and 100")
		}
		if !b.MaxDelay.Valid() {
			v.Add(field+".backoff.max_delay", DurationMessage)
		}
		if !b.MaxAge.Valid() {
			v.Add(field+".backoff.max_age", DurationMessage)
		}
		if b.MaxAttempts < 0 || b.MaxAttempts > 10000 {
			v.Add(field+".backoff.max_attempts", "must be between 1 and 10000")
		}
		if b.MaxAge == 0 && b.MaxAttempts == 0 {
			v.Add(field+".backoff", "needs max_age or max_attempts, or it would retry forever")
		}
	}
}
