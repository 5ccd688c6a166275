-- OAuth clients and the tokens issued to them, and the server's own
-- secrets. Secrets of clients and tokens are stored as SHA-256 hashes.

-- +goose Up
CREATE TABLE oauth_clients (
	id            text PRIMARY KEY,
	name          text NOT NULL,
	tenant        text,
	scopes        text[] NOT NULL,
	redirect_uris text[] NOT NULL,
	secret_hash   bytea NOT NULL,
	created_at    timestamptz NOT NULL
);
CREATE INDEX oauth_clients_created ON oauth_clients (created_at, id);

-- One row per grant: an authorization code, or an access token with its
-- refresh token. A NULL hash is a secret the row does not have; purge_at
-- is the latest expiry.
CREATE TABLE oauth_tokens (
	id                    text PRIMARY KEY,
	client_id             text NOT NULL,
	tenant                text,
	scopes                text[] NOT NULL,
	subject               text NOT NULL,
	redirect_uri          text NOT NULL,
	code_challenge        text NOT NULL,
	code_challenge_method text NOT NULL,
	code_hash             bytea UNIQUE,
	access_hash           bytea UNIQUE,
	refresh_hash          bytea UNIQUE,
	code_expires_at       timestamptz,
	access_expires_at     timestamptz,
	refresh_expires_at    timestamptz,
	purge_at              timestamptz NOT NULL,
	created_at            timestamptz NOT NULL
);
CREATE INDEX oauth_tokens_client ON oauth_tokens (client_id);
CREATE INDEX oauth_tokens_purge ON oauth_tokens (purge_at);

CREATE TABLE server_secrets (
	name       text PRIMARY KEY,
	value      bytea NOT NULL,
	created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE oauth_tokens;
DROP TABLE oauth_clients;
