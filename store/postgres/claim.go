package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
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
)
UPDATE delivery_queue q SET lease_owner = $5, lease_until = $6
FROM pick
WHERE q.delivery_id = pick.delivery_id
  AND NOT q.paused AND q.next_attempt_at <= $3 AND (q.lease_owner IS NULL OR q.lease_until <= $3)
RETURNING q.delivery_id, q.part_at, q.next_attempt_at, q.event_created_at, q.event_seq`

// claimTx begins a claim's transaction. Queue statistics lag behind a
// burst of publishes (autovacuum analyses about once a minute), and with a
// stale "few rows" the planner would scan the whole queue, or sort every
// due row to find the oldest. Every claim statement has an index that
// answers it in due order, so the claim's plans are those index scans,
// whatever the statistics say.
var claimTx = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"}

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

func (s *Store) claim(ctx context.Context, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	// Enough candidate rows to find several endpoints, few enough to stay
	// cheap when one endpoint's backlog fills them all.
	k := 2*p.Max + 16
	var leased []leasedRow
	err := pgx.BeginTxFunc(ctx, s.pool, claimTx, func(tx pgx.Tx) error {
		take := func(sql string, args ...any) (seen int64, eps []string, err error) {
			ids, caps, seen, err := lockEndpoints(ctx, tx, sql, args...)
			if err != nil || len(ids) == 0 {
				return seen, ids, err
			}
			got, err := leaseRows(ctx, tx, ids, caps, p, p.Max-len(leased))
			leased = append(leased, got...)
			return seen, ids, err
		}
		if p.EndpointID != "" {
			_, _, err := take(claimOneSQL, p.EndpointID)
			return err
		}
		skip := p.SkipEndpoints
		if skip == nil {
			skip = []string{} // NULL would leave out every endpoint
		}
		seen, eps, err := take(claimEndpointsSQL, p.Now, k, skip)
		if err != nil || len(leased) >= p.Max || seen < int64(k) {
			return err // every due row was among those seen
		}
		// The oldest due rows are all of endpoints that gave what they
		// could: look endpoint by endpoint, from where this node last
		// stopped, so that every endpoint gets its turn.
		exclude := append(slices.Clone(skip), eps...)
		s.scanMu.Lock()
		from := s.scanFrom
		s.scanMu.Unlock()
		var last string
		for _, start := range []string{from, ""} {
			_, found, err := take(claimScanSQL, start, exclude, p.Now, scanEndpoints)
			if err != nil || len(leased) >= p.Max {
				return err
			}
			if len(found) > 0 {
				last = found[len(found)-1]
			}
			if start == "" || len(found) >= scanEndpoints {
				break
			}
			exclude = append(exclude, found...)
		}
		s.scanMu.Lock()
		s.scanFrom = last
		s.scanMu.Unlock()
		return nil
	})
	if err != nil || len(leased) == 0 {
		return nil, err
	}
	slices.SortFunc(leased, func(a, b leasedRow) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return s.claimed(ctx, leased, p)
}

// lockEndpoints runs one of the claim*SQL statements and returns the
// enabled endpoints it locked with their MaxInFlight, and the number of
// queue rows it looked at. Unpaused rows of disabled endpoints (queued
// while the endpoint was being disabled) are paused on the way.
func lockEndpoints(ctx context.Context, tx pgx.Tx, sql string, args ...any) (ids []string, caps []int32, seen int64, err error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, 0, err
	}
	var (
		id       *string
		cap      *int32
		enabled  *bool
		n        *int64
		disabled []string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &cap, &enabled, &n}, func() error {
		switch {
		case n != nil: // the row of the count
			seen = *n
		case *enabled:
			ids, caps = append(ids, *id), append(caps, *cap)
		default:
			disabled = append(disabled, *id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	if len(disabled) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE delivery_queue SET paused = true WHERE endpoint_id = ANY ($1) AND NOT paused`, disabled); err != nil {
			return nil, nil, 0, err
		}
	}
	return ids, caps, seen, nil
}

// leasedRow is a queue row a claim leased.
type leasedRow struct {
	id               string
	part, next, evAt time.Time
	evSeq            int64
}

func leaseRows(ctx context.Context, tx pgx.Tx, ids []string, caps []int32, p hookd.DeliveryClaimParams, max int) ([]leasedRow, error) {
	rows, err := tx.Query(ctx, claimSQL, ids, caps, p.Now, max, p.Owner, p.LeaseUntil)
	if err != nil {
		return nil, err
	}
	var out []leasedRow
	var r leasedRow
	_, err = pgx.ForEachRow(rows, []any{&r.id, &r.part, &r.next, &r.evAt, &r.evSeq}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// claimed reads the deliveries and events of leased rows, after the claim
// committed (the leases keep them), in one round trip. The keys are given
// as arrays of constants so that PostgreSQL prunes partitions when it
// plans, and looks rows up by index whatever its statistics.
func (s *Store) claimed(ctx context.Context, leased []leasedRow, p hookd.DeliveryClaimParams) ([]hookd.Claim, error) {
	ids := make([]string, len(leased))
	var parts, evAts []time.Time
	var seqs []int64
	for i, r := range leased {
		ids[i] = r.id
		if !containsTime(parts, r.part) {
			parts = append(parts, r.part)
		}
		if !containsTime(evAts, r.evAt) {
			evAts = append(evAts, r.evAt)
		}
		seqs = append(seqs, r.evSeq)
	}
	deliveries := make(map[string]*hookd.Delivery, len(leased))
	events := make(map[int64]*hookd.Event, len(leased))
	b := &pgx.Batch{}
	b.Queue(`SELECT d.id, d.tenant, d.event_id, d.event_type, d.endpoint_id, d.state, d.attempts,
			NULL::timestamptz, d.last_attempt_at, d.last_attempt_id, d.last_outcome, d.last_status,
			d.created_at, d.updated_at, NULL::text, NULL::timestamptz
		FROM deliveries d WHERE d.id = ANY ($1) AND d.part_at = ANY ($2)`, ids, parts).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			deliveries[d.ID] = d
		}
		return rows.Err()
	})
	b.Queue(`SELECT `+eventColumns+` FROM events e WHERE e.created_at = ANY ($1) AND e.seq = ANY ($2)`,
		evAts, seqs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			events[e.Seq] = e
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	out := make([]hookd.Claim, 0, len(leased))
	for _, r := range leased {
		d, ev := deliveries[r.id], events[r.evSeq]
		if d == nil || ev == nil {
			continue // gone with its day (retention); the lease lapses
		}
		d.NextAttemptAt, d.LeaseOwner, d.LeaseUntil = r.next.UTC(), p.Owner, p.LeaseUntil.UTC()
		out = append(out, hookd.Claim{Delivery: d, Event: ev})
	}
	return out, nil
}
