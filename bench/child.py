"""Run one measurement in a child interpreter: its JSON answer, wall time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_child", "write_answer"]


def run_child(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m <module> <args> --json F`; returns its answer plus `wall_s` and `peak_rss_mb`
    (the child's own maximum resident set, from wait4)."""
    with tempfile.TemporaryDirectory(prefix="shoppulse-bench-") as tmp:
        out = Path(tmp) / "answer.json"
        clock = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args, "--json", str(out)],
            env={**os.environ, **(env or {})},
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - clock
        if process.returncode != 0:
            raise RuntimeError(f"{module} {' '.join(args)} exited {process.returncode}")
        answer: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    # ru_maxrss is in kilobytes on Linux
    answer.update(wall_s=round(wall, 3), peak_rss_mb=round(usage.ru_maxrss / 1024, 1))
    return answer


def write_answer(path: str | None, answer: dict[str, Any]) -> None:
    """Write a child's answer where the parent asked for it (or print it)."""
    text = json.dumps(answer, indent=2, default=str)
    if path:
        Path(path).write_text(text, encoding="utf-8")
    else:
        print(text)
