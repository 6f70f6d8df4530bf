"""Keep secrets in URLs out of logs: httpx logs every request's full URL at INFO.

Chat robots take their credentials in the query string (DingTalk and WeCom `access_token`,
`key`, a signed `sign`), and a user may put a token in any webhook's query. A filter on the
`httpx` logger replaces every query value but the export API's own window parameters, and
drops user:password from the URL, in every record, whatever level the logs are kept at.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["RedactUrls", "install", "redact_url"]

# the export API's query (DESIGN §3): not secret, and what one needs to read a request log
_KEPT = frozenset({"since", "until", "cursor", "limit"})


def redact_url(url: str) -> str:
    """The URL with credentials dropped and every query value but the export window's hidden."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = [(k, v if k in _KEPT else "***") for k, v in parse_qsl(parts.query, True)]
    # a Slack incoming webhook's path is its credential
    path = "/services/***" if netloc.endswith("hooks.slack.com") else parts.path
    return urlunsplit((parts.scheme, netloc, path, urlencode(query, safe="*:+"), ""))


class RedactUrls(logging.Filter):
    """Redact the URLs among a log record's arguments (httpx passes them as httpx.URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if type(a).__name__ == "URL" or _looks_like_url(a) else a
                for a in record.args
            )
        return True


def _looks_like_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def install() -> None:
    """Add the filter to the loggers that write request URLs (once)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactUrls) for f in logger.filters):
            logger.addFilter(RedactUrls())
