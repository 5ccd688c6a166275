package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/hookd/hookd"
)

const attemptCols = `rowid, id, tenant, delivery_id, endpoint_id, event_id, number, started_at, duration_ms, outcome, status_code, error, response, request_headers, retry_of, next_at, manual`

func scanAttempt(r *sql.Rows) (*hookd.Attempt, int64, error) {
	var (
		a             hookd.Attempt
		rowid         int64
		started, next int64
		outcome, resp string
		headers       []byte
	)
	if err := r.Scan(&rowid, &a.ID, &a.Tenant, &a.DeliveryID, &a.EndpointID, &a.EventID, &a.Number, &started, &a.Duration,
		&outcome, &a.StatusCode, &a.Error, &resp, &headers, &a.RetryOf, &next, &a.Manual); err != nil {
		return nil, 0, err
	}
	a.Outcome, a.Response = hookd.Outcome(outcome), resp
	a.StartedAt, a.NextAttemptAt = fromMicro(started), fromMicro(next)
	if len(headers) > 0 {
		if err := json.Unmarshal(headers, &a.RequestHeaders); err != nil {
			return nil, 0, err
		}
	}
	return &a, rowid, nil
}

// AttemptRecordMany stores the attempts and, for each whose LeaseOwner
// still holds the delivery's lease, moves the delivery on and drops the
// lease. The attempt is stored either way. All of it or nothing.
func (s *Store) AttemptRecordMany(ctx context.Context, recs []hookd.AttemptRecord) error {
	if len(recs) == 0 {
		return nil
	}
	headers := make([][]byte, len(recs))
	for i, rec := range recs {
		a := rec.Attempt
		if a == nil {
			return hookd.Invalid("attempt", "record %d has no attempt", i)
		}
		if !rec.State.Valid() {
			return hookd.Invalid("status", "%q is not a delivery state", rec.State)
		}
		a.StartedAt, a.NextAttemptAt = utc(a.StartedAt), utc(a.NextAttemptAt)
		if len(a.RequestHeaders) > 0 {
			b, err := json.Marshal(a.RequestHeaders)
			if err != nil {
				return hookd.Invalid("request_headers", "cannot be stored")
			}
			headers[i] = b
		}
	}
	return s.do(ctx, func(w *writer) error {
		for i, rec := range recs {
			if err := w.recordAttempt(rec, headers[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (w *writer) recordAttempt(rec hookd.AttemptRecord, headers []byte) error {
	a := rec.Attempt
	if _, err := w.exec(`INSERT INTO attempts (id, tenant, delivery_id, endpoint_id, event_id, number, started_at, duration_ms, outcome, status_code, error, response, request_headers, retry_of, next_at, manual) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Tenant, a.DeliveryID, a.EndpointID, a.EventID, a.Number, micro(a.StartedAt), a.Duration,
		string(a.Outcome), a.StatusCode, a.Error, a.Response, headers, a.RetryOf, micro(a.NextAttemptAt), a.Manual); err != nil {
		return err
	}
	ended := micro(a.StartedAt.Add(time.Duration(a.Duration) * time.Millisecond))
	state, next := stateCode(rec.State), int64(0)
	if state == 0 {
		next = micro(rec.NextAttemptAt)
		if next == 0 {
			next = ended
		}
	}
	if rec.LeaseOwner != "" {
		r, err := w.exec(`UPDATE deliveries SET state = ?, attempts = attempts + 1, next_at = ?, due_at = ?, last_at = ?, last_attempt_id = ?, last_outcome = ?, last_status = ?, updated_at = MAX(updated_at, ?), lease_owner = '', lease_until = 0 WHERE id = ? AND tenant = ? AND lease_owner = ?`,
			state, next, next, micro(a.StartedAt), a.ID, string(a.Outcome), a.StatusCode, ended, a.DeliveryID, a.Tenant, rec.LeaseOwner)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n > 0 && state == 0 {
			w.due(a.EndpointID, next)
		}
	}
	if rec.DisableEndpoint != "" {
		if _, err := w.exec(`UPDATE endpoints SET enabled = 0, disabled_reason = ?, updated_at = MAX(updated_at, ?) WHERE id = ? AND tenant = ?`,
			rec.DisableEndpoint, ended, a.EndpointID, a.Tenant); err != nil {
			return err
		}
		if st := w.eps[a.EndpointID]; st != nil {
			st.enabled = false
		}
	}
	return nil
}

// AttemptListByDelivery lists the attempts of tenant's delivery, oldest
// first.
func (s *Store) AttemptListByDelivery(ctx context.Context, tenant, deliveryID string, p hookd.ListParams) ([]*hookd.Attempt, string, error) {
	t, rowid, after, err := decodeKey(kindAttemptD, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := s.exists(ctx, `SELECT 1 FROM deliveries WHERE tenant = ? AND id = ?`, tenant, deliveryID); err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := keyset(`SELECT `+attemptCols+` FROM attempts WHERE delivery_id = ?`, []any{deliveryID}, "started_at", "rowid", t, rowid, after, true, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanAttempt, func(a *hookd.Attempt, rowid int64) string {
		return encodeKey(kindAttemptD, micro(a.StartedAt), rowid)
	})
}

// AttemptListByEndpoint lists the attempts of tenant's endpoint, newest
// first.
func (s *Store) AttemptListByEndpoint(ctx context.Context, p hookd.AttemptListParams) ([]*hookd.Attempt, string, error) {
	t, rowid, after, err := decodeKey(kindAttemptE, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if err := s.exists(ctx, `SELECT 1 FROM endpoints WHERE tenant = ? AND id = ?`, p.Tenant, p.EndpointID); err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := `SELECT `+attemptCols+` FROM attempts WHERE endpoint_id = ? AND tenant = ?`, []any{p.EndpointID, p.Tenant}
	if p.Failed != nil {
		if *p.Failed {
			q += ` AND outcome != 'succeeded'`
		} else {
			q += ` AND outcome = 'succeeded'`
		}
	}
	q, args = since(q, args, "started_at", p.Since, p.Until)
	q, args = keyset(q, args, "started_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanAttempt, func(a *hookd.Attempt, rowid int64) string {
		return encodeKey(kindAttemptE, micro(a.StartedAt), rowid)
	})
}

// exists is ENOTFOUND unless q finds a row.
func (s *Store) exists(ctx context.Context, q string, args ...any) error {
	var one int
	err := s.rdb.QueryRowContext(ctx, q, args...).Scan(&one)
	if isNoRows(err) {
		return hookd.NotFound("object")
	}
	return storeErr(err)
}
