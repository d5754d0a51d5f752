-- A run's measurements as one JSON object (core's RunMetrics), read back whole: a new metric
-- needs no column. The older metric columns stay and are still written where a metric has one,
-- so the database can be queried as before.
ALTER TABLE runs ADD COLUMN metrics_json TEXT;

UPDATE runs SET metrics_json = json_object(
    'latency_ms', latency_ms,
    'ttft_ms', ttft_ms,
    'input_tokens', coalesce(input_tokens, 0),
    'output_tokens', coalesce(output_tokens, 0),
    'prompt_eval_ms', prompt_eval_ms,
    'prompt_eval_tokens', prompt_eval_tokens,
    'gen_eval_ms', gen_eval_ms,
    'gen_eval_tokens', gen_eval_tokens,
    'peak_rss_bytes', peak_rss_bytes,
    'kv_cache_bytes', kv_cache_bytes,
    'decode_ms', decode_ms,
    'cached_tokens', cached_tokens,
    'batch_sequences', batch_sequences,
    'batch_wall_ms', batch_wall_ms,
    'first_reasoning_ms', first_reasoning_ms,
    'tokens_estimated', CASE tokens_estimated WHEN 1 THEN json('true') WHEN 0 THEN json('false') END,
    'new_connection', CASE new_connection WHEN 1 THEN json('true') WHEN 0 THEN json('false') END
)
WHERE latency_ms IS NOT NULL;
