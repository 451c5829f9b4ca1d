"""
The emulator answers like Yahoo: the recorded XML shapes, the st-021xx rules, silent acceptance of unknown
codes, 207 on mixed results, and YConnect's token rules.
"""

from __future__ import annotations

import base64
import hashlib

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from ecsync_core.sandbox.harness import build_app
from ecsync_core.testing import EMULATOR_BASE
from ecsync_yahoo import _wire
from ecsync_yahoo.auth import load_public_pem
from ecsync_yahoo.emulator import API, AUTHORIZE_PATH, CHALLENGE, TOKEN_PATH, YahooEmulator, demo_public_pem


RECORDED = Path(__file__).resolve().parents[3] / "tests" / "recorded" / "yahoo"
SEED = {"test1234": 12, "tee-01:red-m": 4, "tee-01:red-l": 0}


class Session:
    """A plain HTTP client of the emulator, holding a valid access token."""

    def __init__(self, emulator: YahooEmulator) -> None:
        self.emulator = emulator
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(emulator)), base_url=EMULATOR_BASE)
        self.token = ""

    async def __aenter__(self) -> Session:
        answer = await self.http.post(
            TOKEN_PATH,
            data={"grant_type": "refresh_token", "refresh_token": self.emulator.sandbox_refresh_token},
            auth=(self.emulator.client_id, self.emulator.client_secret),
        )
        self.token = answer.json()["access_token"]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    async def call(self, op: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None) -> httpx.Response:
        return await self.http.post(
            f"{API}/{op}",
            data={"seller_id": self.emulator.seller_id, **form},
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
        )


def shape(element: ET.Element) -> tuple[Any, ...]:
    """An element's tag, attribute names in order, and its children's shapes (text left out)."""
    return (element.tag.rsplit("}", 1)[-1], tuple(element.attrib), tuple(shape(c) for c in element))


def recorded_shape(name: str) -> tuple[Any, ...]:
    return shape(ET.fromstring((RECORDED / name).read_bytes()))


def test_get_stock_has_the_recorded_shape(arun: Any) -> None:
    """getStock answers text/xml, one line, with the recorded declaration, attributes and Result fields."""

    async def go() -> httpx.Response:
        async with Session(YahooEmulator(SEED)) as s:
            return await s.call("getStock", {"item_code": "test1234"})

    answer = arun(go())
    recorded = (RECORDED / "getStock.200.xml").read_bytes()
    assert (200, "text/xml") == (answer.status_code, answer.headers["content-type"].split(";")[0])
    assert recorded_shape("getStock.200.xml") == shape(ET.fromstring(answer.content))
    assert recorded.splitlines()[0] == answer.content.splitlines()[0]
    assert "><" in answer.text.splitlines()[1]
    assert "> <" not in answer.text
    assert "\n<" not in answer.text.splitlines()[1]


def test_set_stock_has_the_recorded_shape(arun: Any) -> None:
    """setStock answers ItemCode, SubCode and the new Quantity only: the recorded answer, byte for byte."""

    async def go() -> httpx.Response:
        async with Session(YahooEmulator(SEED)) as s:
            return await s.call("setStock", {"item_code": "test1234", "quantity": "6", "allow_overdraft": "0"})

    answer = arun(go())
    assert recorded_shape("setStock.200.xml") == shape(ET.fromstring(answer.content))
    assert (RECORDED / "setStock.200.xml").read_bytes() == answer.content  # byte for byte


def test_error_has_the_recorded_shape(arun: Any) -> None:
    """A whole-request error is a 400 application/xml <Error> laid out exactly as the recorded one."""

    async def go() -> httpx.Response:
        async with Session(YahooEmulator(SEED)) as s:
            return await s.call("setStock", {"item_code": ",".join(f"i-{n}" for n in range(1001)), "quantity": "1"})

    answer = arun(go())
    recorded = (RECORDED / "error.400.getItem.it-05002.xml").read_bytes()
    assert (400, "application/xml") == (answer.status_code, answer.headers["content-type"].split(";")[0])
    assert recorded_shape("error.400.getItem.it-05002.xml") == shape(ET.fromstring(answer.content))
    assert recorded.splitlines()[0] == answer.content.splitlines()[0]
    assert b"<Message><![CDATA[" in answer.content
    assert _wire.ApiError("st-02102", "商品コードの指定数が上限を超えています。") == _wire.parse(answer.content)


