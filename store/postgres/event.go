package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// insertSQL stores a batch of events and their deliveries in one statement
// (so one round trip and one commit): event_ids decides which events are
// new (ON CONFLICT DO NOTHING), and only those get their event row,
// deliveries, queue rows and, on first use, their tenant. Sequence numbers
// are drawn in input order, but for those reserved with EventSeqReserve.
const insertSQL = `
WITH e AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::timestamptz[], $22::bigint[])
		WITH ORDINALITY AS e(tenant, id, type, data, occurred_at, created_at, seq, ord)
),
ids AS (
	INSERT INTO event_ids (tenant, id, created_at, seq)
	SELECT tenant, id, created_at, coalesce(seq, nextval('event_seq')) FROM e ORDER BY ord
	ON CONFLICT DO NOTHING
	RETURNING tenant, id, seq
),
ev AS (
	INSERT INTO events (tenant, id, seq, type, data, occurred_at, created_at)
	SELECT e.tenant, e.id, ids.seq, e.type, e.data, e.occurred_at, e.created_at
	FROM e JOIN ids ON ids.tenant = e.tenant AND ids.id = e.id
),
t AS (
	INSERT INTO tenants (id, created_at)
	SELECT e.tenant, min(e.created_at) FROM e JOIN ids ON ids.tenant = e.tenant AND ids.id = e.id GROUP BY e.tenant
	ON CONFLICT DO NOTHING
),
d AS (
	SELECT * FROM unnest($7::int[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::int[],
		$13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[], $17::int[],
		$18::timestamptz[], $19::timestamptz[], $20::text[], $21::timestamptz[])
		AS d(ev, part_at, id, endpoint_id, state, attempts,
			next_attempt_at, last_attempt_at, last_attempt_id, last_outcome, last_status,
			created_at, updated_at, lease_owner, lease_until)
),
dd AS (
	SELECT d.*, e.tenant, e.id AS event_id, e.type AS event_type, e.created_at AS event_created_at, ids.seq AS event_seq
	FROM d JOIN e ON e.ord = d.ev JOIN ids ON ids.tenant = e.tenant AND ids.id = e.id
),
dl AS (
	INSERT INTO deliveries (part_at, id, tenant, event_id, event_type, event_created_at, event_seq, endpoint_id,
		state, attempts, last_attempt_at, last_attempt_id, last_outcome, last_status, created_at, updated_at)
	SELECT part_at, id, tenant, event_id, event_type, event_created_at, event_seq, endpoint_id,
		state, attempts, last_attempt_at, last_attempt_id, last_outcome, last_status, created_at, updated_at
	FROM dd
),
q AS (
	INSERT INTO delivery_queue (delivery_id, part_at, endpoint_id, event_created_at, event_seq,
		next_attempt_at, lease_owner, lease_until, paused)
	SELECT dd.id, dd.part_at, dd.endpoint_id, dd.event_created_at, dd.event_seq,
		dd.next_attempt_at, dd.lease_owner, dd.lease_until, coalesce(NOT ep.enabled, false)
	FROM dd LEFT JOIN endpoints ep ON ep.id = dd.endpoint_id
	WHERE dd.state = 'pending'
)
SELECT tenant, id, seq FROM ids`

// insertArgs are the columns of insertSQL, one slice per column.
type insertArgs struct {
	tenant, id, typ                 []string
	data                            [][]byte
	occurred, created               []time.Time
	ev, attempts                    []int32
	lastStatus                      []*int32
	part, dCreated, dUpdated        []time.Time
	next, lastAt, leaseUntil        []*time.Time
	did, endpoint, state            []string
	lastID, lastOutcome, leaseOwner []*string
	seq                             []*int64 // reserved by EventSeqReserve, or nil
	days                            []time.Time
	unleased                        bool // some delivery is pending without a lease: wake the nodes
}

func (a *insertArgs) addEvent(ev *hookd.Event) {
	a.tenant = append(a.tenant, ev.Tenant)
	a.id = append(a.id, ev.ID)
	a.typ = append(a.typ, ev.Type)
	a.data = append(a.data, ev.Data)
	a.occurred = append(a.occurred, ev.OccurredAt)
	a.created = append(a.created, ev.CreatedAt)
	var seq *int64
	if ev.Seq > 0 {
		seq = &ev.Seq
	}
	a.seq = append(a.seq, seq)
	a.addDay(day(ev.CreatedAt))
}

func (a *insertArgs) addDay(d time.Time) {
	for _, x := range a.days {
		if x.Equal(d) {
			return
		}
	}
	a.days = append(a.days, d)
}

