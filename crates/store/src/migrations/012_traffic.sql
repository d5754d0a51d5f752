-- A served winner (`tradeoff serve`) and every request it answered: the traffic log. A request
-- is one row, inserted when it ends in one transaction, so a server killed mid-request leaves
-- no half-written row. Times are Unix milliseconds, for minute buckets and retention.
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    winner_path TEXT NOT NULL,
    model_name TEXT NOT NULL,
    label TEXT NOT NULL,
    -- The winner file as served (schema `winner.schema.json`): what live traffic is held to.
    winner_json TEXT NOT NULL
);

CREATE TABLE traffic (
    id INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    at_ms INTEGER NOT NULL,
    route TEXT NOT NULL,
    stage TEXT,
    status INTEGER NOT NULL,
    error_class TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    queue_ms REAL NOT NULL,
    ttft_ms REAL,
    itl_p50_ms REAL,
    itl_p95_ms REAL,
    latency_ms REAL NOT NULL,
    cost_usd REAL,
    output_hash TEXT,
    output_text TEXT,
    canary INTEGER NOT NULL DEFAULT 0 CHECK (canary IN (0, 1))
);

CREATE INDEX traffic_by_time ON traffic (at_ms);
CREATE INDEX traffic_by_deployment ON traffic (deployment_id, at_ms);
