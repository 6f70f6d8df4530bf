"""Read a source's next pages on a worker thread while the loader lands the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

__all__ = ["read_ahead"]

T = TypeVar("T")
_END = object()
# how often a worker blocked on a full queue looks whether the reader has gone
_POLL_SECONDS = 0.1


def read_ahead(pages: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield `pages` in order while a worker thread fetches up to `depth` pages ahead.

    The export API answers the next request while DuckDB lands this page (it releases the
    GIL), so the wait for the backend and the load overlap instead of adding up. At most
    `depth` + 2 pages are held at once, however many the window has. An error of the source
    is raised here, in the page's place; when the reader stops early (its load failed), the
    worker stops after the fetch under way and `pages` is closed.
    """
    ready: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    gone = threading.Event()

    def put(item: tuple[object, BaseException | None]) -> bool:
        while not gone.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # handed to the reader, which raises it
            put((_END, exc))
            return
        put((_END, None))

    worker = threading.Thread(target=work, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            page, error = ready.get()
            if error is not None:
                raise error
            if page is _END:
                return
            yield cast(T, page)
    finally:
        gone.set()
        worker.join()
        close = getattr(pages, "close", None)
        if close is not None:
            close()
