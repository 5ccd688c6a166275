package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// recordSQL stores attempts and applies their outcome to deliveries whose
// lease their node still holds: the queue row is rescheduled (pending) or
// removed (final), and the delivery's history row, which no index covers
// in the columns changed, is updated in place (a HOT update).
const recordSQL = `
WITH a AS (
	INSERT INTO attempts (part_at, id, tenant, delivery_id, endpoint_id, event_id, number, started_at, duration_ms,
		outcome, status_code, error, response, request_headers, retry_of, next_attempt_at, manual)
	SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
		$8::timestamptz[], $9::bigint[], $10::text[], $11::int[], $12::text[], $13::bytea[], $14::json[], $15::text[],
		$16::timestamptz[], $17::bool[])
),
r AS (
	SELECT * FROM unnest($4::text[], $1::timestamptz[], $18::text[], $19::text[], $20::timestamptz[], $2::text[],
		$8::timestamptz[], $10::text[], $11::int[], $21::timestamptz[])
		AS r(delivery_id, part_at, owner, state, next_attempt_at, attempt_id, started_at, outcome, status, updated_at)
),
upd AS (
	UPDATE delivery_queue q SET next_attempt_at = r.next_attempt_at, lease_owner = NULL, lease_until = NULL
	FROM r WHERE q.delivery_id = r.delivery_id AND q.lease_owner = r.owner AND r.state = 'pending'
	RETURNING q.delivery_id
),
del AS (
	DELETE FROM delivery_queue q USING r
	WHERE q.delivery_id = r.delivery_id AND q.lease_owner = r.owner AND r.state <> 'pending'
	RETURNING q.delivery_id
),
m AS (SELECT delivery_id FROM upd UNION ALL SELECT delivery_id FROM del)
UPDATE deliveries d SET state = r.state, attempts = d.attempts + 1, last_attempt_at = r.started_at,
	last_attempt_id = r.attempt_id, last_outcome = r.outcome, last_status = nullif(r.status, 0),
	updated_at = r.updated_at
FROM r JOIN m ON m.delivery_id = r.delivery_id
WHERE d.id = r.delivery_id AND d.part_at = r.part_at`

// disableSQL disables endpoints that answered 410 and pauses their queue.
const disableSQL = `
WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS x(id, reason, at)),
e AS (
	UPDATE endpoints e SET enabled = false, updated_at = greatest(e.updated_at, x.at),
		config = (e.config::jsonb || jsonb_build_object('disabled_reason', x.reason))::json
	FROM x WHERE e.id = x.id AND e.enabled
	RETURNING e.id
)
UPDATE delivery_queue SET paused = true WHERE endpoint_id IN (SELECT id FROM e) AND NOT paused`

// nearRetry is how soon a recorded retry must come due for the record to
// wake every node; the recording node times later ones itself.
const nearRetry = time.Second

// AttemptRecordMany stores attempts and applies each one's effect, all in
// one transaction and one round trip.
func (s *Store) AttemptRecordMany(ctx context.Context, recs []hookd.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// A delivery may appear once per statement: its queue row can be
	// changed only once. Later records of it go in a following round.
	var rounds [][]hookd.AttemptRecord
	seen := map[string]int{}
	for _, r := range recs {
		i := seen[r.Attempt.DeliveryID]
		seen[r.Attempt.DeliveryID] = i + 1
		if i == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[i] = append(rounds[i], r)
	}
	b := &pgx.Batch{}
	wall := s.now()
	wake := false
	for _, round := range rounds {
		args, err := recordArgs(round)
		if err != nil {
			return err
		}
		b.Queue(recordSQL, args...)
		for _, r := range round {
			if r.State != hookd.StatePending {
				continue
			}
			if r.NextAttemptAt.Before(wall.Add(nearRetry)) {
				wake = true
			}
		}
	}
	var ids, reasons []string
	var ats []time.Time
	for _, r := range recs {
		if r.DisableEndpoint != "" {
			ids = append(ids, r.Attempt.EndpointID)
			reasons = append(reasons, r.DisableEndpoint)
			ats = append(ats, attemptEnd(r.Attempt))
		}
	}
	if len(ids) > 0 {
		b.Queue(disableSQL, ids, reasons, ats)
	}
	if wake {
		b.Queue(`SELECT pg_notify($1, '')`, s.channel)
	}
	days := make([]time.Time, 0, 1)
	for _, r := range recs {
		if d := idDay(r.Attempt.DeliveryID); !containsTime(days, d) {
			days = append(days, d)
		}
	}
	for try := 0; ; try++ {
		if err := s.ensureDays(ctx, days); err != nil {
			return err
		}
		err := s.pool.SendBatch(ctx, b).Close()
		switch {
		case err == nil:
			return nil
		case noPartition(err) && try < 2:
			for _, d := range days {
				s.parts.forget(d)
			}
			continue
		case retryable(err) && try < 2:
			continue
		}
		return s.fail(err, "record attempts")
	}
}

func containsTime(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if x.Equal(t) {
			return true
		}
	}
	return false
}

// attemptEnd is when an attempt finished: the delivery's UpdatedAt.
func attemptEnd(a *hookd.Attempt) time.Time {
	return a.StartedAt.Add(time.Duration(a.Duration) * time.Millisecond)
}

