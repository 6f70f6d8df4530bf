"""Bulk operations: start `bulkOperationRunQuery`, poll it, download its JSONL result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sources.shopify import queries
from sources.shopify.client import GraphQLClient
from sources.shopify.errors import ShopifyQueryError

__all__ = ["run_bulk_query"]

_DONE = {"COMPLETED"}
_FAILED = {"FAILED", "CANCELED", "CANCELING", "EXPIRED"}


def run_bulk_query(
    client: GraphQLClient,
    text: str,
    target: Path,
    *,
    dataset: str,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Run one bulk query to completion and stream its JSONL result into `target`, within the
    shop's limit of bulk queries at a time (threads of one process share it)."""
    with _slots(client):
        return _run(client, text, target, dataset, poll_seconds, timeout_seconds, sleep)


# API 2026-01 and later run up to five bulk queries at a time per shop and app, earlier ones one
# (https://shopify.dev/api/usage/bulk-operations/queries); a backfill's chunk threads wait here
_limits: dict[str, threading.BoundedSemaphore] = {}
_limits_lock = threading.Lock()


def _slots(client: GraphQLClient) -> threading.BoundedSemaphore:
    version = client.settings.api_version
    allowed = 5 if version >= "2026-01" else 1  # "unstable" sorts after every dated version
    with _limits_lock:
        return _limits.setdefault(client.name, threading.BoundedSemaphore(allowed))


def _run(
    client: GraphQLClient,
    text: str,
    target: Path,
    dataset: str,
    poll_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None],
) -> Path:
    data = client.query(queries.BULK_RUN, {"query": text}, dataset=dataset, cost=10)
    run = data["bulkOperationRunQuery"]
    if run.get("userErrors"):
        messages = "; ".join(str(e.get("message")) for e in run["userErrors"])
        raise ShopifyQueryError(
            f"{client.name}: bulk query for {dataset} was refused: {messages}",
            dataset=dataset,
            source=client.name,
        )
    op_id = run["bulkOperation"]["id"]
    deadline = time.monotonic() + timeout_seconds
    while True:
        op = client.query(queries.BULK_OPERATION, {"id": op_id}, dataset=dataset, cost=1)[
            "bulkOperation"
        ]
        status = op["status"]
        if status in _DONE:
            break
        if status in _FAILED:
            raise ShopifyQueryError(
                f"{client.name}: bulk query for {dataset} ended {status}"
                f" ({op.get('errorCode') or 'no error code'})",
                dataset=dataset,
                source=client.name,
            )
        if time.monotonic() > deadline:
            raise ShopifyQueryError(
                f"{client.name}: bulk query for {dataset} still {status}"
                f" after {timeout_seconds:.0f}s",
                dataset=dataset,
                source=client.name,
            )
        sleep(poll_seconds)
    url = op.get("url")
    if not url:
        # a bulk query that matched nothing completes without a file
        target.write_bytes(b"")
        return target
    response = client.download(url, dataset)
    try:
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    finally:
        response.close()
    return target
