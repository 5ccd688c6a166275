package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/hookd/hookd"
)

const eventCols = `seq, id, tenant, type, data, occurred_at, created_at`

func scanEvent(sc interface{ Scan(...any) error }) (*hookd.Event, int64, error) {
	var e hookd.Event
	var occurred, created int64
	var data []byte
	if err := sc.Scan(&e.Seq, &e.ID, &e.Tenant, &e.Type, &data, &occurred, &created); err != nil {
		return nil, 0, err
	}
	e.Data = data
	e.OccurredAt, e.CreatedAt = fromMicro(occurred), fromMicro(created)
	return &e, e.Seq, nil
}

func scanEventRows(r *sql.Rows) (*hookd.Event, int64, error) { return scanEvent(r) }

// normalizeDelivery puts d's times in the stored form and fills what a
// new delivery leaves out: a pending one is due at its creation.
func normalizeDelivery(d *hookd.Delivery, now time.Time) {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	if d.State == "" {
		d.State = hookd.StatePending
	}
	if d.State == hookd.StatePending && d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = d.CreatedAt
	}
	d.CreatedAt, d.UpdatedAt, d.NextAttemptAt = utc(d.CreatedAt), utc(d.UpdatedAt), utc(d.NextAttemptAt)
	d.LastAttemptAt, d.LeaseUntil = utc(d.LastAttemptAt), utc(d.LeaseUntil)
	if d.LeaseOwner == "" {
		d.LeaseUntil = time.Time{}
	}
}

