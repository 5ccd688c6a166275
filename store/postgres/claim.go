package postgres

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Claiming. Several nodes claim from one queue at once, and each endpoint's
// MaxInFlight holds across all of them. A claim is one short transaction:
//
//  1. find endpoints with due work, and lock their endpoint rows FOR NO
//     KEY UPDATE SKIP LOCKED: claimers of one endpoint take turns, and
//     one that finds it taken leaves it to the other;
//  2. in a new statement, hence a snapshot taken after the locks, count
//     each endpoint's live leases, take at most the room left from its
//     own oldest due rows, and lease them.
//
// Counting in the same statement as the locking would read leases from
// before another claimer's commit, and both could fill the same room. No
// transaction outlives the claim: the HTTP request runs under the lease.
//
// Endpoints are found from the oldest due rows, a bounded number of them.
// When those all belong to endpoints that cannot take more (full, skipped
// by the caller, or being claimed by another node), say behind a slow
// endpoint's backlog, the claim looks endpoint by endpoint instead,
// skipping through the queue's endpoint index, so its cost follows the
// number of endpoints rather than the size of anyone's backlog.

// claimEndpointsSQL locks the endpoints of the oldest due rows ($2 of
// them, and as many expired leases), leaving out $3. A last row, all NULL
// but the count, says how many queue rows it looked at.
const claimEndpointsSQL = `
WITH c AS (
	(SELECT endpoint_id FROM delivery_queue
	 WHERE lease_owner IS NULL AND NOT paused AND next_attempt_at <= $1
	 ORDER BY next_attempt_at LIMIT $2)
	UNION ALL
	(SELECT endpoint_id FROM delivery_queue
	 WHERE lease_owner IS NOT NULL AND lease_until <= $1 AND NOT paused AND next_attempt_at <= $1
	 LIMIT $2)
),
locked AS (
	SELECT e.id, e.max_in_flight, e.enabled FROM endpoints e
	WHERE e.id IN (SELECT endpoint_id FROM c WHERE endpoint_id <> ALL ($3))
	ORDER BY e.id
	FOR NO KEY UPDATE SKIP LOCKED
)
SELECT id, max_in_flight, enabled, NULL::bigint FROM locked
UNION ALL SELECT NULL, NULL, NULL, count(*) FROM c`

// claimOneSQL locks one endpoint, for claims of a single endpoint.
const claimOneSQL = `
SELECT e.id, e.max_in_flight, e.enabled, NULL::bigint FROM endpoints e WHERE e.id = $1
FOR NO KEY UPDATE SKIP LOCKED`

// claimScanSQL walks the queue's endpoints in id order from after $1
// (a loose index scan: one probe per endpoint, whatever its backlog) and
// locks up to $4 of them, leaving out $2, that have due work and room.
const claimScanSQL = `
WITH RECURSIVE walk(id) AS (
	(SELECT endpoint_id FROM delivery_queue WHERE endpoint_id > $1 ORDER BY endpoint_id LIMIT 1)
	UNION ALL
	SELECT (SELECT q.endpoint_id FROM delivery_queue q WHERE q.endpoint_id > walk.id ORDER BY q.endpoint_id LIMIT 1)
	FROM walk WHERE walk.id IS NOT NULL
),
found AS (
	SELECT walk.id FROM walk
	WHERE walk.id IS NOT NULL AND walk.id <> ALL ($2)
	  AND EXISTS (SELECT 1 FROM delivery_queue q WHERE q.endpoint_id = walk.id AND q.next_attempt_at <= $3
		AND NOT q.paused AND (q.lease_owner IS NULL OR q.lease_until <= $3))
	  AND (SELECT count(*) FROM delivery_queue l WHERE l.endpoint_id = walk.id AND l.lease_owner IS NOT NULL AND l.lease_until > $3)
		< (SELECT max_in_flight FROM endpoints WHERE id = walk.id AND enabled)
	LIMIT $4
)
SELECT e.id, e.max_in_flight, e.enabled, NULL::bigint FROM endpoints e
WHERE e.id IN (SELECT id FROM found)
ORDER BY e.id
FOR NO KEY UPDATE SKIP LOCKED`

// scanEndpoints bounds the endpoints one claimScanSQL locks.
const scanEndpoints = 64

