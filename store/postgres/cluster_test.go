package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/postgres"
	"github.com/jackc/pgx/v5"
)

// Tests of what only a store shared by several nodes must do: each node is
// a Store with its own pool on one schema.

// idAt makes an id like hookd.NewID's, but for time t.
func idAt(prefix string, t time.Time) string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(raw[6:])
	hi, lo := binary.BigEndian.Uint64(raw[:8]), binary.BigEndian.Uint64(raw[8:])
	b := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return prefix + "_" + string(b)
}

func newEndpoint(tenant string, maxInFlight int, now time.Time) *hookd.Endpoint {
	e := &hookd.Endpoint{
		ID: hookd.NewID(hookd.PrefixEndpoint), Tenant: tenant, URL: "https://example.com/hook", Enabled: true,
		CreatedAt: now, UpdatedAt: now, Secrets: []hookd.Secret{{Value: hookd.NewSecret()}},
	}
	e.Normalize()
	e.MaxInFlight = maxInFlight
	return e
}

// publishAt inserts one event created at t with a pending delivery, due at
// t, to each endpoint. Ids carry t, as the engine's would.
func publishAt(t testing.TB, s hookd.Store, t0 time.Time, eps ...*hookd.Endpoint) (*hookd.Event, []*hookd.Delivery) {
	t.Helper()
	ev := &hookd.Event{ID: idAt(hookd.PrefixEvent, t0), Tenant: eps[0].Tenant, Type: "order.created",
		Data: json.RawMessage(`{"n":1}`), OccurredAt: t0, CreatedAt: t0}
	var ds []*hookd.Delivery
	for _, ep := range eps {
		ds = append(ds, &hookd.Delivery{ID: idAt(hookd.PrefixDelivery, t0), Tenant: ev.Tenant, EventID: ev.ID, EventType: ev.Type,
			EndpointID: ep.ID, State: hookd.StatePending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0})
	}
	if _, err := s.EventInsertMany(context.Background(), []hookd.EventInsert{{Event: ev, Deliveries: ds}}); err != nil {
		t.Fatal(err)
	}
	return ev, ds
}

