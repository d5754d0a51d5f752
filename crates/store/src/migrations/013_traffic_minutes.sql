-- The traffic log folded per minute for the Monitor's trends (core's analyze::trend::Aggregate,
-- as JSON), written by the same writer in the same transaction as the requests; and a canary
-- answer's verdict under its case's checks.
ALTER TABLE traffic ADD COLUMN passed INTEGER CHECK (passed IN (0, 1));

CREATE TABLE traffic_minutes (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    minute_ms INTEGER NOT NULL,
    canary INTEGER NOT NULL CHECK (canary IN (0, 1)),
    aggregate_json TEXT NOT NULL,
    PRIMARY KEY (deployment_id, minute_ms, canary)
) WITHOUT ROWID;
