package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd"
	"github.com/jackc/pgx/v5"
)

// TenantList lists the tenants, newest first.
func (s *Store) TenantList(ctx context.Context, p hookd.ListParams) ([]hookd.Tenant, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT id, created_at FROM tenants
		WHERE NOT $1 OR (created_at, id) < ($2, $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, c.set, c.at, c.key, n+1)
	if err != nil {
		return nil, "", s.fail(err, "list tenants")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (hookd.Tenant, error) {
		var t hookd.Tenant
		err := r.Scan(&t.ID, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, "", s.fail(err, "list tenants")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, list[n-1].ID)
	}
	return list, next, nil
}

const apiKeyColumns = `id, name, tenant, scopes, prefix, hash, created_at, expires_at`

func scanAPIKey(row pgx.Row) (*hookd.APIKey, error) {
	var (
		k       hookd.APIKey
		tenant  *string
		expires *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &tenant, &k.Scopes, &k.Prefix, &k.Hash, &k.CreatedAt, &expires); err != nil {
		return nil, err
	}
	k.Tenant, k.CreatedAt, k.ExpiresAt = str(tenant), k.CreatedAt.UTC(), utc(expires)
	return &k, nil
}

// APIKeyInsert stores a key (its hash, never the key).
func (s *Store) APIKeyInsert(ctx context.Context, k *hookd.APIKey) error {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Name, nullString(k.Tenant), scopes, k.Prefix, k.Hash, k.CreatedAt, nullTime(k.ExpiresAt))
	return s.fail(err, "insert api key")
}

// APIKeyGetByHash finds a key by the hash of its secret.
func (s *Store) APIKeyGetByHash(ctx context.Context, hash []byte) (*hookd.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("api key")
	}
	if err != nil {
		return nil, s.fail(err, "get api key")
	}
	return k, nil
}

// APIKeyList lists the keys, newest first.
func (s *Store) APIKeyList(ctx context.Context, p hookd.ListParams) ([]*hookd.APIKey, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT `+apiKeyColumns+` FROM api_keys
		WHERE NOT $1 OR (created_at, id) < ($2, $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, c.set, c.at, c.key, n+1)
	if err != nil {
		return nil, "", s.fail(err, "list api keys")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, "", s.fail(err, "list api keys")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, list[n-1].ID)
	}
	return list, next, nil
}

// APIKeyDelete removes a key.
func (s *Store) APIKeyDelete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return s.fail(err, "delete api key")
	}
	if tag.RowsAffected() == 0 {
		return hookd.NotFound("api key")
	}
	return nil
}