// addDelivery adds a delivery of the n-th event (1-based).
func (a *insertArgs) addDelivery(n int, d *hookd.Delivery) {
	part := idDay(d.ID)
	a.addDay(part)
	a.ev = append(a.ev, int32(n))
	a.part = append(a.part, part)
	a.did = append(a.did, d.ID)
	a.endpoint = append(a.endpoint, d.EndpointID)
	a.state = append(a.state, string(d.State))
	a.attempts = append(a.attempts, int32(d.Attempts))
	next := d.NextAttemptAt
	if d.State == hookd.StatePending && next.IsZero() {
		next = d.CreatedAt
	}
	a.next = append(a.next, nullTime(next))
	a.lastAt = append(a.lastAt, nullTime(d.LastAttemptAt))
	a.lastID = append(a.lastID, nullString(d.LastAttemptID))
	a.lastOutcome = append(a.lastOutcome, nullString(string(d.LastOutcome)))
	var status *int32
	if d.LastStatus != 0 {
		v := int32(d.LastStatus)
		status = &v
	}
	a.lastStatus = append(a.lastStatus, status)
	a.dCreated = append(a.dCreated, d.CreatedAt)
	a.dUpdated = append(a.dUpdated, d.UpdatedAt)
	a.leaseOwner = append(a.leaseOwner, nullString(d.LeaseOwner))
	a.leaseUntil = append(a.leaseUntil, nullTime(d.LeaseUntil))
	if d.State == hookd.StatePending && d.LeaseOwner == "" {
		a.unleased = true
	}
}

func (a *insertArgs) values() []any {
	return []any{a.tenant, a.id, a.typ, a.data, a.occurred, a.created,
		a.ev, a.part, a.did, a.endpoint, a.state, a.attempts,
		a.next, a.lastAt, a.lastID, a.lastOutcome, a.lastStatus,
		a.dCreated, a.dUpdated, a.leaseOwner, a.leaseUntil, a.seq}
}

type eventKey struct{ tenant, id string }

// EventInsertMany stores events with their deliveries in one transaction.
// Concurrent calls are merged into shared transactions (see inserter).
func (s *Store) EventInsertMany(ctx context.Context, in []hookd.EventInsert) ([]hookd.EventInsertResult, error) {
	if len(in) == 0 {
		return []hookd.EventInsertResult{}, nil
	}
	return s.ins.insert(ctx, in)
}

// insertNow stores in, which may hold the events of several callers, in
// one statement, and returns one result per input.
func (s *Store) insertNow(ctx context.Context, in []hookd.EventInsert) ([]hookd.EventInsertResult, error) {
	res := make([]hookd.EventInsertResult, len(in))
	first := make(map[eventKey]int, len(in)) // where each key first appears
	var later []int                          // inputs repeating an earlier one
	var a insertArgs
	for i, x := range in {
		k := eventKey{x.Event.Tenant, x.Event.ID}
		if _, ok := first[k]; ok {
			later = append(later, i)
			continue
		}
		first[k] = i
		a.addEvent(x.Event)
		for _, d := range x.Deliveries {
			a.addDelivery(len(a.id), d)
		}
	}
	seqs, err := s.runInsert(ctx, &a)
	if err != nil {
		return nil, err
	}
	var dups []eventKey
	for k, i := range first {
		if seq, ok := seqs[k]; ok {
			in[i].Event.Seq = seq
			res[i] = hookd.EventInsertResult{Event: in[i].Event}
		} else {
			dups = append(dups, k)
		}
	}
	if len(dups) > 0 {
		stored, err := s.eventsByKey(ctx, dups)
		if err != nil {
			return nil, err
		}
		for _, k := range dups {
			ev, ok := stored[k]
			if !ok {
				return nil, &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "event " + k.id + " was stored by another call but cannot be read back; try again"}
			}
			res[first[k]] = hookd.EventInsertResult{Event: ev, Duplicate: true}
		}
	}
	// A later copy within the batch is a duplicate of the first one,
	// whether that was new or stored before.
	for _, i := range later {
		j := first[eventKey{in[i].Event.Tenant, in[i].Event.ID}]
		res[i] = hookd.EventInsertResult{Event: res[j].Event, Duplicate: true}
	}
	return res, nil
}

// runInsert runs insertSQL, making missing partitions first (and again if
// another node dropped one meanwhile), and returns the seq of every event
// that was new.
func (s *Store) runInsert(ctx context.Context, a *insertArgs) (map[eventKey]int64, error) {
	for try := 0; ; try++ {
		if err := s.ensureDays(ctx, a.days); err != nil {
			return nil, err
		}
		seqs, err := s.execInsert(ctx, a)
		switch {
		case err == nil:
			return seqs, nil
		case noPartition(err) && try < 2:
			for _, d := range a.days {
				s.parts.forget(d)
			}
			continue
		case retryable(err) && try < 2:
			continue
		}
		return nil, s.fail(err, "insert events")
	}
}

