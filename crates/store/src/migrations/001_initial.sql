-- Immutable once landed: add a new numbered file for every change.

CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT,
    -- The validated experiment (tradeoff_core::Experiment) as JSON: what was asked.
    spec_json TEXT NOT NULL,
    environment_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted'))
) STRICT;

CREATE TABLE variants (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    template_json TEXT NOT NULL,
    UNIQUE (experiment_id, key)
) STRICT;

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    vars_json TEXT NOT NULL,
    expected TEXT,
    UNIQUE (experiment_id, key)
) STRICT;

CREATE TABLE targets (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    model_path TEXT NOT NULL,
    model_sha256 TEXT,
    UNIQUE (experiment_id, key)
) STRICT;

CREATE TABLE configs (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    variant_id INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    n_ctx INTEGER NOT NULL CHECK (n_ctx > 0),
    UNIQUE (variant_id, target_id, n_ctx)
) STRICT;

CREATE INDEX configs_by_experiment ON configs (experiment_id, position);

-- Model loads and context creations, never part of a run's latency.
CREATE TABLE loads (
    id INTEGER PRIMARY KEY,
    target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    n_ctx INTEGER NOT NULL,
    model_load_ms REAL,
    context_create_ms REAL,
    error_class TEXT,
    error_message TEXT,
    warnings_json TEXT NOT NULL DEFAULT '[]',
    recorded_at TEXT NOT NULL
) STRICT;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    config_id INTEGER NOT NULL REFERENCES configs (id) ON DELETE CASCADE,
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    repetition INTEGER NOT NULL CHECK (repetition >= 0),
    started_at TEXT NOT NULL,
    latency_ms REAL,
    ttft_ms REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    prompt_eval_ms REAL,
    prompt_eval_tokens INTEGER,
    gen_eval_ms REAL,
    gen_eval_tokens INTEGER,
    output TEXT NOT NULL,
    finish_reason TEXT,
    error_class TEXT,
    error_message TEXT,
    warnings_json TEXT NOT NULL DEFAULT '[]',
    -- A run either measured something or failed, never neither.
    CHECK ((latency_ms IS NULL) = (error_class IS NOT NULL)),
    UNIQUE (config_id, case_id, repetition)
) STRICT;

CREATE INDEX runs_by_case ON runs (case_id);

-- sha256 of model files, reused while path, size and mtime are unchanged.
CREATE TABLE file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
) STRICT;