// claimSQL leases up to $4 deliveries of the locked endpoints $1 (with
// MaxInFlight $2), each endpoint's oldest due first, within its room. The
// endpoint locks keep other claimers off these rows, so they are not
// locked one by one (which would write a WAL record per row looked at);
// the UPDATE re-checks each row, which a retry or an outcome may have
// changed meanwhile.
const claimSQL = `
WITH eps AS (SELECT * FROM unnest($1::text[], $2::int[]) AS e(id, cap)),
live AS (
	SELECT endpoint_id, count(*) AS n FROM delivery_queue
	WHERE endpoint_id = ANY ($1) AND lease_owner IS NOT NULL AND lease_until > $3
	GROUP BY endpoint_id
),
room AS (
	SELECT eps.id, least(greatest(eps.cap - coalesce(live.n, 0), 0), $4) AS room
	FROM eps LEFT JOIN live ON live.endpoint_id = eps.id
),
pick AS (
	SELECT x.delivery_id, x.next_attempt_at FROM room, LATERAL (
		SELECT q.delivery_id, q.next_attempt_at FROM delivery_queue q
		WHERE q.endpoint_id = room.id AND NOT q.paused AND q.next_attempt_at <= $3
		  AND (q.lease_owner IS NULL OR q.lease_until <= $3)
		ORDER BY q.next_attempt_at
		LIMIT room.room
	) x
	ORDER BY x.next_attempt_at
	LIMIT $4
),
up AS (
	UPDATE delivery_queue q SET lease_owner = $5, lease_until = $6, lease_token = $7
	FROM pick
	WHERE q.delivery_id = pick.delivery_id
	  AND NOT q.paused AND q.next_attempt_at <= $3 AND (q.lease_owner IS NULL OR q.lease_until <= $3)
	RETURNING q.delivery_id, q.part_at, q.next_attempt_at, q.event_created_at, q.event_seq
)
SELECT d.id, d.tenant, d.event_id, d.event_type, d.endpoint_id, d.state, d.attempts,
	up.next_attempt_at, d.last_attempt_at, d.last_attempt_id, d.last_outcome, d.last_status,
	d.created_at, d.updated_at, $5, $6, ` + eventColumns + `
FROM up
JOIN deliveries d ON d.id = up.delivery_id AND d.part_at = up.part_at
JOIN events e ON e.tenant = d.tenant AND e.created_at = d.event_created_at AND e.seq = d.event_seq
ORDER BY up.next_attempt_at, up.delivery_id`

// claimSettings start a claim's transaction. Queue statistics lag behind a
// burst of publishes (autovacuum analyses about once a minute), and with a
// stale "few rows" the planner would scan the whole queue, or sort every
// due row to find the oldest, or join partitions by scanning them. Every
// claim statement has an index that answers it, so the claim's plans are
// index scans whatever the statistics say. A claim's commit need not wait
// for the disk: a lease lost with a crash of PostgreSQL only means the
// delivery is claimed again.
var claimSettings = []string{
	"BEGIN",
	"SET LOCAL enable_seqscan = off",
	"SET LOCAL enable_bitmapscan = off",
	"SET LOCAL synchronous_commit = off",
}

// DeliveryClaimMany leases due deliveries to p.Owner, oldest due first,
// never beyond an endpoint's MaxInFlight counted over every node, never
// for a disabled endpoint.
func (s *Store) DeliveryClaimMany(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	for try := 0; ; try++ {
		claims, err := s.claim(ctx, p)
		if err != nil && retryable(err) && try < 2 {
			continue
		}
		if err != nil {
			return nil, s.fail(err, "claim deliveries")
		}
		return claims, nil
	}
}

