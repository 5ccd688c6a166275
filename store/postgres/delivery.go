package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// A delivery is a row of deliveries (its history: state, attempts, last
// outcome) and, while pending, a row of delivery_queue (its schedule and
// lease). Readers join the two.

const deliveryColumns = `d.id, d.tenant, d.event_id, d.event_type, d.endpoint_id, d.state, d.attempts,
	q.next_attempt_at, d.last_attempt_at, d.last_attempt_id, d.last_outcome, d.last_status,
	d.created_at, d.updated_at, q.lease_owner, q.lease_until`

func scanDelivery(row pgx.Row, extra ...any) (*hookd.Delivery, error) {
	var (
		d                            hookd.Delivery
		next, lastAt, leaseUntil     *time.Time
		lastID, lastOutcome, leaseBy *string
		lastStatus                   *int32
		state                        string
	)
	dest := append([]any{&d.ID, &d.Tenant, &d.EventID, &d.EventType, &d.EndpointID, &state, &d.Attempts,
		&next, &lastAt, &lastID, &lastOutcome, &lastStatus,
		&d.CreatedAt, &d.UpdatedAt, &leaseBy, &leaseUntil}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	d.State = hookd.DeliveryState(state)
	d.NextAttemptAt, d.LastAttemptAt, d.LeaseUntil = utc(next), utc(lastAt), utc(leaseUntil)
	d.LastAttemptID, d.LastOutcome, d.LeaseOwner = str(lastID), hookd.Outcome(str(lastOutcome)), str(leaseBy)
	if lastStatus != nil {
		d.LastStatus = int(*lastStatus)
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

// querier is what pgxpool.Pool and pgx.Tx share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getDelivery(ctx context.Context, db querier, tenant, id string) (*hookd.Delivery, error) {
	return scanDelivery(db.QueryRow(ctx, `
		SELECT `+deliveryColumns+` FROM deliveries d LEFT JOIN delivery_queue q ON q.delivery_id = d.id
		WHERE d.id = $1 AND d.part_at = $2 AND d.tenant = $3`, id, idDay(id), tenant))
}

// DeliveryGet returns tenant's delivery id.
func (s *Store) DeliveryGet(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	d, err := getDelivery(ctx, s.pool, tenant, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("delivery")
	}
	if err != nil {
		return nil, s.fail(err, "get delivery")
	}
	return d, nil
}

// DeliveryList lists tenant's deliveries, newest first.
func (s *Store) DeliveryList(ctx context.Context, p hookd.DeliveryListParams) ([]*hookd.Delivery, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q := query{sql: `SELECT ` + deliveryColumns + ` FROM deliveries d LEFT JOIN delivery_queue q ON q.delivery_id = d.id WHERE d.tenant = `}
	q.arg(p.Tenant)
	if p.EndpointID != "" {
		q.and("d.endpoint_id = ", p.EndpointID)
	}
	if p.EventID != "" {
		q.and("d.event_id = ", p.EventID)
	}
	if p.EventType != "" {
		q.and("d.event_type = ", p.EventType)
	}
	if p.State != "" {
		q.and("d.state = ", string(p.State))
	}
	if !p.Since.IsZero() {
		q.and("d.created_at >= ", p.Since)
	}
	if !p.Until.IsZero() {
		q.and("d.created_at < ", p.Until)
	}
	if c.set {
		q.and("(d.created_at, d.id) < (", c.at)
		q.sql += ", "
		q.arg(c.key)
		q.sql += ")"
	}
	q.sql += " ORDER BY d.created_at DESC, d.id DESC LIMIT "
	q.arg(n + 1)
	rows, err := s.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, "", s.fail(err, "list deliveries")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, "", s.fail(err, "list deliveries")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, list[n-1].ID)
	}
	return list, next, nil
}

// DeliveryRetry makes a delivery pending and due at now, whatever its
// state, dropping any lease.
func (s *Store) DeliveryRetry(ctx context.Context, tenant, id string, now time.Time) (*hookd.Delivery, error) {
	var out *hookd.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		part := idDay(id)
		var (
			evAt     time.Time
			evSeq    int64
			endpoint string
		)
		err := tx.QueryRow(ctx, `
			SELECT event_created_at, event_seq, endpoint_id FROM deliveries
			WHERE id = $1 AND part_at = $2 AND tenant = $3 FOR NO KEY UPDATE`,
			id, part, tenant).Scan(&evAt, &evSeq, &endpoint)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.NotFound("delivery")
		}
		if err != nil {
			return err
		}
		// The event is read (and share-locked) before the delivery
		// becomes pending, so retention either sees the new pending
		// delivery or has already dropped the event (see retention.go).
		var enabled *bool
		err = tx.QueryRow(ctx, `
			SELECT (SELECT enabled FROM endpoints WHERE id = $4)
			FROM events WHERE tenant = $1 AND created_at = $2 AND seq = $3 FOR KEY SHARE`,
			tenant, evAt, evSeq, endpoint).Scan(&enabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.Errorf(hookd.ECONFLICT, "the delivery's event is past retention")
		}
		if err != nil {
			return err
		}
		if enabled == nil {
			return hookd.Errorf(hookd.ECONFLICT, "the delivery's endpoint was deleted")
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'pending', updated_at = $3 WHERE id = $1 AND part_at = $2`,
			id, part, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO delivery_queue (delivery_id, part_at, endpoint_id, event_created_at, event_seq, next_attempt_at, paused)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (delivery_id) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at,
				lease_owner = NULL, lease_until = NULL, paused = EXCLUDED.paused`,
			id, part, endpoint, evAt, evSeq, now, !*enabled); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
			return err
		}
		out, err = getDelivery(ctx, tx, tenant, id)
		return err
	})
	if err != nil {
		return nil, s.fail(err, "retry delivery")
	}
	return out, nil
}

// DeliveryReleaseMany drops owner's leases on ids (all of them when ids is
// nil), making those deliveries due at once.
func (s *Store) DeliveryReleaseMany(ctx context.Context, owner string, ids []string) error {
	if ids != nil && len(ids) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	sql := `UPDATE delivery_queue SET lease_owner = NULL, lease_until = NULL, next_attempt_at = least(next_attempt_at, $2)
		WHERE lease_owner = $1`
	args := []any{owner, s.now()}
	if ids != nil {
		sql += ` AND delivery_id = ANY ($3)`
		args = append(args, ids)
	}
	b.Queue(sql, args...)
	b.Queue(`SELECT pg_notify($1, '')`, s.channel)
	return s.fail(s.pool.SendBatch(ctx, b).Close(), "release deliveries")
}
