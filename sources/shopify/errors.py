"""Errors of the Shopify source, each naming what failed and never the access token."""

from __future__ import annotations

from sources.errors import ExportFatalError, ExportTransientError

__all__ = ["ShopifyAccessError", "ShopifyQueryError", "ShopifyThrottledError"]


class ShopifyAccessError(ExportFatalError):
    """The token was refused (401/403) or lacks an access scope the query needs."""


class ShopifyQueryError(ExportFatalError):
    """Shopify answered with a GraphQL error that retrying cannot fix."""


class ShopifyThrottledError(ExportTransientError):
    """Still throttled (or failing with 5xx) after every allowed retry."""
