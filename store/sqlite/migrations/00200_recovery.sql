-- +goose Up
-- Replay jobs, the deliveries each has fed and not yet seen attempted, and
-- what is known of each endpoint's health. Times are Unix microseconds
-- (0 = none).

-- A replay walks its endpoint's deliveries in (created_at, rowid) order;
-- cursor_at and cursor_rowid are the last delivery it examined, walked
-- says the walk is over. fed counts the deliveries it made pending.
CREATE TABLE replays (
	rowid        INTEGER PRIMARY KEY,
	id           TEXT NOT NULL UNIQUE,
	tenant       TEXT NOT NULL,
	endpoint_id  TEXT NOT NULL,
	since        INTEGER NOT NULL,
	until        INTEGER NOT NULL,
	status       TEXT NOT NULL,
	event_types  TEXT NOT NULL, -- JSON array
	state        TEXT NOT NULL,
	total        INTEGER NOT NULL,
	done         INTEGER NOT NULL DEFAULT 0,
	succeeded    INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0,
	fed          INTEGER NOT NULL DEFAULT 0,
	cursor_at    INTEGER NOT NULL,
	cursor_rowid INTEGER NOT NULL DEFAULT 0,
	walked       INTEGER NOT NULL DEFAULT 0,
	lease_owner  TEXT NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	finished_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX replays_tenant ON replays (tenant, created_at);
CREATE INDEX replays_endpoint ON replays (endpoint_id, created_at);
CREATE INDEX replays_running ON replays (created_at) WHERE state = 'running';
CREATE INDEX replays_finished ON replays (finished_at) WHERE state != 'running';

-- The deliveries a replay made pending and has not yet seen attempted,
-- with their attempt count at that time: at most one window per replay.
CREATE TABLE replay_items (
	replay_rowid   INTEGER NOT NULL,
	delivery_rowid INTEGER NOT NULL,
	attempts       INTEGER NOT NULL,
	PRIMARY KEY (replay_rowid, delivery_rowid)
) WITHOUT ROWID;

-- Written on changes of health, not per attempt: the engine reports each
-- endpoint at most every few seconds, at once when its state turns.
CREATE TABLE endpoint_health (
	endpoint_id   TEXT PRIMARY KEY,
	tenant        TEXT NOT NULL,
	last_success  INTEGER NOT NULL DEFAULT 0,
	last_failure  INTEGER NOT NULL DEFAULT 0,
	failing_since INTEGER NOT NULL DEFAULT 0,
	disabled_at   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- +goose Down
DROP TABLE endpoint_health;
DROP TABLE replay_items;
DROP TABLE replays;
