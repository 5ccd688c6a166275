package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/hookd/hookd"
)

// kindOAuthClient marks cursors of OAuthClientList.
const kindOAuthClient byte = 'O'

const oauthClientCols = `rowid, id, name, tenant, scopes, redirect_uris, secret_hash, created_at`

func scanOAuthClient(sc interface{ Scan(...any) error }) (*hookd.OAuthClient, int64, error) {
	var (
		c              hookd.OAuthClient
		rowid, created int64
		scopes, uris   string
	)
	if err := sc.Scan(&rowid, &c.ID, &c.Name, &c.Tenant, &scopes, &uris, &c.SecretHash, &created); err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal([]byte(uris), &c.RedirectURIs); err != nil {
		return nil, 0, err
	}
	c.CreatedAt = fromMicro(created)
	return &c, rowid, nil
}

func scanOAuthClientRows(r *sql.Rows) (*hookd.OAuthClient, int64, error) { return scanOAuthClient(r) }

// jsonList encodes a list of strings for a TEXT column, nil as [].
func jsonList(field string, v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", hookd.Invalid(field, "cannot be stored")
	}
	return string(b), nil
}

// OAuthClientInsert stores a client; EDUPLICATE if its ID is taken.
func (s *Store) OAuthClientInsert(ctx context.Context, c *hookd.OAuthClient) error {
	c.CreatedAt = utc(c.CreatedAt)
	scopes, err := jsonList("scopes", c.Scopes)
	if err != nil {
		return err
	}
	uris, err := jsonList("redirect_uris", c.RedirectURIs)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO oauth_clients (id, name, tenant, scopes, redirect_uris, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.Tenant, scopes, uris, c.SecretHash, micro(c.CreatedAt))
		return err
	})
}

// OAuthClientGet returns client id.
func (s *Store) OAuthClientGet(ctx context.Context, id string) (*hookd.OAuthClient, error) {
	c, _, err := scanOAuthClient(s.rdb.QueryRowContext(ctx, `SELECT `+oauthClientCols+` FROM oauth_clients WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, hookd.NotFound("oauth client")
	}
	return c, storeErr(err)
}

// OAuthClientList lists the clients, newest first.
func (s *Store) OAuthClientList(ctx context.Context, p hookd.ListParams) ([]*hookd.OAuthClient, string, error) {
	t, rowid, after, err := decodeKey(kindOAuthClient, p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	q, args := keyset(`SELECT `+oauthClientCols+` FROM oauth_clients WHERE 1`, nil, "created_at", "rowid", t, rowid, after, false, n)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	return page(rows, err, n, scanOAuthClientRows, func(c *hookd.OAuthClient, rowid int64) string {
		return encodeKey(kindOAuthClient, micro(c.CreatedAt), rowid)
	})
}

// OAuthClientDelete deletes client id and its tokens in one transaction.
func (s *Store) OAuthClientDelete(ctx context.Context, id string) error {
	return s.do(ctx, func(w *writer) error {
		r, err := w.exec(`DELETE FROM oauth_clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return hookd.NotFound("oauth client")
		}
		_, err = w.exec(`DELETE FROM oauth_tokens WHERE client_id = ?`, id)
		return err
	})
}

const oauthTokenCols = `id, client_id, tenant, scopes, subject, redirect_uri, code_challenge, code_challenge_method,
	code_hash, access_hash, refresh_hash, code_expires_at, access_expires_at, refresh_expires_at, created_at`

func scanOAuthToken(sc interface{ Scan(...any) error }) (*hookd.OAuthToken, error) {
	var (
		t                                  hookd.OAuthToken
		scopes                             string
		codeExp, accessExp, refreshExp, ca int64
	)
	err := sc.Scan(&t.ID, &t.ClientID, &t.Tenant, &scopes, &t.Subject, &t.RedirectURI, &t.CodeChallenge, &t.CodeChallengeMethod,
		&t.CodeHash, &t.AccessHash, &t.RefreshHash, &codeExp, &accessExp, &refreshExp, &ca)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return nil, err
	}
	t.CodeExpiresAt, t.AccessExpiresAt, t.RefreshExpiresAt = fromMicro(codeExp), fromMicro(accessExp), fromMicro(refreshExp)
	t.CreatedAt = fromMicro(ca)
	return &t, nil
}

