-- Approval gates inside a run (the gate step kind) and where approvals
-- were given.
--
-- A run waiting on a gate is in state waiting_approval: active, so it
-- holds its runbook's lock like the other active states.
DROP INDEX runs_one_active;
CREATE UNIQUE INDEX runs_one_active ON runs (runbook)
	WHERE state IN ('pending_approval', 'running', 'paused', 'waiting_approval');

-- An approval is of the run's start request (gate '') or of one gate step,
-- given by a reaction or a button (via), so that removing a reaction
-- withdraws only the approval that reaction gave.
CREATE TABLE approvals_new (
	run_id    TEXT NOT NULL REFERENCES runs (id),
	gate      TEXT NOT NULL,
	user_id   TEXT NOT NULL,
	decision  TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	via       TEXT NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (run_id, gate, user_id)
) WITHOUT ROWID;
INSERT INTO approvals_new (run_id, gate, user_id, decision, plan_hash, via, at)
	SELECT run_id, '', user_id, decision, plan_hash, '', at FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_new RENAME TO approvals;

-- The message a gate step asks for approval on.
ALTER TABLE steps ADD COLUMN message_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN message_ts TEXT NOT NULL DEFAULT '';
