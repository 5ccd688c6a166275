package sqlite

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// RetentionPurge deletes up to about batch rows older than before:
// deliveries that are done (not pending) and untouched since, with their
// attempts, then events no delivery refers to any more, so an event stays
// while a delivery of it is pending. Attempts go with their delivery, which
// spares them an index of their own. Each call is one small transaction of
// the writer's group; callers repeat until it returns 0.
func (s *Store) RetentionPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	cut := micro(before)
	var n int
	err := s.do(ctx, func(w *writer) error {
		n = 0
		for n < batch {
			k, err := w.purgeDeliveries(cut, min(batch-n, 256))
			if err != nil {
				return err
			}
			if k == 0 {
				break
			}
			n += k
		}
		if n >= batch {
			return nil
		}
		r, err := w.exec(`DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.rowid >= e.seq << 20 AND d.rowid < (e.seq + 1) << 20) LIMIT ?2)`, cut, batch-n)
		if err != nil {
			return err
		}
		k, err := r.RowsAffected()
		n += int(k)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

const qPurgeAttempts = `DELETE FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?))`

// purgeDeliveries deletes old, done deliveries with their attempts, at
// most budget rows, returning how many went. A delivery with more attempts
// than the budget loses its attempts budget at a time first.
func (w *writer) purgeDeliveries(cut int64, budget int) (int, error) {
	rows, err := w.query(`SELECT d.rowid, d.id, (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) FROM deliveries d WHERE d.created_at < ?1 AND d.state != 0 AND d.updated_at < ?1 LIMIT ?2`, cut, budget)
	if err != nil {
		return 0, err
	}
	rowids := []byte{'['}
	var ids []string
	var first string
	total := 0
	for rows.Next() {
		var rowid int64
		var id string
		var atts int
		if err := rows.Scan(&rowid, &id, &atts); err != nil {
			rows.Close()
			return 0, err
		}
		if first == "" {
			first = id
		}
		if total+1+atts > budget {
			break
		}
		if len(ids) > 0 {
			rowids = append(rowids, ',')
		}
		rowids = strconv.AppendInt(rowids, rowid, 10)
		ids = append(ids, id)
		total += 1 + atts
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		if first == "" {
			return 0, nil
		}
		r, err := w.exec(`DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE delivery_id = ? LIMIT ?)`, first, budget)
		if err != nil {
			return 0, err
		}
		k, err := r.RowsAffected()
		return int(k), err
	}
	rowids = append(rowids, ']')
	idList, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	r, err := w.exec(qPurgeAttempts, string(idList))
	if err != nil {
		return 0, err
	}
	atts, _ := r.RowsAffected()
	r, err = w.exec(`DELETE FROM deliveries WHERE rowid IN (SELECT value FROM json_each(?))`, string(rowids))
	if err != nil {
		return 0, err
	}
	ds, _ := r.RowsAffected()
	return int(atts + ds), nil
}
