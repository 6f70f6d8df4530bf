"""Taobao/Tmall: the Taobao Open Platform (TOP) gateway and 生意参谋 export files."""

from __future__ import annotations

from sources.taobao.client import TopClient
from sources.taobao.errors import SycmFileError, TopAuthError, TopCallError, TopLimitError
from sources.taobao.signature import SIGN_METHODS, sign
from sources.taobao.source import TaobaoSource

__all__ = [
    "SIGN_METHODS",
    "SycmFileError",
    "TaobaoSource",
    "TopAuthError",
    "TopCallError",
    "TopClient",
    "TopLimitError",
    "sign",
]
