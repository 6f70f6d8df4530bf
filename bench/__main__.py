"""`make bench`: run every benchmark in turn, each printing its figures beside its reference.

    .venv/bin/python -m bench [NAME ...]

Benchmarks measure; they never fail on a number. Each is also runnable alone with its own
options (`python -m bench.<name> --help`).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = {
    "load_files": ["--lines", "1000000"],
    "simulator_pages": [],
    "kpi_refresh": ["--days", "7", "365", "--runs", "3"],
    "backfill": ["--days", "3"],  # 30 days takes ~50 min on 2 cores
}


def main(names: list[str]) -> int:
    chosen = names or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in chosen:
        print(f"\n== bench.{name} ==", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *BENCHMARKS[name]])
        print(f"(bench.{name}: exit {done.returncode}, {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
