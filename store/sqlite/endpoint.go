package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/hookd/hookd"
)

// endpointDoc is the JSON of an endpoint's configuration: everything the
// store never filters on.
type endpointDoc struct {
	URL         string                `json:"url"`
	Description string                `json:"description,omitempty"`
	EventTypes  []string              `json:"event_types"`
	Timeout     hookd.Duration        `json:"timeout"`
	Retry       hookd.RetryPolicy     `json:"retry"`
	Headers     map[string]string     `json:"headers"`
	Signature   hookd.SignatureConfig `json:"signature"`
	RateLimit   float64               `json:"rate_limit,omitempty"`
	Filter      string                `json:"filter,omitempty"`
	Body        string                `json:"body,omitempty"`
	Secrets     []secretDoc           `json:"secrets"`
}

type secretDoc struct {
	Value     string `json:"v"`
	ExpiresAt int64  `json:"x,omitempty"`
}

// normalizeEndpoint puts e's times in the form the store returns.
func normalizeEndpoint(e *hookd.Endpoint) {
	e.CreatedAt, e.UpdatedAt = utc(e.CreatedAt), utc(e.UpdatedAt)
	for i := range e.Secrets {
		e.Secrets[i].ExpiresAt = utc(e.Secrets[i].ExpiresAt)
	}
}

func encodeEndpoint(e *hookd.Endpoint) ([]byte, error) {
	d := endpointDoc{
		URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, Timeout: e.Timeout,
		Retry: e.Retry, Headers: e.Headers, Signature: e.Signature, RateLimit: e.RateLimit,
		Filter: e.Filter, Body: e.Body, Secrets: make([]secretDoc, len(e.Secrets)),
	}
	for i, s := range e.Secrets {
		d.Secrets[i] = secretDoc{Value: s.Value, ExpiresAt: micro(s.ExpiresAt)}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, hookd.Invalid("endpoint", "cannot be stored: %v", err)
	}
	return b, nil
}

const endpointCols = `rowid, id, tenant, enabled, disabled_reason, max_in_flight, created_at, updated_at, doc`

func scanEndpoint(sc interface{ Scan(...any) error }) (*hookd.Endpoint, int64, error) {
	var (
		e                      hookd.Endpoint
		rowid, created, update int64
		doc                    []byte
	)
	if err := sc.Scan(&rowid, &e.ID, &e.Tenant, &e.Enabled, &e.DisabledReason, &e.MaxInFlight, &created, &update, &doc); err != nil {
		return nil, 0, err
	}
	var d endpointDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, 0, err
	}
	e.URL, e.Description, e.EventTypes, e.Timeout = d.URL, d.Description, d.EventTypes, d.Timeout
	e.Retry, e.Headers, e.Signature, e.RateLimit = d.Retry, d.Headers, d.Signature, d.RateLimit
	e.Filter, e.Body = d.Filter, d.Body
	e.CreatedAt, e.UpdatedAt = fromMicro(created), fromMicro(update)
	if d.Secrets != nil {
		e.Secrets = make([]hookd.Secret, len(d.Secrets))
		for i, s := range d.Secrets {
			e.Secrets[i] = hookd.Secret{Value: s.Value, ExpiresAt: fromMicro(s.ExpiresAt)}
		}
	}
	return &e, rowid, nil
}

func scanEndpointRows(r *sql.Rows) (*hookd.Endpoint, int64, error) { return scanEndpoint(r) }

