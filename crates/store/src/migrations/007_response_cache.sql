-- The response cache (tradeoff_core::cache): stored answers by content-addressed key, and on
-- each run whether it was answered from the cache and what its original run cost.
CREATE TABLE response_cache (
    key TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    warnings_json TEXT NOT NULL DEFAULT '[]',
    stored_at TEXT NOT NULL
) STRICT;

ALTER TABLE runs ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0 CHECK (cache_hit IN (0, 1));
ALTER TABLE runs ADD COLUMN cache_saved_usd REAL;
