"""A source's next page fetched on a worker thread while the loader lands the current one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType

from sources.base import FilePage, Page

__all__ = ["ReadAhead"]

# how long the reader waits for a page before it looks whether a signal arrived
_SLICE_SECONDS = 0.1


class ReadAhead:
    """Yield `pages` in order, fetching at most one page ahead on a worker thread.

    The export API answers the next request while DuckDB lands this page (both release the
    GIL), so the wait for the backend and the load overlap instead of adding up. One request
    is in flight at a time and at most two pages are held: the reader's and the next.

    The worker alone runs (and closes) the source's iterator. A `FilePage` names a file the
    source may remove when resumed (Shopify's bulk result), so after one the source is
    resumed only when the reader asks for the next page. An error of the source is raised in
    the reader, in its page's place, as the same exception. Leaving the block stops the
    worker: on an error of the loader (an `Exception`) or a normal exit it waits for the
    fetch under way, so the source is never used by two threads at once; on Ctrl-C (any
    other `BaseException`) it does not wait for a request that may never answer, and the
    daemon worker closes the source's iterator when that request returns.
    """

    def __init__(self, pages: Iterator[Page]) -> None:
        self._pages = pages
        self._changed = threading.Condition()
        # what the worker fetched and the reader has not taken: (page, None), (None, error)
        # or (None, None) at the end
        self._slot: tuple[Page | None, BaseException | None] | None = None
        self._fetch = True  # the worker may fetch the next page
        self._stopped = False  # the reader has left
        self._finished = False  # the reader has seen the end or the error
        self._held_file = False  # the reader holds a FilePage
        self._worker = threading.Thread(target=self._work, name="read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead:
        self._worker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if exc_type is None or issubclass(exc_type, Exception):
            self._worker.join()

    def __iter__(self) -> Iterator[Page]:
        return self

    def __next__(self) -> Page:
        assert self._worker.ident is not None, "ReadAhead gives pages inside its `with` only"
        with self._changed:
            if self._finished or self._stopped:
                raise StopIteration
            if self._held_file:  # the source may resume now: the reader is done with the file
                self._held_file = False
                self._fetch = True
                self._changed.notify_all()
            while self._slot is None:
                # in slices: polars installs its SIGINT handler with SA_RESTART, so a lock
                # wait in the main thread is resumed after Ctrl-C without Python's handler
                # running; back in Python between slices, KeyboardInterrupt is raised here
                self._changed.wait(_SLICE_SECONDS)
            page, error = self._slot
            self._slot = None
            if page is None:
                self._finished = True
                if error is not None:
                    raise error
                raise StopIteration
            if isinstance(page, FilePage):
                self._held_file = True
            else:
                self._fetch = True
                self._changed.notify_all()
            return page

    def _work(self) -> None:
        try:
            while True:
                with self._changed:
                    while not (self._fetch or self._stopped):
                        self._changed.wait()
                    if self._stopped:
                        return
                    self._fetch = False
                page: Page | None = None
                error: BaseException | None = None
                try:
                    page = next(self._pages)
                except StopIteration:
                    pass
                except BaseException as exc:  # handed to the reader, which raises it
                    error = exc
                with self._changed:
                    self._slot = (page, error)
                    self._changed.notify_all()
                if page is None:
                    return
        finally:
            # in this thread, the one that ran it; the reader has its own error to raise
            close = getattr(self._pages, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
