package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// Replays. A replay walks its endpoint's deliveries through the
// deliveries_endpoint index in (created_at, rowid) order, a page at a
// time, and keeps its place in the replays row. What it made pending and
// has not yet seen attempted is in replay_items; a step (one request of
// the writer's group) settles those, feeds more, and renews the lease, so
// a replay resumes exactly where it was after a restart.

const kindReplay byte = 'r'

const replayCols = `rowid, id, tenant, endpoint_id, since, until, status, event_types, state, total, done, succeeded, failed, created_at, updated_at, finished_at`

// replayRow is a replay with what only the store needs.
type replayRow struct {
	r           *hookd.Replay
	rowid       int64
	fed         int64
	cursorAt    int64
	cursorRowid int64
	walked      bool
	leaseOwner  string
	leaseUntil  int64
}

const replayRowCols = replayCols + `, fed, cursor_at, cursor_rowid, walked, lease_owner, lease_until`

func scanReplay(sc interface{ Scan(...any) error }, extra ...any) (*hookd.Replay, int64, error) {
	var (
		r                               hookd.Replay
		rowid                           int64
		since, until, created, upd, fin int64
		types                           string
		state                           string
	)
	dest := append([]any{&rowid, &r.ID, &r.Tenant, &r.EndpointID, &since, &until, &r.Status, &types, &state,
		&r.Total, &r.Done, &r.Succeeded, &r.Failed, &created, &upd, &fin}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal([]byte(types), &r.EventTypes); err != nil {
		return nil, 0, err
	}
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	r.State = hookd.ReplayState(state)
	r.Since, r.Until = fromMicro(since), fromMicro(until)
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = fromMicro(created), fromMicro(upd), fromMicro(fin)
	return &r, rowid, nil
}

func scanReplayRows(rows *sql.Rows) (*hookd.Replay, int64, error) { return scanReplay(rows) }

func scanReplayRow(sc interface{ Scan(...any) error }) (*replayRow, error) {
	var x replayRow
	var walked int
	r, rowid, err := scanReplay(sc, &x.fed, &x.cursorAt, &x.cursorRowid, &walked, &x.leaseOwner, &x.leaseUntil)
	if err != nil {
		return nil, err
	}
	x.r, x.rowid, x.walked = r, rowid, walked != 0
	return &x, nil
}

// ReplayInsert stores a new replay; its walk starts at Since.
func (s *Store) ReplayInsert(ctx context.Context, r *hookd.Replay) error {
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	types, err := json.Marshal(r.EventTypes)
	if err != nil {
		return hookd.Invalid("event_types", "cannot be stored")
	}
	if r.State == "" {
		r.State = hookd.ReplayRunning
	}
	r.Since, r.Until, r.CreatedAt, r.UpdatedAt, r.FinishedAt = utc(r.Since), utc(r.Until), utc(r.CreatedAt), utc(r.UpdatedAt), utc(r.FinishedAt)
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO replays (id, tenant, endpoint_id, since, until, status, event_types, state, total, done, succeeded, failed, cursor_at, created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Tenant, r.EndpointID, micro(r.Since), micro(r.Until), r.Status, string(types), string(r.State),
			r.Total, r.Done, r.Succeeded, r.Failed, micro(r.Since), micro(r.CreatedAt), micro(r.UpdatedAt), micro(r.FinishedAt))
		return err
	})
}

// ReplayGet returns tenant's replay id.
func (s *Store) ReplayGet(ctx context.Context, tenant, id string) (*hookd.Replay, error) {
	r, _, err := scanReplay(s.rdb.QueryRowContext(ctx, `SELECT `+replayCols+` FROM replays WHERE tenant = ? AND id = ?`, tenant, id))
	if isNoRows(err) {
		return nil, hookd.NotFound("replay")
	}
	return r, storeErr(err)
}

// ReplayList lists tenant's replays, newest first.
func (s *Store) ReplayList(ctx context.Context, p hookd.ReplayListParams) ([]*hookd.Replay, string, error) {
	t, rowid, after, err := decodeKey(kindReplay, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := `SELECT `+replayCols+` FROM replays WHERE tenant = ?`, []any{p.Tenant}
	if p.EndpointID != "" {
		q = `SELECT ` + replayCols + ` FROM replays WHERE endpoint_id = ? AND +tenant = ?`
		args = []any{p.EndpointID, p.Tenant}
	}
	q, args = keyset(q, args, "created_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanReplayRows, func(r *hookd.Replay, rowid int64) string {
		return encodeKey(kindReplay, micro(r.CreatedAt), rowid)
	})
}

// ReplayCancel stops tenant's running replay id.
func (s *Store) ReplayCancel(ctx context.Context, tenant, id string, now time.Time) (*hookd.Replay, error) {
	var out *hookd.Replay
	err := s.do(ctx, func(w *writer) error {
		x, err := w.replay(`tenant = ? AND id = ?`, tenant, id)
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
		at := micro(now)
		if _, err := w.exec(`UPDATE replays SET state = 'cancelled', finished_at = ?, updated_at = MAX(updated_at, ?), lease_owner = '', lease_until = 0 WHERE rowid = ?`, at, at, x.rowid); err != nil {
			return err
		}
		if _, err := w.exec(`DELETE FROM replay_items WHERE replay_rowid = ?`, x.rowid); err != nil {
			return err
		}
		x, err = w.replay(`rowid = ?`, x.rowid)
		out = x.r
		return err
	})
	return out, err
}

// replay reads one replay on the writer; ENOTFOUND when none.
func (w *writer) replay(where string, args ...any) (*replayRow, error) {
	x, err := scanReplayRow(rowScanner{w, `SELECT ` + replayRowCols + ` FROM replays WHERE ` + where, args})
	if isNoRows(err) {
		return nil, hookd.NotFound("replay")
	}
	return x, err
}

// ReplayClaimMany leases running replays whose lease is free, expired or
// p.Owner's, oldest first.
func (s *Store) ReplayClaimMany(ctx context.Context, p hookd.ReplayClaimParams) ([]*hookd.Replay, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	if p.Owner == "" {
		return nil, hookd.Invalid("owner", "is required: a lease needs an owner")
	}
	var out []*hookd.Replay
	err := s.do(ctx, func(w *writer) error {
		out = nil
		rows, err := w.query(`UPDATE replays SET lease_owner = ?1, lease_until = ?2 WHERE rowid IN (
			SELECT rowid FROM replays WHERE state = 'running' AND (lease_owner = '' OR lease_until <= ?3 OR lease_owner = ?1) ORDER BY created_at LIMIT ?4)
			RETURNING `+replayCols, p.Owner, micro(p.LeaseUntil), micro(p.Now), p.Max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, _, err := scanReplay(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// ReplayReleaseMany drops owner's replay leases.
func (s *Store) ReplayReleaseMany(ctx context.Context, owner string) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`UPDATE replays SET lease_owner = '', lease_until = 0 WHERE lease_owner = ?`, owner)
		return err
	})
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
	err := s.do(ctx, func(w *writer) (err error) {
		out, err = w.replayStep(p)
		return err
	})
	return out, err
}

func (w *writer) replayStep(p hookd.ReplayStepParams) (*hookd.ReplayStepResult, error) {
	x, err := w.replay(`id = ?`, p.ID)
	if err != nil {
		return nil, err
	}
	now := micro(p.Now)
	res := &hookd.ReplayStepResult{}
	if x.r.State != hookd.ReplayRunning {
		// Cancelled (which dropped the lease) or completed: the caller
		// stops.
		if _, err := w.exec(`UPDATE replays SET lease_owner = '', lease_until = 0 WHERE rowid = ? AND lease_owner = ?`, x.rowid, p.Owner); err != nil {
			return nil, err
		}
		res.Replay = x.r
		return res, nil
	}
	if x.leaseOwner != p.Owner {
		return nil, hookd.Errorf(hookd.ECONFLICT, "the replay is leased to another node")
	}
	if _, ok := w.eps[x.r.EndpointID]; !ok {
		// The endpoint was deleted, and its pending deliveries cancelled:
		// nothing more can be sent.
		if _, err := w.exec(`UPDATE replays SET state = 'cancelled', finished_at = ?1, updated_at = MAX(updated_at, ?1), lease_owner = '', lease_until = 0 WHERE rowid = ?2`, now, x.rowid); err != nil {
			return nil, err
		}
		if _, err := w.exec(`DELETE FROM replay_items WHERE replay_rowid = ?`, x.rowid); err != nil {
			return nil, err
		}
		x, err = w.replay(`rowid = ?`, x.rowid)
		if err != nil {
			return nil, err
		}
		res.Replay = x.r
		return res, nil
	}

	before, counts := *x, [4]int64{x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed}
	open, err := w.replaySettle(x)
	if err != nil {
		return nil, err
	}
	if !x.walked && open < p.Window {
		if res.Fed, res.More, err = w.replayFeed(x, p, now, p.Window-open); err != nil {
			return nil, err
		}
		open += len(res.Fed)
	}
	x.r.Total = max(x.r.Total, x.fed)
	state, finished := string(hookd.ReplayRunning), int64(0)
	leaseOwner, leaseUntil := p.Owner, micro(p.LeaseUntil)
	if x.walked && open == 0 {
		state, finished, x.r.Total = string(hookd.ReplayCompleted), now, x.fed
		leaseOwner, leaseUntil = "", 0
	}
	if state == string(hookd.ReplayRunning) && counts == [4]int64{x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed} &&
		x.fed == before.fed && x.cursorAt == before.cursorAt &&
		x.cursorRowid == before.cursorRowid && x.walked == before.walked && 2*(x.leaseUntil-now) > leaseUntil-now {
		// Nothing moved and the lease has more than half to run: a
		// transaction without writes, which costs no fsync. Runners
		// step often while they wait for outcomes.
		res.Replay = x.r
		return res, nil
	}
	if _, err := w.exec(`UPDATE replays SET state = ?, total = ?, done = ?, succeeded = ?, failed = ?, fed = ?, cursor_at = ?, cursor_rowid = ?, walked = ?,
		lease_owner = ?, lease_until = ?, updated_at = MAX(updated_at, ?), finished_at = ? WHERE rowid = ?`,
		state, x.r.Total, x.r.Done, x.r.Succeeded, x.r.Failed, x.fed, x.cursorAt, x.cursorRowid, x.walked,
		leaseOwner, leaseUntil, now, finished, x.rowid); err != nil {
		return nil, err
	}
	x, err = w.replay(`rowid = ?`, x.rowid)
	if err != nil {
		return nil, err
	}
	res.Replay = x.r
	return res, nil
}

// replaySettle counts the fed deliveries that were attempted (or left the
// pending state) since, forgets them, and returns how many are still
// unsettled.
func (w *writer) replaySettle(x *replayRow) (int, error) {
	rows, err := w.query(`SELECT i.delivery_rowid, i.attempts, d.state, d.attempts FROM replay_items i LEFT JOIN deliveries d ON d.rowid = i.delivery_rowid WHERE i.replay_rowid = ?`, x.rowid)
	if err != nil {
		return 0, err
	}
	var settled []int64
	open := 0
	for rows.Next() {
		var (
			rowid, fedAttempts int64
			state, attempts    sql.NullInt64
		)
		if err := rows.Scan(&rowid, &fedAttempts, &state, &attempts); err != nil {
			rows.Close()
			return 0, err
		}
		switch {
		case !state.Valid: // gone: counted as not delivered
			x.r.Failed++
		case state.Int64 == 1:
			x.r.Succeeded++
		case state.Int64 != 0 || attempts.Int64 > fedAttempts:
			x.r.Failed++
		default:
			open++
			continue
		}
		x.r.Done++
		settled = append(settled, rowid)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(settled) > 0 {
		if _, err := w.exec(`DELETE FROM replay_items WHERE replay_rowid = ? AND delivery_rowid IN (SELECT value FROM json_each(?))`, x.rowid, jsonInts(settled)); err != nil {
			return 0, err
		}
	}
	return open, nil
}

// replayFeed walks on from the replay's cursor, examining at most p.Scan
// deliveries, and makes up to room of those the filter selects pending
// and due at now. more says it stopped at p.Scan with room left.
func (w *writer) replayFeed(x *replayRow, p hookd.ReplayStepParams, now int64, room int) (fed []string, more bool, err error) {
	f := x.r.Filter()
	page, err := w.replayPage(&f, x.cursorAt, x.cursorRowid, p.Scan)
	if err != nil {
		return nil, false, err
	}
	for _, d := range page {
		if len(fed) == room {
			return fed, false, nil // the window is full: resume from here
		}
		x.cursorAt, x.cursorRowid = d.created, d.rowid
		if !f.Match(d.state, d.typ) {
			continue
		}
		if _, err := w.exec(`UPDATE deliveries SET state = 0, next_at = ?1, due_at = ?1, lease_owner = '', lease_until = 0, updated_at = MAX(updated_at, ?1) WHERE rowid = ?2`, now, d.rowid); err != nil {
			return nil, false, err
		}
		if _, err := w.exec(`INSERT INTO replay_items (replay_rowid, delivery_rowid, attempts) VALUES (?, ?, ?)`, x.rowid, d.rowid, d.attempts); err != nil {
			return nil, false, err
		}
		w.due(x.r.EndpointID, now)
		x.fed++
		fed = append(fed, d.id)
	}
	if len(page) < p.Scan {
		x.walked = true
		return fed, false, nil
	}
	return fed, len(fed) < room, nil
}

// walkedDelivery is one delivery seen by a replay's walk.
type walkedDelivery struct {
	rowid, created int64
	id             string
	state          hookd.DeliveryState
	attempts       int64
	typ            string
}

// replayPage reads up to n of f's endpoint's deliveries after (at, rowid)
// and before f.Until, in walk order. The filter's state and types are
// applied by the caller, so that the statement reads at most n rows
// however few match.
func (w *writer) replayPage(f *hookd.ReplayFilter, at, rowid int64, n int) ([]walkedDelivery, error) {
	return readReplayPage(func(q string, args ...any) (*sql.Rows, error) { return w.query(q, args...) }, f, at, rowid, n)
}

func replayPageQuery(f *hookd.ReplayFilter) string {
	typ := `''`
	from := `deliveries d`
	if f.NeedsType() {
		typ, from = `COALESCE(e.type, '')`, `deliveries d LEFT JOIN events e ON e.seq = d.rowid >> 20`
	}
	return `SELECT d.rowid, d.created_at, d.id, d.state, d.attempts, ` + typ + ` FROM ` + from + `
		WHERE d.endpoint_id = ? AND (d.created_at, d.rowid) > (?, ?) AND d.created_at < ?
		ORDER BY d.created_at, d.rowid LIMIT ?`
}

func readReplayPage(query func(string, ...any) (*sql.Rows, error), f *hookd.ReplayFilter, at, rowid int64, n int) ([]walkedDelivery, error) {
	rows, err := query(replayPageQuery(f), f.EndpointID, at, rowid, micro(f.Until), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]walkedDelivery, 0, min(n, 256))
	for rows.Next() {
		var d walkedDelivery
		var state int
		if err := rows.Scan(&d.rowid, &d.created, &d.id, &state, &d.attempts, &d.typ); err != nil {
			return nil, err
		}
		if state >= 0 && state < len(stateNames) {
			d.state = stateNames[state]
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ReplayCount counts the deliveries f selects, a page at a time.
func (s *Store) ReplayCount(ctx context.Context, f hookd.ReplayFilter) (int64, error) {
	if err := s.exists(ctx, `SELECT 1 FROM endpoints WHERE tenant = ? AND id = ?`, f.Tenant, f.EndpointID); err != nil {
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			return 0, hookd.NotFound("endpoint")
		}
		return 0, err
	}
	query := func(q string, args ...any) (*sql.Rows, error) { return s.rdb.QueryContext(ctx, q, args...) }
	var n int64
	at, rowid := micro(f.Since), int64(0)
	for {
		page, err := readReplayPage(query, &f, at, rowid, hookd.DefaultReplayScan)
		if err != nil {
			return 0, storeErr(err)
		}
		for _, d := range page {
			if f.Match(d.state, d.typ) {
				n++
			}
		}
		if len(page) < hookd.DefaultReplayScan {
			return n, nil
		}
		last := page[len(page)-1]
		at, rowid = last.created, last.rowid
	}
}

// jsonInts formats ids as a JSON array, for json_each.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, 20*len(ids)+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}