def test_expired_token_answer(arun: Any) -> None:
    """An expired token gets 401, the recorded WWW-Authenticate challenge and a Message-only <Error>."""
    emulator = YahooEmulator(SEED)

    async def go() -> httpx.Response:
        async with Session(emulator) as s:
            emulator.advance(3601)
            return await s.call("getStock", {"item_code": "test1234"})

    answer = arun(go())
    assert (401, CHALLENGE) == (answer.status_code, answer.headers["WWW-Authenticate"])
    assert recorded_shape("kamiya54/timeout.unescaped.xml") == shape(ET.fromstring(answer.content))
    assert 'Bearer realm="yahooapis.jp", error="invalid_token", error_description="expired token"' == CHALLENGE


def rows_of(answer: httpx.Response) -> list[tuple[str | None, int | None, str | None]]:
    parsed = _wire.parse(answer.content)
    assert isinstance(parsed, _wire.ResultSet)
    return [(r.key, r.quantity, r.error_code) for r in parsed.rows]


def test_mixed_results_answer_207(arun: Any) -> None:
    """One bad quantity among good ones fails its own row (st-02104), the others are written, status 207."""
    emulator = YahooEmulator(SEED)

    async def go() -> httpx.Response:
        async with Session(emulator) as s:
            return await s.call("setStock", {"item_code": "test1234,tee-01:red-m", "quantity": "a,9"})

    answer = arun(go())
    parsed = _wire.parse(answer.content)
    assert isinstance(parsed, _wire.ResultSet)
    assert (207, 1, 1) == (answer.status_code, parsed.ok, parsed.ng)
    assert [("test1234", None, "st-02104"), ("tee-01:red-m", 9, None)] == rows_of(answer)
    assert {"test1234": 12, "tee-01:red-m": 9, "tee-01:red-l": 0} == emulator.stock()


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"item_code": "test1234", "quantity": "INI"}, "st-02104"),
        ({"item_code": "test1234", "quantity": "x"}, "st-02104"),
        ({"item_code": "test_1234", "quantity": "1"}, "st-02101"),
        ({"item_code": "test1234", "quantity": "1", "allow_overdraft": "2"}, "st-02106"),
        ({"item_code": "test1234,test1234", "quantity": "1,2"}, "st-02103"),
        ({"item_code": "test1234,tee-01:red-m", "quantity": "1"}, "st-02105"),
        ({"item_code": "test1234,tee-01:red-m", "quantity": "1,2", "allow_overdraft": "0"}, "st-02107"),
        ({"item_code": "", "quantity": ""}, "st-02101"),
        ({"seller_id": "another-store", "item_code": "test1234", "quantity": "1"}, "ed-00004"),
        ({"seller_id": "Bad Store", "item_code": "test1234", "quantity": "1"}, "ed-00005"),
    ],
)
def test_set_stock_refusals(arun: Any, form: dict[str, str], code: str) -> None:
    """A request Yahoo refuses whole (or a one-code request with a bad row) is a 400 envelope with its code."""
    emulator = YahooEmulator(SEED)

    async def go() -> httpx.Response:
        async with Session(emulator) as s:
            return await s.call("setStock", form)

    answer = arun(go())
    parsed = _wire.parse(answer.content)
    assert (400, code) == (answer.status_code, getattr(parsed, "code", None))
    assert SEED == emulator.stock()


def test_relative_quantities_and_the_unencoded_plus(arun: Any) -> None:
    """'+n' (sent as %2B) adds, '-n' subtracts, and a raw '+' arrives as a space, i.e. an absolute number."""
    emulator = YahooEmulator(SEED)

    async def go() -> list[httpx.Response]:
        async with Session(emulator) as s:
            encoded = await s.call("setStock", {"item_code": "test1234,tee-01:red-m", "quantity": "+3,-1"})
            raw = await s.http.post(
                f"{API}/setStock",
                content=f"seller_id={emulator.seller_id}&item_code=tee-01:red-l&quantity=+5".encode(),
                headers={"Authorization": f"Bearer {s.token}", "Content-Type": "application/x-www-form-urlencoded"},
            )
            return [encoded, raw]

    encoded, raw = arun(go())
    assert [("test1234", 15, None), ("tee-01:red-m", 3, None)] == rows_of(encoded)
    assert [("tee-01:red-l", 5, None)] == rows_of(raw)


