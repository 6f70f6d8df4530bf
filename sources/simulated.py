"""The simulator as an in-process export source: the same records and faults as its HTTP API.

`shoppulse evaluate` replays a scenario hour by hour; serving hundreds of runs over loopback
HTTP (with real retry back-off during a simulated outage) would spend the evaluation's time
in the network stack. This adapter pages the same window the server would serve, answers
each request's attempts with the same scenario faults the server plays, and raises the
export client's errors, so the pipeline cannot tell it from `sources.http.HttpSource`
except that a simulated retry does not sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from simulator.datasets import DATASETS
from simulator.simulation import Simulator
from sources.base import ALL_DATASETS, JsonPage
from sources.errors import ExportFatalError, ExportTransientError

__all__ = ["SimulatorSource"]


class SimulatorSource:
    """An `ExportSource` reading a `Simulator` directly, with its scenario's faults."""

    provides = ALL_DATASETS

    def __init__(self, sim: Simulator, *, page_size: int = 5000, max_attempts: int = 6) -> None:
        self.sim = sim
        self.name = f"simulator:{sim.scenario.name}/{sim.seed}"
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.retries = 0

    def close(self) -> None:
        pass

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        """Every page of `dataset` in [since, until), after the scenario's faults have played."""
        if dataset not in DATASETS:
            raise ExportFatalError(
                f"{self.name}: export {dataset} not found", dataset=dataset, source=self.name
            )
        self._attempt(dataset, since, until)
        offset = 0
        while True:
            rows, more = self.sim.page(dataset, since, until, offset, self.page_size)
            if rows:
                text = b'{"items":[' + b",".join(rows) + b"]}"
                yield JsonPage(text=text.decode("utf-8"), count=len(rows))
            if not more:
                return
            offset += len(rows)

    def _attempt(self, dataset: str, since: datetime | None, until: datetime) -> None:
        # A fault depends on the request's window only, so the first page decides them all.
        status = 0
        for attempt in range(self.max_attempts):
            fault = self.sim.fault(dataset, since, until, attempt)
            if fault is None:
                return
            status = fault.status
            if attempt + 1 < self.max_attempts:
                self.retries += 1
        raise ExportTransientError(
            f"{self.name}: export {dataset} failed after {self.max_attempts} attempts,"
            f" last: HTTP {status}",
            dataset=dataset,
            source=self.name,
        )
