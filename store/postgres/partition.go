package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Partitioning. events, deliveries and attempts are range-partitioned by
// UTC day: events by created_at, deliveries by the day in their id, and
// attempts by their delivery's day. Each day has one partition of each of
// the three tables, made together.

// partitioned lists the day-partitioned tables.
var partitioned = []string{"events", "deliveries", "attempts"}

// daysAhead is how many days after today have partitions ready, so that no
// insert waits for DDL at midnight.
const daysAhead = 3

// day returns the start of t's UTC day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// partitionName names table's partition for day d.
func partitionName(table string, d time.Time) string {
	return table + "_p" + d.Format("20060102")
}

// crockford decodes hookd.NewID's alphabet; -1 marks other bytes.
var crockford = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
		t[c] = int8(i)
	}
	return t
}()

// epoch is the day of ids that carry no time.
var epoch = time.Unix(0, 0).UTC()

// idDay returns the day in an id made by hookd.NewID (prefix, "_", 26
// base32 digits whose first 48 bits are Unix milliseconds), which is the
// partition of a delivery and its attempts. Ids of any other form, or
// with a time outside the years 2000–2999, map to 1970-01-01: they still
// work, in one partition of their own. The mapping depends on the id
// alone, so every node finds a delivery's partition without asking.
func idDay(id string) time.Time {
	i := len(id) - 27
	if i < 0 || id[i] != '_' {
		return epoch
	}
	digits := id[i+1:]
	var ms int64
	for j := 0; j < 26; j++ {
		v := crockford[digits[j]]
		if v < 0 {
			return epoch
		}
		if j < 10 {
			ms = ms<<5 | int64(v)
		}
	}
	if digits[0] > '7' { // more than 128 bits
		return epoch
	}
	t := time.UnixMilli(ms).UTC()
	if t.Year() < 2000 || t.Year() > 2999 {
		return epoch
	}
	return day(t)
}

// partitions remembers which days have partitions, so that inserts check a
// map rather than the catalogue. The map may be stale when another node
// dropped a day; an insert that fails for want of a partition makes the
// day again and retries.
type partitions struct {
	mu     sync.Mutex
	known  map[time.Time]bool
	loaded bool
}

func (p *partitions) forget(d time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.known, d)
}

// ensureDays makes the partitions of the given days that are not known to
// exist.
func (s *Store) ensureDays(ctx context.Context, days []time.Time) error {
	var missing []time.Time
	s.parts.mu.Lock()
	loaded := s.parts.loaded
	for _, d := range days {
		if !s.parts.known[d] && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	s.parts.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	if !loaded {
		if err := s.loadPartitions(ctx); err != nil {
			return err
		}
		return s.ensureDays(ctx, missing)
	}
	return s.createDays(ctx, missing)
}

// loadPartitions reads which days have all three partitions.
func (s *Store) loadPartitions(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = ANY ($1::regclass[]) AND NOT i.inhdetachpending`,
		partitioned)
	if err != nil {
		return s.fail(err, "list partitions")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return s.fail(err, "list partitions")
	}
	count := map[time.Time]int{}
	for _, n := range names {
		if d, ok := partitionDay(n); ok {
			count[d]++
		}
	}
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	clear(s.parts.known)
	for d, n := range count {
		if n == len(partitioned) {
			s.parts.known[d] = true
		}
	}
	s.parts.loaded = true
	return nil
}

// partitionDay parses the day out of a partition's name.
func partitionDay(name string) (time.Time, bool) {
	if len(name) < 10 || name[len(name)-10:len(name)-8] != "_p" {
		return time.Time{}, false
	}
	d, err := time.Parse("20060102", name[len(name)-8:])
	return d, err == nil
}

// createDays makes the partitions of days, each day in its own short
// transaction under an advisory lock (two nodes may want the same day).
// A partition is made as a plain table and then attached, which locks the
// parent only in SHARE UPDATE EXCLUSIVE mode: reads and writes go on.
func (s *Store) createDays(ctx context.Context, days []time.Time) error {
	for _, d := range days {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.lockKey("partitions")); err != nil {
				return err
			}
			var have []string
			rows, err := tx.Query(ctx, `
				SELECT p.relname::text FROM pg_inherits i
				JOIN pg_class c ON c.oid = i.inhrelid
				JOIN pg_class p ON p.oid = i.inhparent
				WHERE i.inhparent = ANY ($1::regclass[]) AND c.relname = ANY ($2)`,
				partitioned, partitionNames(d))
			if err != nil {
				return err
			}
			if have, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			for _, table := range partitioned {
				if slices.Contains(have, table) {
					continue
				}
				name := ident(partitionName(table, d))
				// A table of that name that is not attached is one whose
				// retention was interrupted (see retention.go): attaching
				// it again brings its rows back, which is always safe.
				sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (LIKE %[2]s INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = %[3]d);
					ALTER TABLE %[2]s ATTACH PARTITION %[1]s FOR VALUES FROM ('%[4]s') TO ('%[5]s')`,
					name, ident(table), fillfactor(table),
					d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339))
				if _, err := tx.Exec(ctx, sql); err != nil {
					return fmt.Errorf("create %s: %w", name, err)
				}
			}
			return nil
		})
		if err != nil {
			return s.fail(err, "create partitions")
		}
		s.parts.mu.Lock()
		s.parts.known[d] = true
		s.parts.mu.Unlock()
	}
	return nil
}

// fillfactor leaves room in deliveries' pages so that recording an outcome
// (which changes no indexed column) is a HOT update; the other tables are
// written once.
func fillfactor(table string) int {
	if table == "deliveries" {
		return 80
	}
	return 100
}

func partitionNames(d time.Time) []string {
	out := make([]string, len(partitioned))
	for i, t := range partitioned {
		out[i] = partitionName(t, d)
	}
	return out
}

// ensureAhead makes the partitions of today and the next daysAhead days.
func (s *Store) ensureAhead(ctx context.Context) error {
	if err := s.loadPartitions(ctx); err != nil {
		return err
	}
	today := day(s.now())
	days := make([]time.Time, 0, daysAhead+1)
	for i := range daysAhead + 1 {
		days = append(days, today.AddDate(0, 0, i))
	}
	return s.ensureDays(ctx, days)
}

// maintain keeps partitions ahead while the store is open. Every node does
// it; the advisory lock in createDays makes the work happen once.
func (s *Store) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.ensureAhead(ctx) // retried within the hour; inserts make missing days themselves
		}
	}
}
