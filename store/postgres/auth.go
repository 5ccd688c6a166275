package postgres

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

const oauthClientColumns = `id, name, tenant, scopes, redirect_uris, secret_hash, created_at`

func scanOAuthClient(row pgx.Row) (*hookd.OAuthClient, error) {
	var (
		c      hookd.OAuthClient
		tenant *string
	)
	if err := row.Scan(&c.ID, &c.Name, &tenant, &c.Scopes, &c.RedirectURIs, &c.SecretHash, &c.CreatedAt); err != nil {
		return nil, err
	}
	c.Tenant, c.CreatedAt = str(tenant), c.CreatedAt.UTC()
	return &c, nil
}

// nonNil keeps NOT NULL array columns from receiving NULL.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// OAuthClientInsert stores a client (the hash of its secret, never the
// secret).
func (s *Store) OAuthClientInsert(ctx context.Context, c *hookd.OAuthClient) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_clients (`+oauthClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.Name, nullString(c.Tenant), nonNil(c.Scopes), nonNil(c.RedirectURIs), c.SecretHash, c.CreatedAt)
	return s.fail(err, "insert oauth client")
}

// OAuthClientGet returns client id.
func (s *Store) OAuthClientGet(ctx context.Context, id string) (*hookd.OAuthClient, error) {
	c, err := scanOAuthClient(s.pool.QueryRow(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("oauth client")
	}
	if err != nil {
		return nil, s.fail(err, "get oauth client")
	}
	return c, nil
}

// OAuthClientList lists the clients, newest first.
func (s *Store) OAuthClientList(ctx context.Context, p hookd.ListParams) ([]*hookd.OAuthClient, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	n := limit(p.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT `+oauthClientColumns+` FROM oauth_clients
		WHERE NOT $1 OR (created_at, id) < ($2, $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, c.set, c.at, c.key, n+1)
	if err != nil {
		return nil, "", s.fail(err, "list oauth clients")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*hookd.OAuthClient, error) { return scanOAuthClient(r) })
	if err != nil {
		return nil, "", s.fail(err, "list oauth clients")
	}
	next := ""
	if len(list) > n {
		list = list[:n]
		next = encodeCursor(list[n-1].CreatedAt, list[n-1].ID)
	}
	return list, next, nil
}

// OAuthClientDelete removes a client and its tokens in one statement.
func (s *Store) OAuthClientDelete(ctx context.Context, id string) error {
	var found bool
	err := s.pool.QueryRow(ctx, `
		WITH c AS (DELETE FROM oauth_clients WHERE id = $1 RETURNING id),
		     t AS (DELETE FROM oauth_tokens WHERE client_id IN (SELECT id FROM c))
		SELECT EXISTS (SELECT 1 FROM c)`, id).Scan(&found)
	if err != nil {
		return s.fail(err, "delete oauth client")
	}
	if !found {
		return hookd.NotFound("oauth client")
	}
	return nil
}

const oauthTokenColumns = `id, client_id, tenant, scopes, subject, redirect_uri, code_challenge, code_challenge_method,
	code_hash, access_hash, refresh_hash, code_expires_at, access_expires_at, refresh_expires_at, created_at`

func scanOAuthToken(row pgx.Row) (*hookd.OAuthToken, error) {
	var (
		t                              hookd.OAuthToken
		tenant                         *string
		codeExp, accessExp, refreshExp *time.Time
	)
	err := row.Scan(&t.ID, &t.ClientID, &tenant, &t.Scopes, &t.Subject, &t.RedirectURI, &t.CodeChallenge, &t.CodeChallengeMethod,
		&t.CodeHash, &t.AccessHash, &t.RefreshHash, &codeExp, &accessExp, &refreshExp, &t.CreatedAt)
	if err != nil {
		return nil, err
	}
	t.Tenant, t.CreatedAt = str(tenant), t.CreatedAt.UTC()
	t.CodeExpiresAt, t.AccessExpiresAt, t.RefreshExpiresAt = utc(codeExp), utc(accessExp), utc(refreshExp)
	return &t, nil
}

// nullBytes stores an absent secret as NULL, so that the UNIQUE index
// ignores it.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// OAuthTokenInsert stores an issued code or token.
func (s *Store) OAuthTokenInsert(ctx context.Context, t *hookd.OAuthToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_tokens (`+oauthTokenColumns+`, purge_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		t.ID, t.ClientID, nullString(t.Tenant), nonNil(t.Scopes), t.Subject, t.RedirectURI, t.CodeChallenge, t.CodeChallengeMethod,
		nullBytes(t.CodeHash), nullBytes(t.AccessHash), nullBytes(t.RefreshHash),
		nullTime(t.CodeExpiresAt), nullTime(t.AccessExpiresAt), nullTime(t.RefreshExpiresAt), t.CreatedAt, t.PurgeAt())
	return s.fail(err, "insert oauth token")
}

// tokenQueries holds, per kind of secret, the statements that find and
// delete a token by its hash.
var tokenQueries = map[hookd.OAuthTokenKind][2]string{
	hookd.OAuthCode: {
		`SELECT ` + oauthTokenColumns + ` FROM oauth_tokens WHERE code_hash = $1`,
		`DELETE FROM oauth_tokens WHERE code_hash = $1 RETURNING ` + oauthTokenColumns,
	},
	hookd.OAuthAccess: {
		`SELECT ` + oauthTokenColumns + ` FROM oauth_tokens WHERE access_hash = $1`,
		`DELETE FROM oauth_tokens WHERE access_hash = $1 RETURNING ` + oauthTokenColumns,
	},
	hookd.OAuthRefresh: {
		`SELECT ` + oauthTokenColumns + ` FROM oauth_tokens WHERE refresh_hash = $1`,
		`DELETE FROM oauth_tokens WHERE refresh_hash = $1 RETURNING ` + oauthTokenColumns,
	},
}

// OAuthTokenGet finds a token by the hash of one of its secrets.
func (s *Store) OAuthTokenGet(ctx context.Context, kind hookd.OAuthTokenKind, hash []byte) (*hookd.OAuthToken, error) {
	return s.tokenBy(ctx, kind, hash, 0, "get oauth token")
}

// OAuthTokenDelete deletes the token one of whose secrets has this hash.
// Row locks make one of two concurrent deletes of the same code find it
// and the other find nothing.
func (s *Store) OAuthTokenDelete(ctx context.Context, kind hookd.OAuthTokenKind, hash []byte) (*hookd.OAuthToken, error) {
	return s.tokenBy(ctx, kind, hash, 1, "delete oauth token")
}

func (s *Store) tokenBy(ctx context.Context, kind hookd.OAuthTokenKind, hash []byte, q int, op string) (*hookd.OAuthToken, error) {
	qs, ok := tokenQueries[kind]
	if !ok || len(hash) == 0 {
		return nil, hookd.NotFound("oauth token")
	}
	t, err := scanOAuthToken(s.pool.QueryRow(ctx, qs[q], hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hookd.NotFound("oauth token")
	}
	if err != nil {
		return nil, s.fail(err, op)
	}
	if !bytes.Equal(t.Hash(kind), hash) {
		return nil, hookd.NotFound("oauth token")
	}
	return t, nil
}

// OAuthTokenPurge deletes up to batch tokens that expired entirely
// before before.
func (s *Store) OAuthTokenPurge(ctx context.Context, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM oauth_tokens WHERE id IN (
			SELECT id FROM oauth_tokens WHERE purge_at < $1 ORDER BY purge_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`, before, batch)
	if err != nil {
		return 0, s.fail(err, "purge oauth tokens")
	}
	return int(tag.RowsAffected()), nil
}

// ServerSecretGetOrCreate returns the secret named name, storing
// newValue first when there is none. When another node inserts at the
// same moment, ON CONFLICT waits for it and inserts nothing, and the
// following read, a new statement with a new snapshot, sees its row.
func (s *Store) ServerSecretGetOrCreate(ctx context.Context, name string, newValue []byte) ([]byte, error) {
	if len(newValue) == 0 {
		return nil, hookd.Invalid("value", "must not be empty")
	}
	var value []byte
	for range 3 {
		err := s.pool.QueryRow(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, now())
			ON CONFLICT (name) DO NOTHING RETURNING value`, name, newValue).Scan(&value)
		if !errors.Is(err, pgx.ErrNoRows) {
			return value, s.fail(err, "insert server secret")
		}
		err = s.pool.QueryRow(ctx, `SELECT value FROM server_secrets WHERE name = $1`, name).Scan(&value)
		if !errors.Is(err, pgx.ErrNoRows) {
			return value, s.fail(err, "get server secret")
		}
		// Deleted in between (by hand): insert again.
	}
	return nil, &hookd.Error{Code: hookd.EUNAVAILABLE, Message: "the server secret " + name + " keeps changing"}
}
