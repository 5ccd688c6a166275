package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Endpoint health, statistics and the backlog. Health rows change only
// when an engine reports an endpoint (on a change of state, else at most
// every few seconds), so the attempt path pays nothing for them. Nodes
// reporting the same endpoint at once are serialised by the row lock, so
// exactly one of them learns of each change.

// EndpointHealthRecordMany folds the observations into the endpoints'
// health, disabling those failing for p.DisableAfter, in one transaction.
func (s *Store) EndpointHealthRecordMany(ctx context.Context, p hookd.HealthRecordParams) ([]hookd.HealthUpdate, error) {
	if len(p.Observations) == 0 {
		return nil, nil
	}
	obs := slices.Clone(p.Observations)
	// One observation per endpoint, locked in id order: no deadlock
	// between nodes reporting overlapping sets.
	slices.SortFunc(obs, func(a, b hookd.HealthObservation) int { return strings.Compare(a.EndpointID, b.EndpointID) })
	obs = slices.CompactFunc(obs, func(a, b hookd.HealthObservation) bool { return a.EndpointID == b.EndpointID })
	ids, tenants := make([]string, len(obs)), make([]string, len(obs))
	for i, o := range obs {
		ids[i], tenants[i] = o.EndpointID, o.Tenant
	}
	var out []hookd.HealthUpdate
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `
			INSERT INTO endpoint_health (endpoint_id, tenant)
			SELECT k.id, k.tenant FROM unnest($1::text[], $2::text[]) AS k(id, tenant) JOIN endpoints e ON e.id = k.id
			ON CONFLICT DO NOTHING`, ids, tenants); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT h.endpoint_id, h.tenant, h.last_success, h.last_failure, h.failing_since, h.disabled_at,
				e.enabled, coalesce(e.config->>'disabled_reason', '')
			FROM endpoint_health h JOIN endpoints e ON e.id = h.endpoint_id
			WHERE h.endpoint_id = ANY ($1) ORDER BY h.endpoint_id FOR UPDATE OF h`, ids)
		if err != nil {
			return err
		}
		type current struct {
			h       hookd.EndpointHealth
			enabled bool
			reason  string
		}
		cur := map[string]*current{}
		var (
			c                        current
			ok, fail, since, disable *time.Time
		)
		if _, err := pgx.ForEachRow(rows, []any{&c.h.EndpointID, &c.h.Tenant, &ok, &fail, &since, &disable, &c.enabled, &c.reason}, func() error {
			c.h.LastSuccess, c.h.LastFailure, c.h.FailingSince, c.h.DisabledAt = utc(ok), utc(fail), utc(since), utc(disable)
			x := c
			cur[c.h.EndpointID] = &x
			return nil
		}); err != nil {
			return err
		}
		var gone []string
		var disableIDs, disableReasons []string
		var upd struct {
			ids                      []string
			ok, fail, since, disable []*time.Time
		}
		for _, o := range obs {
			c := cur[o.EndpointID]
			if c == nil {
				gone = append(gone, o.EndpointID)
				continue
			}
			u := c.h.Observe(o, c.enabled, c.reason, p.Now, p.DisableAfter)
			if u.Disable {
				disableIDs, disableReasons = append(disableIDs, o.EndpointID), append(disableReasons, u.Reason)
			}
			upd.ids = append(upd.ids, o.EndpointID)
			upd.ok = append(upd.ok, nullTime(c.h.LastSuccess))
			upd.fail = append(upd.fail, nullTime(c.h.LastFailure))
			upd.since = append(upd.since, nullTime(c.h.FailingSince))
			upd.disable = append(upd.disable, nullTime(c.h.DisabledAt))
			out = append(out, u)
		}
		if len(upd.ids) > 0 {
			if _, err := tx.Exec(ctx, `
				UPDATE endpoint_health h SET last_success = k.ok, last_failure = k.fail, failing_since = k.since, disabled_at = k.disabled
				FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) AS k(id, ok, fail, since, disabled)
				WHERE h.endpoint_id = k.id`, upd.ids, upd.ok, upd.fail, upd.since, upd.disable); err != nil {
				return err
			}
		}
		if len(disableIDs) > 0 {
			ats := make([]time.Time, len(disableIDs))
			for i := range ats {
				ats[i] = p.Now
			}
			// The same statement a 410 runs: disable and pause the queue.
			if _, err := tx.Exec(ctx, disableSQL, disableIDs, disableReasons, ats); err != nil {
				return err
			}
		}
		if len(gone) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM endpoint_health WHERE endpoint_id = ANY ($1)`, gone); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(err, "record endpoint health")
	}
	return out, nil
}

