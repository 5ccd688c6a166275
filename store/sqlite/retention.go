package sqlite

import (
	"context"
	"time"
)

// RetentionPurge deletes up to batch rows older than before: attempts
// first, then deliveries that are done (not pending) and untouched since,
// then events no delivery refers to any more, so an event stays while a
// delivery of it is pending. Each call is one small transaction of the
// writer's group; callers repeat until it returns 0.
func (s *Store) RetentionPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	cut := micro(before)
	var n int
	err := s.do(ctx, func(w *writer) error {
		n = 0
		for _, q := range []string{
			`DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE started_at < ?1 LIMIT ?2)`,
			`DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE created_at < ?1 AND state != 0 AND updated_at < ?1 LIMIT ?2)`,
			`DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.rowid >= e.seq << 20 AND d.rowid < (e.seq + 1) << 20) LIMIT ?2)`,
		} {
			if n >= batch {
				break
			}
			r, err := w.exec(q, cut, batch-n)
			if err != nil {
				return err
			}
			k, err := r.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