def test_unknown_codes_are_accepted_silently(arun: Any) -> None:
    """setStock of an unknown code answers success; no read shows it: getStock has only Status 0 for it."""
    emulator = YahooEmulator(SEED)

    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with Session(emulator) as s:
            written = await s.call("setStock", {"item_code": "typo-1234", "quantity": "7", "allow_overdraft": "0"})
            read = await s.call("getStock", {"item_code": "test1234,typo-1234"})
            return written, read

    written, read = arun(go())
    assert (200, [("typo-1234", 7, None)]) == (written.status_code, rows_of(written))
    parsed = _wire.parse(read.content)
    assert isinstance(parsed, _wire.ResultSet)
    assert (1, 1) == (parsed.ok, parsed.ng)
    assert [("test1234", 12, "1"), (None, None, "0")] == [(r.key, r.quantity, r.status) for r in parsed.rows]
    assert "typo-1234" not in emulator.stock()
    assert {"typo-1234": 7} == emulator.orphans


def test_written_but_unread_rows(arun: Any) -> None:
    """ed-10002 (written, re-read failed) answers 207 even alone, and the stock did change."""
    emulator = YahooEmulator(SEED)
    emulator.item_faults["test1234"] = "ed-10002"

    async def go() -> httpx.Response:
        async with Session(emulator) as s:
            return await s.call("setStock", {"item_code": "test1234", "quantity": "2", "allow_overdraft": "0"})

    answer = arun(go())
    assert (207, [("test1234", None, "ed-10002")]) == (answer.status_code, rows_of(answer))
    assert 2 == emulator.stock()["test1234"]


def test_daily_quota_answers_403(arun: Any) -> None:
    """Past the day's quota every store-API call answers 403 "Your Request was Forbidden"."""
    emulator = YahooEmulator(SEED, daily_quota=2)

    async def go() -> list[int]:
        async with Session(emulator) as s:
            return [(await s.call("getStock", {"item_code": "test1234"})).status_code for _ in range(3)]

    assert [200, 200, 403] == arun(go())


def test_public_key_signature_sets_the_status_header(arun: Any) -> None:
    """A signature made with the store key reads 'authorized'; a wrong seller 'unauthorized'; both calls work."""
    emulator = YahooEmulator(SEED)
    version = emulator.accept_demo_key()
    key = load_public_pem(demo_public_pem())

    def sign(text: str) -> dict[str, str]:
        blob = base64.b64encode(key.encrypt(text.encode(), PKCS1v15())).decode()
        return {"X-sws-signature": blob, "X-sws-signature-version": version}

    async def go() -> list[httpx.Response]:
        async with Session(emulator) as s:
            now = int(emulator.now())
            good = await s.call("getStock", {"item_code": "test1234"}, sign(f"{emulator.seller_id}:{now}"))
            bad = await s.call("getStock", {"item_code": "test1234"}, sign(f"someone-else:{now}"))
            none = await s.call("getStock", {"item_code": "test1234"})
            return [good, bad, none]

    statuses = [(a.status_code, a.headers.get("X-SWS-Authorize-Status")) for a in arun(go())]
    assert [(200, "authorized"), (200, "unauthorized"), (200, None)] == statuses


# -- YConnect ----------------------------------------------------------------------------------------------


