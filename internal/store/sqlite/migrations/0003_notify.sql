-- The notification pipeline's delivery log (internal/notify): one row per
-- (run, notifier, event key), queued before a notification is sent and
-- delivered or failed after; and what a notifier keeps per run (the
-- Statuspage incident it opened). Times are unix microseconds (UTC).
CREATE TABLE notify_deliveries (
	run_id     TEXT NOT NULL REFERENCES runs (id),
	notifier   TEXT NOT NULL,
	event_key  TEXT NOT NULL,
	status     TEXT NOT NULL,
	attempts   INTEGER NOT NULL,
	error      TEXT NOT NULL,
	payload    BLOB,
	queued_at  INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (run_id, notifier, event_key)
) WITHOUT ROWID;

CREATE INDEX notify_deliveries_queued ON notify_deliveries (queued_at) WHERE status = 'queued';

CREATE TABLE notify_state (
	run_id   TEXT NOT NULL REFERENCES runs (id),
	notifier TEXT NOT NULL,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (run_id, notifier, key)
) WITHOUT ROWID;
