-- The process running an experiment (tradeoff_store::Owner): its pid, its start time (clock
-- ticks since boot, /proc/<pid>/stat field 22) and the boot it ran in. While the status says
-- `running`, an owner that no longer exists means the process was killed, and readers show the
-- experiment as interrupted. NULL: recorded before owners were.
ALTER TABLE experiments ADD COLUMN owner_pid INTEGER CHECK (owner_pid > 0);
ALTER TABLE experiments ADD COLUMN owner_start_time INTEGER CHECK (owner_start_time >= 0);
ALTER TABLE experiments ADD COLUMN owner_boot_id TEXT;

-- The plan's total runs (config × case × repetition), so an unfinished experiment can say how
-- many are missing. Earlier experiments get it from their configs, cases and recorded spec.
ALTER TABLE experiments ADD COLUMN planned_runs INTEGER CHECK (planned_runs >= 0);

UPDATE experiments SET planned_runs =
    (SELECT count(*) FROM configs c WHERE c.experiment_id = experiments.id)
    * (SELECT count(*) FROM cases k WHERE k.experiment_id = experiments.id)
    * coalesce(json_extract(spec_json, '$.repetitions'), 1);
