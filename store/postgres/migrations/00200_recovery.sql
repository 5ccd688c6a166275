-- Replay jobs, the deliveries each has fed and not yet seen attempted, and
-- what is known of each endpoint's health. None of these tables is
-- partitioned: they hold one row per replay, per window of a running
-- replay, and per endpoint.

-- +goose Up
-- A replay walks its endpoint's deliveries in (created_at, id) order;
-- cursor_at and cursor_id are the last delivery it examined, walked says
-- the walk is over. fed counts the deliveries it made pending.
CREATE TABLE replays (
	id           text PRIMARY KEY,
	tenant       text NOT NULL,
	endpoint_id  text NOT NULL,
	since        timestamptz,
	until        timestamptz NOT NULL,
	status       text NOT NULL,
	event_types  text[] NOT NULL,
	state        text NOT NULL,
	total        bigint NOT NULL,
	done         bigint NOT NULL DEFAULT 0,
	succeeded    bigint NOT NULL DEFAULT 0,
	failed       bigint NOT NULL DEFAULT 0,
	fed          bigint NOT NULL DEFAULT 0,
	cursor_at    timestamptz NOT NULL,
	cursor_id    text NOT NULL DEFAULT '',
	walked       boolean NOT NULL DEFAULT false,
	lease_owner  text,
	lease_until  timestamptz,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	finished_at  timestamptz
);
CREATE INDEX replays_tenant ON replays (tenant, created_at, id);
CREATE INDEX replays_endpoint ON replays (endpoint_id, created_at, id);
CREATE INDEX replays_running ON replays (created_at) WHERE state = 'running';
CREATE INDEX replays_finished ON replays (finished_at) WHERE state <> 'running';

-- part_at is the delivery's partition key, so settling reads one
-- partition per delivery.
CREATE TABLE replay_items (
	replay_id   text NOT NULL,
	delivery_id text NOT NULL,
	part_at     timestamptz NOT NULL,
	attempts    integer NOT NULL,
	PRIMARY KEY (replay_id, delivery_id)
);

-- Written on changes of health, not per attempt: the engine reports each
-- endpoint at most every few seconds, at once when its state turns.
CREATE TABLE endpoint_health (
	endpoint_id   text PRIMARY KEY,
	tenant        text NOT NULL,
	last_success  timestamptz,
	last_failure  timestamptz,
	failing_since timestamptz,
	disabled_at   timestamptz
);

-- +goose Down
DROP TABLE endpoint_health;
DROP TABLE replay_items;
DROP TABLE replays;
