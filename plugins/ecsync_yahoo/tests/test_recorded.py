"""
The parser reads every recorded Yahoo answer in tests/recorded/yahoo/ (XML files and the VCR cassettes'
response bodies) and finds the values they hold.
"""

from __future__ import annotations

import base64

from pathlib import Path

import pytest
import yaml

from ecsync_yahoo import _wire


RECORDED = Path(__file__).resolve().parents[3] / "tests" / "recorded" / "yahoo"


def test_the_recorded_corpus_is_there() -> None:
    """The recorded answers this suite parses are present (a missing corpus must not pass quietly)."""
    names = {p.name for p in RECORDED.iterdir()}
    assert {"getStock.200.xml", "setStock.200.xml", "error.400.getItem.it-05002.xml", "cassettes"} <= names


def parse_file(name: str) -> _wire.ResultSet | _wire.ApiError:
    return _wire.parse((RECORDED / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "quantity", "updated_status"),
    [("getStock.200.xml", 12, "1"), ("getStock.200.test_set_stock.xml", 12, "1")],
)
def test_get_stock_answers(name: str, quantity: int, updated_status: str) -> None:
    """A recorded getStock answer gives the item, its quantity, AllowOverdraft and the counters."""
    answer = parse_file(name)
    assert isinstance(answer, _wire.ResultSet)
    assert (1, 0, 1, 1) == (answer.ok, answer.ng, answer.total_available, answer.total_returned)
    [row] = answer.rows
    assert ("test1234", "", quantity, 0, updated_status) == (
        row.key,
        row.sub_code,
        row.quantity,
        row.allow_overdraft,
        row.status,
    )


def test_set_stock_answer() -> None:
    """The recorded setStock answer gives the new absolute quantity of the item written."""
    answer = parse_file("setStock.200.xml")
    assert isinstance(answer, _wire.ResultSet)
    assert [("test1234", 6, None)] == [(r.key, r.quantity, r.error_code) for r in answer.rows]


def test_kamiya54_two_item_get_stock() -> None:
    """The 2014 getStock answer for two items gives both, in order."""
    answer = parse_file("kamiya54/stock_get.xml")
    assert isinstance(answer, _wire.ResultSet)
    assert [("kc-d50-w", 3, 0), ("ed-60c-w", 30, 0)] == [(r.key, r.quantity, r.allow_overdraft) for r in answer.rows]


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("error.400.getItem.it-05002.xml", "it-05002", "指定された商品コードは存在しません。"),
        ("kamiya54/invalid_params.unescaped.xml", "st-02101", "item_code() is invalid format."),
    ],
)
def test_error_envelopes(name: str, code: str, message: str) -> None:
    """A whole-request error gives its code (namespaced 2014 body too) and its message."""
    answer = parse_file(name)
    assert _wire.ApiError(code, message) == attrs_without_detail(answer)


def attrs_without_detail(answer: object) -> object:
    assert isinstance(answer, _wire.ApiError)
    return _wire.ApiError(answer.code, answer.message)


def test_expired_token_body() -> None:
    """The expired-token body has no code; its message carries error="invalid_token" as the header does."""
    answer = parse_file("kamiya54/timeout.unescaped.xml")
    assert isinstance(answer, _wire.ApiError)
    assert answer.code is None
    assert {"realm": "yahooapis.jp", "error": "invalid_token", "error_description": "expired token"} == (
        _wire.auth_challenge(answer.message)
    )


def test_the_escaped_copies_are_refused() -> None:
    """The fixtures stored as escaped Ruby strings are not XML, and the parser says so instead of guessing."""
    for name in ("kamiya54/invalid_params.xml", "kamiya54/timeout.xml"):
        with pytest.raises(_wire.WireError):
            parse_file(name)


@pytest.mark.parametrize(("name", "quantity"), [("getItem.200.xml", None), ("getItem.200.test_delete_item.xml", 6)])
def test_get_item_quantity(name: str, quantity: int | None) -> None:
    """getItem's Quantity reads as no number while stock was never set, and as the number after setStock."""
    answer = parse_file(name)
    assert isinstance(answer, _wire.ResultSet)
    assert [("test1234", quantity)] == [(r.key, r.quantity) for r in answer.rows]


def test_delete_item_answer() -> None:
    """deleteItem's attribute-less ResultSet parses, with its OK status."""
    answer = parse_file("deleteItem.200.xml")
    assert isinstance(answer, _wire.ResultSet)
    assert (None, ["OK"]) == (answer.ok, [r.status for r in answer.rows])


class CassetteLoader(yaml.SafeLoader):
    """VCR (Ruby) writes binary bodies with the local tag ``!binary`` (base64), which PyYAML does not know."""


CassetteLoader.add_constructor(
    "!binary",
    lambda loader, node: base64.b64decode(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def cassette_bodies() -> list[tuple[str, int, str, bytes]]:
    """(cassette, status, path, body) of every store-API response in the cassettes (token calls left out)."""
    out = []
    for path in sorted((RECORDED / "cassettes").glob("*.yml")):
        for interaction in yaml.load(path.read_text(encoding="utf-8"), CassetteLoader)["http_interactions"]:
            uri = interaction["request"]["uri"]
            if "/yconnect/" in uri:
                continue
            raw = interaction["response"]["body"]["string"]
            body = raw if isinstance(raw, bytes) else raw.encode()
            out.append((path.name, interaction["response"]["status"]["code"], uri.rsplit("/", 1)[-1], body))
    return out


def test_every_cassette_answer_parses() -> None:
    """Every recorded store-API answer parses: 200s as ResultSets, 400s as Error envelopes with a code."""
    bodies = cassette_bodies()
    assert len(bodies) >= 8
    for cassette, status, op, body in bodies:
        answer = _wire.parse(body)
        if status == 200:
            assert isinstance(answer, _wire.ResultSet), (cassette, op)
            assert answer.rows, (cassette, op)
        else:
            assert (400, "it-05002") == (status, getattr(answer, "code", None)), (cassette, op)


def test_cassette_stock_values() -> None:
    """The cassettes' getStock/setStock answers hold the values the test store had (12 read, 6 written)."""
    values = {}
    for cassette, _status, op, body in cassette_bodies():
        answer = _wire.parse(body)
        if op in {"getStock", "setStock"} and isinstance(answer, _wire.ResultSet):
            values[(cassette, op)] = [(r.key, r.quantity) for r in answer.rows]
    assert {
        ("test_get_stock.yml", "getStock"): [("test1234", 12)],
        ("test_set_stock.yml", "getStock"): [("test1234", 12)],
        ("test_set_stock.yml", "setStock"): [("test1234", 6)],
    } == values
