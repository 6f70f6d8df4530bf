"""read_ahead: a source's pages fetched on a worker thread, in order, errors in their place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from sources import ExportTransientError, read_ahead


def test_pages_arrive_in_order_and_all_of_them() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter(range(50)), depth=4)) == list(range(50))
    assert list(read_ahead(iter([]))) == []


def test_a_source_error_is_raised_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ExportTransientError(
            "export orders failed after 3 attempts: 503", dataset="orders", source="http"
        )

    got = []
    with pytest.raises(ExportTransientError, match="503"):
        for page in read_ahead(pages()):
            got.append(page)
    assert got == [1, 2]


def test_the_next_page_is_fetched_while_the_reader_holds_this_one() -> None:
    second_asked = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        second_asked.set()
        yield 2

    reader = read_ahead(pages())
    assert next(reader) == 1
    # the reader has not asked for page 2, yet the source is already producing it
    assert second_asked.wait(10)
    assert list(reader) == [2]


def test_a_reader_that_stops_early_stops_the_source_and_its_thread() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    before = {t.ident for t in threading.enumerate()}
    with closing(read_ahead(pages(), depth=2)) as reader:
        for page in reader:
            if page == 3:
                break
    assert closed.is_set()
    # page 3 held by the reader, at most `depth` queued and one more waiting to be queued
    assert len(produced) <= 3 + 1 + 2 + 1
    assert not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
