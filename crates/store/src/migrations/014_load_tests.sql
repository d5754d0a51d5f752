-- Load tests (`tradeoff load`): each level's summary and every request it sent, warm-up included.

CREATE TABLE load_tests (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    label TEXT NOT NULL,
    prompts_from TEXT NOT NULL,
    slo_json TEXT,
    knee_json TEXT,
    capacity_json TEXT
) STRICT;

CREATE TABLE load_levels (
    id INTEGER PRIMARY KEY,
    load_test_id INTEGER NOT NULL REFERENCES load_tests (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    concurrency INTEGER CHECK (concurrency > 0),
    rate REAL CHECK (rate > 0),
    summary_json TEXT NOT NULL,
    UNIQUE (load_test_id, position)
) STRICT;

CREATE TABLE load_requests (
    id INTEGER PRIMARY KEY,
    level_id INTEGER NOT NULL REFERENCES load_levels (id) ON DELETE CASCADE,
    scheduled_ms REAL NOT NULL,
    lag_ms REAL NOT NULL,
    ttft_ms REAL,
    e2e_ms REAL NOT NULL,
    itl_json TEXT NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    tokens_estimated INTEGER NOT NULL CHECK (tokens_estimated IN (0, 1)),
    error_class TEXT,
    warmup INTEGER NOT NULL CHECK (warmup IN (0, 1))
) STRICT;

CREATE INDEX load_requests_by_level ON load_requests (level_id);