func recordArgs(recs []hookd.AttemptRecord) ([]any, error) {
	n := len(recs)
	var (
		part, started, updated         = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		id, tenant, delivery, endpoint = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		event, outcome, errs, retryOf  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		owner, state                   = make([]string, n), make([]string, n)
		number, status                 = make([]int32, n), make([]int32, n)
		duration                       = make([]int64, n)
		response                       = make([][]byte, n)
		headers                        = make([][]byte, n)
		next, recNext                  = make([]*time.Time, n), make([]*time.Time, n)
		manual                         = make([]bool, n)
	)
	for i, r := range recs {
		a := r.Attempt
		part[i] = idDay(a.DeliveryID)
		id[i], tenant[i], delivery[i], endpoint[i], event[i] = a.ID, a.Tenant, a.DeliveryID, a.EndpointID, a.EventID
		number[i], started[i], duration[i] = int32(a.Number), a.StartedAt, a.Duration
		outcome[i], status[i], errs[i] = string(a.Outcome), int32(a.StatusCode), cleanText(a.Error)
		response[i], retryOf[i], next[i], manual[i] = []byte(a.Response), a.RetryOf, nullTime(a.NextAttemptAt), a.Manual
		if a.RequestHeaders != nil {
			h, err := json.Marshal(a.RequestHeaders)
			if err != nil {
				return nil, hookd.Invalid("request_headers", "cannot be encoded: %v", err)
			}
			headers[i] = h
		}
		owner[i], state[i] = r.LeaseOwner, string(r.State)
		if r.State == hookd.StatePending {
			recNext[i] = &r.NextAttemptAt
		}
		updated[i] = attemptEnd(a)
	}
	return []any{part, id, tenant, delivery, endpoint, event, number, started, duration,
		outcome, status, errs, response, headers, retryOf, next, manual,
		owner, state, recNext, updated}, nil
}

// cleanText makes s storable as text: valid UTF-8 without NUL bytes.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

const attemptColumns = `a.id, a.tenant, a.delivery_id, a.endpoint_id, a.event_id, a.number, a.started_at, a.duration_ms,
	a.outcome, a.status_code, a.error, a.response, a.request_headers, a.retry_of, a.next_attempt_at, a.manual`

func scanAttempt(row pgx.Row) (*hookd.Attempt, error) {
	var (
		a                 hookd.Attempt
		outcome           string
		response, headers []byte
		next              *time.Time
	)
	if err := row.Scan(&a.ID, &a.Tenant, &a.DeliveryID, &a.EndpointID, &a.EventID, &a.Number, &a.StartedAt, &a.Duration,
		&outcome, &a.StatusCode, &a.Error, &response, &headers, &a.RetryOf, &next, &a.Manual); err != nil {
		return nil, err
	}
	a.Outcome, a.Response, a.NextAttemptAt, a.StartedAt = hookd.Outcome(outcome), string(response), utc(next), a.StartedAt.UTC()
	if headers != nil {
		if err := json.Unmarshal(headers, &a.RequestHeaders); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// AttemptListByDelivery lists a delivery's attempts, oldest first, from
// the delivery's one partition.
func (s *Store) AttemptListByDelivery(ctx context.Context, tenant, deliveryID string, p hookd.ListParams) ([]*hookd.Attempt, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT `+attemptColumns+` FROM attempts a
		WHERE a.delivery_id = $1 AND a.part_at = $2 AND a.tenant = $3
		  AND (NOT $4 OR (a.started_at, a.id) > ($5, $6))
		ORDER BY a.started_at, a.id LIMIT $7`,
		deliveryID, idDay(deliveryID), tenant, c.set, c.at, c.key, n+1)
	if err != nil {
		return nil, "", s.fail(err, "list attempts")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Attempt, error) { return scanAttempt(r) })
	if err != nil {
		return nil, "", s.fail(err, "list attempts")
	}
	if len(list) == 0 {
		// Nothing listed: say whether the delivery is there at all.
		if _, err := s.DeliveryGet(ctx, tenant, deliveryID); err != nil {
			return nil, "", err
		}
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].StartedAt, list[n-1].ID)
	}
	return list, next, nil
}

// AttemptListByEndpoint lists an endpoint's attempts, newest first.
func (s *Store) AttemptListByEndpoint(ctx context.Context, p hookd.AttemptListParams) ([]*hookd.Attempt, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q := query{sql: `SELECT ` + attemptColumns + ` FROM attempts a WHERE a.endpoint_id = `}
	q.arg(p.EndpointID)
	q.and("a.tenant = ", p.Tenant)
	if p.Failed != nil {
		if *p.Failed {
			q.sql += " AND a.outcome <> 'succeeded'"
		} else {
			q.sql += " AND a.outcome = 'succeeded'"
		}
	}
	if !p.Since.IsZero() {
		q.and("a.started_at >= ", p.Since)
	}
	if !p.Until.IsZero() {
		q.and("a.started_at < ", p.Until)
	}
	if c.set {
		q.and("(a.started_at, a.id) < (", c.at)
		q.sql += ", "
		q.arg(c.key)
		q.sql += ")"
	}
	q.sql += " ORDER BY a.started_at DESC, a.id DESC LIMIT "
	q.arg(n + 1)
	rows, err := s.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, "", s.fail(err, "list attempts")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Attempt, error) { return scanAttempt(r) })
	if err != nil {
		return nil, "", s.fail(err, "list attempts")
	}
	if len(list) == 0 {
		if _, err := s.EndpointGet(ctx, p.Tenant, p.EndpointID); err != nil {
			return nil, "", err
		}
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].StartedAt, list[n-1].ID)
	}
	return list, next, nil
}
