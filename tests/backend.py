"""A loopback export API for tests: serves given records page by page, with scripted faults."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-token-s3cr3t"
# fault statuses that are not HTTP answers: a dropped connection, and a reply too late
RESET = 0
STALL = -1
WINDOW = {
    "orders": "updated_at",
    "traffic": "hour",
    "inventory": "snapshot_at",
    "products": "updated_at",
    "promotions": "updated_at",
    "keywords": "hour",
    "service_chats": "updated_at",
    "reviews": "updated_at",
    "shipments": "updated_at",
}


@dataclass
class Backend:
    """Records per dataset, and faults to play: (dataset, status, headers, body) popped in order
    (status RESET drops the connection; STALL waits `body` seconds before answering)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[tuple[str, int, dict[str, str], str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    repeat_first_page: set[str] = field(default_factory=set)
    base_url: str = ""

    def window(self, dataset: str, since: str | None, until: str) -> list[dict[str, Any]]:
        key = WINDOW[dataset]
        lo = datetime.fromisoformat(since) if since else None
        hi = datetime.fromisoformat(until)
        out = []
        for record in self.records.get(dataset, []):
            try:
                at = datetime.fromisoformat(str(record[key]))
            except (KeyError, ValueError):
                out.append(record)  # malformed: served, for the loader to quarantine
                continue
            if (lo is None or at >= lo) and at < hi:
                out.append(record)
        return out


def _handler(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            dataset = url.path.rsplit("/", 1)[-1]
            backend.requests.append({"dataset": dataset, **query})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, json.dumps({"error": "unauthorized"}))
            if dataset not in WINDOW:
                return self._send(404, json.dumps({"error": f"unknown dataset {dataset}"}))
            for i, (ds, status, headers, body) in enumerate(backend.faults):
                if ds == dataset:
                    del backend.faults[i]
                    if status == RESET:  # hang up without an answer
                        self.close_connection = True
                        return None
                    if status == STALL:  # answer after the client's timeout
                        time.sleep(float(body))
                        with contextlib.suppress(OSError):  # the client gave up
                            self._send(200, json.dumps({"items": [], "next_cursor": None}))
                        return None
                    return self._send(status, body, headers)
            items = backend.window(dataset, query.get("since"), query["until"])
            limit = int(query.get("limit", 1000))
            offset = int(query.get("cursor", "0").removeprefix("c"))
            page = items[offset : offset + limit]
            nxt = offset + limit if offset + limit < len(items) else None
            cursor = f"c{nxt}" if nxt is not None else None
            if dataset in backend.repeat_first_page and offset == limit:
                backend.repeat_first_page.discard(dataset)
                page = items[0:limit]  # a repeated page: same records served twice
            body = {"dataset": dataset, "items": page, "next_cursor": cursor}
            return self._send(200, json.dumps(body))

    return Handler


@contextmanager
def serve(backend: Backend) -> Iterator[Backend]:
    """Run the backend on 127.0.0.1 on a free port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(backend))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    backend.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield backend
    finally:
        server.shutdown()
        server.server_close()
