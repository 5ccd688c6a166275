package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// readStmts are the read pool's prepared statements for the reads that
// run on every request (API key lookup) or often.
type readStmts struct {
	endpointGet     *sql.Stmt
	endpointListAll *sql.Stmt
	eventGet        *sql.Stmt
	deliveryGet     *sql.Stmt
	apiKeyByHash    *sql.Stmt
}

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&r.endpointGet, `SELECT ` + endpointCols + ` FROM endpoints WHERE tenant = ? AND id = ?`},
		{&r.endpointListAll, `SELECT ` + endpointCols + ` FROM endpoints WHERE tenant = ? ORDER BY created_at, rowid`},
		{&r.eventGet, `SELECT ` + eventCols + ` FROM events WHERE tenant = ? AND id = ?`},
		{&r.deliveryGet, `SELECT ` + deliveryCols + ` WHERE d.tenant = ? AND d.id = ?`},
		{&r.apiKeyByHash, `SELECT ` + apiKeyCols + ` FROM api_keys WHERE hash = ?`},
	} {
		st, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (r *readStmts) close() {
	for _, st := range []*sql.Stmt{r.endpointGet, r.endpointListAll, r.eventGet, r.deliveryGet, r.apiKeyByHash} {
		if st != nil {
			st.Close()
		}
	}
}

// page reads up to n rows (the query asked for n+1) and returns them with
// the cursor of the next page, made by next from the n-th row and its
// rowid, or "" when the query found no more.
func page[T any](rows *sql.Rows, err error, n int, scan func(*sql.Rows) (T, int64, error), next func(T, int64) string) ([]T, string, error) {
	if err != nil {
		return nil, "", storeErr(err)
	}
	defer rows.Close()
	out := make([]T, 0, min(n, 64))
	var last int64
	for rows.Next() {
		if len(out) == n {
			return out, next(out[n-1], last), nil
		}
		v, rowid, err := scan(rows)
		if err != nil {
			return nil, "", storeErr(err)
		}
		out = append(out, v)
		last = rowid
	}
	return out, "", storeErr(rows.Err())
}

// keyset appends the condition and order of a list sorted by (col,
// rowidCol), newest first unless asc, and the LIMIT n+1.
func keyset(q string, args []any, col, rowidCol string, t, rowid int64, after, asc bool, n int) (string, []any) {
	op, dir := "<", "DESC"
	if asc {
		op, dir = ">", "ASC"
	}
	if after {
		q += ` AND (` + col + `, ` + rowidCol + `) ` + op + ` (?, ?)`
		args = append(args, t, rowid)
	}
	q += ` ORDER BY ` + col + ` ` + dir + `, ` + rowidCol + ` ` + dir + ` LIMIT ?`
	return q, append(args, n+1)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
