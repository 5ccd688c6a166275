package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/hookd/hookd"
)

const apiKeyCols = `rowid, id, name, tenant, scopes, prefix, hash, created_at, expires_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (*hookd.APIKey, int64, error) {
	var (
		k                hookd.APIKey
		rowid            int64
		scopes           string
		created, expires int64
	)
	if err := sc.Scan(&rowid, &k.ID, &k.Name, &k.Tenant, &scopes, &k.Prefix, &k.Hash, &created, &expires); err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, 0, err
	}
	k.CreatedAt, k.ExpiresAt = fromMicro(created), fromMicro(expires)
	return &k, rowid, nil
}

func scanAPIKeyRows(r *sql.Rows) (*hookd.APIKey, int64, error) { return scanAPIKey(r) }

// APIKeyInsert stores a key; EDUPLICATE if its ID or hash is taken.
func (s *Store) APIKeyInsert(ctx context.Context, k *hookd.APIKey) error {
	k.CreatedAt, k.ExpiresAt = utc(k.CreatedAt), utc(k.ExpiresAt)
	scopes, err := json.Marshal(k.Scopes)
	if err != nil {
		return hookd.Invalid("scopes", "cannot be stored")
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO api_keys (id, name, tenant, scopes, prefix, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Tenant, string(scopes), k.Prefix, k.Hash, micro(k.CreatedAt), micro(k.ExpiresAt))
		return err
	})
}

// APIKeyGetByHash finds the key whose hash is hash.
func (s *Store) APIKeyGetByHash(ctx context.Context, hash []byte) (*hookd.APIKey, error) {
	if len(hash) == 0 {
		return nil, hookd.NotFound("api key")
	}
	k, _, err := scanAPIKey(s.read.apiKeyByHash.QueryRowContext(ctx, hash))
	if isNoRows(err) {
		return nil, hookd.NotFound("api key")
	}
	return k, storeErr(err)
}

// APIKeyList lists the keys, newest first.
func (s *Store) APIKeyList(ctx context.Context, p hookd.ListParams) ([]*hookd.APIKey, string, error) {
	t, rowid, after, err := decodeKey(kindAPIKey, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := keyset(`SELECT `+apiKeyCols+` FROM api_keys WHERE 1`, nil, "created_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanAPIKeyRows, func(k *hookd.APIKey, rowid int64) string {
		return encodeKey(kindAPIKey, micro(k.CreatedAt), rowid)
	})
}

// APIKeyDelete deletes key id.
func (s *Store) APIKeyDelete(ctx context.Context, id string) error {
	return s.do(ctx, func(w *writer) error {
		r, err := w.exec(`DELETE FROM api_keys WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return hookd.NotFound("api key")
		}
		return nil
	})
}
