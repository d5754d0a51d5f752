-- Judgements (tradeoff_core::grading): one grader call about one judge check of one run, with
-- the grader's own latency, tokens and cost, kept apart from the run's.
CREATE TABLE judgements (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    check_index INTEGER NOT NULL CHECK (check_index >= 0),
    grader TEXT NOT NULL,
    started_at TEXT NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
    score REAL NOT NULL,
    reason TEXT,
    error_class TEXT,
    error_message TEXT,
    metrics_json TEXT,
    latency_ms REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    warnings_json TEXT NOT NULL DEFAULT '[]',
    UNIQUE (run_id, check_index)
) STRICT;
