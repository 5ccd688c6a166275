package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

var t0 = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func endpoint(tenant string) *hookd.Endpoint {
	e := &hookd.Endpoint{ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: tenant, URL: "https://example.com/", Enabled: true, CreatedAt: t0, UpdatedAt: t0}
	e.Normalize()
	e.MaxInFlight = hookd.MaxMaxInFlight
	return e
}

// insert builds an event of tenant with one delivery to ep.
func insert(tenant string, ep *hookd.Endpoint, i int) hookd.EventInsert {
	ev := &hookd.Event{ID: fmt.Sprintf("evt_%d", i), Tenant: tenant, Type: "order.created", Data: json.RawMessage(`{"amount":42}`), OccurredAt: t0, CreatedAt: t0}
	d := &hookd.Delivery{ID: hookd.NewID(hookd.PrefixDelivery), Tenant: tenant, EventID: ev.ID, EventType: ev.Type, EndpointID: ep.ID, State: hookd.StatePending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
	return hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{d}}
}

// TestGroupCommit checks that concurrent writers share transactions, and
// that a request failing inside a shared transaction fails alone.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	ep := endpoint("acme")
	if err := s.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	taken := endpoint("acme")
	if err := s.EndpointInsert(ctx, taken); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()

	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make([]error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for j := range each {
				i := g*each + j
				if i%10 == 9 {
					// Every tenth request fails: its endpoint id is taken.
					dup := endpoint("acme")
					dup.ID = taken.ID
					errs[i] = s.EndpointInsert(ctx, dup)
					continue
				}
				_, errs[i] = s.EventInsertMany(ctx, []hookd.EventInsert{insert("acme", ep, i)})
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%10 == 9 {
			if hookd.ErrorCode(err) != hookd.EDUPLICATE {
				t.Errorf("request %d: got %v, want EDUPLICATE", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("request %d: %v", i, err)
			continue
		}
		if _, err := s.EventGet(ctx, "acme", fmt.Sprintf("evt_%d", i)); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	after := s.Stats()
	reqs, txs := after.Requests-before.Requests, after.Transactions-before.Transactions
	// Failed requests are counted only when their group commits.
	if reqs < writers*each*9/10 {
		t.Errorf("%d requests counted, want at least %d", reqs, writers*each*9/10)
	}
	if txs >= reqs {
		t.Errorf("%d requests took %d transactions: no group commit", reqs, txs)
	}
	t.Logf("%d requests in %d transactions (%.1f per commit)", reqs, txs, float64(reqs)/float64(txs))
	evs, _, err := s.EventList(ctx, hookd.EventListParams{Tenant: "acme", ListParams: hookd.ListParams{Limit: hookd.MaxLimit}})
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * each * 9 / 10; len(evs) != want {
		t.Errorf("%d events stored, want %d", len(evs), want)
	}
}

// TestCancelledRequest checks that a request whose context is done is not
// written.
func TestCancelledRequest(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ep := endpoint("acme")
	if err := s.EndpointInsert(ctx, ep); err == nil {
		t.Fatal("insert with a cancelled context succeeded")
	}
	if _, err := s.EndpointGet(context.Background(), "acme", ep.ID); hookd.ErrorCode(err) != hookd.ENOTFOUND {
		t.Fatalf("endpoint of a cancelled request: %v, want ENOTFOUND", err)
	}
}

func TestClosed(t *testing.T) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err := s.EndpointInsert(context.Background(), endpoint("acme"))
	if hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("write after Close: %v, want EUNAVAILABLE", err)
	}
	if err := s.Ping(context.Background()); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("Ping after Close: %v, want EUNAVAILABLE", err)
	}
}
