package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/store/postgres"
	"github.com/jackc/pgx/v5"
)

// oldDay stores n finished events of day t (each with a delivery and an
// attempt, written as the engine would have, ids carrying t), and returns
// the events.
func oldDay(t *testing.T, s hookd.Store, ep *hookd.Endpoint, t0 time.Time, n int) []*hookd.Event {
	t.Helper()
	ctx := context.Background()
	var (
		in   []hookd.EventInsert
		recs []hookd.AttemptRecord
		evs  []*hookd.Event
	)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		ev := &hookd.Event{ID: idAt(hookd.PrefixEvent, at), Tenant: ep.Tenant, Type: "order.created",
			Data: json.RawMessage(`{"old":true}`), OccurredAt: at, CreatedAt: at}
		d := &hookd.Delivery{ID: idAt(hookd.PrefixDelivery, at), Tenant: ep.Tenant, EventID: ev.ID, EventType: ev.Type,
			EndpointID: ep.ID, State: hookd.StateSucceeded, Attempts: 1, CreatedAt: at, UpdatedAt: at}
		in = append(in, hookd.EventInsert{Event: ev, Deliveries: []*hookd.Delivery{d}})
		a := &hookd.Attempt{ID: idAt(hookd.PrefixAttempt, at), Tenant: ep.Tenant, DeliveryID: d.ID, EndpointID: ep.ID,
			EventID: ev.ID, Number: 1, StartedAt: at, Outcome: hookd.OutcomeSucceeded, StatusCode: 200}
		recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "gone"})
		evs = append(evs, ev)
	}
	if _, err := s.EventInsertMany(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.AttemptRecordMany(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return evs
}

// partitionsOf lists the attached partitions of the day of t.
func partitionsOf(t *testing.T, conn *pgx.Conn, t0 time.Time) []string {
	t.Helper()
	suffix := "_p" + t0.UTC().Format("20060102")
	rows, err := conn.Query(context.Background(), `
		SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relname LIKE '%' || $1 ORDER BY 1`, suffix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRetentionDropsDays: three old days, one of them holding a pending
// delivery. Retention drops the other two whole while another node keeps
// publishing, claiming and recording; the kept day loses its finished rows
// to batched deletes and keeps the pending delivery and its event.
func TestRetentionDropsDays(t *testing.T) {
	url := freshSchema(t)
	s, node := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	now := time.Now().UTC()
	ep := newEndpoint("acme", 100, now.AddDate(0, 0, -20))
	if err := s.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	busy := newEndpoint("acme", 100, now) // the other node's
	if err := s.EndpointInsert(ctx, busy); err != nil {
		t.Fatal(err)
	}
	d10, d9, d8 := now.AddDate(0, 0, -10), now.AddDate(0, 0, -9), now.AddDate(0, 0, -8)
	gone := append(oldDay(t, s, ep, d10, 300), oldDay(t, s, ep, d8, 300)...)
	keptDone := oldDay(t, s, ep, d9, 50)
	pendEv, pend := publishAt(t, s, d9.Add(time.Hour), ep)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// Another node publishes, claims and records all along.
	stop := make(chan struct{})
	var (
		wg        sync.WaitGroup
		published atomic.Int64
		slowest   atomic.Int64
		nodeErr   = make(chan error, 1)
		running   = make(chan struct{})
	)
	wg.Go(func() {
		defer func() {
			select {
			case <-running:
			default:
				close(running)
			}
		}()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			_, ds := publishAt(t, node, t0, busy)
			cs, err := node.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "node", Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), Max: 10, EndpointID: busy.ID})
			if err == nil {
				var recs []hookd.AttemptRecord
				for _, c := range cs {
					a := &hookd.Attempt{ID: hookd.NewID(hookd.PrefixAttempt), Tenant: "acme", DeliveryID: c.Delivery.ID,
						EndpointID: busy.ID, EventID: c.Delivery.EventID, Number: 1, StartedAt: time.Now(), Outcome: hookd.OutcomeSucceeded}
					recs = append(recs, hookd.AttemptRecord{Attempt: a, State: hookd.StateSucceeded, LeaseOwner: "node"})
				}
				err = node.AttemptRecordMany(ctx, recs)
			}
			if err == nil && len(ds) != 1 {
				err = errors.New("publish lost its delivery")
			}
			if err != nil {
				select {
				case nodeErr <- err:
				default:
				}
				return
			}
			if published.Add(1) == 1 {
				close(running)
			}
			if d := time.Since(t0); d.Nanoseconds() > slowest.Load() {
				slowest.Store(d.Nanoseconds())
			}
		}
	})

	<-running // the other node is at work
	cutoff := now.AddDate(0, 0, -5)
	total, calls := 0, 0
	for {
		n, err := s.RetentionPurge(ctx, cutoff, 100)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		if n == 0 {
			break
		}
		total += n
		if calls > 100 {
			t.Fatal("RetentionPurge never returns 0")
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-nodeErr:
		t.Fatalf("the other node failed during retention: %v", err)
	default:
	}
	t.Logf("purged %d rows in %d calls while the other node published %d events (slowest publish+claim+record %v)",
		total, calls, published.Load(), time.Duration(slowest.Load()))
	if d := time.Duration(slowest.Load()); d > 3*time.Second {
		t.Errorf("a publish+claim+record took %v while retention ran: retention stalls the others", d)
	}

	for _, d := range []time.Time{d10, d8} {
		if p := partitionsOf(t, conn, d); len(p) != 0 {
			t.Errorf("partitions of %s still attached: %v", d.Format(time.DateOnly), p)
		}
	}
	if p := partitionsOf(t, conn, d9); len(p) != 3 {
		t.Errorf("partitions of the kept day %s: %v, want all three", d9.Format(time.DateOnly), p)
	}
	var leftovers int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace
		AND relkind = 'r' AND relname ~ '_p[0-9]{8}$' AND NOT relispartition`).Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if leftovers != 0 {
		t.Errorf("%d detached partitions left behind", leftovers)
	}
	for _, ev := range append(gone, keptDone...) {
		if _, err := s.EventGet(ctx, "acme", ev.ID); hookd.ErrorCode(err) != hookd.ENOTFOUND {
			t.Fatalf("old event %s: err %v, want not found", ev.ID, err)
		}
	}
	var ids int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM event_ids WHERE created_at < $1`, cutoff).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if ids != 1 {
		t.Errorf("%d event ids older than the cutoff remain, want 1 (the pending delivery's)", ids)
	}
	if _, err := s.EventGet(ctx, "acme", pendEv.ID); err != nil {
		t.Errorf("the pending delivery's event: %v", err)
	}
	cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "n", Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), Max: 10, EndpointID: ep.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Delivery.ID != pend[0].ID || cs[0].Event.ID != pendEv.ID {
		t.Errorf("after retention claimed %v, want the old pending delivery with its event", cs)
	}
}

