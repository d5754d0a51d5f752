-- Searches (`search:` racing or halving): how each ended, and every config it dropped, written
-- the moment it was dropped so an interrupted search keeps its decisions.

CREATE TABLE searches (
    experiment_id INTEGER PRIMARY KEY REFERENCES experiments (id) ON DELETE CASCADE,
    record_json TEXT NOT NULL
) STRICT;

CREATE TABLE eliminations (
    config_id INTEGER PRIMARY KEY REFERENCES configs (id) ON DELETE CASCADE,
    round INTEGER NOT NULL CHECK (round > 0),
    reason TEXT NOT NULL,
    cases_run INTEGER NOT NULL CHECK (cases_run >= 0)
) STRICT;
