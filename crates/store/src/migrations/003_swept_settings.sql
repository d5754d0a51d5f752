-- Targets sweep threads, batch, KV cache type, GPU layers, parallel sequences (throughput mode)
-- and prefix caching as well as n_ctx: each combination is its own config. SQLite cannot widen a UNIQUE constraint in place, so `configs` is rebuilt
-- (foreign keys are off while migrations run; see Store::open). Existing configs take their
-- target's threads and batch and the defaults for the new settings.
CREATE TABLE configs_v3 (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    variant_id INTEGER NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    n_ctx INTEGER NOT NULL CHECK (n_ctx > 0),
    threads INTEGER NOT NULL CHECK (threads > 0),
    batch INTEGER NOT NULL CHECK (batch > 0),
    kv_type TEXT NOT NULL,
    n_gpu_layers INTEGER NOT NULL CHECK (n_gpu_layers >= 0),
    parallel INTEGER NOT NULL CHECK (parallel >= 1),
    prefix_cache INTEGER NOT NULL CHECK (prefix_cache IN (0, 1)),
    UNIQUE (variant_id, target_id, n_ctx, threads, batch, kv_type, n_gpu_layers, parallel, prefix_cache)
) STRICT;

INSERT INTO configs_v3 (id, experiment_id, position, variant_id, target_id, n_ctx, threads, batch,
                        kv_type, n_gpu_layers, parallel, prefix_cache)
SELECT c.id, c.experiment_id, c.position, c.variant_id, c.target_id, c.n_ctx,
       json_extract(t.spec_json, '$.threads'), json_extract(t.spec_json, '$.batch'), 'f16', 0, 1, 0
FROM configs c JOIN targets t ON t.id = c.target_id;

DROP TABLE configs;
ALTER TABLE configs_v3 RENAME TO configs;
CREATE INDEX configs_by_experiment ON configs (experiment_id, position);

-- Loads are per (target, settings); NULL settings are loads recorded before this migration.
ALTER TABLE loads ADD COLUMN threads INTEGER;
ALTER TABLE loads ADD COLUMN batch INTEGER;
ALTER TABLE loads ADD COLUMN kv_type TEXT;
ALTER TABLE loads ADD COLUMN n_gpu_layers INTEGER;
ALTER TABLE loads ADD COLUMN parallel INTEGER;
ALTER TABLE loads ADD COLUMN prefix_cache INTEGER;
ALTER TABLE loads ADD COLUMN kv_cache_bytes INTEGER;

ALTER TABLE runs ADD COLUMN peak_rss_bytes INTEGER;
ALTER TABLE runs ADD COLUMN kv_cache_bytes INTEGER;
ALTER TABLE runs ADD COLUMN cached_tokens INTEGER;
ALTER TABLE runs ADD COLUMN decode_ms REAL;
ALTER TABLE runs ADD COLUMN batch_sequences INTEGER;
ALTER TABLE runs ADD COLUMN batch_wall_ms REAL;
