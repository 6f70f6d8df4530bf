"""How long `shoppulse demo` takes on a fresh folder, and when its first KPI line appears.

    .venv/bin/python -m bench.demo

Runs the installed `shoppulse demo --dir TMP` as a new user would (its own Prefect home, so
the temporary server starts cold) and timestamps each line it prints.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.child import write_answer

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    shoppulse = Path(sys.executable).parent / "shoppulse"
    with tempfile.TemporaryDirectory(prefix="shoppulse-bench-demo-") as tmp:
        env = {
            **os.environ,
            "PREFECT_HOME": str(Path(tmp) / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "COLUMNS": "160",
        }
        clock = time.monotonic()
        first_kpi: float | None = None
        lines = 0
        with subprocess.Popen(
            [str(shoppulse), "demo", "--dir", str(Path(tmp) / "demo")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                lines += 1
                # the replay prints one "visitors … buyers … gmv" line per hour
                if first_kpi is None and "visitors" in line and "gmv" in line:
                    first_kpi = time.monotonic() - clock
            code = process.wait()
        seconds = time.monotonic() - clock
    answer = {
        "seconds": round(seconds, 1),
        "first_kpi_line_s": None if first_kpi is None else round(first_kpi, 1),
        "lines": lines,
        "exit": code,
    }
    print(answer)
    write_answer(args.json, answer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
