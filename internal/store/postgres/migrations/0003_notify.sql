-- The notification pipeline's delivery log (internal/notify): one row per
-- (run, notifier, event key), queued before a notification is sent and
-- delivered or failed after; and what a notifier keeps per run (the
-- Statuspage incident it opened).
CREATE TABLE notify_deliveries (
	run_id     text NOT NULL REFERENCES runs (id),
	notifier   text NOT NULL,
	event_key  text NOT NULL,
	status     text NOT NULL,
	attempts   integer NOT NULL,
	error      text NOT NULL,
	payload    bytea,
	queued_at  timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (run_id, notifier, event_key)
);

CREATE INDEX notify_deliveries_queued ON notify_deliveries (queued_at) WHERE status = 'queued';

CREATE TABLE notify_state (
	run_id   text NOT NULL REFERENCES runs (id),
	notifier text NOT NULL,
	key      text NOT NULL,
	value    text NOT NULL,
	PRIMARY KEY (run_id, notifier, key)
);
