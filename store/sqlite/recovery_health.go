package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/hookd/hookd"
)

// Endpoint health, statistics and the backlog. Health rows change only
// when the engine reports an endpoint (on a change of state, else at most
// every few seconds), so the attempt path pays nothing for them; the
// statistics read bounded ranges of the attempts_endpoint and
// deliveries_due indexes.

const healthCols = `tenant, last_success, last_failure, failing_since, disabled_at`

func scanHealth(sc interface{ Scan(...any) error }, h *hookd.EndpointHealth) error {
	var ok, fail, since, disabled int64
	if err := sc.Scan(&h.Tenant, &ok, &fail, &since, &disabled); err != nil {
		return err
	}
	h.LastSuccess, h.LastFailure, h.FailingSince, h.DisabledAt = fromMicro(ok), fromMicro(fail), fromMicro(since), fromMicro(disabled)
	return nil
}

// EndpointHealthRecordMany folds the observations into the endpoints'
// health, disabling those failing for p.DisableAfter.
func (s *Store) EndpointHealthRecordMany(ctx context.Context, p hookd.HealthRecordParams) ([]hookd.HealthUpdate, error) {
	if len(p.Observations) == 0 {
		return nil, nil
	}
	var out []hookd.HealthUpdate
	err := s.do(ctx, func(w *writer) error {
		out = out[:0]
		for _, o := range p.Observations {
			st := w.eps[o.EndpointID]
			if st == nil {
				if _, err := w.exec(`DELETE FROM endpoint_health WHERE endpoint_id = ?`, o.EndpointID); err != nil {
					return err
				}
				continue
			}
			h := hookd.EndpointHealth{Tenant: o.Tenant, EndpointID: o.EndpointID}
			err := scanHealth(rowScanner{w, `SELECT ` + healthCols + ` FROM endpoint_health WHERE endpoint_id = ?`, []any{o.EndpointID}}, &h)
			if err != nil && !isNoRows(err) {
				return err
			}
			var reason string
			if o.Gone && !st.enabled {
				if err := w.queryRow(`SELECT disabled_reason FROM endpoints WHERE id = ?`, []any{o.EndpointID}, &reason); err != nil {
					return err
				}
			}
			u := h.Observe(o, st.enabled, reason, p.Now, p.DisableAfter)
			if u.Disable {
				if _, err := w.exec(`UPDATE endpoints SET enabled = 0, disabled_reason = ?, updated_at = MAX(updated_at, ?) WHERE id = ?`,
					u.Reason, micro(p.Now), o.EndpointID); err != nil {
					return err
				}
				st.enabled = false
			}
			if _, err := w.exec(`INSERT INTO endpoint_health (endpoint_id, tenant, last_success, last_failure, failing_since, disabled_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (endpoint_id) DO UPDATE SET last_success = excluded.last_success, last_failure = excluded.last_failure,
				failing_since = excluded.failing_since, disabled_at = excluded.disabled_at`,
				o.EndpointID, h.Tenant, micro(h.LastSuccess), micro(h.LastFailure), micro(h.FailingSince), micro(h.DisabledAt)); err != nil {
				return err
			}
			u.Health = h
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// EndpointHealthReset forgets tenant's endpoint id's failing streak.
func (s *Store) EndpointHealthReset(ctx context.Context, tenant, id string) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`UPDATE endpoint_health SET failing_since = 0, disabled_at = 0 WHERE endpoint_id = ? AND tenant = ?`, id, tenant)
		return err
	})
}

// The statistics' reads, each bounded by its LIMIT and answered from one
// index (recovery_test.go holds them to it).
const (
	qStatsAttempts = `SELECT started_at, duration_ms, outcome FROM attempts WHERE endpoint_id = ? AND started_at >= ? AND started_at <= ? ORDER BY started_at DESC LIMIT ?`
	qStatsPending  = `SELECT COUNT(*), MIN(created_at) FROM (SELECT created_at FROM deliveries WHERE endpoint_id = ? AND state = 0 LIMIT ?)`
	qBacklog       = `SELECT endpoint_id, tenant, COUNT(*), MIN(created_at) FROM deliveries WHERE state = 0 GROUP BY endpoint_id`
)

