-- +goose Up
-- Times are Unix microseconds (0 = none). States: 0 pending, 1 succeeded,
-- 2 failed, 3 cancelled.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE endpoints (
	rowid           INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	tenant          TEXT NOT NULL,
	enabled         INTEGER NOT NULL,
	disabled_reason TEXT NOT NULL DEFAULT '',
	max_in_flight   INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	doc             BLOB NOT NULL -- JSON: url, filters, retry, secrets …
);
CREATE INDEX endpoints_tenant ON endpoints (tenant, created_at);

-- seq is the rowid: unique and rising. AUTOINCREMENT keeps it rising even
-- after retention has deleted the newest row; the store assigns it itself.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant      TEXT NOT NULL,
	id          TEXT NOT NULL,
	type        TEXT NOT NULL,
	data        BLOB NOT NULL,
	occurred_at INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_tenant_id ON events (tenant, id);
CREATE INDEX events_tenant_created ON events (tenant, created_at);
CREATE INDEX events_created ON events (created_at);

-- rowid is the event's seq << 20 plus the delivery's place in the fan-out,
-- so an event's deliveries are one rowid range and need no index of their
-- own. due_at is when the claim may take the delivery: next_at, or the end
-- of its lease while leased, so that leased rows sort out of its way.
CREATE TABLE deliveries (
	rowid           INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	tenant          TEXT NOT NULL,
	endpoint_id     TEXT NOT NULL,
	state           INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_at         INTEGER NOT NULL,
	due_at          INTEGER NOT NULL,
	last_at         INTEGER NOT NULL DEFAULT 0,
	last_attempt_id TEXT NOT NULL DEFAULT '',
	last_outcome    TEXT NOT NULL DEFAULT '',
	last_status     INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_tenant ON deliveries (tenant, created_at);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);
-- The claim: one endpoint's pending deliveries, soonest due first.
CREATE INDEX deliveries_due ON deliveries (endpoint_id, due_at) WHERE state = 0;
-- Live leases per endpoint, for MaxInFlight; rows leave it when the lease
-- is dropped, so it stays as small as the work in flight.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until) WHERE lease_until > 0;

CREATE TABLE attempts (
	rowid           INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	tenant          TEXT NOT NULL,
	delivery_id     TEXT NOT NULL,
	endpoint_id     TEXT NOT NULL,
	event_id        TEXT NOT NULL,
	number          INTEGER NOT NULL,
	started_at      INTEGER NOT NULL,
	duration_ms     INTEGER NOT NULL,
	outcome         TEXT NOT NULL,
	status_code     INTEGER NOT NULL,
	error           TEXT NOT NULL,
	response        BLOB NOT NULL,
	request_headers BLOB, -- JSON object, NULL when none
	retry_of        TEXT NOT NULL,
	next_at         INTEGER NOT NULL,
	manual          INTEGER NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, started_at);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, started_at);
-- No index on started_at: retention deletes attempts with their delivery.

CREATE TABLE api_keys (
	rowid      INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	tenant     TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- JSON array
	prefix     TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX api_keys_created ON api_keys (created_at);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE endpoints;
DROP TABLE tenants;
