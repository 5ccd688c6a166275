package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// Replays. A replay walks its endpoint's deliveries through the
// deliveries_endpoint index in (created_at, id) order, a page at a time,
// and keeps its place in the replays row. What it made pending and has
// not yet seen attempted is in replay_items; a step (one transaction,
// with the replay row locked) settles those, feeds more, and renews the
// lease, so a replay resumes exactly where it was on whichever node takes
// it up next.

const replayColumns = `id, tenant, endpoint_id, since, until, status, event_types, state, total, done, succeeded, failed, created_at, updated_at, finished_at`

// replayRow is a replay with what only the store needs.
type replayRow struct {
	r          *hookd.Replay
	fed        int64
	cursorAt   time.Time
	cursorID   string
	walked     bool
	leaseOwner string
	leaseUntil time.Time
}

const replayRowColumns = replayColumns + `, fed, cursor_at, cursor_id, walked, coalesce(lease_owner, ''), lease_until`

func scanReplay(row pgx.Row, extra ...any) (*hookd.Replay, error) {
	var (
		r               hookd.Replay
		since, finished *time.Time
		state           string
	)
	dest := append([]any{&r.ID, &r.Tenant, &r.EndpointID, &since, &r.Until, &r.Status, &r.EventTypes, &state,
		&r.Total, &r.Done, &r.Succeeded, &r.Failed, &r.CreatedAt, &r.UpdatedAt, &finished}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	r.State = hookd.ReplayState(state)
	r.Since, r.FinishedAt = utc(since), utc(finished)
	r.Until, r.CreatedAt, r.UpdatedAt = r.Until.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

func scanReplayRow(row pgx.Row) (*replayRow, error) {
	var x replayRow
	var until *time.Time
	r, err := scanReplay(row, &x.fed, &x.cursorAt, &x.cursorID, &x.walked, &x.leaseOwner, &until)
	if err != nil {
		return nil, err
	}
	x.r, x.leaseUntil = r, utc(until)
	return &x, nil
}

// ReplayInsert stores a new replay; its walk starts at Since.
func (s *Store) ReplayInsert(ctx context.Context, r *hookd.Replay) error {
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	if r.State == "" {
		r.State = hookd.ReplayRunning
	}
	r.Since, r.Until, r.CreatedAt, r.UpdatedAt = r.Since.UTC().Truncate(time.Microsecond), r.Until.UTC().Truncate(time.Microsecond),
		r.CreatedAt.UTC().Truncate(time.Microsecond), r.UpdatedAt.UTC().Truncate(time.Microsecond)
	r.FinishedAt = r.FinishedAt.UTC().Truncate(time.Microsecond)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO replays (id, tenant, endpoint_id, since, until, status, event_types, state, total, done, succeeded, failed,
			cursor_at, created_at, updated_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		r.ID, r.Tenant, r.EndpointID, nullTime(r.Since), r.Until, r.Status, r.EventTypes, string(r.State),
		r.Total, r.Done, r.Succeeded, r.Failed, r.Since, r.CreatedAt, r.UpdatedAt, nullTime(r.FinishedAt))
	return s.fail(err, "insert replay")
}

// ReplayGet returns tenant's replay id.
func (s *Store) ReplayGet(ctx context.Context, tenant, id string) (*hookd.Replay, error) {
	r, err := scanReplay(s.pool.QueryRow(ctx, `SELECT `+replayColumns+` FROM replays WHERE id = $1 AND tenant = $2`, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("replay")
	}
	if err != nil {
		return nil, s.fail(err, "get replay")
	}
	return r, nil
}

// ReplayList lists tenant's replays, newest first.
func (s *Store) ReplayList(ctx context.Context, p hookd.ReplayListParams) ([]*hookd.Replay, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q := query{sql: `SELECT ` + replayColumns + ` FROM replays WHERE tenant = `}
	q.arg(p.Tenant)
	if p.EndpointID != "" {
		q.and("endpoint_id = ", p.EndpointID)
	}
	if c.set {
		q.and("(created_at, id) < (", c.at)
		q.sql += ", "
		q.arg(c.key)
		q.sql += ")"
	}
	q.sql += " ORDER BY created_at DESC, id DESC LIMIT "
	q.arg(n + 1)
	rows, err := s.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, "", s.fail(err, "list replays")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Replay, error) { return scanReplay(r) })
	if err != nil {
		return nil, "", s.fail(err, "list replays")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, list[n-1].ID)
	}
	return list, next, nil
}

