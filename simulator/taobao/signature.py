"""TOP's request signature as the simulated gateway checks it (kept apart from sources/)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["expected_sign"]


def expected_sign(params: Mapping[str, str], secret: str) -> str | None:
    """The sign TOP expects for these parameters, or None for an unknown sign_method."""
    text = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")
    key, data = secret.encode(), text.encode()
    method = params.get("sign_method", "md5")
    if method == "md5":
        return hashlib.md5(key + data + key).hexdigest().upper()
    if method == "hmac":
        return hmac.new(key, data, hashlib.md5).hexdigest().upper()
    if method == "hmac-sha256":
        return hmac.new(key, data, hashlib.sha256).hexdigest().upper()
    return None