// EndpointInsert stores a new endpoint; EDUPLICATE if its ID is taken.
func (s *Store) EndpointInsert(ctx context.Context, e *hookd.Endpoint) error {
	normalizeEndpoint(e)
	doc, err := encodeEndpoint(e)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		if err := w.ensureTenant(e.Tenant, e.CreatedAt); err != nil {
			return err
		}
		if _, err := w.exec(`INSERT INTO endpoints (id, tenant, enabled, disabled_reason, max_in_flight, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Tenant, e.Enabled, e.DisabledReason, e.MaxInFlight, micro(e.CreatedAt), micro(e.UpdatedAt), doc); err != nil {
			return err
		}
		w.eps[e.ID] = &epState{enabled: e.Enabled, maxInFlight: e.MaxInFlight, nextDue: noDue}
		return nil
	})
}

// EndpointGet returns tenant's endpoint id.
func (s *Store) EndpointGet(ctx context.Context, tenant, id string) (*hookd.Endpoint, error) {
	e, _, err := scanEndpoint(s.read.endpointGet.QueryRowContext(ctx, tenant, id))
	if isNoRows(err) {
		return nil, hookd.NotFound("endpoint")
	}
	return e, storeErr(err)
}

// EndpointList lists tenant's endpoints, newest first.
func (s *Store) EndpointList(ctx context.Context, p hookd.EndpointListParams) ([]*hookd.Endpoint, string, error) {
	t, rowid, after, err := decodeKey(kindEndpoint, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := keyset(`SELECT `+endpointCols+` FROM endpoints WHERE tenant = ?`, []any{p.Tenant}, "created_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanEndpointRows, func(e *hookd.Endpoint, rowid int64) string {
		return encodeKey(kindEndpoint, micro(e.CreatedAt), rowid)
	})
}

// EndpointListAll returns all of tenant's endpoints.
func (s *Store) EndpointListAll(ctx context.Context, tenant string) ([]*hookd.Endpoint, error) {
	rows, err := s.read.endpointListAll.QueryContext(ctx, tenant)
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	var out []*hookd.Endpoint
	for rows.Next() {
		e, _, err := scanEndpoint(rows)
		if err != nil {
			return nil, storeErr(err)
		}
		out = append(out, e)
	}
	return out, storeErr(rows.Err())
}

// EndpointUpdate replaces tenant's endpoint e.ID; CreatedAt stays the
// stored one (and is set in e).
func (s *Store) EndpointUpdate(ctx context.Context, e *hookd.Endpoint) error {
	normalizeEndpoint(e)
	doc, err := encodeEndpoint(e)
	if err != nil {
		return err
	}
	var created int64
	err = s.do(ctx, func(w *writer) error {
		err := w.queryRow(`UPDATE endpoints SET enabled = ?, disabled_reason = ?, max_in_flight = ?, updated_at = ?, doc = ? WHERE tenant = ? AND id = ? RETURNING created_at`,
			[]any{e.Enabled, e.DisabledReason, e.MaxInFlight, micro(e.UpdatedAt), doc, e.Tenant, e.ID}, &created)
		if isNoRows(err) {
			return hookd.NotFound("endpoint")
		}
		if err != nil {
			return err
		}
		if st := w.eps[e.ID]; st != nil {
			st.enabled, st.maxInFlight = e.Enabled, e.MaxInFlight
		}
		return nil
	})
	if err == nil {
		e.CreatedAt = fromMicro(created)
	}
	return err
}

// EndpointDelete deletes tenant's endpoint id and cancels its pending
// deliveries; deliveries and attempts stay for the history.
func (s *Store) EndpointDelete(ctx context.Context, tenant, id string, now time.Time) error {
	return s.do(ctx, func(w *writer) error {
		r, err := w.exec(`DELETE FROM endpoints WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return hookd.NotFound("endpoint")
		}
		if _, err := w.exec(`UPDATE deliveries SET state = 3, next_at = 0, due_at = 0, lease_owner = '', lease_until = 0, updated_at = ? WHERE endpoint_id = ? AND state = 0`,
			micro(now), id); err != nil {
			return err
		}
		delete(w.eps, id)
		return nil
	})
}

// TenantList lists the tenants by id.
func (s *Store) TenantList(ctx context.Context, p hookd.ListParams) ([]hookd.Tenant, string, error) {
	after, err := decodeTenant(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, created_at FROM tenants WHERE id > ? ORDER BY id LIMIT ?`, after, n+1)
	if err != nil {
		return nil, "", storeErr(err)
	}
	defer rows.Close()
	var out []hookd.Tenant
	for rows.Next() {
		var t hookd.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &created); err != nil {
			return nil, "", storeErr(err)
		}
		if len(out) == n {
			return out, encodeTenant(out[n-1].ID), nil
		}
		t.CreatedAt = fromMicro(created)
		out = append(out, t)
	}
	return out, "", storeErr(rows.Err())
}