// TestRetentionFinishesInterruptedRuns: partitions left detached by a
// retention that died midway are dropped when their day may go, and
// attached again (with their rows) when it may not.
func TestRetentionFinishesInterruptedRuns(t *testing.T) {
	url := freshSchema(t)
	s := openStore(t, url)
	ctx := context.Background()
	now := time.Now().UTC()
	ep := newEndpoint("acme", 100, now.AddDate(0, 0, -20))
	if err := s.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	d10, d9 := now.AddDate(0, 0, -10), now.AddDate(0, 0, -9)
	oldDay(t, s, ep, d10, 5)
	pendEv, pend := publishAt(t, s, d9, ep)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"ALTER TABLE deliveries DETACH PARTITION deliveries_p" + d10.Format("20060102"),
		"ALTER TABLE events DETACH PARTITION events_p" + d9.Format("20060102"),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := s.RetentionPurge(ctx, now.AddDate(0, 0, -5), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace
		AND relname LIKE '%_p' || $1`, d10.Format("20060102")).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables of the finished day remain", tables)
	}
	if p := partitionsOf(t, conn, d9); len(p) != 3 {
		t.Errorf("partitions of the pending day: %v, want all three attached", p)
	}
	cs, err := s.DeliveryClaimMany(ctx, hookd.DeliveryClaimParams{Owner: "n", Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Delivery.ID != pend[0].ID || cs[0].Event.ID != pendEv.ID {
		t.Errorf("claimed %v, want the pending delivery with its event", cs)
	}
}

// TestRetentionOneNodeAtATime: while one node holds the retention lock,
// another's purge returns 0 at once.
func TestRetentionOneNodeAtATime(t *testing.T) {
	url := freshSchema(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ep := newEndpoint("acme", 1, time.Now())
	if err := a.EndpointInsert(ctx, ep); err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, 0, -10)
	oldDay(t, a, ep, old, 3)
	// Hold a's retention lock from outside by taking it as a would.
	held := postgres.RetentionLockKey(a)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", held); err != nil {
		t.Fatal(err)
	}
	n, err := b.RetentionPurge(ctx, time.Now().AddDate(0, 0, -5), 100)
	if err != nil || n != 0 {
		t.Fatalf("purge while another node holds the lock: %d, %v; want 0, nil", n, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", held); err != nil {
		t.Fatal(err)
	}
	n, err = b.RetentionPurge(ctx, time.Now().AddDate(0, 0, -5), 100)
	if err != nil || n == 0 {
		t.Fatalf("purge once the lock is free: %d, %v; want rows", n, err)
	}
}
