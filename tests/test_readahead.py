"""ReadAhead over a real loopback export API: order, errors in their place, one page ahead at
most, a file page kept until the reader is done with it, and Ctrl-C that does not wait."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.settings import SourceSettings
from sources import ExportError, FilePage, HttpSource, JsonPage, Page, ReadAhead
from tests.backend import TOKEN, Backend, serve
from tests.factories import traffic

UNTIL = datetime(2026, 11, 12, tzinfo=UTC)
PAGE_SIZE = 3


def records(n: int) -> list[dict[str, Any]]:
    return [traffic(sku_id=f"SKU{i:04d}") for i in range(n)]


def source(backend: Backend, **kw: Any) -> HttpSource:
    settings = SourceSettings(base_url=backend.base_url, token=TOKEN, page_size=PAGE_SIZE, **kw)
    return HttpSource(settings, sleep=lambda s: None)


class _FailingAfter(Backend):
    """Serves `pages` pages of a window, then answers every request with `fault`."""

    def __init__(self, pages: int, fault: tuple[int, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages, self.fault, self.served = pages, fault, 0

    def window(self, dataset: str, since: str | None, until: str) -> list[dict[str, Any]]:
        self.served += 1
        if self.served == self.pages:
            status, body = self.fault
            self.faults += [(dataset, status, {}, body)] * 10
        return super().window(dataset, since, until)


class _StallingAfter(Backend):
    """Serves the first page, then holds every later request until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reached = threading.Event()
        self.release = threading.Event()
        self.served = 0

    def window(self, dataset: str, since: str | None, until: str) -> list[dict[str, Any]]:
        self.served += 1
        if self.served > 1:
            self.reached.set()
            self.release.wait(120)
        return super().window(dataset, since, until)


def test_pages_arrive_as_the_source_gives_them_one_request_after_the_other() -> None:
    with serve(Backend(records={"traffic": records(25)})) as backend:
        plain = [p.text for p in source(backend).pages("traffic", None, UNTIL)]
        asked = len(backend.requests)
        with ReadAhead(source(backend).pages("traffic", None, UNTIL)) as pages:
            ahead = [p.text for p in pages if isinstance(p, JsonPage)]
        with ReadAhead(source(backend).pages("traffic", UNTIL, UNTIL)) as pages:
            assert list(pages) == []
    assert len(plain) == 9 and ahead == plain
    # the cursor of each request comes from the page before it
    cursors = [r.get("cursor") for r in backend.requests[asked:]][:9]
    assert cursors == [None] + [f"c{PAGE_SIZE * i}" for i in range(1, 9)]


def _read(pages: Iterator[Page]) -> tuple[list[str], type[BaseException], str]:
    got: list[str] = []
    with pytest.raises(ExportError) as caught:
        for page in pages:
            assert isinstance(page, JsonPage)
            got.append(page.text)
    # the retry loop's message names the seconds it took, which differ run to run
    return got, caught.type, re.sub(r" in \d+\.\ds,", " in …s,", str(caught.value))


@pytest.mark.parametrize(
    "fault",
    [(401, '{"error": "unauthorized"}'), (400, '{"error": "bad cursor"}'), (503, "{}")],
)
def test_a_source_error_comes_after_the_pages_before_it_as_the_plain_source_raises_it(
    fault: tuple[int, str],
) -> None:
    seen = []
    backend = _FailingAfter(2, fault, records={"traffic": records(25)})
    with serve(backend):
        for ahead in (False, True):
            backend.served, backend.faults = 0, []
            pages = source(backend, max_attempts=2).pages("traffic", None, UNTIL)
            if ahead:
                with ReadAhead(pages) as read:
                    seen.append(_read(read))
            else:
                seen.append(_read(pages))
    plain, ahead_ = seen
    assert ahead_ == plain
    assert len(plain[0]) == 2 and str(fault[0]) in plain[2]


