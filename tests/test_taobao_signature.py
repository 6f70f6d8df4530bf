"""The TOP request signature against published worked examples."""

from __future__ import annotations

import pytest

from simulator.taobao import expected_sign
from sources.taobao.signature import sign, signed_text

# The worked example of TOP's "API调用方法详解" (open.taobao.com/doc.htm?docId=101617&docType=1):
# secret "helloworld", these parameters, md5 -> 66987CB115214E59E6EC978214934FB8.
OFFICIAL = {
    "method": "taobao.item.seller.get",
    "app_key": "12345678",
    "session": "test",
    "timestamp": "2016-01-01 12:00:00",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "fields": "num_iid,title,nick,price,num",
    "num_iid": "11223344",
}


def test_official_md5_example() -> None:
    assert sign(OFFICIAL, "helloworld", "md5") == "66987CB115214E59E6EC978214934FB8"


def test_official_example_concatenation() -> None:
    # the same page spells out the text that is digested, secret on both sides
    assert signed_text(OFFICIAL) == (
        "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get"
        "num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
    )


def test_documented_sort_order() -> None:
    # "foo:1, bar:2, foo_bar:3, foobar:4 排序后 ... bar2foo1foo_bar3foobar4"
    assert signed_text({"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}) == (
        "bar2foo1foo_bar3foobar4"
    )


@pytest.mark.parametrize(
    ("method", "key", "expected"),
    [
        # RFC 2202 test case 1: HMAC-MD5, key 0x0b * 16, data "Hi There"
        ("hmac", "\x0b" * 16, "9294727A3638BB1C13F48EF8158BFC9D"),
        # RFC 4231 test case 1: HMAC-SHA256, key 0x0b * 20, data "Hi There"
        (
            "hmac-sha256",
            "\x0b" * 20,
            "B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7",
        ),
    ],
)
def test_hmac_methods_match_the_rfc_vectors(method: str, key: str, expected: str) -> None:
    # one parameter "Hi" with value " There" concatenates to the RFCs' data "Hi There"
    assert sign({"Hi": " There"}, key, method) == expected


def test_sign_and_empty_values_take_no_part() -> None:
    base = sign(OFFICIAL, "helloworld", "md5")
    assert sign({**OFFICIAL, "sign": "X", "partner_id": ""}, "helloworld", "md5") == base


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_the_simulated_gateway_checks_the_same_signature(method: str) -> None:
    params = {**OFFICIAL, "sign_method": method}
    assert expected_sign(params, "helloworld") == sign(params, "helloworld", method)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sign_method 'sha1'"):
        sign(OFFICIAL, "helloworld", "sha1")
