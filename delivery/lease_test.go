package delivery_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/hookdtest"
	"github.com/hookd/hookd/store/sqlite"
)

// claimSpy is the real SQLite store, telling how long each claim leases.
type claimSpy struct {
	*sqlite.Store
	leases chan time.Duration
}

func (s *claimSpy) DeliveryClaimMany(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	select {
	case s.leases <- p.LeaseUntil.Sub(p.Now):
	default: // the test reads them as they come; the buffer outlasts it
	}
	return s.Store.DeliveryClaimMany(ctx, p)
}

// waitLease waits until a claim leased for d.
func (s *claimSpy) waitLease(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var last time.Duration
	for {
		select {
		case last = <-s.leases:
			if last == d {
				return
			}
		case <-deadline:
			t.Fatalf("no claim leased for %v; the last leased for %v", d, last)
		}
	}
}

// Claims lease for the endpoints' actual timeouts plus the lease margin,
// so that the deliveries of a node that dies wait no longer than that: the
// default timeout before the node has loaded any endpoint, the longest one
// loaded after. A delivery of an endpoint with a longer timeout, first
// seen in a claim whose lease is too short for it, is handed back and
// claimed again with a lease that fits: sent once, never late.
func TestClaimLeaseFollowsTimeouts(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hookd.db"))
	must(t, err)
	spy := &claimSpy{Store: st, leases: make(chan time.Duration, 4096)}
	const margin = 10 * time.Second // the default
	recs := make(chan hookd.AttemptRecord, 16)
	eng := delivery.New(spy, delivery.Options{
		AllowNetworks: loopback, Logger: testLogger(t), PollInterval: 20 * time.Millisecond,
		OnRecord: func(rs []hookd.AttemptRecord) {
			for _, rec := range rs {
				recs <- rec
			}
		},
	})
	must(t, eng.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
		st.Close()
	})
	r := hookdtest.NewReceiver(t)

	// No endpoint loaded yet: the default timeout.
	spy.waitLease(t, hookd.DefaultTimeout+margin)

	pending := func(tenant string, timeout time.Duration) {
		now := time.Now().UTC()
		ep := &hookd.Endpoint{
			ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: tenant, URL: r.URL, Enabled: true,
			Secrets: []hookd.Secret{{Value: hookd.NewSecret()}}, CreatedAt: now, UpdatedAt: now,
		}
		ep.Normalize()
		ep.Timeout = hookd.Duration(timeout)
		must(t, st.EndpointInsert(ctx, ep))
		ev := &hookd.Event{ID: hookd.NewID(hookd.PrefixEvent), Tenant: tenant, Type: "order.created", Data: json.RawMessage(`{}`), OccurredAt: now, CreatedAt: now}
		_, err := st.EventInsertMany(ctx, []hookd.EventInsert{{Event: ev, Deliveries: []*hookd.Delivery{{
			ID: hookd.NewID(hookd.PrefixDelivery), Tenant: tenant, EventID: ev.ID, EventType: ev.Type, EndpointID: ep.ID,
			State: hookd.StatePending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		}}}})
		must(t, err)
	}

	// A 2s endpoint, loaded by the claim that leases its delivery: later
	// claims lease for 2s plus the margin, not the default 30s.
	pending("acme", 2*time.Second)
	spy.waitLease(t, 2*time.Second+margin)

	// A 60s endpoint of another tenant, first seen in a 12s lease.
	pending("beta", time.Minute)
	spy.waitLease(t, time.Minute+margin)

	// Each delivery was attempted once, and the first attempt of each
	// was its one request.
	for range 2 {
		select {
		case rec := <-recs:
			eq(t, rec.Attempt.Tenant+" outcome", rec.Attempt.Outcome, hookd.OutcomeSucceeded)
			eq(t, rec.Attempt.Tenant+" attempt number", rec.Attempt.Number, 1)
		case <-time.After(10 * time.Second):
			t.Fatal("the deliveries were not both recorded")
		}
	}
	eq(t, "requests", r.Count(), 2)
}