// ReplayCancel stops tenant's running replay id.
func (s *Store) ReplayCancel(ctx context.Context, tenant, id string, now time.Time) (*hookd.Replay, error) {
	var out *hookd.Replay
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		x, err := scanReplayRow(tx.QueryRow(ctx, `SELECT `+replayRowColumns+` FROM replays WHERE id = $1 AND tenant = $2 FOR UPDATE`, id, tenant))
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.NotFound("replay")
		}
		if err != nil {
			return err
		}
		switch x.r.State {
		case hookd.ReplayCancelled:
			out = x.r
			return nil
		case hookd.ReplayCompleted:
			return hookd.Errorf(hookd.ECONFLICT, "the replay has completed")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM replay_items WHERE replay_id = $1`, id); err != nil {
			return err
		}
		out, err = scanReplay(tx.QueryRow(ctx, `
			UPDATE replays SET state = 'cancelled', finished_at = $2, updated_at = greatest(updated_at, $2), lease_owner = NULL, lease_until = NULL
			WHERE id = $1 RETURNING `+replayColumns, id, now))
		return err
	})
	if err != nil {
		return nil, s.fail(err, "cancel replay")
	}
	return out, nil
}

// ReplayClaimMany leases running replays whose lease is free, expired or
// p.Owner's, oldest first; replays another node is stepping are skipped.
func (s *Store) ReplayClaimMany(ctx context.Context, p hookd.ReplayClaimParams) ([]*hookd.Replay, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	if p.Owner == "" {
		return nil, hookd.Invalid("owner", "is required: a lease needs an owner")
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE replays SET lease_owner = $1, lease_until = $2 WHERE id IN (
			SELECT id FROM replays WHERE state = 'running' AND (lease_owner IS NULL OR lease_until <= $3 OR lease_owner = $1)
			ORDER BY created_at LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING `+replayColumns, p.Owner, p.LeaseUntil, p.Now, p.Max)
	if err != nil {
		return nil, s.fail(err, "claim replays")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Replay, error) { return scanReplay(r) })
	if err != nil {
		return nil, s.fail(err, "claim replays")
	}
	return list, nil
}

// ReplayReleaseMany drops owner's replay leases.
func (s *Store) ReplayReleaseMany(ctx context.Context, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE replays SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, owner)
	return s.fail(err, "release replays")
}

// ReplayStep settles, feeds and renews a replay p.Owner holds.
func (s *Store) ReplayStep(ctx context.Context, p hookd.ReplayStepParams) (*hookd.ReplayStepResult, error) {
	if p.Owner == "" {
		return nil, hookd.Invalid("owner", "is required: a lease needs an owner")
	}
	p.Window = max(p.Window, 1)
	if p.Scan <= 0 {
		p.Scan = hookd.DefaultReplayScan
	}
	var out *hookd.ReplayStepResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		out, err = s.replayStep(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, s.fail(err, "replay step")
	}
	return out, nil
}