def test_the_source_is_asked_for_a_page_only_once_the_reader_holds_the_one_before() -> None:
    # the reader is handed each page with `handed` locked, and the source, asked for page n,
    # notes under the same lock how many pages the reader had been handed by then
    handed = threading.Lock()
    state = {"taken": 0}
    asked_at: list[tuple[int, int]] = []
    asked, produced = [threading.Event() for _ in range(12)], [threading.Event() for _ in range(12)]

    def pages(plain: Iterator[JsonPage]) -> Iterator[JsonPage]:
        for n in range(1, 12):
            if n == 1:  # the reader may be waiting for it with `handed` locked
                asked_at.append((n, 0))
            else:
                with handed:
                    asked_at.append((n, state["taken"]))
            asked[n].set()
            page = next(plain, None)
            if page is None:
                return
            produced[n].set()
            yield page

    backend = Backend(records={"traffic": records(30)})
    with serve(backend), ReadAhead(pages(source(backend).pages("traffic", None, UNTIL))) as read:
        reader = iter(read)
        while True:
            with handed:
                page = next(reader, None)
                if page is None:
                    break
                state["taken"] += 1
            # a slow reader: it holds this page until the next one is fetched, which leaves
            # a worker that would go further the time to ask for the one after (past the
            # last page, until the source is asked whether there is more)
            taken = state["taken"]
            assert (produced if taken < 10 else asked)[taken + 1].wait(60)
    # pages 1..10, then the source is asked once more and says it has no more
    assert [n for n, _ in asked_at] == list(range(1, 12))
    assert all(n <= taken + 1 for n, taken in asked_at), asked_at
    # and it does read ahead: each page after the first was asked for while the reader held
    # the one before
    assert [taken for _, taken in asked_at[1:]] == list(range(1, 11))


def test_a_file_page_is_not_followed_until_the_reader_asks_for_the_next(tmp_path: Path) -> None:
    # like Shopify's bulk result: the source removes the file when it is resumed
    done: dict[Path, bool] = {}
    early: list[Path] = []

    def files() -> Iterator[Page]:
        for n in range(5):
            path = tmp_path / f"{n}.jsonl"
            path.write_text(f'{{"n": {n}}}\n')
            done[path] = False
            yield FilePage(path=path, format="jsonl")
            if not done[path]:
                early.append(path)
            path.unlink()

    read_back = []
    with ReadAhead(files()) as pages:
        for page in pages:
            assert isinstance(page, FilePage)
            read_back.append(page.path.read_text())
            done[page.path] = True
    assert read_back == [f'{{"n": {n}}}\n' for n in range(5)]
    assert early == []
    assert list(tmp_path.iterdir()) == []


def _closed_source(backend: Backend, closed: threading.Event) -> Iterator[JsonPage]:
    try:
        yield from source(backend).pages("traffic", None, UNTIL)
    finally:
        closed.set()


def test_ctrl_c_leaves_at_once_while_the_next_request_hangs() -> None:
    backend = _StallingAfter(records={"traffic": records(25)})
    closed, left = threading.Event(), threading.Event()
    workers = {t for t in threading.enumerate() if t.name == "read-ahead"}

    def interrupted_reader() -> None:
        try:
            with ReadAhead(_closed_source(backend, closed)) as pages:
                for _ in pages:
                    assert backend.reached.wait(60)
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            left.set()

    with serve(backend):
        reader = threading.Thread(target=interrupted_reader, daemon=True)
        reader.start()
        try:
            # the stalled request answers only when released: leaving must not wait for it
            assert left.wait(60), "leaving the block waited for the hanging request"
            assert not closed.is_set()
        finally:
            backend.release.set()
        # once its request returns, the worker closes the source and ends
        for worker in {t for t in threading.enumerate() if t.name == "read-ahead"} - workers:
            worker.join(60)
            assert not worker.is_alive()
        assert closed.is_set()


INTERRUPTED_READER = """
import sys
from datetime import UTC, datetime

import polars  # noqa: F401  its SIGINT handler, as in the CLI: lock waits restart after a signal

from flows.settings import SourceSettings
from sources import HttpSource, ReadAhead

source = HttpSource(SourceSettings(base_url=sys.argv[1], token=sys.argv[2], page_size=3))
try:
    with ReadAhead(source.pages("traffic", None, datetime(2026, 11, 12, tzinfo=UTC))) as pages:
        for page in pages:
            print("page", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_a_real_ctrl_c_reaches_a_reader_waiting_for_a_hanging_request() -> None:
    backend = _StallingAfter(records={"traffic": records(25)})
    with serve(backend):
        proc = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTED_READER, backend.base_url, TOKEN],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            assert backend.reached.wait(120), "the reader never asked for the second page"
            os.kill(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            backend.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert out.split() == ["page", "interrupted"]
    assert proc.returncode == 0


def test_a_failed_load_stops_the_worker_before_the_source_is_used_again() -> None:
    backend = _StallingAfter(records={"traffic": records(25)})
    closed = threading.Event()
    with (
        serve(backend),
        pytest.raises(ValueError, match="the load failed"),
        ReadAhead(_closed_source(backend, closed)) as pages,
    ):
        for _ in pages:
            assert backend.reached.wait(60)
            backend.release.set()
            raise ValueError("the load failed")
    # the fetch under way was waited for, and the source closed, before the error went on
    assert closed.is_set()
    assert backend.served == 2
