-- +goose Up
-- OAuth clients and the tokens issued to them, and the server's own
-- secrets. Secrets of clients and tokens are stored as SHA-256 hashes.
-- Times are Unix microseconds (0 = none).

CREATE TABLE oauth_clients (
	rowid         INTEGER PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	tenant        TEXT NOT NULL,
	scopes        TEXT NOT NULL, -- JSON array
	redirect_uris TEXT NOT NULL, -- JSON array
	secret_hash   BLOB NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE INDEX oauth_clients_created ON oauth_clients (created_at);

-- One row per grant: an authorization code, or an access token with its
-- refresh token. A NULL hash is a secret the row does not have (UNIQUE
-- allows any number of NULLs). purge_at is the latest expiry.
CREATE TABLE oauth_tokens (
	id                    TEXT PRIMARY KEY,
	client_id             TEXT NOT NULL,
	tenant                TEXT NOT NULL,
	scopes                TEXT NOT NULL, -- JSON array
	subject               TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	code_hash             BLOB UNIQUE,
	access_hash           BLOB UNIQUE,
	refresh_hash          BLOB UNIQUE,
	code_expires_at       INTEGER NOT NULL,
	access_expires_at     INTEGER NOT NULL,
	refresh_expires_at    INTEGER NOT NULL,
	purge_at              INTEGER NOT NULL,
	created_at            INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_tokens_client ON oauth_tokens (client_id);
CREATE INDEX oauth_tokens_purge ON oauth_tokens (purge_at);

CREATE TABLE server_secrets (
	name       TEXT PRIMARY KEY,
	value      BLOB NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE oauth_tokens;
DROP TABLE oauth_clients;