def test_refresh_grant_keeps_the_refresh_token_and_expires_at_28_days(arun: Any) -> None:
    """A refresh gives a 1-hour access token and no new refresh token; 28 days after consent: invalid_grant."""
    emulator = YahooEmulator(SEED)
    form = {"grant_type": "refresh_token", "refresh_token": emulator.sandbox_refresh_token}

    async def go() -> list[httpx.Response]:
        async with Session(emulator) as s:
            by_body = await s.http.post(
                TOKEN_PATH, data={**form, "client_id": emulator.client_id, "client_secret": emulator.client_secret}
            )
            emulator.advance(28 * 86400 - 10)
            late = await s.http.post(TOKEN_PATH, data=form, auth=(emulator.client_id, emulator.client_secret))
            emulator.advance(20)
            expired = await s.http.post(TOKEN_PATH, data=form, auth=(emulator.client_id, emulator.client_secret))
            wrong = await s.http.post(TOKEN_PATH, data=form, auth=(emulator.client_id, "nope"))
            return [by_body, late, expired, wrong]

    by_body, late, expired, wrong = arun(go())
    assert (200, 3600, "Bearer", False) == (
        by_body.status_code,
        by_body.json()["expires_in"],
        by_body.json()["token_type"],
        "refresh_token" in by_body.json(),
    )
    assert 200 == late.status_code
    assert (400, "invalid_grant") == (expired.status_code, expired.json()["error"])
    assert (401, "invalid_client") == (wrong.status_code, wrong.json()["error"])


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_authorization_code_is_single_use_and_checks_pkce(arun: Any) -> None:
    """A code works once, with its redirect_uri and PKCE verifier; its refresh token counts from the consent."""
    emulator = YahooEmulator(SEED)
    redirect = "http://127.0.0.1:8765/callback"
    verifier = "v" * 50

    async def authorize(s: Session) -> str:
        answer = await s.http.get(
            AUTHORIZE_PATH,
            params={
                "response_type": "code",
                "client_id": emulator.client_id,
                "redirect_uri": redirect,
                "state": "st-1",
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
            },
        )
        assert 302 == answer.status_code
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert ["st-1"] == query["state"]
        return query["code"][0]

    async def go() -> list[httpx.Response]:
        async with Session(emulator) as s:
            auth = (emulator.client_id, emulator.client_secret)
            code = await authorize(s)
            form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
            good = await s.http.post(TOKEN_PATH, data={**form, "code_verifier": verifier}, auth=auth)
            again = await s.http.post(TOKEN_PATH, data={**form, "code_verifier": verifier}, auth=auth)
            bad_pkce = await s.http.post(
                TOKEN_PATH, data={**form, "code": await authorize(s), "code_verifier": "w" * 50}, auth=auth
            )
            late_code = await authorize(s)
            emulator.advance(601)
            late = await s.http.post(TOKEN_PATH, data={**form, "code": late_code, "code_verifier": verifier}, auth=auth)
            return [good, again, bad_pkce, late]

    good, again, bad_pkce, late = arun(go())
    assert (200, True) == (good.status_code, "refresh_token" in good.json())
    assert ["invalid_grant"] * 3 == [a.json()["error"] for a in (again, bad_pkce, late)]
    consent = emulator.refresh_tokens[good.json()["refresh_token"]]
    assert emulator.now() - 601 - 1 < consent <= emulator.now() - 601


def test_authorize_refuses_unknown_clients_and_redirects(arun: Any) -> None:
    """The consent page refuses a Client ID or a callback it does not know, and reports a declined consent."""
    emulator = YahooEmulator(SEED)

    async def go() -> list[httpx.Response]:
        async with Session(emulator) as s:
            base = {"response_type": "code", "client_id": emulator.client_id, "state": "s"}
            unknown = await s.http.get(
                AUTHORIZE_PATH, params={**base, "client_id": "x", "redirect_uri": "http://127.0.0.1/cb"}
            )
            foreign = await s.http.get(AUTHORIZE_PATH, params={**base, "redirect_uri": "https://evil.example/cb"})
            emulator.consent_denied = True
            denied = await s.http.get(AUTHORIZE_PATH, params={**base, "redirect_uri": "http://127.0.0.1/cb"})
            return [unknown, foreign, denied]

    unknown, foreign, denied = arun(go())
    assert (400, 400, 302) == (unknown.status_code, foreign.status_code, denied.status_code)
    assert {"error": ["access_denied"], "state": ["s"]} == parse_qs(urlsplit(denied.headers["location"]).query)
