"""Escaping data values for each message markup, and size-safe truncation.

Chat renderers (DingTalk, WeCom, Feishu) document no reliable backslash escapes, so
markup characters in data (a product title with `*` or `<at>`) are swapped for their
full-width look-alikes: the text stays readable and can no longer format, link or mention.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

__all__ = [
    "ESCAPERS",
    "escape_markdown",
    "escape_slack",
    "escape_subject",
    "escape_text",
    "finalizer",
    "truncate_chars",
    "truncate_utf8",
    "utf8_len",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_NEWLINES = re.compile(r"[\r\n\u2028\u2029\x85]+")
_MARKDOWN = str.maketrans(
    {
        "\\": "＼",
        "`": "ˋ",
        "*": "＊",
        "_": "＿",
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "#": "＃",
        "|": "｜",
        "~": "～",
        "&": "＆",
        # `@all`, `@所有人`, `@13800000000`: no mention can be spelled by a data value
        "@": "＠",
    }
)
_SLACK_FORMAT = str.maketrans({"*": "＊", "_": "＿", "~": "～", "`": "ˋ", "@": "＠"})


def _one_line(value: str) -> str:
    return _CONTROL.sub("", _NEWLINES.sub(" ", value))


def escape_text(value: str) -> str:
    """Plain text: one line, no control characters (a value cannot forge extra lines)."""
    return _one_line(value)


def escape_markdown(value: str) -> str:
    """Markdown for DingTalk/WeCom/Feishu: markup characters (and @, so no mention) become
    full-width look-alikes."""
    return _one_line(value).translate(_MARKDOWN)


def escape_slack(value: str) -> str:
    """Slack mrkdwn: &, <, > as entities (Slack's rule, so no `<!channel>`); *, _, ~, `, @
    made inert."""
    text = _one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_SLACK_FORMAT)


def escape_subject(value: str) -> str:
    """An e-mail header value: no CR/LF or control characters, whitespace collapsed."""
    return " ".join(_one_line(value).split())


def _identity(value: str) -> str:
    return value


ESCAPERS: dict[str, Callable[[str], str]] = {
    "markdown": escape_markdown,
    "slack": escape_slack,
    "text": escape_text,
    "subject": escape_subject,
    # HTML is escaped by Jinja's autoescape
    "html": _identity,
}


def finalizer(fmt: str) -> Callable[[Any], Any]:
    """A Jinja `finalize` escaping every `{{ value }}` for `fmt`; Markup passes unchanged."""
    escape = ESCAPERS[fmt]

    def finalize(value: Any) -> Any:
        if isinstance(value, Markup) or fmt == "html":
            return value
        return escape("" if value is None else str(value))

    return finalize


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, limit: int, marker: str = "…") -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary, ending with `marker` if cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(limit - utf8_len(marker), 0)
    # errors="ignore" drops the partial multi-byte character at the cut
    return data[:room].decode("utf-8", errors="ignore") + marker


def truncate_chars(text: str, limit: int, marker: str = "…") -> str:
    """At most `limit` characters, ending with `marker` if cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker
