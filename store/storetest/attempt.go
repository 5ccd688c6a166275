package storetest

import (
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// sameAttempt fails unless got is want field by field, times in UTC.
func sameAttempt(t *testing.T, got, want *hookd.Attempt) {
	t.Helper()
	sameTime(t, "StartedAt", got.StartedAt, want.StartedAt)
	sameTime(t, "NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt)
	g, w := *got, *want
	g.StartedAt, g.NextAttemptAt, w.StartedAt, w.NextAttemptAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(g.RequestHeaders) == 0 && len(w.RequestHeaders) == 0 {
		g.RequestHeaders, w.RequestHeaders = nil, nil
	}
	deepEqual(t, "attempt", &g, &w)
}

func testAttemptRecord(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	d := ds[0]

	// Attempt 1 fails and is retried a minute later.
	got := f.claim("n1", at(time.Second), 10)
	if len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	a1 := attempt(d, 1, at(time.Second), hookd.OutcomeHTTPError)
	a1.NextAttemptAt = at(time.Minute)
	a1.RequestHeaders = map[string]string{"Webhook-Id": d.EventID, "X-Team": "erp"}
	a1.Response = string(make([]byte, 0)) + "line1\nline2 \x00 ünï"
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: a1, State: hookd.StatePending, NextAttemptAt: at(time.Minute), LeaseOwner: "n1"}}))
	want := *d
	want.Attempts, want.NextAttemptAt = 1, at(time.Minute)
	want.LastAttemptAt, want.LastAttemptID, want.LastOutcome, want.LastStatus = a1.StartedAt, a1.ID, a1.Outcome, 500
	cur, err := f.s.DeliveryGet(f.ctx, "acme", d.ID)
	must(t, err)
	want.UpdatedAt = cur.UpdatedAt // the store's to choose
	sameDelivery(t, cur, &want)
	if cur.UpdatedAt.Before(d.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", d.UpdatedAt, cur.UpdatedAt)
	}
	if got := f.claim("n2", at(time.Minute-time.Microsecond), 10); len(got) != 0 {
		t.Fatal("claimed before NextAttemptAt")
	}

	// Attempt 2 by n2 times out, but n1 (whose lease is gone) reports
	// late: its attempt is kept, the delivery follows n2's.
	got = f.claim("n2", at(time.Minute), 10)
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("claimed %+v, want the delivery with 1 attempt", got)
	}
	a2 := attempt(d, 2, at(time.Minute), hookd.OutcomeTimeout)
	a2.RetryOf, a2.NextAttemptAt = a1.ID, at(time.Hour)
	stale := attempt(d, 2, at(time.Minute), hookd.OutcomeSucceeded)
	stale.RetryOf, stale.Manual = a1.ID, true
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
		{Attempt: stale, State: hookd.StateSucceeded, LeaseOwner: "n1"},
		{Attempt: a2, State: hookd.StatePending, NextAttemptAt: at(time.Hour), LeaseOwner: "n2"},
	}))
	cur, err = f.s.DeliveryGet(f.ctx, "acme", d.ID)
	must(t, err)
	if cur.State != hookd.StatePending || cur.Attempts != 2 || cur.LastAttemptID != a2.ID || cur.LastOutcome != hookd.OutcomeTimeout || cur.LastStatus != 0 || cur.LeaseOwner != "" || !cur.LeaseUntil.IsZero() {
		t.Fatalf("after attempt 2: %+v", cur)
	}
	sameTime(t, "NextAttemptAt", cur.NextAttemptAt, at(time.Hour))

	// Attempt 3 fails for good: no next attempt.
	f.claim("n1", at(time.Hour), 10)
	a3 := attempt(d, 3, at(time.Hour), hookd.OutcomeConnectError)
	a3.RetryOf = a2.ID
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: a3, State: hookd.StateFailed, LeaseOwner: "n1"}}))
	cur, err = f.s.DeliveryGet(f.ctx, "acme", d.ID)
	must(t, err)
	if cur.State != hookd.StateFailed || cur.Attempts != 3 || !cur.NextAttemptAt.IsZero() || cur.LeaseOwner != "" {
		t.Fatalf("after attempt 3: %+v", cur)
	}
	if got := f.claim("n1", at(1000*time.Hour), 10); len(got) != 0 {
		t.Fatal("claimed a failed delivery")
	}

	// Every attempt is kept, oldest first, field for field.
	atts, next, err := f.s.AttemptListByDelivery(f.ctx, "acme", d.ID, hookd.ListParams{})
	must(t, err)
	if next != "" || len(atts) != 4 {
		t.Fatalf("%d attempts (next %q), want 4", len(atts), next)
	}
	sameAttempt(t, atts[0], a1)
	// stale and a2 started together: either order.
	if atts[1].ID == a2.ID {
		atts[1], atts[2] = atts[2], atts[1]
	}
	sameAttempt(t, atts[1], stale)
	sameAttempt(t, atts[2], a2)
	sameAttempt(t, atts[3], a3)
}

func testAttemptRecordSucceeded(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep, ep)
	f.claim("n1", at(0), 10)
	a := attempt(ds[0], 1, at(time.Second), hookd.OutcomeSucceeded)
	b := attempt(ds[1], 1, at(time.Second), hookd.OutcomeHTTPError)
	b.StatusCode = 410
	must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
		{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "n1"},
		{Attempt: b, State: hookd.StateFailed, LeaseOwner: "n1", DisableEndpoint: "410 Gone"},
	}))
	d, err := f.s.DeliveryGet(f.ctx, "acme", ds[0].ID)
	must(t, err)
	if d.State != hookd.StateSucceeded || d.Attempts != 1 || !d.NextAttemptAt.IsZero() || d.LastStatus != 200 || d.LastOutcome != hookd.OutcomeSucceeded {
		t.Errorf("succeeded delivery: %+v", d)
	}
	d, err = f.s.DeliveryGet(f.ctx, "acme", ds[1].ID)
	must(t, err)
	if d.State != hookd.StateFailed || d.LastStatus != 410 {
		t.Errorf("failed delivery: %+v", d)
	}
	e, err := f.s.EndpointGet(f.ctx, "acme", ep.ID)
	must(t, err)
	if e.Enabled || e.DisabledReason != "410 Gone" {
		t.Errorf("endpoint after 410: enabled %v, reason %q; want disabled, %q", e.Enabled, e.DisabledReason, "410 Gone")
	}
	// Everything else about the endpoint is as it was.
	e.Enabled, e.DisabledReason, e.UpdatedAt = ep.Enabled, ep.DisabledReason, ep.UpdatedAt
	sameEndpoint(t, e, ep)
	must(t, f.s.AttemptRecordMany(f.ctx, nil))

	// An attempt id used twice is EDUPLICATE and the batch stores nothing.
	_, more := f.publish("acme", "order.created", at(time.Hour), ep)
	c := attempt(more[0], 1, at(time.Hour), hookd.OutcomeSucceeded)
	again := *a
	err = f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
		{Attempt: c, State: hookd.StateSucceeded, LeaseOwner: "n1"},
		{Attempt: &again, State: hookd.StateSucceeded, LeaseOwner: "n1"},
	})
	wantCode(t, err, hookd.EDUPLICATE)
	atts, _, err := f.s.AttemptListByDelivery(f.ctx, "acme", more[0].ID, hookd.ListParams{})
	must(t, err)
	if len(atts) != 0 {
		t.Errorf("a failed batch stored %d attempts", len(atts))
	}
}

func testAttemptRecordMany(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	var ds []*hookd.Delivery
	for i := range 40 {
		_, d := f.publish("acme", "order.created", at(time.Duration(i)*time.Millisecond), ep)
		ds = append(ds, d...)
	}
	got := f.claim("n1", at(time.Second), 100)
	if len(got) != len(ds) {
		t.Fatalf("claimed %d, want %d", len(got), len(ds))
	}
	recs := make([]hookd.AttemptRecord, len(got))
	for i, d := range got {
		st, o := hookd.StateSucceeded, hookd.OutcomeSucceeded
		if i%2 == 1 {
			st, o = hookd.StatePending, hookd.OutcomeHTTPError
		}
		recs[i] = hookd.AttemptRecord{Attempt: attempt(d, 1, at(time.Second), o), State: st, NextAttemptAt: at(time.Minute), LeaseOwner: "n1"}
		if st != hookd.StatePending {
			recs[i].NextAttemptAt = time.Time{}
		}
	}
	must(t, f.s.AttemptRecordMany(f.ctx, recs))
	for _, r := range recs {
		d, err := f.s.DeliveryGet(f.ctx, "acme", r.Attempt.DeliveryID)
		must(t, err)
		if d.State != r.State || d.Attempts != 1 || d.LastAttemptID != r.Attempt.ID || d.LeaseOwner != "" {
			t.Errorf("delivery %s after its record: %+v", d.ID, d)
		}
		sameTime(t, "NextAttemptAt", d.NextAttemptAt, r.NextAttemptAt)
	}
	again := f.claim("n2", at(time.Minute), 100)
	if len(again) != len(ds)/2 {
		t.Errorf("claimed %d retries, want %d", len(again), len(ds)/2)
	}
}

func testAttemptListByEndpoint(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	other := f.endpoint("acme", at(0))
	var all, failed, succeeded []string
	for i := range 50 {
		_, ds := f.publish("acme", "order.created", at(time.Duration(i)*time.Second), ep, other)
		f.claim("n1", at(time.Duration(i)*time.Second), 10)
		o, st := hookd.OutcomeSucceeded, hookd.StateSucceeded
		if i%4 == 0 {
			o, st = hookd.OutcomeHTTPError, hookd.StateFailed
		}
		a := attempt(ds[0], 1, at(time.Duration(i)*time.Second), o)
		b := attempt(ds[1], 1, at(time.Duration(i)*time.Second), hookd.OutcomeSucceeded)
		must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{
			{Attempt: a, State: st, LeaseOwner: "n1"},
			{Attempt: b, State: hookd.StateSucceeded, LeaseOwner: "n1"},
		}))
		all = append(all, a.ID)
		if o == hookd.OutcomeSucceeded {
			succeeded = append(succeeded, a.ID)
		} else {
			failed = append(failed, a.ID)
		}
	}
	list := func(p hookd.AttemptListParams) []string {
		t.Helper()
		p.Tenant, p.EndpointID = "acme", ep.ID
		return ids(walk(t, 7, func(lp hookd.ListParams) ([]*hookd.Attempt, string, error) {
			p.ListParams = lp
			return f.s.AttemptListByEndpoint(f.ctx, p)
		}), attemptID)
	}
	yes, no := true, false
	sameIDs(t, "attempts of the endpoint, newest first", list(hookd.AttemptListParams{}), reversed(all))
	sameIDs(t, "failed", list(hookd.AttemptListParams{Failed: &yes}), reversed(failed))
	sameIDs(t, "not failed", list(hookd.AttemptListParams{Failed: &no}), reversed(succeeded))
	sameIDs(t, "since/until", list(hookd.AttemptListParams{Since: at(10 * time.Second), Until: at(20 * time.Second)}), reversed(all[10:20]))
	sameIDs(t, "failed since", list(hookd.AttemptListParams{Failed: &yes, Since: at(40 * time.Second)}), reversed(failed[10:]))

	_, _, err := f.s.AttemptListByEndpoint(f.ctx, hookd.AttemptListParams{Tenant: "acme", EndpointID: ep.ID, ListParams: hookd.ListParams{Cursor: "?"}})
	wantCursorError(t, err)
}

func testAttemptListByDelivery(t *testing.T, f *fixture) {
	ep := f.endpoint("acme", at(0))
	_, ds := f.publish("acme", "order.created", at(0), ep)
	var want []string
	prev := ""
	for i := range 20 {
		now := at(time.Duration(i) * time.Minute)
		f.claim("n1", now, 1)
		a := attempt(ds[0], i+1, now, hookd.OutcomeHTTPError)
		a.RetryOf, a.NextAttemptAt = prev, now.Add(time.Minute)
		must(t, f.s.AttemptRecordMany(f.ctx, []hookd.AttemptRecord{{Attempt: a, State: hookd.StatePending, NextAttemptAt: a.NextAttemptAt, LeaseOwner: "n1"}}))
		want = append(want, a.ID)
		prev = a.ID
	}
	got := walk(t, 7, func(p hookd.ListParams) ([]*hookd.Attempt, string, error) {
		return f.s.AttemptListByDelivery(f.ctx, "acme", ds[0].ID, p)
	})
	sameIDs(t, "attempts of the delivery, oldest first", ids(got, attemptID), want)
	for i, a := range got {
		if a.Number != i+1 || (i > 0 && a.RetryOf != want[i-1]) {
			t.Errorf("attempt %d: number %d, retry_of %q", i, a.Number, a.RetryOf)
		}
	}
	d, err := f.s.DeliveryGet(f.ctx, "acme", ds[0].ID)
	must(t, err)
	if d.Attempts != 20 {
		t.Errorf("delivery counts %d attempts, want 20", d.Attempts)
	}
	_, _, err = f.s.AttemptListByDelivery(f.ctx, "acme", ds[0].ID, hookd.ListParams{Cursor: "AAAA"})
	wantCursorError(t, err)
}
