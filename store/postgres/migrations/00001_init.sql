-- The schema of hookd on PostgreSQL. The big tables (events, deliveries,
-- attempts) are partitioned by day; their partitions are made by the store
-- itself (ahead of time, and on demand for rows outside the prepared days),
-- not by migrations. See the package documentation for the reasons.

-- +goose Up
CREATE TABLE tenants (
	id         text PRIMARY KEY,
	created_at timestamptz NOT NULL
);
CREATE INDEX tenants_created ON tenants (created_at, id);

CREATE TABLE endpoints (
	id            text PRIMARY KEY,
	tenant        text NOT NULL,
	enabled       boolean NOT NULL,
	max_in_flight integer NOT NULL,
	-- Everything else of the endpoint, as JSON: only the store reads it.
	config        json NOT NULL,
	secrets       json NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE INDEX endpoints_tenant ON endpoints (tenant, created_at, id);

-- Event ids are unique per tenant over all time, which a partitioned table
-- cannot enforce (its unique keys must hold the partition key). This narrow
-- table holds that key and says where the event lives.
CREATE SEQUENCE event_seq AS bigint;
CREATE TABLE event_ids (
	tenant     text NOT NULL,
	id         text NOT NULL,
	created_at timestamptz NOT NULL,
	seq        bigint NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX event_ids_created ON event_ids (created_at);

CREATE TABLE events (
	tenant      text NOT NULL,
	id          text NOT NULL,
	seq         bigint NOT NULL,
	type        text NOT NULL,
	data        bytea NOT NULL,
	occurred_at timestamptz NOT NULL,
	created_at  timestamptz NOT NULL
) PARTITION BY RANGE (created_at);
CREATE INDEX events_tenant ON events (tenant, created_at, seq);

-- part_at is the day in the delivery's id (hookd.NewID puts the creation
-- time first), so a lookup by id goes to one partition without an index
-- over all of them.
CREATE TABLE deliveries (
	part_at          timestamptz NOT NULL,
	id               text NOT NULL,
	tenant           text NOT NULL,
	event_id         text NOT NULL,
	event_type       text NOT NULL,
	event_created_at timestamptz NOT NULL,
	event_seq        bigint NOT NULL,
	endpoint_id      text NOT NULL,
	state            text NOT NULL,
	attempts         integer NOT NULL,
	last_attempt_at  timestamptz,
	last_attempt_id  text,
	last_outcome     text,
	last_status      integer,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL,
	PRIMARY KEY (id, part_at)
) PARTITION BY RANGE (part_at);
CREATE INDEX deliveries_tenant ON deliveries (tenant, created_at, id);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, created_at, id);
CREATE INDEX deliveries_event ON deliveries (tenant, event_id);
CREATE INDEX deliveries_created ON deliveries USING brin (created_at);

-- The work queue: one row per pending delivery, with its schedule and
-- lease. Claims touch only this small, unpartitioned table; a delivery
-- leaves it when it succeeds, fails for good, or is cancelled.
CREATE TABLE delivery_queue (
	delivery_id      text PRIMARY KEY,
	part_at          timestamptz NOT NULL,
	endpoint_id      text NOT NULL,
	event_created_at timestamptz NOT NULL,
	event_seq        bigint NOT NULL,
	next_attempt_at  timestamptz NOT NULL,
	lease_owner      text,
	lease_until      timestamptz,
	-- lease_token tells one claim's leases from the owner's others, so
	-- that a claim whose commit went unanswered can be undone.
	lease_token      bigint,
	-- paused rows belong to a disabled endpoint: they wait, out of the
	-- due index, until it is enabled again.
	paused           boolean NOT NULL DEFAULT false
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX delivery_queue_endpoint ON delivery_queue (endpoint_id, next_attempt_at);
CREATE INDEX delivery_queue_due ON delivery_queue (next_attempt_at) WHERE lease_owner IS NULL AND NOT paused;
CREATE INDEX delivery_queue_leased ON delivery_queue (endpoint_id, lease_until) WHERE lease_owner IS NOT NULL;

-- Attempts live in the partition of their delivery (part_at is the
-- delivery's), so a delivery's history is read from one partition and goes
-- with it.
CREATE TABLE attempts (
	part_at         timestamptz NOT NULL,
	id              text NOT NULL,
	tenant          text NOT NULL,
	delivery_id     text NOT NULL,
	endpoint_id     text NOT NULL,
	event_id        text NOT NULL,
	number          integer NOT NULL,
	started_at      timestamptz NOT NULL,
	duration_ms     bigint NOT NULL,
	outcome         text NOT NULL,
	status_code     integer NOT NULL,
	error           text NOT NULL,
	response        bytea NOT NULL,
	request_headers json,
	retry_of        text NOT NULL,
	next_attempt_at timestamptz,
	manual          boolean NOT NULL,
	PRIMARY KEY (id, part_at)
) PARTITION BY RANGE (part_at);
CREATE INDEX attempts_delivery ON attempts (delivery_id, started_at, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, started_at, id);
CREATE INDEX attempts_endpoint_failed ON attempts (endpoint_id, started_at, id) WHERE outcome <> 'succeeded';
CREATE INDEX attempts_started ON attempts USING brin (started_at);

CREATE TABLE api_keys (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	tenant     text,
	scopes     text[] NOT NULL,
	prefix     text NOT NULL,
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz
);
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE attempts;
DROP TABLE delivery_queue;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE event_ids;
DROP SEQUENCE event_seq;
DROP TABLE endpoints;
DROP TABLE tenants;