// nullHash stores an absent secret as NULL, so that the UNIQUE index
// ignores it.
func nullHash(h []byte) any {
	if len(h) == 0 {
		return nil
	}
	return h
}

// OAuthTokenInsert stores an issued code or token.
func (s *Store) OAuthTokenInsert(ctx context.Context, t *hookd.OAuthToken) error {
	t.CreatedAt = utc(t.CreatedAt)
	t.CodeExpiresAt, t.AccessExpiresAt, t.RefreshExpiresAt = utc(t.CodeExpiresAt), utc(t.AccessExpiresAt), utc(t.RefreshExpiresAt)
	scopes, err := jsonList("scopes", t.Scopes)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO oauth_tokens (`+oauthTokenCols+`, purge_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.ClientID, t.Tenant, scopes, t.Subject, t.RedirectURI, t.CodeChallenge, t.CodeChallengeMethod,
			nullHash(t.CodeHash), nullHash(t.AccessHash), nullHash(t.RefreshHash),
			micro(t.CodeExpiresAt), micro(t.AccessExpiresAt), micro(t.RefreshExpiresAt), micro(t.CreatedAt), micro(t.PurgeAt()))
		return err
	})
}

// hashColumn names the column of a kind of secret; constant strings, so
// that the writer's statement cache holds one statement per kind.
func hashColumn(k hookd.OAuthTokenKind) (string, bool) {
	switch k {
	case hookd.OAuthCode:
		return "code_hash", true
	case hookd.OAuthAccess:
		return "access_hash", true
	case hookd.OAuthRefresh:
		return "refresh_hash", true
	}
	return "", false
}

// OAuthTokenGet finds a token by the hash of one of its secrets.
func (s *Store) OAuthTokenGet(ctx context.Context, kind hookd.OAuthTokenKind, hash []byte) (*hookd.OAuthToken, error) {
	col, ok := hashColumn(kind)
	if !ok || len(hash) == 0 {
		return nil, hookd.NotFound("oauth token")
	}
	t, err := scanOAuthToken(s.rdb.QueryRowContext(ctx, `SELECT `+oauthTokenCols+` FROM oauth_tokens WHERE `+col+` = ?`, hash))
	if isNoRows(err) {
		return nil, hookd.NotFound("oauth token")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if !bytes.Equal(t.Hash(kind), hash) {
		return nil, hookd.NotFound("oauth token")
	}
	return t, nil
}

// OAuthTokenDelete deletes the token one of whose secrets has this hash.
// The DELETE … RETURNING is one statement in the single writer, so of two
// calls for the same code only one finds it.
func (s *Store) OAuthTokenDelete(ctx context.Context, kind hookd.OAuthTokenKind, hash []byte) (*hookd.OAuthToken, error) {
	col, ok := hashColumn(kind)
	if !ok || len(hash) == 0 {
		return nil, hookd.NotFound("oauth token")
	}
	var t *hookd.OAuthToken
	err := s.do(ctx, func(w *writer) error {
		rows, err := w.query(`DELETE FROM oauth_tokens WHERE `+col+` = ? RETURNING `+oauthTokenCols, hash)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return hookd.NotFound("oauth token")
		}
		t, err = scanOAuthToken(rows)
		if err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return t, nil
}

// OAuthTokenPurge deletes up to batch tokens that expired entirely
// before before.
func (s *Store) OAuthTokenPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	var n int64
	err := s.do(ctx, func(w *writer) error {
		r, err := w.exec(`DELETE FROM oauth_tokens WHERE id IN (SELECT id FROM oauth_tokens WHERE purge_at < ? ORDER BY purge_at LIMIT ?)`, micro(before), batch)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), storeErr(err)
}

// ServerSecretGetOrCreate returns the secret named name, storing
// newValue first when there is none. The one writer makes the insert and
// the read one step.
func (s *Store) ServerSecretGetOrCreate(ctx context.Context, name string, newValue []byte) ([]byte, error) {
	if len(newValue) == 0 {
		return nil, hookd.Invalid("value", "must not be empty")
	}
	var value []byte
	err := s.do(ctx, func(w *writer) error {
		if _, err := w.exec(`INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			name, newValue, micro(time.Now())); err != nil {
			return err
		}
		return w.queryRow(`SELECT value FROM server_secrets WHERE name = ?`, []any{name}, &value)
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return value, nil
}
