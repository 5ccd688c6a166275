package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RetentionPurge removes events, deliveries and attempts created before
// before, never a pending delivery or its event. Only one node does it at a
// time (an advisory lock; the others return 0 at once). Old days go whole,
// by dropping their partitions, which costs the same for ten rows or ten
// million; what the days kept for a pending delivery and the day straddling
// before still hold goes by statements of at most batch rows. The count
// returned includes the rows of dropped partitions (from the planner's
// statistics when it has them).
func (s *Store) RetentionPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, s.fail(err, "retention")
	}
	defer conn.Release()
	key := s.lockKey("retention")
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
		return 0, s.fail(err, "retention")
	}
	if !locked {
		return 0, nil // another node is at it
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // frees the lock
		}
	}()
	// The job that drops old days also makes the coming ones.
	if err := s.ensureAhead(ctx); err != nil {
		return 0, err
	}
	n, err := s.dropDays(ctx, conn, before)
	if err != nil || n > 0 {
		return n, s.fail(err, "retention: drop partitions")
	}
	n, err = s.purgeRows(ctx, conn.Conn(), before, batch)
	return n, s.fail(err, "retention: delete rows")
}

// partitionTable is one table of the schema named like a partition.
type partitionTable struct {
	name, parent  string
	day           time.Time
	attached      bool
	detachPending bool
}

func (s *Store) partitionTables(ctx context.Context, conn *pgxpool.Conn) ([]partitionTable, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname::text, i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false)
		FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
		  AND c.relname ~ '^(events|deliveries|attempts)_p[0-9]{8}$'`)
	if err != nil {
		return nil, err
	}
	var out []partitionTable
	for rows.Next() {
		var p partitionTable
		if err := rows.Scan(&p.name, &p.attached, &p.detachPending); err != nil {
			rows.Close()
			return nil, err
		}
		d, ok := partitionDay(p.name)
		if !ok {
			continue
		}
		p.day, p.parent = d, p.name[:len(p.name)-10]
		out = append(out, p)
	}
	return out, rows.Err()
}

// pendingDays returns the days that hold a pending delivery or the event of
// one: those partitions stay.
func pendingDays(ctx context.Context, conn *pgxpool.Conn) (map[time.Time]bool, error) {
	rows, err := conn.Query(ctx, `
		SELECT part_at FROM delivery_queue
		UNION SELECT date_trunc('day', event_created_at, 'UTC') FROM delivery_queue`)
	if err != nil {
		return nil, err
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, err
	}
	out := make(map[time.Time]bool, len(days))
	for _, d := range days {
		out[d.UTC()] = true
	}
	return out, nil
}

// dropDays drops the partitions of whole days before before that hold
// nothing pending and no delivery created since before (ids carry the
// creation time, so that happens only to rows written with a made-up
// CreatedAt). It stops after the first day that held rows.
//
// A day goes in three steps. DETACH PARTITION … CONCURRENTLY takes each
// partition out without blocking readers or writers of the parent; then,
// with the day out of sight, the queue is checked again, since a retry may
// have made one of its deliveries pending meanwhile (a retry share-locks
// the event and updates the delivery through the parent, so it either
// finishes before the detach completes or no longer finds the rows). If
// something is pending the partitions are attached again, else dropped.
// Tables left detached by an interrupted run are finished the same way:
// dropped if their day may go, attached again otherwise.
func (s *Store) dropDays(ctx context.Context, conn *pgxpool.Conn, before time.Time) (int, error) {
	tables, err := s.partitionTables(ctx, conn)
	if err != nil {
		return 0, err
	}
	byDay := map[time.Time][]partitionTable{}
	var days []time.Time
	for _, t := range tables {
		leftover := !t.attached || t.detachPending
		if t.day.AddDate(0, 0, 1).After(before) && !leftover {
			continue
		}
		if _, ok := byDay[t.day]; !ok {
			days = append(days, t.day)
		}
		byDay[t.day] = append(byDay[t.day], t)
	}
	if len(days) == 0 {
		return 0, nil
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	pending, err := pendingDays(ctx, conn)
	if err != nil {
		return 0, err
	}
	// Partitions are made under the same lock (createDays), so an insert
	// dated in a day being dropped waits and then makes it afresh.
	lock := s.lockKey("partitions")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lock); err != nil {
		return 0, err
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	for _, d := range days {
		droppable := !d.AddDate(0, 0, 1).After(before) && !pending[d]
		if droppable {
			if droppable, err = noneSince(ctx, conn, d, byDay[d], before); err != nil {
				return 0, err
			}
		}
		if !droppable {
			if err := reattach(ctx, conn, d, byDay[d]); err != nil {
				return 0, err
			}
			continue
		}
		n, err := s.dropDay(ctx, conn, d, byDay[d])
		if err != nil {
			return 0, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, nil
}

// noneSince reports whether day d's deliveries were all created before
// before (BRIN on created_at makes this cheap).
func noneSince(ctx context.Context, conn *pgxpool.Conn, d time.Time, tables []partitionTable, before time.Time) (bool, error) {
	name := partitionName("deliveries", d)
	if !slices.ContainsFunc(tables, func(t partitionTable) bool { return t.name == name }) {
		return true, nil
	}
	var recent bool
	err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE created_at >= $1)`, ident(name)), before).Scan(&recent)
	return !recent, err
}

