-- Times are timestamptz (microseconds); NULL is the zero time.
-- Maps are JSON objects; NULL is an empty map.
CREATE TABLE runs (
	seq              bigint GENERATED ALWAYS AS IDENTITY,
	id               text PRIMARY KEY,
	runbook          text NOT NULL,
	plan_hash        text NOT NULL,
	params           jsonb,
	requester        text NOT NULL,
	reason           text NOT NULL,
	state            text NOT NULL,
	state_reason     text NOT NULL,
	created_at       timestamptz NOT NULL,
	started_at       timestamptz,
	ended_at         timestamptz,
	approval_channel text NOT NULL,
	approval_ts      text NOT NULL,
	card_channel     text NOT NULL,
	card_ts          text NOT NULL,
	owner            text NOT NULL,
	lease_until      timestamptz,
	version          bigint NOT NULL
);

-- One active run per runbook, also across bot processes: the store maps a
-- violation of this index to ErrActiveRun.
CREATE UNIQUE INDEX runs_one_active ON runs (runbook)
	WHERE state IN ('pending_approval', 'running', 'paused');

CREATE INDEX runs_created ON runs (created_at DESC, seq DESC);
CREATE INDEX runs_runbook_created ON runs (runbook, created_at DESC, seq DESC);

CREATE TABLE steps (
	run_id       text NOT NULL REFERENCES runs (id),
	step_id      text NOT NULL,
	status       text NOT NULL,
	attempts     integer NOT NULL,
	already_done boolean NOT NULL,
	summary      text NOT NULL,
	outputs      jsonb,
	error        text NOT NULL,
	started_at   timestamptz,
	ended_at     timestamptz,
	PRIMARY KEY (run_id, step_id)
);

CREATE TABLE approvals (
	run_id    text NOT NULL REFERENCES runs (id),
	user_id   text NOT NULL,
	decision  text NOT NULL,
	plan_hash text NOT NULL,
	at        timestamptz NOT NULL,
	PRIMARY KEY (run_id, user_id)
);

-- The audit trail is append-only: no foreign key (an event may precede or
-- outlive its run), and a trigger refuses updates, deletes and truncation.
CREATE TABLE audit_events (
	seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id  text NOT NULL,
	at      timestamptz NOT NULL,
	actor   text NOT NULL,
	type    text NOT NULL,
	step_id text NOT NULL,
	message text NOT NULL,
	data    jsonb
);

CREATE INDEX audit_events_run ON audit_events (run_id, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