// TestClaimAcrossNodes has claimers on three pools compete for the work of
// endpoints with small MaxInFlight. First, with nothing recorded, they
// lease exactly MaxInFlight of each endpoint, no more; then they drain the
// backlog (claim, record, claim …) while a checker reads the live leases
// in single snapshots. No delivery is ever leased twice.
func TestClaimAcrossNodes(t *testing.T) {
	url := freshSchema(t)
	nodes := []*postgres.Store{openStore(t, url), openStore(t, url), openStore(t, url)}
	ctx := context.Background()
	now := time.Now().UTC()
	caps := map[string]int{}
	var eps []*hookd.Endpoint
	for _, c := range []int{1, 3, 5, 40} {
		ep := newEndpoint("acme", c, now)
		if err := nodes[0].EndpointInsert(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps, caps[ep.ID] = append(eps, ep), c
	}
	const events = 60
	for i := range events {
		publishAt(t, nodes[i%3], now.Add(-time.Duration(events-i)*time.Millisecond), eps...)
	}

	var (
		mu      sync.Mutex
		claimed = map[string]int{} // delivery → times claimed
		leased  = map[string]int{} // endpoint → deliveries leased in phase 1
	)
	claimers := func(phase func(n *postgres.Store, owner string) bool) {
		var wg sync.WaitGroup
		for i, n := range nodes {
			for j := range 3 {
				owner := fmt.Sprintf("node%d-%d", i, j)
				wg.Go(func() {
					for phase(n, owner) {
					}
				})
			}
		}
		wg.Wait()
	}
	claim := func(n *postgres.Store, owner string) []hookd.Claim {
		cs, err := n.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{
			Owner: owner, Now: time.Now(), LeaseUntil: time.Now().Add(time.Hour), Max: 7,
		})
		if err != nil {
			t.Error(err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			claimed[c.Delivery.ID]++
			if claimed[c.Delivery.ID] > 1 {
				t.Errorf("delivery %s leased twice", c.Delivery.ID)
			}
			if c.Event == nil || c.Event.ID != c.Delivery.EventID {
				t.Errorf("claim of %s lacks its event", c.Delivery.ID)
			}
		}
		return cs
	}

	// Phase 1: claim until nobody gets anything.
	var idle atomic.Int32
	claimers(func(n *postgres.Store, owner string) bool {
		cs := claim(n, owner)
		mu.Lock()
		for _, c := range cs {
			leased[c.Delivery.EndpointID]++
		}
		mu.Unlock()
		if len(cs) == 0 {
			return idle.Add(1) < 50
		}
		return true
	})
	for id, c := range caps {
		if leased[id] != c {
			t.Errorf("endpoint with MaxInFlight %d got %d leases", c, leased[id])
		}
	}

	// Phase 2: drain, recording each claim at once, while a checker
	// watches the live leases.
	stop := make(chan struct{})
	var checks atomic.Int64
	checker := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			checker <- err
			return
		}
		defer conn.Close(ctx)
		for {
			select {
			case <-stop:
				checker <- nil
				return
			default:
			}
			rows, err := conn.Query(ctx, `SELECT endpoint_id, count(*) FROM delivery_queue
				WHERE lease_owner IS NOT NULL AND lease_until > now() GROUP BY endpoint_id`)
			if err != nil {
				checker <- err
				return
			}
			var (
				id string
				n  int
			)
			_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
				if n > caps[id] {
					return fmt.Errorf("endpoint with MaxInFlight %d has %d live leases", caps[id], n)
				}
				return nil
			})
			if err != nil {
				checker <- err
				return
			}
			checks.Add(1)
		}
	}()
	var recorded atomic.Int64
	record := func(n *postgres.Store, owner string, cs []hookd.Claim) {
		var recs []hookd.AttemptRecord
		for _, c := range cs {
			a := &hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Tenant: c.Delivery.Tenant, DeliveryID: c.Delivery.ID,
				EndpointID: c.Delivery.EndpointID, EventID: c.Delivery.EventID, Number: 1, StartedAt: time.Now(), Outcome: hookd.OutcomeSucceeded, StatusCode: 200}
			recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: owner})
		}
		if err := n.AttemptRecordMany(ctx, recs); err != nil {
			t.Error(err)
		}
		recorded.Add(int64(len(recs)))
	}
	// Phase 1's leases are recorded first, by their owners.
	ownerOf := map[string][]hookd.Claim{}
	rows, _, err := nodes[0].DeliveryList(ctx, hookd.DeliveryListParams{Tenant: "acme", State: hookd.StatePending, ListParams: hookd.ListParams{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rows {
		if d.LeaseOwner != "" {
			ownerOf[d.LeaseOwner] = append(ownerOf[d.LeaseOwner], hookd.Claim{Delivery: d})
		}
	}
	for owner, cs := range ownerOf {
		record(nodes[0], owner, cs)
	}
	idle.Store(0)
	total := int64(events * len(eps))
	claimers(func(n *postgres.Store, owner string) bool {
		cs := claim(n, owner)
		if len(cs) > 0 {
			record(n, owner, cs)
		}
		return recorded.Load() < total && !t.Failed()
	})
	close(stop)
	if err := <-checker; err != nil {
		t.Fatal(err)
	}
	if recorded.Load() != total || len(claimed) != int(total) {
		t.Fatalf("recorded %d, claimed %d distinct deliveries; want %d", recorded.Load(), len(claimed), total)
	}
	t.Logf("%d deliveries claimed and recorded by 9 claimers on 3 pools; %d lease snapshots checked", total, checks.Load())
}

// TestWakeupAcrossNodes: a publish on one node wakes another, also after
// the other's listening connection was killed.
func TestWakeupAcrossNodes(t *testing.T) {
	url := freshSchema(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	ep := newEndpoint("acme", 10, time.Now())
	if err := a.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	// Each listener wakes once when it connects; wait for that.
	waitWake(t, b.Wakeups(), "b's first connection")
	drain(b.Wakeups())

	publishAt(t, a, time.Now(), ep)
	waitWake(t, b.Wakeups(), "a publish on a")

	// Kill b's listening connection: it comes back by itself, wakes once,
	// and hears a's next publish.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN ' || quote_ident('hookd:' || current_schema())`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listening connections, want 2 (a's and b's)", killed)
	}
	waitWake(t, b.Wakeups(), "b's reconnection")
	waitListening(t, conn, 2)
	drain(b.Wakeups())
	publishAt(t, a, time.Now(), ep)
	waitWake(t, b.Wakeups(), "a publish after b reconnected")
}

func waitWake(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up after %s", what)
	}
}

func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// waitListening waits until n connections LISTEN on the schema's channel.
func waitListening(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN ' || quote_ident('hookd:' || current_schema())`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listening connections, want %d", got, n)
		}
		// pg_stat_activity offers no signal to wait on.
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMigrateConcurrently starts six nodes on one empty schema at once:
// each migrates under the advisory lock, none fails, the schema is made
// once, and every node works.
func TestMigrateConcurrently(t *testing.T) {
	url := freshSchema(t)
	ctx := context.Background()
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var applied, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM hookd_migrations WHERE version_id > 0`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) || distinct != len(files) {
		t.Errorf("%d migrations recorded (%d distinct), want each of the %d once", applied, distinct, len(files))
	}
	for i, s := range stores {
		ep := newEndpoint(fmt.Sprintf("tenant%d", i), 1, time.Now())
		if err := s.EndpointInsert(ctx, ep); err != nil {
			t.Fatalf("node %d after migrating: %v", i, err)
		}
		publishAt(t, s, time.Now(), ep)
	}
}

// TestClaimPastBacklog: a slow endpoint's backlog of due deliveries, older
// than everything else, fills every claim's first look; claims still find
// the other endpoints' work, on the node holding the slow endpoint's
// leases (which skips it) and on another node (which finds it full).
func TestClaimPastBacklog(t *testing.T) {
	url := freshSchema(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	now := time.Now().UTC()
	slow, fast := newEndpoint("acme", 2, now), newEndpoint("acme", 100, now)
	for _, ep := range []*hookd.Endpoint{slow, fast} {
		if err := a.EndpointInsert(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	var in []hookd.EventInsert
	for i := range 3000 {
		at := now.Add(-time.Hour + time.Duration(i)*time.Millisecond)
		ep := slow
		if i >= 2990 {
			ep = fast // the ten newest
		}
		ev := &hookd.Event{ID: fmt.Sprintf("e%d", i), Tenant: "acme", Type: "t", Data: json.RawMessage(`1`), OccurredAt: at, CreatedAt: at}
		d := &hookd.Delivery{ID: idAt(hookd.PrefixDelivery, at), Tenant: "acme", EventID: ev.ID, EventType: "t",
			EndpointID: ep.ID, State: hookd.StatePending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
		in = append(in, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{d}})
	}
	if _, err := a.EventInsertMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	count := func(cs []hookd.Claim) (nslow, nfast int) {
		for _, c := range cs {
			if c.Delivery.EndpointID == slow.ID {
				nslow++
			} else {
				nfast++
			}
		}
		return
	}
	params := func(owner string, skip ...string) hookd.DeliveryClaimParams {
		return hookd.DeliveryClaimParams{Owner: owner, Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), Max: 4, SkipEndpoints: skip}
	}
	cs, err := a.DeliveryClaimMany(ctx, params("a"))
	if err != nil {
		t.Fatal(err)
	}
	if s, f := count(cs); s != 2 || f != 2 {
		t.Fatalf("first claim: %d slow, %d fast; want the slow endpoint's room (2) and 2 fast", s, f)
	}
	cs, err = a.DeliveryClaimMany(ctx, params("a", slow.ID))
	if err != nil {
		t.Fatal(err)
	}
	if s, f := count(cs); s != 0 || f != 4 {
		t.Fatalf("claim skipping the slow endpoint: %d slow, %d fast; want 0 and 4", s, f)
	}
	cs, err = b.DeliveryClaimMany(ctx, params("b"))
	if err != nil {
		t.Fatal(err)
	}
	if s, f := count(cs); s != 0 || f != 4 {
		t.Fatalf("another node's claim: %d slow, %d fast; want 0 (it is full) and 4", s, f)
	}
}

// TestUnclaim: the leases of a claim whose commit went unanswered are
// given back, and only those, so the deliveries need not wait for the
// leases to expire.
func TestUnclaim(t *testing.T) {
	url := freshSchema(t)
	s := openStore(t, url)
	ctx := context.Background()
	ep := newEndpoint("acme", 10, time.Now())
	if err := s.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	_, ds := publishAt(t, s, time.Now(), ep, ep)
	cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "n1", Now: time.Now(), LeaseUntil: time.Now().Add(time.Hour), Max: 10})
	if err != nil || len(cs) != 2 {
		t.Fatalf("claimed %d, %v", len(cs), err)
	}
	// Pretend the claim of ds[0] is the one whose answer was lost.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE delivery_queue SET lease_token = 42 WHERE delivery_id = $1`, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := postgres.UnclaimOnce(s, "n1", 42); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "n1"} {
		d, err := s.DeliveryGet(ctx, "acme", ds[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.LeaseOwner != want {
			t.Errorf("delivery %d leased to %q, want %q", i, d.LeaseOwner, want)
		}
	}
	cs, err = s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "n2", Now: time.Now(), LeaseUntil: time.Now().Add(time.Hour), Max: 10})
	if err != nil || len(cs) != 1 || cs[0].Delivery.ID != ds[0].ID {
		t.Fatalf("after unclaim, claimed %v, %v; want the given-back delivery", cs, err)
	}
}
