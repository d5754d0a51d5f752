#!/usr/bin/env python3
"""CPU time per process name over a window, from /proc, sampled every second: who takes the CPU
while something runs (issue 14 measured the app's webview during an in-app quickstart with it).

    scripts/cpu-by-process.py 75 &  E2E_DB=/tmp/e2e.db bash e2e/run-e2e.sh
"""
import collections
import os
import sys
import time


def snapshot():
    times = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        times[pid] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return times


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    first = snapshot()
    previous = first
    total = collections.Counter()
    start = time.time()
    while time.time() - start < seconds:
        time.sleep(1)
        current = snapshot()
        for pid, (name, ticks) in current.items():
            # A process that started during the window counts from zero.
            base = previous.get(pid, (name, ticks if pid in first else 0))[1]
            total[name] += max(0, ticks - base)
        previous = current
    hz = os.sysconf("SC_CLK_TCK")
    elapsed = time.time() - start
    for name, ticks in total.most_common(12):
        print(f"{name:20s} {ticks / hz:7.2f} s CPU  {ticks / hz / elapsed:5.2f} cores")


if __name__ == "__main__":
    main()
