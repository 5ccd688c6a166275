package postgres

import (
	"context"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// Claiming. Several nodes claim from one queue at once, and each endpoint's
// MaxInFlight holds across all of them. A claim is one short transaction:
//
//  1. find the endpoints of the oldest due work, and lock their endpoint
//     rows FOR NO KEY UPDATE SKIP LOCKED: claimers of one endpoint take
//     turns, and one that finds it taken leaves it to the other;
//  2. in a new statement, hence a snapshot taken after the locks, count
//     each endpoint's live leases, take at most the room left from its
//     own oldest due rows, and lease them.
//
// Counting in the same statement as the locking would read leases from
// before another claimer's commit, and both could fill the same room. No
// transaction outlives the claim: the HTTP request runs under the lease.

// claimRounds bounds how often a claim looks past endpoints that turned out
// to be full or busy.
const claimRounds = 3

// claimEndpointsSQL finds the endpoints of the oldest due work, skipping
// $3, and locks those it can. Expired leases are due work too.
const claimEndpointsSQL = `
WITH c AS (
	(SELECT endpoint_id FROM delivery_queue
	 WHERE lease_owner IS NULL AND NOT paused AND next_attempt_at <= $1
	   AND endpoint_id <> ALL ($3) AND ($4 = '' OR endpoint_id = $4)
	 ORDER BY next_attempt_at LIMIT $2)
	UNION ALL
	(SELECT endpoint_id FROM delivery_queue
	 WHERE lease_owner IS NOT NULL AND lease_until <= $1 AND NOT paused AND next_attempt_at <= $1
	   AND endpoint_id <> ALL ($3) AND ($4 = '' OR endpoint_id = $4)
	 LIMIT $2)
)
SELECT e.id, e.max_in_flight, e.enabled, (SELECT count(*) FROM c) FROM endpoints e
WHERE e.id IN (SELECT endpoint_id FROM c)
ORDER BY e.id
FOR NO KEY UPDATE SKIP LOCKED`

// claimSQL leases up to $4 deliveries of the locked endpoints $1 (with
// MaxInFlight $2), each endpoint's oldest due first, within its room.
const claimSQL = `
WITH eps AS (SELECT * FROM unnest($1::text[], $2::int[]) AS e(id, cap)),
live AS (
	SELECT endpoint_id, count(*) AS n FROM delivery_queue
	WHERE endpoint_id = ANY ($1) AND lease_owner IS NOT NULL AND lease_until > $3
	GROUP BY endpoint_id
),
room AS (
	SELECT eps.id, greatest(eps.cap - coalesce(live.n, 0), 0) AS room
	FROM eps LEFT JOIN live ON live.endpoint_id = eps.id
),
pick AS (
	SELECT x.delivery_id, x.next_attempt_at FROM room, LATERAL (
		SELECT q.delivery_id, q.next_attempt_at FROM delivery_queue q
		WHERE q.endpoint_id = room.id AND NOT q.paused AND q.next_attempt_at <= $3
		  AND (q.lease_owner IS NULL OR q.lease_until <= $3)
		ORDER BY q.next_attempt_at
		LIMIT room.room
		FOR UPDATE SKIP LOCKED
	) x
	ORDER BY x.next_attempt_at
	LIMIT $4
),
up AS (
	UPDATE delivery_queue q SET lease_owner = $5, lease_until = $6
	FROM pick WHERE q.delivery_id = pick.delivery_id
	RETURNING q.delivery_id, q.part_at, q.next_attempt_at, q.event_created_at, q.event_seq, q.lease_owner, q.lease_until
)
SELECT d.id, d.tenant, d.event_id, d.event_type, d.endpoint_id, d.state, d.attempts,
	up.next_attempt_at, d.last_attempt_at, d.last_attempt_id, d.last_outcome, d.last_status,
	d.created_at, d.updated_at, up.lease_owner, up.lease_until, ` + eventColumns + `
FROM up
JOIN deliveries d ON d.id = up.delivery_id AND d.part_at = up.part_at
JOIN events e ON e.tenant = d.tenant AND e.created_at = up.event_created_at AND e.seq = up.event_seq
ORDER BY up.next_attempt_at, up.delivery_id`

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
	var out []hookd.Claim
	skip := append([]string{}, p.SkipEndpoints...)
	// Enough candidate rows to find several endpoints, few enough to stay
	// cheap when one endpoint's backlog fills them all.
	k := 2*p.Max + 16
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for round := 0; round < claimRounds && len(out) < p.Max; round++ {
			rows, err := tx.Query(ctx, claimEndpointsSQL, p.Now, k, skip, p.EndpointID)
			if err != nil {
				return err
			}
			var (
				ids      []string
				caps     []int32
				disabled []string
				seen     int64 // candidate rows
			)
			for rows.Next() {
				var (
					id      string
					cap     int32
					enabled bool
				)
				if err := rows.Scan(&id, &cap, &enabled, &seen); err != nil {
					rows.Close()
					return err
				}
				if enabled {
					ids, caps = append(ids, id), append(caps, cap)
				} else {
					disabled = append(disabled, id)
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if len(disabled) > 0 {
				// Rows queued while the endpoint was being disabled
				// missed its pause; pause them now.
				if _, err := tx.Exec(ctx, `UPDATE delivery_queue SET paused = true WHERE endpoint_id = ANY ($1) AND NOT paused`, disabled); err != nil {
					return err
				}
			}
			if len(ids) == 0 {
				if len(disabled) == 0 {
					return nil // nothing due, or every endpoint busy with another claimer
				}
				skip = append(skip, disabled...)
				continue
			}
			got, err := claimRows(ctx, tx, ids, caps, p, p.Max-len(out))
			if err != nil {
				return err
			}
			out = append(out, got...)
			if seen < int64(k) {
				return nil // every due row was among the candidates
			}
			// Look past the endpoints seen: they were full, or gave
			// all they had.
			skip = append(skip, ids...)
			skip = append(skip, disabled...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func claimRows(ctx context.Context, tx pgx.Tx, ids []string, caps []int32, p hookd.DeliveryClaimParams, max int) ([]hookd.Claim, error) {
	rows, err := tx.Query(ctx, claimSQL, ids, caps, p.Now, max, p.Owner, p.LeaseUntil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hookd.Claim
	for rows.Next() {
		var (
			ev   hookd.Event
			data []byte
		)
		d, err := scanDelivery(rows, &ev.Tenant, &ev.ID, &ev.Seq, &ev.Type, &data, &ev.OccurredAt, &ev.CreatedAt)
		if err != nil {
			return nil, err
		}
		ev.Data = data
		ev.OccurredAt, ev.CreatedAt = ev.OccurredAt.UTC(), ev.CreatedAt.UTC()
		out = append(out, hookd.Claim{Delivery: d, Event: &ev})
	}
	return out, rows.Err()
}