// EndpointStatsGet describes tenant's endpoint from a bounded window.
func (s *Store) EndpointStatsGet(ctx context.Context, p hookd.EndpointStatsParams) (*hookd.EndpointStats, error) {
	p.Normalize()
	e, err := s.EndpointGet(ctx, p.Tenant, p.EndpointID)
	if err != nil {
		return nil, err
	}
	now := utc(p.Now)
	st := &hookd.EndpointStats{EndpointID: e.ID, Enabled: e.Enabled, DisabledReason: e.DisabledReason, AsOf: now, WindowStart: utc(now.Add(-p.Window))}
	rows, err := s.rdb.QueryContext(ctx, qStatsAttempts, e.ID, micro(st.WindowStart), micro(now), p.MaxAttempts+1)
	if err != nil {
		return nil, storeErr(err)
	}
	for rows.Next() {
		var started, dur int64
		var outcome string
		if err := rows.Scan(&started, &dur, &outcome); err != nil {
			rows.Close()
			return nil, storeErr(err)
		}
		if st.Attempts == p.MaxAttempts {
			st.Truncated = true
			break
		}
		st.AddAttempt(fromMicro(started), dur, outcome == string(hookd.OutcomeSucceeded))
		st.WindowStart = fromMicro(started)
	}
	if err := rows.Close(); err != nil {
		return nil, storeErr(err)
	}
	if !st.Truncated {
		st.WindowStart = utc(now.Add(-p.Window))
	}
	var oldest sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, qStatsPending, e.ID, p.MaxPending+1).Scan(&st.Pending, &oldest); err != nil {
		return nil, storeErr(err)
	}
	if st.Pending > p.MaxPending {
		st.Pending, st.PendingMore = p.MaxPending, true
	}
	if oldest.Valid {
		st.OldestPendingAt = fromMicro(oldest.Int64)
	}
	var h hookd.EndpointHealth
	err = scanHealth(s.rdb.QueryRowContext(ctx, `SELECT `+healthCols+` FROM endpoint_health WHERE endpoint_id = ?`, e.ID), &h)
	switch {
	case isNoRows(err):
		st.Finish(nil)
	case err != nil:
		return nil, storeErr(err)
	default:
		st.Finish(&h)
	}
	return st, nil
}

// BacklogGet counts the pending deliveries per endpoint in one pass over
// the deliveries_due index.
func (s *Store) BacklogGet(ctx context.Context, top int) (*hookd.Backlog, error) {
	rows, err := s.rdb.QueryContext(ctx, qBacklog)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	b := &hookd.Backlog{}
	var all []hookd.EndpointBacklog
	for rows.Next() {
		var x hookd.EndpointBacklog
		var oldest int64
		if err := rows.Scan(&x.EndpointID, &x.Tenant, &x.Pending, &oldest); err != nil {
			return nil, storeErr(err)
		}
		b.Pending += x.Pending
		if t := fromMicro(oldest); b.OldestPendingAt.IsZero() || t.Before(b.OldestPendingAt) {
			b.OldestPendingAt = t
		}
		all = append(all, x)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err)
	}
	b.Top = topBacklog(all, top)
	return b, nil
}

// topBacklog returns the n endpoints with the most pending deliveries,
// most first (ties by id, so the answer is stable).
func topBacklog(all []hookd.EndpointBacklog, n int) []hookd.EndpointBacklog {
	slices.SortFunc(all, func(a, b hookd.EndpointBacklog) int {
		if c := cmpInt(b.Pending, a.Pending); c != 0 {
			return c
		}
		switch {
		case a.EndpointID < b.EndpointID:
			return -1
		case a.EndpointID > b.EndpointID:
			return 1
		}
		return 0
	})
	if len(all) > n {
		all = all[:max(n, 0)]
	}
	return all
}

// RecoveryPurge deletes finished replays that ended before before, and
// the health of deleted endpoints, at most batch rows of each.
func (s *Store) RecoveryPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	var n int
	err := s.do(ctx, func(w *writer) error {
		n = 0
		r, err := w.exec(`DELETE FROM replays WHERE rowid IN (SELECT rowid FROM replays WHERE state != 'running' AND finished_at < ? LIMIT ?)`, micro(before), batch)
		if err != nil {
			return err
		}
		k, _ := r.RowsAffected()
		n += int(k)
		r, err = w.exec(`DELETE FROM endpoint_health WHERE endpoint_id IN (SELECT h.endpoint_id FROM endpoint_health h WHERE NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = h.endpoint_id) LIMIT ?)`, batch)
		if err != nil {
			return err
		}
		k, _ = r.RowsAffected()
		n += int(k)
		return nil
	})
	return n, err
}
