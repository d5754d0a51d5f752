-- The model library: files and folders the user registered, and where models Tradeoff made
-- (quantizations) came from. The models themselves are read from disk each time.
CREATE TABLE model_sources (
    path TEXT PRIMARY KEY,
    added_at TEXT NOT NULL
) STRICT;

CREATE TABLE model_origins (
    path TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    source_sha256 TEXT,
    source_quantization TEXT,
    quantization TEXT NOT NULL,
    -- 1 when the source was itself quantized: the result carries both losses.
    requantized INTEGER NOT NULL CHECK (requantized IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;
