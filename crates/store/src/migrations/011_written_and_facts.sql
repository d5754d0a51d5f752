-- An experiment is stored as the user wrote it (core's ExperimentFile, as JSON) with the facts
-- the file does not say (core's RecordedFacts: what validation read around it, table prices,
-- model hashes); reading it back validates the file again. Before this, the validated domain
-- type was stored (spec_json): those rows keep it, and only the store's legacy reader reads it.
-- SQLite cannot drop NOT NULL in place, so both tables are rebuilt as in 006 (foreign keys are
-- off while migrations run; see Store::open).
CREATE TABLE experiments_v11 (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT,
    file_json TEXT,
    facts_json TEXT,
    spec_json TEXT,
    environment_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted')),
    owner_pid INTEGER CHECK (owner_pid > 0),
    owner_start_time INTEGER CHECK (owner_start_time >= 0),
    owner_boot_id TEXT,
    planned_runs INTEGER CHECK (planned_runs >= 0),
    CHECK ((file_json IS NULL) = (facts_json IS NULL)),
    CHECK (file_json IS NOT NULL OR spec_json IS NOT NULL)
) STRICT;

INSERT INTO experiments_v11 (id, name, source, spec_json, environment_json, created_at,
        finished_at, status, owner_pid, owner_start_time, owner_boot_id, planned_runs)
    SELECT id, name, source, spec_json, environment_json, created_at, finished_at, status,
        owner_pid, owner_start_time, owner_boot_id, planned_runs
    FROM experiments;

DROP TABLE experiments;
ALTER TABLE experiments_v11 RENAME TO experiments;

-- A target: what reports show of it (core's TargetInfo without its loads, `info_json`), and a
-- remote target's provider and model as columns for queries. The old `spec_json` (the domain
-- type) is kept on the rows that had it, and nothing reads it.
CREATE TABLE targets_v11 (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    model_path TEXT NOT NULL,
    model_sha256 TEXT,
    provider TEXT CHECK (provider IN ('openai', 'anthropic', 'gemini')),
    remote_model TEXT,
    info_json TEXT NOT NULL,
    spec_json TEXT,
    CHECK ((provider IS NULL) = (remote_model IS NULL)),
    UNIQUE (experiment_id, key)
) STRICT;

-- The old JSON's shapes: `threads` and `batch` were single numbers before sweeps, `kv_type` and
-- `n_gpu_layers` absent (f16, 0).
INSERT INTO targets_v11 (id, experiment_id, position, key, model_path, model_sha256, provider,
        remote_model, info_json, spec_json)
    SELECT id, experiment_id, position, key, model_path, model_sha256,
        json_extract(spec_json, '$.remote.provider'), json_extract(spec_json, '$.remote.model'),
        json_object(
            'id', key,
            'model', json_extract(spec_json, '$.model.spec'),
            'model_path', model_path,
            'model_sha256', model_sha256,
            'threads', CASE json_type(spec_json, '$.threads')
                WHEN 'array' THEN json(json_extract(spec_json, '$.threads'))
                ELSE json_array(json_extract(spec_json, '$.threads')) END,
            'batch', CASE json_type(spec_json, '$.batch')
                WHEN 'array' THEN json(json_extract(spec_json, '$.batch'))
                ELSE json_array(json_extract(spec_json, '$.batch')) END,
            'kv_type', coalesce(json(json_extract(spec_json, '$.kv_type')), json_array('f16')),
            'n_gpu_layers', coalesce(json(json_extract(spec_json, '$.n_gpu_layers')), json_array(0)),
            'chat_template', json_extract(spec_json, '$.chat_template'),
            'loads', json_array(),
            'remote', json(json_extract(spec_json, '$.remote')),
            'price', json(json_extract(spec_json, '$.price')),
            'price_source', json_extract(spec_json, '$.price_source')
        ),
        spec_json
    FROM targets;

DROP TABLE targets;
ALTER TABLE targets_v11 RENAME TO targets;
