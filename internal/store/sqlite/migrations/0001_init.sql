-- Times are unix microseconds (UTC); NULL is the zero time.
-- Maps are JSON objects; NULL is an empty map.
CREATE TABLE runs (
	id               TEXT PRIMARY KEY,
	runbook          TEXT NOT NULL,
	plan_hash        TEXT NOT NULL,
	params           TEXT,
	requester        TEXT NOT NULL,
	reason           TEXT NOT NULL,
	state            TEXT NOT NULL,
	state_reason     TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	started_at       INTEGER,
	ended_at         INTEGER,
	approval_channel TEXT NOT NULL,
	approval_ts      TEXT NOT NULL,
	card_channel     TEXT NOT NULL,
	card_ts          TEXT NOT NULL,
	owner            TEXT NOT NULL,
	lease_until      INTEGER,
	version          INTEGER NOT NULL
);

-- One active run per runbook. This is the only UNIQUE constraint of runs
-- besides the primary key: the store maps its violation to ErrActiveRun.
CREATE UNIQUE INDEX runs_one_active ON runs (runbook)
	WHERE state IN ('pending_approval', 'running', 'paused');

CREATE INDEX runs_created ON runs (created_at);
CREATE INDEX runs_runbook_created ON runs (runbook, created_at);

CREATE TABLE steps (
	run_id       TEXT NOT NULL REFERENCES runs (id),
	step_id      TEXT NOT NULL,
	status       TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	already_done INTEGER NOT NULL,
	summary      TEXT NOT NULL,
	outputs      TEXT,
	error        TEXT NOT NULL,
	started_at   INTEGER,
	ended_at     INTEGER,
	PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;

CREATE TABLE approvals (
	run_id    TEXT NOT NULL REFERENCES runs (id),
	user_id   TEXT NOT NULL,
	decision  TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (run_id, user_id)
) WITHOUT ROWID;

-- The audit trail is append-only: no foreign key (an event may precede or
-- outlive its run), and triggers refuse updates and deletes.
CREATE TABLE audit_events (
	seq     INTEGER PRIMARY KEY, -- never reused: rows are never deleted
	run_id  TEXT NOT NULL,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	type    TEXT NOT NULL,
	step_id TEXT NOT NULL,
	message TEXT NOT NULL,
	data    TEXT
);

CREATE INDEX audit_events_run ON audit_events (run_id, seq);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;
