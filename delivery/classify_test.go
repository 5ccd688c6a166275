package delivery

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, false},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, false},
		{"99999999999999999999999", maxRetryAfter, true},
		{"9999999999", maxRetryAfter, true},
		{now.AddDate(5, 0, 0).Format(http.TimeFormat), maxRetryAfter, true},
	} {
		at, ok := retryAfter(tc.in, now)
		if ok != tc.ok || (ok && at.Sub(now) != tc.want) {
			t.Errorf("retryAfter(%q) = +%s, %v; want +%s, %v", tc.in, at.Sub(now), ok, tc.want, tc.ok)
		}
	}
}

// Retry-After comes from the receiver: whatever it says, the result is
// never in the past and never beyond maxRetryAfter.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "Wed, 21 Oct 2026 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		at, ok := retryAfter(s, now)
		if !ok {
			return
		}
		if !at.After(now) || at.Sub(now) > maxRetryAfter {
			t.Fatalf("retryAfter(%q) = now+%s", s, at.Sub(now))
		}
	})
}

func TestStatusOutcome(t *testing.T) {
	for code, want := range map[int]hookd.Outcome{
		200: hookd.OutcomeSucceeded, 204: hookd.OutcomeSucceeded, 299: hookd.OutcomeSucceeded,
		301: hookd.OutcomeRedirect, 308: hookd.OutcomeRedirect, 304: hookd.OutcomeRedirect,
		400: hookd.OutcomeHTTPError, 410: hookd.OutcomeHTTPError, 500: hookd.OutcomeHTTPError, 199: hookd.OutcomeHTTPError,
	} {
		if got := statusOutcome(code); got != want {
			t.Errorf("statusOutcome(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestClassifyFallsBackToConnectError(t *testing.T) {
	o, msg := classify(errors.New("something odd"), time.Second)
	if o != hookd.OutcomeConnectError || msg != "something odd" {
		t.Errorf("classify = %s %q", o, msg)
	}
}

func TestSensitiveHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "X-Api-Key": true, "X-Auth-Token": true, "Cookie": true, "X-Client-Secret": true,
		"X-Team": false, "X-Request-Source": false, "Accept-Language": false,
	} {
		if got := sensitiveHeader(name); got != want {
			t.Errorf("sensitiveHeader(%q) = %v", name, got)
		}
	}
}
