package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// endpointConfig is the part of an endpoint kept as JSON: nothing in SQL
// filters on it, and new fields need no migration.
type endpointConfig struct {
	URL            string                `json:"url"`
	Description    string                `json:"description"`
	EventTypes     []string              `json:"event_types"`
	Timeout        hookd.Duration        `json:"timeout"`
	Retry          hookd.RetryPolicy     `json:"retry"`
	Headers        map[string]string     `json:"headers"`
	Signature      hookd.SignatureConfig `json:"signature"`
	RateLimit      float64               `json:"rate_limit"`
	Filter         string                `json:"filter,omitempty"`
	Body           string                `json:"body,omitempty"`
	DisabledReason string                `json:"disabled_reason,omitempty"`
}

func configOf(e *hookd.Endpoint) ([]byte, []byte, error) {
	c, err := json.Marshal(endpointConfig{
		URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, Timeout: e.Timeout,
		Retry: e.Retry, Headers: e.Headers, Signature: e.Signature, RateLimit: e.RateLimit,
		Filter: e.Filter, Body: e.Body, DisabledReason: e.DisabledReason,
	})
	if err != nil {
		return nil, nil, hookd.Invalid("endpoint", "cannot be encoded: %v", err)
	}
	secrets := e.Secrets
	if secrets == nil {
		secrets = []hookd.Secret{}
	}
	sc, err := json.Marshal(secrets)
	if err != nil {
		return nil, nil, hookd.Invalid("secret", "cannot be encoded: %v", err)
	}
	return c, sc, nil
}

const endpointColumns = `id, tenant, enabled, max_in_flight, config, secrets, created_at, updated_at`

func scanEndpoint(row pgx.Row) (*hookd.Endpoint, error) {
	var (
		e               hookd.Endpoint
		config, secrets []byte
	)
	if err := row.Scan(&e.ID, &e.Tenant, &e.Enabled, &e.MaxInFlight, &config, &secrets, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return nil, err
	}
	var c endpointConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(secrets, &e.Secrets); err != nil {
		return nil, err
	}
	for i := range e.Secrets {
		e.Secrets[i].ExpiresAt = e.Secrets[i].ExpiresAt.UTC()
		if e.Secrets[i].ExpiresAt.Equal(time.Time{}) {
			e.Secrets[i].ExpiresAt = time.Time{}
		}
	}
	e.URL, e.Description, e.EventTypes, e.Timeout = c.URL, c.Description, c.EventTypes, c.Timeout
	e.Retry, e.Headers, e.Signature, e.RateLimit = c.Retry, c.Headers, c.Signature, c.RateLimit
	e.Filter, e.Body, e.DisabledReason = c.Filter, c.Body, c.DisabledReason
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

// EndpointInsert stores a new endpoint, creating its tenant on first use.
func (s *Store) EndpointInsert(ctx context.Context, e *hookd.Endpoint) error {
	config, secrets, err := configOf(e)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		WITH t AS (INSERT INTO tenants (id, created_at) VALUES ($2, $7) ON CONFLICT DO NOTHING)
		INSERT INTO endpoints (`+endpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.ID, e.Tenant, e.Enabled, e.MaxInFlight, config, secrets, e.CreatedAt, e.UpdatedAt)
	return s.fail(err, "insert endpoint")
}

// EndpointGet returns tenant's endpoint id.
func (s *Store) EndpointGet(ctx context.Context, tenant, id string) (*hookd.Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx,
		`SELECT `+endpointColumns+` FROM endpoints WHERE id = $1 AND tenant = $2`, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("endpoint")
	}
	if err != nil {
		return nil, s.fail(err, "get endpoint")
	}
	return e, nil
}

// EndpointList lists tenant's endpoints, newest first.
func (s *Store) EndpointList(ctx context.Context, p hookd.EndpointListParams) ([]*hookd.Endpoint, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT `+endpointColumns+` FROM endpoints
		WHERE tenant = $1 AND (NOT $2 OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`,
		p.Tenant, c.set, c.at, c.key, n+1)
	if err != nil {
		return nil, "", s.fail(err, "list endpoints")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, "", s.fail(err, "list endpoints")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		last := list[n-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return list, next, nil
}

// EndpointListAll returns every endpoint of tenant, for fan-out.
func (s *Store) EndpointListAll(ctx context.Context, tenant string) ([]*hookd.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE tenant = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, s.fail(err, "list endpoints")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, s.fail(err, "list endpoints")
	}
	return list, nil
}

// EndpointUpdate replaces the endpoint. Its pending deliveries are paused
// when it is disabled and resumed (due at once, if they were due) when it
// is enabled again.
func (s *Store) EndpointUpdate(ctx context.Context, e *hookd.Endpoint) error {
	config, secrets, err := configOf(e)
	if err != nil {
		return err
	}
	return s.fail(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var was bool
		err := tx.QueryRow(ctx, `SELECT enabled FROM endpoints WHERE id = $1 AND tenant = $2 FOR NO KEY UPDATE`,
			e.ID, e.Tenant).Scan(&was)
		if errors.Is(err, pgx.ErrNoRows) {
			return hookd.NotFound("endpoint")
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE endpoints SET enabled = $3, max_in_flight = $4, config = $5, secrets = $6, updated_at = $7
			WHERE id = $1 AND tenant = $2`,
			e.ID, e.Tenant, e.Enabled, e.MaxInFlight, config, secrets, e.UpdatedAt); err != nil {
			return err
		}
		if was == e.Enabled {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE delivery_queue SET paused = $2 WHERE endpoint_id = $1 AND paused <> $2`,
			e.ID, !e.Enabled); err != nil {
			return err
		}
		if e.Enabled {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel)
		}
		return err
	}), "update endpoint")
}

// EndpointDelete removes the endpoint and cancels its pending deliveries.
func (s *Store) EndpointDelete(ctx context.Context, tenant, id string, now time.Time) error {
	return s.fail(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM endpoints WHERE id = $1 AND tenant = $2`, id, tenant)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return hookd.NotFound("endpoint")
		}
		_, err = tx.Exec(ctx, `
			WITH q AS (DELETE FROM delivery_queue WHERE endpoint_id = $1 RETURNING delivery_id, part_at)
			UPDATE deliveries d SET state = 'cancelled', updated_at = $2
			FROM q WHERE d.id = q.delivery_id AND d.part_at = q.part_at`, id, now)
		return err
	}), "delete endpoint")
}
