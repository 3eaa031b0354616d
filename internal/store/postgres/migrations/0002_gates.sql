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
ALTER TABLE approvals ADD COLUMN gate text NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN via text NOT NULL DEFAULT '';
ALTER TABLE approvals DROP CONSTRAINT approvals_pkey;
ALTER TABLE approvals ADD PRIMARY KEY (run_id, gate, user_id);

-- The message a gate step asks for approval on.
ALTER TABLE steps ADD COLUMN message_channel text NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN message_ts text NOT NULL DEFAULT '';
