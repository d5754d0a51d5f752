#!/usr/bin/env python3
"""Per experiment of a Tradeoff database: how many cores other programs used during its local runs
(`other_cpu_cores`), how many runs were contended, and the mean generation rate. Compares an
in-app run with a CLI run of the same experiment (issue 14):

    scripts/contention-summary.py /tmp/e2e.db
    tradeoff run fixtures/experiments/quickstart.yaml --db /tmp/cli.db && scripts/contention-summary.py /tmp/cli.db
"""
import json
import sqlite3
import sys


def main():
    db = sqlite3.connect(sys.argv[1])
    experiments = db.execute("SELECT id, name FROM experiments ORDER BY id").fetchall()
    for experiment_id, name in experiments:
        rows = [
            json.loads(metrics)
            for (metrics,) in db.execute(
                "SELECT r.metrics_json FROM runs r JOIN configs c ON c.id = r.config_id"
                " WHERE c.experiment_id = ? AND r.metrics_json IS NOT NULL",
                (experiment_id,),
            )
        ]
        others = [m["other_cpu_cores"] for m in rows if m.get("other_cpu_cores") is not None]
        contended = sum(1 for m in rows if m.get("contended"))
        rates = [
            m["gen_eval_tokens"] / m["gen_eval_ms"] * 1000
            for m in rows
            if m.get("gen_eval_ms") and m.get("gen_eval_tokens")
        ]
        mean = lambda values: sum(values) / len(values) if values else float("nan")
        print(
            f"#{experiment_id} {name}: {len(rows)} runs, others {mean(others):.2f} cores"
            f" (max {max(others, default=0):.2f}), {contended} contended, gen {mean(rates):.1f} tok/s"
        )


if __name__ == "__main__":
    main()