// EndpointHealthReset forgets tenant's endpoint id's failing streak.
func (s *Store) EndpointHealthReset(ctx context.Context, tenant, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE endpoint_health SET failing_since = NULL, disabled_at = NULL WHERE endpoint_id = $1 AND tenant = $2`, id, tenant)
	return s.fail(err, "reset endpoint health")
}

// EndpointStatsGet describes tenant's endpoint from a bounded window.
func (s *Store) EndpointStatsGet(ctx context.Context, p hookd.EndpointStatsParams) (*hookd.EndpointStats, error) {
	p.Normalize()
	e, err := s.EndpointGet(ctx, p.Tenant, p.EndpointID)
	if err != nil {
		return nil, err
	}
	now := p.Now.UTC().Truncate(time.Microsecond)
	st := &hookd.EndpointStats{EndpointID: e.ID, Enabled: e.Enabled, DisabledReason: e.DisabledReason, AsOf: now, WindowStart: now.Add(-p.Window)}
	b := &pgx.Batch{}
	b.Queue(`SELECT started_at, duration_ms, outcome FROM attempts WHERE endpoint_id = $1 AND started_at >= $2 AND started_at <= $3
		ORDER BY started_at DESC LIMIT $4`, e.ID, st.WindowStart, now, p.MaxAttempts+1).Query(func(rows pgx.Rows) error {
		var (
			started, oldest time.Time
			dur             int64
			outcome         string
		)
		_, err := pgx.ForEachRow(rows, []any{&started, &dur, &outcome}, func() error {
			if st.Attempts == p.MaxAttempts {
				st.Truncated = true
				return nil
			}
			oldest = started.UTC()
			st.AddAttempt(oldest, dur, outcome == string(hookd.OutcomeSucceeded))
			return nil
		})
		if st.Truncated {
			// The window begins at the oldest attempt counted.
			st.WindowStart = oldest
		}
		return err
	})
	var oldest *time.Time
	b.Queue(`SELECT count(*), min(event_created_at) FROM (SELECT event_created_at FROM delivery_queue WHERE endpoint_id = $1 LIMIT $2) q`,
		e.ID, p.MaxPending+1).QueryRow(func(row pgx.Row) error { return row.Scan(&st.Pending, &oldest) })
	var h hookd.EndpointHealth
	found := false
	b.Queue(`SELECT last_success, last_failure, failing_since FROM endpoint_health WHERE endpoint_id = $1`, e.ID).Query(func(rows pgx.Rows) error {
		var ok, fail, since *time.Time
		_, err := pgx.ForEachRow(rows, []any{&ok, &fail, &since}, func() error {
			h.LastSuccess, h.LastFailure, h.FailingSince, found = utc(ok), utc(fail), utc(since), true
			return nil
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.fail(err, "endpoint stats")
	}
	if st.Pending > p.MaxPending {
		st.Pending, st.PendingMore = p.MaxPending, true
	}
	st.OldestPendingAt = utc(oldest)
	if found {
		st.Finish(&h)
	} else {
		st.Finish(nil)
	}
	return st, nil
}

// BacklogGet counts the pending deliveries per endpoint in one pass over
// the queue.
func (s *Store) BacklogGet(ctx context.Context, top int) (*hookd.Backlog, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT q.endpoint_id, coalesce(e.tenant, ''), q.n, q.oldest FROM (
			SELECT endpoint_id, count(*) AS n, min(event_created_at) AS oldest FROM delivery_queue GROUP BY endpoint_id
		) q LEFT JOIN endpoints e ON e.id = q.endpoint_id`)
	if err != nil {
		return nil, s.fail(err, "backlog")
	}
	b := &hookd.Backlog{}
	var all []hookd.EndpointBacklog
	var x hookd.EndpointBacklog
	var oldest time.Time
	if _, err := pgx.ForEachRow(rows, []any{&x.EndpointID, &x.Tenant, &x.Pending, &oldest}, func() error {
		b.Pending += x.Pending
		if b.OldestPendingAt.IsZero() || oldest.Before(b.OldestPendingAt) {
			b.OldestPendingAt = oldest.UTC()
		}
		all = append(all, x)
		return nil
	}); err != nil {
		return nil, s.fail(err, "backlog")
	}
	slices.SortFunc(all, func(a, b hookd.EndpointBacklog) int {
		switch {
		case a.Pending != b.Pending:
			if a.Pending > b.Pending {
				return -1
			}
			return 1
		}
		return strings.Compare(a.EndpointID, b.EndpointID)
	})
	b.Top = all[:min(len(all), max(top, 0))]
	return b, nil
}

// RecoveryPurge deletes finished replays that ended before before, and
// the health of deleted endpoints, at most batch rows of each.
func (s *Store) RecoveryPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	var n int64
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM replays WHERE id IN (SELECT id FROM replays WHERE state <> 'running' AND finished_at < $1 LIMIT $2)`, before, batch).
		Exec(func(ct pgconn.CommandTag) error { n += ct.RowsAffected(); return nil })
	b.Queue(`DELETE FROM endpoint_health WHERE endpoint_id IN (
		SELECT h.endpoint_id FROM endpoint_health h WHERE NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = h.endpoint_id) LIMIT $1)`, batch).
		Exec(func(ct pgconn.CommandTag) error { n += ct.RowsAffected(); return nil })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, s.fail(err, "recovery purge")
	}
	return int(n), nil
}
