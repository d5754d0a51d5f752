-- Check results of each run: whether it passed all its case's checks and their mean score
-- (NULL when the case has no checks), and every check's result.
ALTER TABLE runs ADD COLUMN passed INTEGER CHECK (passed IN (0, 1));
ALTER TABLE runs ADD COLUMN score REAL;
ALTER TABLE runs ADD COLUMN checks_json TEXT NOT NULL DEFAULT '[]';
-- What the run cost by its target's price (NULL: no price).
ALTER TABLE runs ADD COLUMN cost_usd REAL;
