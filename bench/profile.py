"""Where an hourly run's time goes: pyinstrument over the plain pipeline (no Prefect).

    .venv/bin/python -m bench.profile --days 2 --runs 2 --out profile.txt

Builds a warehouse as `bench.hourly` does (generated older history, then a first run over the
simulator), then profiles `--runs` hourly runs: load every dataset over HTTP, refresh the
marts, evaluate the rules. Needs the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from bench.backend import serving
from bench.hourly import FIRST_RUN_HOURS, _build, _config

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=2, help="older history in days")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the text profile here")
    args = parser.parse_args(argv)

    from pyinstrument import Profiler

    from flows.pipeline import run_hour
    from flows.rules_runner import evaluate_and_dispatch
    from flows.settings import load_settings
    from flows.warehouse import Warehouse
    from sources import make_source

    with serving("mid", days=4) as backend, tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), backend.base_url, "profiled")
        _build(config, backend.start, args.days, 5000)
        settings = load_settings(config)
        profiler = Profiler(interval=0.005)
        with Warehouse(settings.warehouse.path) as wh, closing(make_source(settings.source)) as src:
            for index in range(args.runs):
                until = backend.start + timedelta(hours=FIRST_RUN_HOURS + index + 1)
                profiler.start()
                run_hour(wh, settings, src, until)
                evaluate_and_dispatch(wh, settings, until - timedelta(hours=1), mode="deliver")
                profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
