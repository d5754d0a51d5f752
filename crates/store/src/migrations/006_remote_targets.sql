-- Remote targets (HTTP APIs) have no local settings: their configs hold NULL in the settings
-- columns. SQLite cannot drop NOT NULL in place, so `configs` is rebuilt as in 003 (foreign
-- keys are off while migrations run; see Store::open).
CREATE TABLE configs_v6 (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    variant_id INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    n_ctx INTEGER CHECK (n_ctx > 0),
    threads INTEGER CHECK (threads > 0),
    batch INTEGER CHECK (batch > 0),
    kv_type TEXT,
    n_gpu_layers INTEGER CHECK (n_gpu_layers >= 0),
    parallel INTEGER CHECK (parallel >= 1),
    prefix_cache INTEGER CHECK (prefix_cache IN (0, 1)),
    -- Either every local setting or none (a remote config).
    CHECK ((n_ctx IS NULL) = (threads IS NULL) AND (n_ctx IS NULL) = (batch IS NULL)
           AND (n_ctx IS NULL) = (kv_type IS NULL) AND (n_ctx IS NULL) = (n_gpu_layers IS NULL)
           AND (n_ctx IS NULL) = (parallel IS NULL) AND (n_ctx IS NULL) = (prefix_cache IS NULL)),
    UNIQUE (variant_id, target_id, n_ctx, threads, batch, kv_type, n_gpu_layers, parallel, prefix_cache)
) STRICT;

INSERT INTO configs_v6 SELECT id, experiment_id, position, variant_id, target_id, n_ctx, threads,
    batch, kv_type, n_gpu_layers, parallel, prefix_cache FROM configs;

DROP TABLE configs;
ALTER TABLE configs_v6 RENAME TO configs;
CREATE INDEX configs_by_experiment ON configs (experiment_id, position);

-- Remote runs: every attempt (status, error, Retry-After, wait) and how many there were; when
-- reasoning began; whether token counts are estimates (no usage from the provider); whether
-- the request opened a new connection.
ALTER TABLE runs ADD COLUMN attempts INTEGER CHECK (attempts >= 1);
ALTER TABLE runs ADD COLUMN attempts_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN first_reasoning_ms REAL;
ALTER TABLE runs ADD COLUMN tokens_estimated INTEGER CHECK (tokens_estimated IN (0, 1));
ALTER TABLE runs ADD COLUMN new_connection INTEGER CHECK (new_connection IN (0, 1));

-- Remote endpoints the user keeps (the app's Targets screen): where to send requests and which
-- variable or keyring entry holds the key. Never the key itself.
CREATE TABLE endpoints (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic', 'gemini')),
    base_url TEXT NOT NULL,
    api_key_env TEXT,
    model TEXT,
    include_usage INTEGER NOT NULL DEFAULT 1 CHECK (include_usage IN (0, 1)),
    updated_at TEXT NOT NULL
) STRICT;
