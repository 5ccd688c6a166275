package hookd_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// attemptTimes plays a policy forward assuming every attempt fails at the
// instant it starts, and returns the start times of all attempts.
func attemptTimes(p hookd.RetryPolicy) []time.Duration {
	out := []time.Duration{0}
	now := t0
	for n := 1; n < 10000; n++ {
		at, ok := p.Next(n, t0, now, 0.5)
		if !ok {
			break
		}
		now = at
		out = append(out, at.Sub(t0))
	}
	return out
}

func TestScheduleAttemptCount(t *testing.T) {
	var p hookd.RetryPolicy
	if err := json.Unmarshal([]byte(`{"schedule":["1m","5m","30m","60m","5h"]}`), &p); err != nil {
		t.Fatal(err)
	}
	got := attemptTimes(p)
	want := []time.Duration{0, time.Minute, 6 * time.Minute, 36 * time.Minute, 96 * time.Minute, 96*time.Minute + 5*time.Hour}
	if len(got) != len(want) {
		t.Fatalf("got %d attempts %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d at %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestBackoffMaxAge(t *testing.T) {
	p := hookd.RetryPolicy{Backoff: &hookd.Backoff{
		Initial: hookd.Duration(time.Minute), Multiplier: 2, MaxAge: hookd.Duration(72 * time.Hour),
	}}
	got := attemptTimes(p)
	// 1, 2, 4 … minutes between attempts: after k retries 2^k−1 minutes have
	// passed; 2^12−1 = 4095 min < 72 h = 4320 min < 2^13−1.
	if len(got) != 13 {
		t.Fatalf("got %d attempts, want 13: %v", len(got), got)
	}
	if last := got[len(got)-1]; last != 4095*time.Minute {
		t.Errorf("last attempt at %v, want 4095m", last)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i] - got[i-1]; d != time.Minute<<(i-1) {
			t.Errorf("delay before attempt %d = %v", i+1, d)
		}
	}
}

func TestBackoffMaxDelayAndAttempts(t *testing.T) {
	p := hookd.RetryPolicy{Backoff: &hookd.Backoff{
		Initial: hookd.Duration(time.Second), Multiplier: 10, MaxDelay: hookd.Duration(time.Minute), MaxAttempts: 4,
	}}
	got := attemptTimes(p)
	want := []time.Duration{0, time.Second, 11 * time.Second, 71 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d at %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestJitterBounds(t *testing.T) {
	p := hookd.RetryPolicy{Schedule: []hookd.Duration{hookd.Duration(100 * time.Second)}, Jitter: 0.2}
	lo, _ := p.Next(1, t0, t0, 0)
	hi, _ := p.Next(1, t0, t0, 0.999999)
	if lo.Sub(t0) != 80*time.Second {
		t.Errorf("low jitter: %v", lo.Sub(t0))
	}
	if d := hi.Sub(t0); d < 119*time.Second || d > 120*time.Second {
		t.Errorf("high jitter: %v", d)
	}
}

func TestDefaultPolicy(t *testing.T) {
	e := hookd.Endpoint{Tenant: "t1", URL: "https://example.com/h"}
	e.Normalize()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(attemptTimes(e.Retry)); n != 8 {
		t.Errorf("default policy makes %d attempts, want 8", n)
	}
}