// EventInsertMany stores the events and their deliveries in one
// transaction (of the writer's group): all of them, or none when one fails.
// It sets Seq and normalises times in the callers' events and deliveries.
// A delivery for an endpoint that no longer exists is stored cancelled.
func (s *Store) EventInsertMany(ctx context.Context, in []hookd.EventInsert) ([]hookd.EventInsertResult, error) {
	if len(in) == 0 {
		return []hookd.EventInsertResult{}, nil
	}
	now := time.Now()
	for i := range in {
		ev := in[i].Event
		if ev == nil {
			return nil, hookd.Invalid("events", "event %d is missing", i)
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = now
		}
		ev.CreatedAt, ev.OccurredAt = utc(ev.CreatedAt), utc(ev.OccurredAt)
		if len(in[i].Deliveries) > 1<<fanoutBits {
			return nil, hookd.Invalid("deliveries", "event %d fans out to more than %d endpoints", i, 1<<fanoutBits)
		}
		for _, d := range in[i].Deliveries {
			if d == nil {
				return nil, hookd.Invalid("deliveries", "a delivery of event %d is missing", i)
			}
			normalizeDelivery(d, ev.CreatedAt)
			if !d.State.Valid() {
				return nil, hookd.Invalid("status", "%q is not a delivery state", d.State)
			}
		}
	}
	res := make([]hookd.EventInsertResult, len(in))
	err := s.do(ctx, func(w *writer) error {
		for i := range in {
			ev := in[i].Event
			if err := w.ensureTenant(ev.Tenant, ev.CreatedAt); err != nil {
				return err
			}
			// A seq reserved by EventSeqReserve (so that filters could
			// see it) is kept; a seq drawn here and not used (a
			// duplicate, a rollback) leaves a gap, which "unique and
			// rising" allows.
			seq := ev.Seq
			if seq <= 0 {
				seq = w.seq.Add(1)
			}
			r, err := w.exec(`INSERT INTO events (seq, tenant, id, type, data, occurred_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				seq, ev.Tenant, ev.ID, ev.Type, []byte(ev.Data), micro(ev.OccurredAt), micro(ev.CreatedAt))
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				stored, _, err := scanEvent(rowScanner{w, `SELECT ` + eventCols + ` FROM events WHERE tenant = ? AND id = ?`, []any{ev.Tenant, ev.ID}})
				if isNoRows(err) {
					return hookd.Invalid("seq", "event %d: seq %d is another event's", i, seq)
				}
				if err != nil {
					return err
				}
				res[i] = hookd.EventInsertResult{Event: stored, Duplicate: true}
				continue
			}
			ev.Seq = seq
			res[i] = hookd.EventInsertResult{Event: ev}
			for j, d := range in[i].Deliveries {
				if err := w.insertDelivery(d, seq<<fanoutBits|int64(j)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// rowScanner runs a one-row query on the writer when scanned.
type rowScanner struct {
	w    *writer
	q    string
	args []any
}

func (r rowScanner) Scan(dest ...any) error { return r.w.queryRow(r.q, r.args, dest...) }

// fanoutBits is how many low bits of a delivery's rowid number it among
// its event's deliveries; the rest is the event's seq.
const fanoutBits = 20

// eventRange is the rowid range [lo, hi) of the deliveries of event seq.
func eventRange(seq int64) (lo, hi int64) { return seq << fanoutBits, (seq + 1) << fanoutBits }

func (w *writer) insertDelivery(d *hookd.Delivery, rowid int64) error {
	state := stateCode(d.State)
	next, due := micro(d.NextAttemptAt), int64(0)
	if state == 0 {
		if _, ok := w.eps[d.EndpointID]; !ok {
			// The endpoint went (deleted while this publish fanned
			// out): nothing would ever claim the delivery.
			d.State, d.NextAttemptAt, d.LeaseOwner, d.LeaseUntil = hookd.StateCancelled, time.Time{}, "", time.Time{}
			state, next = 3, 0
		} else {
			due = max(next, micro(d.LeaseUntil))
		}
	}
	_, err := w.exec(`INSERT INTO deliveries (rowid, id, tenant, endpoint_id, state, attempts, next_at, due_at, last_at, last_attempt_id, last_outcome, last_status, created_at, updated_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rowid, d.ID, d.Tenant, d.EndpointID, state, d.Attempts, next, due, micro(d.LastAttemptAt), d.LastAttemptID, string(d.LastOutcome), d.LastStatus,
		micro(d.CreatedAt), micro(d.UpdatedAt), d.LeaseOwner, micro(d.LeaseUntil))
	if err != nil {
		return err
	}
	if state == 0 {
		w.due(d.EndpointID, due)
	}
	return nil
}

// EventGet returns tenant's event id.
func (s *Store) EventGet(ctx context.Context, tenant, id string) (*hookd.Event, error) {
	e, _, err := scanEvent(s.read.eventGet.QueryRowContext(ctx, tenant, id))
	if isNoRows(err) {
		return nil, hookd.NotFound("event")
	}
	return e, storeErr(err)
}

// EventList lists tenant's events, newest first.
func (s *Store) EventList(ctx context.Context, p hookd.EventListParams) ([]*hookd.Event, string, error) {
	t, rowid, after, err := decodeKey(kindEvent, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := `SELECT `+eventCols+` FROM events WHERE tenant = ?`, []any{p.Tenant}
	if p.Type != "" {
		q += ` AND type = ?`
		args = append(args, p.Type)
	}
	q, args = since(q, args, "created_at", p.Since, p.Until)
	q, args = keyset(q, args, "created_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanEventRows, func(e *hookd.Event, rowid int64) string {
		return encodeKey(kindEvent, micro(e.CreatedAt), rowid)
	})
}

// since appends the bounds col ≥ since and col < until (zero: open).
func since(q string, args []any, col string, since, until time.Time) (string, []any) {
	if !since.IsZero() {
		q += ` AND ` + col + ` >= ?`
		args = append(args, micro(since))
	}
	if !until.IsZero() {
		q += ` AND ` + col + ` < ?`
		args = append(args, micro(until))
	}
	return q, args
}

func stateCode(s hookd.DeliveryState) int {
	switch s {
	case hookd.StateSucceeded:
		return 1
	case hookd.StateFailed:
		return 2
	case hookd.StateCancelled:
		return 3
	}
	return 0
}

var stateNames = [...]hookd.DeliveryState{hookd.StatePending, hookd.StateSucceeded, hookd.StateFailed, hookd.StateCancelled}