// claim runs one claim's transaction on one connection. In the common
// case it takes two round trips: the beginning and the endpoint locks in
// one pipeline, the leases (read back with their deliveries and events)
// and the commit in another.
func (s *Store) claim(ctx context.Context, p hookd.DeliveryClaimParams) (out []hookd.Claim, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	token := rand.Int64()
	committed, commitSent := false, false
	defer func() {
		if committed {
			return
		}
		// The connection may be broken; a failed rollback closes it,
		// which rolls back as well.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		if commitSent {
			// The commit may have happened with its answer lost (the
			// connection broke): the caller will not send these
			// deliveries, so give them back rather than have them wait
			// for their leases to expire.
			s.unclaim(p.Owner, token)
		}
	}()

	// Enough candidate rows to find several endpoints, few enough to stay
	// cheap when one endpoint's backlog fills them all.
	k := 2*p.Max + 16
	skip := p.SkipEndpoints
	if skip == nil {
		skip = []string{} // NULL would leave out every endpoint
	}
	b := &pgx.Batch{}
	for _, q := range claimSettings {
		b.Queue(q)
	}
	var first lockedEndpoints
	if p.EndpointID != "" {
		first.queue(b, claimOneSQL, p.EndpointID)
	} else {
		first.queue(b, claimEndpointsSQL, p.Now, k, skip)
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if err := first.pause(ctx, conn); err != nil {
		return nil, err
	}
	// Can this claim end after its first leases? Then commit in the same
	// round trip.
	final := p.EndpointID != "" || first.seen < int64(k)
	if len(first.ids) > 0 || final {
		b = &pgx.Batch{}
		if len(first.ids) > 0 {
			queueLease(b, &out, first, p, p.Max, token)
		}
		if final {
			b.Queue("COMMIT")
			commitSent = true
		}
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
		if final {
			committed = true
			return out, nil
		}
	}
	if len(out) < p.Max {
		// The oldest due rows are all of endpoints that gave what they
		// could: look endpoint by endpoint, from where this node last
		// stopped, so that every endpoint gets its turn.
		exclude := append(append(slices.Clone(skip), first.ids...), first.disabled...)
		s.scanMu.Lock()
		from := s.scanFrom
		s.scanMu.Unlock()
		last := from
		for _, start := range []string{from, ""} {
			var found lockedEndpoints
			b = &pgx.Batch{}
			found.queue(b, claimScanSQL, start, exclude, p.Now, scanEndpoints)
			if err := conn.SendBatch(ctx, b).Close(); err != nil {
				return nil, err
			}
			if err := found.pause(ctx, conn); err != nil {
				return nil, err
			}
			if len(found.ids) > 0 {
				last = found.ids[len(found.ids)-1]
				b = &pgx.Batch{}
				queueLease(b, &out, found, p, p.Max-len(out), token)
				if err := conn.SendBatch(ctx, b).Close(); err != nil {
					return nil, err
				}
			}
			if start == "" || len(found.ids) >= scanEndpoints || len(out) >= p.Max {
				break
			}
			exclude = append(exclude, found.ids...)
		}
		s.scanMu.Lock()
		s.scanFrom = last
		s.scanMu.Unlock()
	}
	commitSent = true
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return nil, err
	}
	committed = true
	slices.SortFunc(out, func(a, b hookd.Claim) int {
		if c := a.Delivery.NextAttemptAt.Compare(b.Delivery.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.Delivery.ID, b.Delivery.ID)
	})
	return out, nil
}

// lockedEndpoints is what one of the claim*SQL statements locked: enabled
// endpoints with their MaxInFlight, disabled ones, and how many queue rows
// it looked at.
type lockedEndpoints struct {
	ids, disabled []string
	caps          []int32
	seen          int64
}

func (l *lockedEndpoints) queue(b *pgx.Batch, sql string, args ...any) {
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		var (
			id      *string
			cap     *int32
			enabled *bool
			n       *int64
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &cap, &enabled, &n}, func() error {
			switch {
			case n != nil: // the row of the count
				l.seen = *n
			case *enabled:
				l.ids, l.caps = append(l.ids, *id), append(l.caps, *cap)
			default:
				l.disabled = append(l.disabled, *id)
			}
			return nil
		})
		return err
	})
}

// pause pauses unpaused rows of the disabled endpoints found (rows queued
// while the endpoint was being disabled), so that no claim meets them
// again. It is rare, hence its own round trip.
func (l *lockedEndpoints) pause(ctx context.Context, conn *pgxpool.Conn) error {
	if len(l.disabled) == 0 {
		return nil
	}
	_, err := conn.Exec(ctx, `UPDATE delivery_queue SET paused = true WHERE endpoint_id = ANY ($1) AND NOT paused`, l.disabled)
	return err
}

// queueLease queues claimSQL for the endpoints of l, appending the claims
// to out.
func queueLease(b *pgx.Batch, out *[]hookd.Claim, l lockedEndpoints, p hookd.DeliveryClaimParams, max int, token int64) {
	b.Queue(claimSQL, l.ids, l.caps, p.Now, max, p.Owner, p.LeaseUntil, token).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				ev   hookd.Event
				data []byte
			)
			d, err := scanDelivery(rows, &ev.Tenant, &ev.ID, &ev.Seq, &ev.Type, &data, &ev.OccurredAt, &ev.CreatedAt)
			if err != nil {
				return err
			}
			ev.Data = data
			ev.OccurredAt, ev.CreatedAt = ev.OccurredAt.UTC(), ev.CreatedAt.UTC()
			*out = append(*out, hookd.Claim{Delivery: d, Event: &ev})
		}
		return rows.Err()
	})
}

// unclaim gives back, in the background, the leases of a claim whose
// commit went unanswered, trying until the database answers again (a
// minute at most: by then the leases are about to expire anyway).
func (s *Store) unclaim(owner string, token int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		deadline := time.Now().Add(time.Minute)
		for delay := 100 * time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 5*time.Second) {
			if s.unclaimOnce(s.bg, owner, token) == nil {
				return
			}
			select {
			case <-s.bg.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
}

// unclaimOnce drops the leases of owner's claim token, and wakes the nodes.
func (s *Store) unclaimOnce(ctx context.Context, owner string, token int64) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE delivery_queue SET lease_owner = NULL, lease_until = NULL
		WHERE lease_owner = $1 AND lease_token = $2`, owner, token)
	b.Queue(`SELECT pg_notify($1, '')`, s.channel)
	return s.pool.SendBatch(ctx, b).Close()
}