func (s *Store) execInsert(ctx context.Context, a *insertArgs) (map[eventKey]int64, error) {
	b := &pgx.Batch{}
	seqs := make(map[eventKey]int64, len(a.id))
	b.Queue(insertSQL, a.values()...).Query(func(rows pgx.Rows) error {
		var (
			k   eventKey
			seq int64
		)
		_, err := pgx.ForEachRow(rows, []any{&k.tenant, &k.id, &seq}, func() error {
			seqs[k] = seq
			return nil
		})
		return err
	})
	if a.unleased && s.notifyPublish() {
		b.Queue(`SELECT pg_notify($1, '')`, s.channel)
	}
	// A batch outside a transaction runs as one implicit transaction.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return seqs, nil
}

const eventColumns = `e.tenant, e.id, e.seq, e.type, e.data, e.occurred_at, e.created_at`

func scanEvent(row pgx.Row) (*hookd.Event, error) {
	var e hookd.Event
	var data []byte
	if err := row.Scan(&e.Tenant, &e.ID, &e.Seq, &e.Type, &data, &e.OccurredAt, &e.CreatedAt); err != nil {
		return nil, err
	}
	e.Data = data
	e.OccurredAt, e.CreatedAt = e.OccurredAt.UTC(), e.CreatedAt.UTC()
	return &e, nil
}

// eventsByKey reads stored events by (tenant, id).
func (s *Store) eventsByKey(ctx context.Context, keys []eventKey) (map[eventKey]*hookd.Event, error) {
	tenants, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		tenants[i], ids[i] = k.tenant, k.id
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+eventColumns+` FROM unnest($1::text[], $2::text[]) AS k(tenant, id)
		JOIN event_ids i ON i.tenant = k.tenant AND i.id = k.id
		JOIN events e ON e.tenant = i.tenant AND e.created_at = i.created_at AND e.seq = i.seq`, tenants, ids)
	if err != nil {
		return nil, s.fail(err, "read events")
	}
	out := make(map[eventKey]*hookd.Event, len(keys))
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, s.fail(err, "read events")
		}
		out[eventKey{e.Tenant, e.ID}] = e
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read events")
	}
	return out, nil
}

// EventGet returns tenant's event id.
func (s *Store) EventGet(ctx context.Context, tenant, id string) (*hookd.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `
		SELECT `+eventColumns+` FROM event_ids i
		JOIN events e ON e.tenant = i.tenant AND e.created_at = i.created_at AND e.seq = i.seq
		WHERE i.tenant = $1 AND i.id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("event")
	}
	if err != nil {
		return nil, s.fail(err, "get event")
	}
	return e, nil
}

// EventList lists tenant's events, newest first. Since and Until bound
// created_at, the partition key, so a window reads only its days.
func (s *Store) EventList(ctx context.Context, p hookd.EventListParams) ([]*hookd.Event, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q := query{sql: `SELECT ` + eventColumns + ` FROM events e WHERE e.tenant = `}
	q.arg(p.Tenant)
	if p.Type != "" {
		q.and("e.type = ", p.Type)
	}
	if !p.Since.IsZero() {
		q.and("e.created_at >= ", p.Since)
	}
	if !p.Until.IsZero() {
		q.and("e.created_at < ", p.Until)
	}
	if c.set {
		seq, err := c.seqKey()
		if err != nil {
			return nil, "", err
		}
		q.and("(e.created_at, e.seq) < (", c.at)
		q.sql += ", "
		q.arg(seq)
		q.sql += ")"
	}
	q.sql += " ORDER BY e.created_at DESC, e.seq DESC LIMIT "
	q.arg(n + 1)
	rows, err := s.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, "", s.fail(err, "list events")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, "", s.fail(err, "list events")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, strconv.FormatInt(list[n-1].Seq, 10))
	}
	return list, next, nil
}

// query builds a statement whose conditions depend on the filters given,
// so that PostgreSQL plans (and prunes partitions) for exactly those.
type query struct {
	sql  string
	args []any
}

func (q *query) arg(v any) {
	q.args = append(q.args, v)
	q.sql += "$" + strconv.Itoa(len(q.args))
}

func (q *query) and(cond string, v any) {
	q.sql += " AND " + cond
	q.arg(v)
}
