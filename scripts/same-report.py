#!/usr/bin/env python3
"""Whether two `tradeoff run --json` / `tradeoff report --json` reports say the same thing apart
from what changes between any two runs: timings, rates, timestamps, ids, memory and time-priced
cost. Outputs, token counts, checks, pass rates, configs and warnings must be equal. Used to check
that a refactoring changed no result (issue 13):

    scripts/same-report.py before.json after.json     # exit 0: same; 1: prints the differences
"""
import json
import re
import sys

# Keys whose values are measurements of time or memory, or identify a particular recording.
VOLATILE = re.compile(
    r"(_ms|_s|_per_s|_at|_usd|_bytes|_kib|_id)$|^(id|source|latency|ttft|environment|attempts_json|cost_per_1k_usd)$"
    r"|latency|ttft|tokens_per_s|rss|consistency_sd|_sd$|interval|difference|verdict"
)


def strip(value, path="$"):
    if isinstance(value, dict):
        return {k: strip(v, f"{path}.{k}") for k, v in value.items() if not VOLATILE.search(k)}
    if isinstance(value, list):
        return [strip(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def differences(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield f"{path}.{key}: only in {'after' if key in b else 'before'}"
            else:
                yield from differences(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items before, {len(b)} after"
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"{path}: {json.dumps(a)[:120]} before, {json.dumps(b)[:120]} after"


def main():
    before, after = (strip(json.load(open(p))) for p in sys.argv[1:3])
    found = list(differences(before, after))
    for line in found[:50]:
        print(line)
    if found:
        print(f"{len(found)} differences")
        return 1
    print("same report apart from timings and ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