// reattach attaches again the tables of day d that an interrupted run left
// detached.
func reattach(ctx context.Context, conn *pgxpool.Conn, d time.Time, tables []partitionTable) error {
	for _, t := range tables {
		if t.detachPending {
			if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE", ident(t.parent), ident(t.name))); err != nil {
				return err
			}
		} else if t.attached {
			continue
		}
		_, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')",
			ident(t.parent), ident(t.name), d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339)))
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) dropDay(ctx context.Context, conn *pgxpool.Conn, d time.Time, tables []partitionTable) (int, error) {
	s.parts.forget(d)
	for i, t := range tables {
		switch {
		case t.detachPending:
			_, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE", ident(t.parent), ident(t.name)))
			if err != nil {
				return 0, err
			}
		case t.attached:
			_, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY", ident(t.parent), ident(t.name)))
			if err != nil {
				return 0, err
			}
		}
		tables[i].attached, tables[i].detachPending = false, false
	}
	var pending bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM delivery_queue
		WHERE part_at = $1 OR (event_created_at >= $1 AND event_created_at < $2))`, d, d.AddDate(0, 0, 1)).Scan(&pending); err != nil {
		return 0, err
	}
	if pending {
		return 0, reattach(ctx, conn, d, tables)
	}
	total := 0
	for _, t := range tables {
		var n float64
		if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, t.name).Scan(&n); err != nil {
			return 0, err
		}
		if n < 0 { // never analysed: count
			var c int64
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", ident(t.name))).Scan(&c); err != nil {
				return 0, err
			}
			n = float64(c)
		}
		total += int(n)
		if _, err := conn.Exec(ctx, "DROP TABLE "+ident(t.name)); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// purgeRows deletes, by batches, what whole days could not take: rows
// older than before in days kept for a pending delivery, in the day that
// straddles before, and the event_ids of dropped events.
func (s *Store) purgeRows(ctx context.Context, conn *pgx.Conn, before time.Time, batch int) (int, error) {
	total := 0
	// Deliveries done and not touched since before, with their attempts.
	// The state is checked on the row being deleted, so a delivery a
	// concurrent retry made pending stays.
	var n int
	err := conn.QueryRow(ctx, `
		WITH d AS (
			DELETE FROM deliveries d
			WHERE (d.id, d.part_at) IN (
				SELECT id, part_at FROM deliveries
				WHERE created_at < $1 AND updated_at < $1 AND state <> 'pending' LIMIT $2)
			  AND d.state <> 'pending' AND d.updated_at < $1
			RETURNING d.id, d.part_at
		), a AS (
			DELETE FROM attempts a USING d WHERE a.delivery_id = d.id AND a.part_at = d.part_at
			RETURNING 1
		)
		SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM a)`, before, batch).Scan(&n)
	if err != nil {
		return 0, err
	}
	total += n
	if total >= batch {
		return total, nil
	}
	// Events that no delivery refers to any more.
	err = conn.QueryRow(ctx, `
		WITH e AS (
			DELETE FROM events e
			WHERE (e.tenant, e.created_at, e.seq) IN (
				SELECT tenant, created_at, seq FROM events ev
				WHERE created_at < $1
				  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant = ev.tenant AND d.event_id = ev.id)
				LIMIT $2)
			RETURNING e.tenant, e.id
		), i AS (
			DELETE FROM event_ids i USING e WHERE i.tenant = e.tenant AND i.id = e.id
		)
		SELECT count(*) FROM e`, before, batch-total).Scan(&n)
	if err != nil {
		return 0, err
	}
	total += n
	if total >= batch {
		return total, nil
	}
	n, err = s.purgeEventIDs(ctx, conn, before, batch-total)
	return total + n, err
}

// purgeEventIDs deletes the event_ids of days whose events partition was
// dropped. It walks event_ids by created_at, skipping the days that still
// have their partition, so each call costs a few index probes per kept
// day.
func (s *Store) purgeEventIDs(ctx context.Context, conn *pgx.Conn, before time.Time, batch int) (int, error) {
	from := time.Time{}
	for {
		var first *time.Time
		err := conn.QueryRow(ctx, `SELECT min(created_at) FROM event_ids WHERE created_at >= $1 AND created_at < $2`,
			from, before).Scan(&first)
		if err != nil || first == nil {
			return 0, err
		}
		d := day(*first)
		var kept bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'events'::regclass AND c.relname = $1)`, partitionName("events", d)).Scan(&kept); err != nil {
			return 0, err
		}
		if kept {
			from = d.AddDate(0, 0, 1)
			continue
		}
		tag, err := conn.Exec(ctx, `DELETE FROM event_ids WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM event_ids WHERE created_at >= $1 AND created_at < least($2::timestamptz, $3::timestamptz) LIMIT $4))`,
			d, d.AddDate(0, 0, 1), before, batch)
		return int(tag.RowsAffected()), err
	}
}