func (s *Store) replayStep(ctx context.Context, tx pgx.Tx, p hookd.ReplayStepParams) (*hookd.ReplayStepResult, error) {
	x, err := scanReplayRow(tx.QueryRow(ctx, `SELECT `+replayRowColumns+` FROM replays WHERE id = $1 FOR UPDATE`, p.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("replay")
	}
	if err != nil {
		return nil, err
	}
	res := &hookd.ReplayStepResult{}
	if x.r.State != hookd.ReplayRunning {
		// Cancelled (which dropped the lease) or completed: the caller
		// stops.
		_, err := tx.Exec(ctx, `UPDATE replays SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, p.ID, p.Owner)
		res.Replay = x.r
		return res, err
	}
	if x.leaseOwner != p.Owner {
		return nil, hookd.Errorf(hookd.ECONFLICT, "the replay is leased to another node")
	}
	// The endpoint is key-share locked, so that a deletion waits for this
	// step and then cancels whatever it fed.
	var enabled bool
	err = tx.QueryRow(ctx, `SELECT enabled FROM endpoints WHERE id = $1 FOR KEY SHARE`, x.r.EndpointID).Scan(&enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, `DELETE FROM replay_items WHERE replay_id = $1`, p.ID); err != nil {
			return nil, err
		}
		res.Replay, err = scanReplay(tx.QueryRow(ctx, `
			UPDATE replays SET state = 'cancelled', finished_at = $2, updated_at = greatest(updated_at, $2), lease_owner = NULL, lease_until = NULL
			WHERE id = $1 RETURNING `+replayColumns, p.ID, p.Now))
		return res, err
	}
	if err != nil {
		return nil, err
	}

	before, counts := *x, [4]int64{x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed}
	open, err := s.replaySettle(ctx, tx, x)
	if err != nil {
		return nil, err
	}
	if !x.walked && open < p.Window {
		if res.Fed, res.More, err = s.replayFeed(ctx, tx, x, p, !enabled, p.Window-open); err != nil {
			return nil, err
		}
		open += len(res.Fed)
	}
	x.r.Total = max(x.r.Total, x.fed)
	state, finished, leaseOwner, leaseUntil := string(hookd.ReplayRunning), (*time.Time)(nil), &p.Owner, &p.LeaseUntil
	if x.walked && open == 0 {
		state, finished, x.r.Total, leaseOwner, leaseUntil = string(hookd.ReplayCompleted), &p.Now, x.fed, nil, nil
	}
	if state == string(hookd.ReplayRunning) && counts == [4]int64{x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed} &&
		x.fed == before.fed && x.cursorAt.Equal(before.cursorAt) && x.cursorID == before.cursorID && x.walked == before.walked &&
		2*x.leaseUntil.Sub(p.Now) > p.LeaseUntil.Sub(p.Now) {
		// Nothing moved and the lease has more than half to run: no
		// write. Runners step often while they wait for outcomes.
		res.Replay = x.r
		return res, nil
	}
	res.Replay, err = scanReplay(tx.QueryRow(ctx, `
		UPDATE replays SET state = $2, total = $3, done = $4, succeeded = $5, failed = $6, fed = $7, cursor_at = $8, cursor_id = $9,
			walked = $10, lease_owner = $11, lease_until = $12, updated_at = greatest(updated_at, $13), finished_at = $14
		WHERE id = $1 RETURNING `+replayColumns,
		p.ID, state, x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed, x.fed, x.cursorAt, x.cursorID,
		x.walked, leaseOwner, leaseUntil, p.Now, finished))
	if err != nil {
		return nil, err
	}
	if len(res.Fed) > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// replaySettle counts the fed deliveries that were attempted (or left the
// pending state) since, forgets them, and returns how many are still
// unsettled.
func (s *Store) replaySettle(ctx context.Context, tx pgx.Tx, x *replayRow) (int, error) {
	rows, err := tx.Query(ctx, `
		SELECT i.delivery_id, i.attempts, d.state, d.attempts FROM replay_items i
		LEFT JOIN deliveries d ON d.id = i.delivery_id AND d.part_at = i.part_at
		WHERE i.replay_id = $1`, x.r.ID)
	if err != nil {
		return 0, err
	}
	var settled []string
	open := 0
	for rows.Next() {
		var (
			id          string
			fedAttempts int32
			state       *string
			attempts    *int32
		)
		if err := rows.Scan(&id, &fedAttempts, &state, &attempts); err != nil {
			rows.Close()
			return 0, err
		}
		switch {
		case state == nil: // gone: counted as not delivered
			x.r.Failed++
		case *state == string(hookd.StateSucceeded):
			x.r.Succeeded++
		case *state != string(hookd.StatePending) || *attempts > fedAttempts:
			x.r.Failed++
		default:
			open++
			continue
		}
		x.r.Done++
		settled = append(settled, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(settled) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM replay_items WHERE replay_id = $1 AND delivery_id = ANY ($2)`, x.r.ID, settled); err != nil {
			return 0, err
		}
	}
	return open, nil
}

// walkedDelivery is one delivery seen by a replay's walk.
type walkedDelivery struct {
	id, tenant, state, typ string
	partAt, created, evAt  time.Time
	evSeq                  int64
}

const replayPageSQL = `
	SELECT d.id, d.tenant, d.state, d.event_type, d.part_at, d.created_at, d.event_created_at, d.event_seq
	FROM deliveries d
	WHERE d.endpoint_id = $1 AND (d.created_at, d.id) > ($2, $3) AND d.created_at < $4
	ORDER BY d.created_at, d.id LIMIT $5`

// replayPage reads up to n of f's endpoint's deliveries after (at, id) and
// before f.Until, in walk order. The filter's state and types are applied
// by the caller, so the statement reads at most n rows however few match.
func replayPage(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, f *hookd.ReplayFilter, at time.Time, id string, n int) ([]walkedDelivery, error) {
	rows, err := db.Query(ctx, replayPageSQL, f.EndpointID, at, id, f.Until, n)
	if err != nil {
		return nil, err
	}
	out := make([]walkedDelivery, 0, min(n, 256))
	var d walkedDelivery
	_, err = pgx.ForEachRow(rows, []any{&d.id, &d.tenant, &d.state, &d.typ, &d.partAt, &d.created, &d.evAt, &d.evSeq}, func() error {
		out = append(out, d)
		return nil
	})
	return out, err
}

// replayFeedSQL makes the chosen deliveries pending and due at $4, as
// DeliveryRetry does, unless their state changed since the walk read it
// or their event is gone, queues them (paused if the endpoint is
// disabled), and records them as the replay's items.
const replayFeedSQL = `
WITH c AS (SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS c(id, part_at, state)),
u AS (
	UPDATE deliveries d SET state = 'pending', updated_at = greatest(d.updated_at, $4)
	FROM c WHERE d.id = c.id AND d.part_at = c.part_at AND d.state = c.state
	RETURNING d.id, d.part_at, d.endpoint_id, d.event_created_at, d.event_seq, d.attempts, d.created_at
),
q AS (
	INSERT INTO delivery_queue (delivery_id, part_at, endpoint_id, event_created_at, event_seq, next_attempt_at, paused)
	SELECT id, part_at, endpoint_id, event_created_at, event_seq, $4, $5 FROM u
	ON CONFLICT (delivery_id) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at,
		lease_owner = NULL, lease_until = NULL, paused = EXCLUDED.paused
),
i AS (INSERT INTO replay_items (replay_id, delivery_id, part_at, attempts) SELECT $6, id, part_at, attempts FROM u)
SELECT id FROM u ORDER BY created_at, id`

// replayFeed walks on from the replay's cursor, examining at most p.Scan
// deliveries, and makes up to room of those the filter selects pending.
// more says it stopped at p.Scan with room left.
func (s *Store) replayFeed(ctx context.Context, tx pgx.Tx, x *replayRow, p hookd.ReplayStepParams, paused bool, room int) (fed []string, more bool, err error) {
	f := x.r.Filter()
	page, err := replayPage(ctx, tx, &f, x.cursorAt, x.cursorID, p.Scan)
	if err != nil {
		return nil, false, err
	}
	var chosen []walkedDelivery
	full := false
	for _, d := range page {
		if len(chosen) == room {
			full = true
			break
		}
		x.cursorAt, x.cursorID = d.created, d.id
		if f.Match(hookd.DeliveryState(d.state), d.typ) {
			chosen = append(chosen, d)
		}
	}
	if !full && len(page) < p.Scan {
		x.walked = true
	}
	more = !full && !x.walked && len(chosen) < room
	if len(chosen) == 0 {
		return nil, more, nil
	}
	// Share-lock the events first, as DeliveryRetry does: retention then
	// either sees the deliveries pending or has already dropped their
	// events, which leaves those deliveries as they are.
	tenants, ats, seqs := make([]string, len(chosen)), make([]time.Time, len(chosen)), make([]int64, len(chosen))
	for i, d := range chosen {
		tenants[i], ats[i], seqs[i] = d.tenant, d.evAt, d.evSeq
	}
	rows, err := tx.Query(ctx, `
		SELECT e.tenant, e.created_at, e.seq FROM events e
		JOIN unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS k(tenant, created_at, seq)
		  ON e.tenant = k.tenant AND e.created_at = k.created_at AND e.seq = k.seq
		FOR KEY SHARE OF e`, tenants, ats, seqs)
	if err != nil {
		return nil, false, err
	}
	type evKey struct {
		tenant string
		at     int64
		seq    int64
	}
	have := map[evKey]bool{}
	var k evKey
	var at time.Time
	if _, err := pgx.ForEachRow(rows, []any{&k.tenant, &at, &k.seq}, func() error {
		k.at = at.UnixMicro()
		have[k] = true
		return nil
	}); err != nil {
		return nil, false, err
	}
	var ids, states []string
	var parts []time.Time
	for _, d := range chosen {
		if have[evKey{d.tenant, d.evAt.UnixMicro(), d.evSeq}] {
			ids, parts, states = append(ids, d.id), append(parts, d.partAt), append(states, d.state)
		}
	}
	if len(ids) == 0 {
		return nil, more, nil
	}
	rows, err = tx.Query(ctx, replayFeedSQL, ids, parts, states, p.Now, paused, x.r.ID)
	if err != nil {
		return nil, false, err
	}
	fed, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, err
	}
	x.fed += int64(len(fed))
	return fed, more, nil
}

// ReplayCount counts the deliveries f selects, a page at a time.
func (s *Store) ReplayCount(ctx context.Context, f hookd.ReplayFilter) (int64, error) {
	if _, err := s.EndpointGet(ctx, f.Tenant, f.EndpointID); err != nil {
		return 0, err
	}
	var n int64
	at, id := f.Since, ""
	for {
		page, err := replayPage(ctx, s.pool, &f, at, id, hookd.DefaultReplayScan)
		if err != nil {
			return 0, s.fail(err, "count replay")
		}
		for _, d := range page {
			if f.Match(hookd.DeliveryState(d.state), d.typ) {
				n++
			}
		}
		if len(page) < hookd.DefaultReplayScan {
			return n, nil
		}
		last := page[len(page)-1]
		at, id = last.created, last.id
	}
}
