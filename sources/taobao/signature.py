"""The Taobao Open Platform (TOP) request signature: sorted parameters, md5 / hmac / hmac-sha256.

TOP signs every call (docs: open.taobao.com docId=101617, "API调用方法详解"):
1. every request parameter except `sign` (and byte[] uploads) is sorted by name in ASCII order;
2. names and values are joined with nothing between them: bar2foo1foo_bar3foobar4;
3. the UTF-8 bytes are digested: md5(secret + joined + secret) for `md5`,
   HMAC-MD5(key=secret) of joined for `hmac`, HMAC-SHA256(key=secret) for `hmac-sha256`;
4. the digest is written as upper-case hex (32 characters, 64 for hmac-sha256).
Parameters with an empty value do not take part, as in the official SDKs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["SIGN_METHODS", "sign", "signed_text"]

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def signed_text(params: Mapping[str, str]) -> str:
    """The parameters as TOP concatenates them before digesting: sorted name+value pairs."""
    return "".join(
        f"{name}{params[name]}" for name in sorted(params) if name != "sign" and params[name] != ""
    )


def sign(params: Mapping[str, str], secret: str, method: str) -> str:
    """The `sign` value of a request with these parameters, in upper-case hex."""
    text = signed_text(params).encode("utf-8")
    key = secret.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown sign_method {method!r} (known: {', '.join(SIGN_METHODS)})")
    return digest.upper()
