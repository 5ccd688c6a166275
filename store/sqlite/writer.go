package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// request is one write call waiting for the writer.
type request struct {
	ctx  context.Context
	fn   func(w *writer) error
	done chan error
}

// do runs fn in the writer's next transaction and returns its error, or
// the commit's. Once the writer has taken the request the caller waits for
// its answer whatever ctx does, so an error always means nothing of fn was
// written; ctx is checked again just before fn runs.
func (s *Store) do(ctx context.Context, fn func(w *writer) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return storeErr(ctx.Err())
	}
	return <-r.done
}

// epState is what the writer knows of an endpoint without asking the
// database. Only the writer goroutine touches it.
type epState struct {
	enabled     bool
	maxInFlight int
	// nextDue is a lower bound of the earliest due_at among the
	// endpoint's pending deliveries (noDue: none; unknownDue: ask).
	// Writes that make a delivery due lower it at once; only a claim,
	// which reads the true minimum, raises it.
	nextDue int64
}

const (
	unknownDue = math.MinInt64
	noDue      = math.MaxInt64
)

// writer owns the one write connection and the state derived from it.
type writer struct {
	s       *Store
	conn    *sql.Conn
	stmts   map[string]*sql.Stmt
	seq     atomic.Int64 // the last events.seq handed out, here or by EventSeqReserve
	eps     map[string]*epState
	tenants map[string]bool // known to exist
}

// start loads the writer's state and drops the leases of a previous
// process: the file lock proves that process is gone.
func (w *writer) start(ctx context.Context) error {
	if _, err := w.conn.ExecContext(ctx, `UPDATE deliveries SET lease_owner = '', lease_until = 0, due_at = next_at WHERE lease_until > 0`); err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, `UPDATE replays SET lease_owner = '', lease_until = 0 WHERE lease_until > 0`); err != nil {
		return err
	}
	var seq, maxSeq int64
	if err := w.conn.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), COALESCE((SELECT MAX(seq) FROM events), 0)`).Scan(&seq, &maxSeq); err != nil {
		return err
	}
	w.seq.Store(max(seq, maxSeq))
	return w.reload()
}

// reload rebuilds the in-memory state from the database, after a request
// rolled back and may have left it ahead of what was written.
func (w *writer) reload() error {
	w.tenants = map[string]bool{}
	rows, err := w.query(`SELECT id, enabled, max_in_flight FROM endpoints`)
	if err != nil {
		return err
	}
	defer rows.Close()
	eps := make(map[string]*epState, len(w.eps))
	for rows.Next() {
		var id string
		st := &epState{nextDue: unknownDue}
		if err := rows.Scan(&id, &st.enabled, &st.maxInFlight); err != nil {
			return err
		}
		eps[id] = st
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.eps = eps
	return nil
}

// run is the writer goroutine: it takes every request waiting, up to maxBatch,
// and commits them together. While requests keep arriving it yields twice
// at most before committing, so that callers already running get theirs
// in: every commit writes each page it dirtied to the WAL again (the hot
// leaf of every index) and fsyncs, so fewer, larger groups cost less per
// request. A lone request (a quiet server) never waits.
func (w *writer) run(maxBatch int) {
	defer close(w.s.done)
	batch := make([]*request, 0, maxBatch)
	errs := make([]error, maxBatch)
	for {
		select {
		case r := <-w.s.reqs:
			batch = append(batch[:0], r)
		case <-w.s.closing:
			return
		}
		for round := 0; ; round++ {
			n := len(batch)
		fill:
			for len(batch) < maxBatch {
				select {
				case r := <-w.s.reqs:
					batch = append(batch, r)
				default:
					break fill
				}
			}
			if round >= 2 || len(batch) == n || len(batch) >= maxBatch {
				break
			}
			runtime.Gosched()
		}
		w.commit(batch, errs[:len(batch)])
		for i, r := range batch {
			r.done <- errs[i]
			batch[i], errs[i] = nil, nil
		}
	}
}

// commit runs batch in one transaction and sets errs[i] to request i's
// result. It first runs the requests one after the other: failures are
// rare, and a SAVEPOINT around each request costs about as much as the
// request itself. If one fails, it rolls everything back and runs the
// batch again with a savepoint around each request, so that the failure
// is rolled back alone.
func (w *writer) commit(batch []*request, errs []error) {
	live := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = storeErr(err)
			continue
		}
		live++
	}
	if live == 0 {
		return
	}
	if !w.try(batch, errs, false, live) {
		w.try(batch, errs, true, live)
	}
}

// try runs the batch in one transaction, with a savepoint around each
// request or none. Without savepoints, a failing request rolls back the
// whole transaction, and try returns false unless it was the only one.
func (w *writer) try(batch []*request, errs []error, savepoints bool, live int) bool {
	abort := func(err error) bool {
		_, _ = w.exec("ROLLBACK")
		w.mustReload()
		for i := range errs {
			if errs[i] == nil {
				errs[i] = storeErr(err)
			}
		}
		return true
	}
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return abort(err)
	}
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if savepoints {
			if _, err := w.exec("SAVEPOINT r"); err != nil {
				return abort(err)
			}
		}
		if err := r.fn(w); err != nil {
			if !savepoints {
				if live > 1 {
					_, _ = w.exec("ROLLBACK")
					w.mustReload()
					return false
				}
				errs[i] = storeErr(err)
				return abort(err)
			}
			errs[i] = storeErr(err)
			if _, err := w.exec("ROLLBACK TO r"); err != nil {
				return abort(err)
			}
			w.mustReload()
		}
		if savepoints {
			if _, err := w.exec("RELEASE r"); err != nil {
				return abort(err)
			}
		}
	}
	if _, err := w.exec("COMMIT"); err != nil {
		return abort(err)
	}
	w.s.stats.txs.Add(1)
	w.s.stats.reqs.Add(uint64(live))
	return true
}

// mustReload reloads the in-memory state; if even that fails, it forgets
// what it knew about due times, which only costs the next claim queries.
func (w *writer) mustReload() {
	if err := w.reload(); err != nil {
		w.tenants = map[string]bool{}
		for _, st := range w.eps {
			st.nextDue = unknownDue
		}
	}
}

// stmt returns q prepared on the write connection.
func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

func (w *writer) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (w *writer) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

// queryRow scans the one row of q into dest; sql.ErrNoRows when none.
func (w *writer) queryRow(q string, args []any, dest ...any) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRow(args...).Scan(dest...)
}

func (w *writer) closeStmts() error {
	var errs []error
	for q, st := range w.stmts {
		errs = append(errs, st.Close())
		delete(w.stmts, q)
	}
	return errors.Join(errs...)
}

func (w *writer) close() error {
	return errors.Join(w.closeStmts(), w.conn.Close())
}

// ensureTenant creates tenant on its first use.
func (w *writer) ensureTenant(tenant string, at time.Time) error {
	if w.tenants[tenant] {
		return nil
	}
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := w.exec(`INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, tenant, micro(at)); err != nil {
		return err
	}
	w.tenants[tenant] = true
	return nil
}

// due notes that a delivery of endpoint may be claimed from at.
func (w *writer) due(endpoint string, at int64) {
	if st := w.eps[endpoint]; st != nil && at < st.nextDue {
		st.nextDue = at
	}
}
