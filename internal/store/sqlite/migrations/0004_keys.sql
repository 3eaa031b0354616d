-- Random keys the bot makes once and shares between its processes.
CREATE TABLE bot_keys (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
