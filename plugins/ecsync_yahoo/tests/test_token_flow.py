"""
The authorization-code flow (scripts/get_yahoo_token.py, `ecsync yahoo-token`) against the emulator's
authorize and token endpoints: the code caught on 127.0.0.1 or pasted, and .env rewritten in place.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from ecsync_core.bootstrap import build_app as build_ecsync
from ecsync_core.cli import main as cli_main
from ecsync_core.errors import CredentialError
from ecsync_core.sandbox.harness import build_app
from ecsync_core.testing import EMULATOR_BASE
from ecsync_yahoo.auth import JST
from ecsync_yahoo.emulator import YahooEmulator
from ecsync_yahoo.plugin import YahooSettings
from ecsync_yahoo.token_flow import Consent, code_from_redirect, rewrite_env, run_flow, run_for_app


ENV_BEFORE = """\
# Yahoo!ショッピング — app "ecsync" (Client ID from e.developer.yahoo.co.jp)
YAHOO_CLIENT_ID={client_id}
YAHOO_CLIENT_SECRET={client_secret}

export YAHOO_REFRESH_TOKEN=old-token   # renewed by scripts/get_yahoo_token.py
RAKUTEN_LICENSE_KEY=SL000_keep-me
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """Plays the person: opens the printed authorize URL on the emulator and follows its redirect."""

    def __init__(self, emulator: YahooEmulator) -> None:
        self.transport = httpx.ASGITransport(app=build_app(emulator))
        self.said: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def say(self, text: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.said.append(text)

    def url(self) -> str | None:
        found = re.search(r"(http\S+/yconnect/v2/authorization\S+)", "\n".join(self.said))
        return found[1] if found else None

    async def consent(self) -> str:
        """The address the consent page sends the browser to (Location of its redirect)."""
        while (url := self.url()) is None:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(transport=self.transport) as http:
            answer = await http.get(url)
        assert 302 == answer.status_code
        return answer.headers["location"]

    def paste(self, _prompt: str) -> str:
        """What the person pastes (runs in the flow's worker thread)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self.consent(), self.loop).result(10)


def settings_for(redirect: str, base: str = EMULATOR_BASE) -> YahooSettings:
    return YahooSettings(
        endpoint=f"{base}/ShoppingWebService/V1",
        token_url=f"{base}/yconnect/v2/token",
        authorize_url=f"{base}/yconnect/v2/authorization",
        redirect_uri=redirect,
        seller_id="snbx-ecsync",
    )


def env_file(tmp_path: Path, emulator: YahooEmulator) -> Path:
    path = tmp_path / ".env"
    path.write_text(ENV_BEFORE.format(client_id=emulator.client_id, client_secret=emulator.client_secret))
    path.chmod(0o640)
    return path


def assert_rewritten(path: Path, emulator: YahooEmulator, consent: Consent, started: datetime) -> None:
    before = ENV_BEFORE.format(client_id=emulator.client_id, client_secret=emulator.client_secret).splitlines()
    after = path.read_text().splitlines()
    values = dotenv_values(path)
    token = values["YAHOO_REFRESH_TOKEN"]
    assert token in emulator.refresh_tokens
    assert [
        *before[:4],
        f"export YAHOO_REFRESH_TOKEN={token}   # renewed by scripts/get_yahoo_token.py",
        before[5],
    ] == (after[:6])
    assert [f"YAHOO_CONSENT_AT={consent.consent_at.isoformat().replace('+00:00', 'Z')}"] == after[6:]
    assert started.replace(microsecond=0) <= consent.consent_at <= datetime.now(UTC)
    assert 0o640 == stat.S_IMODE(path.stat().st_mode)
    assert [".env"] == sorted(p.name for p in path.parent.iterdir())


def test_flow_catches_the_code_on_loopback(tmp_path: Path, arun: Any) -> None:
    """With a 127.0.0.1 callback, the flow catches Yahoo's redirect itself and saves a working refresh token."""
    emulator = YahooEmulator({"ec-item-00001": 4})
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    started = datetime.now(UTC)

    async def go() -> tuple[Consent, httpx.Response]:
        flow = asyncio.create_task(
            run_flow(
                settings_for(f"http://127.0.0.1:{free_port()}/callback"),
                dotenv_values(path),  # type: ignore[arg-type]
                path,
                say=browser.say,
                transport=browser.transport,
                timeout_s=20,
            )
        )
        location = await browser.consent()
        async with httpx.AsyncClient(trust_env=False) as real:
            page = await real.get(location)
        return await flow, page

    consent, page = arun(go())
    assert (200, True) == (page.status_code, "Yahoo の認可を受け取りました" in page.text)
    assert_rewritten(path, emulator, consent, started)
    assert (consent.consent_at + timedelta(days=28)).astimezone(JST).date() == consent.expires_on, "the JST date"
    assert any("YAHOO_REFRESH_TOKEN" in line and str(path) in line for line in browser.said)
    assert not any(dotenv_values(path)["YAHOO_REFRESH_TOKEN"] in line for line in browser.said)  # type: ignore[operator]


def test_flow_takes_a_pasted_address(tmp_path: Path, arun: Any) -> None:
    """With a callback elsewhere, the person pastes the redirected address; the flow checks state and saves."""
    emulator = YahooEmulator({})
    emulator.callbacks.add("https://shop.example/yahoo/callback")
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    started = datetime.now(UTC)

    consent = arun(
        run_flow(
            settings_for("https://shop.example/yahoo/callback"),
            dotenv_values(path),  # type: ignore[arg-type]
            path,
            say=browser.say,
            ask=browser.paste,
            transport=browser.transport,
        )
    )
    assert_rewritten(path, emulator, consent, started)


def test_paste_option_skips_the_listener(tmp_path: Path, arun: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    --paste asks for the code even when the callback is on 127.0.0.1 (nothing listens there). A refresh token
    also set in the environment, which would win over the new one in .env, is warned about.
    """
    monkeypatch.setenv("YAHOO_REFRESH_TOKEN", "an-old-token-from-the-service-unit")
    emulator = YahooEmulator({})
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    consent = arun(
        run_flow(
            settings_for("http://127.0.0.1:9/callback"),
            dotenv_values(path),  # type: ignore[arg-type]
            path,
            paste=True,
            say=browser.say,
            ask=browser.paste,
            transport=browser.transport,
        )
    )
    assert dotenv_values(path)["YAHOO_REFRESH_TOKEN"] in emulator.refresh_tokens
    assert consent.env_file == path
    assert "warning: YAHOO_REFRESH_TOKEN is also set in the environment" in browser.said[-1]


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("https://shop.example/cb?code=abc&state=someone-elses", "state does not match"),
        ("https://shop.example/cb?error=access_denied&state=s", "access_denied"),
        ("https://shop.example/cb?state=s", "has no code"),
        ("   ", "no authorization code"),
    ],
)
def test_bad_redirects_are_refused(pasted: str, says: str) -> None:
    """A redirect with another state, an error or no code is refused with one line saying which."""
    with pytest.raises(CredentialError, match=says):
        code_from_redirect(pasted, "s")


def test_bare_code_and_query_are_accepted() -> None:
    """The bare code, or the query alone, are as good as the whole redirected address."""
    assert ["abc", "abc"] == [code_from_redirect(" abc\n", "s"), code_from_redirect("code=abc&state=s", "s")]


def test_declined_consent_leaves_env_alone(tmp_path: Path, arun: Any) -> None:
    """When the person declines, the flow fails with access_denied and .env is not touched."""
    emulator = YahooEmulator({})
    emulator.consent_denied = True
    emulator.callbacks.add("https://shop.example/cb")
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    before = path.read_bytes()
    with pytest.raises(CredentialError, match="access_denied"):
        arun(
            run_flow(
                settings_for("https://shop.example/cb"),
                dotenv_values(path),  # type: ignore[arg-type]
                path,
                say=browser.say,
                ask=browser.paste,
                transport=browser.transport,
            )
        )
    assert before == path.read_bytes()


def test_wrong_client_secret_is_named(tmp_path: Path, arun: Any) -> None:
    """A wrong client secret fails the exchange as invalid_client, naming the .env entries to check."""
    emulator = YahooEmulator({})
    emulator.callbacks.add("https://shop.example/cb")
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    secrets = {**dotenv_values(path), "YAHOO_CLIENT_SECRET": "wrong"}
    with pytest.raises(CredentialError, match=r"refused YAHOO_CLIENT_ID/YAHOO_CLIENT_SECRET \(invalid_client"):
        arun(
            run_flow(
                settings_for("https://shop.example/cb"),
                secrets,  # type: ignore[arg-type]
                path,
                say=browser.say,
                ask=browser.paste,
                transport=browser.transport,
            )
        )


def test_run_for_app_uses_the_env_beside_the_config(tmp_path: Path) -> None:
    """`ecsync -c DIR/config.yaml yahoo-token` reads that config's Yahoo section and rewrites DIR/.env."""
    emulator = YahooEmulator({})
    emulator.callbacks.add("https://shop.example/cb")
    browser = Browser(emulator)
    path = env_file(tmp_path, emulator)
    config = tmp_path / "config.yaml"
    s = settings_for("https://shop.example/cb", base="http://127.0.0.1:9")  # the transport answers, not a socket
    config.write_text(
        "malls:\n  yahoo:\n"
        + "".join(
            f"    {k}: {v}\n"
            for k, v in [
                ("token_url", s.token_url),
                ("authorize_url", s.authorize_url),
                ("redirect_uri", s.redirect_uri),
                ("seller_id", s.seller_id),
            ]
        )
    )
    app = build_ecsync(config, transports={"yahoo": browser.transport}, environ={})
    consent = run_for_app(app, paste=True, say=browser.say, ask=browser.paste)
    assert (path, True) == (consent.env_file, dotenv_values(path)["YAHOO_REFRESH_TOKEN"] in emulator.refresh_tokens)


def test_cli_without_client_id_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ecsync yahoo-token` without the app's Client ID exits 1 with one line saying what to set."""
    (tmp_path / "config.yaml").write_text("malls:\n  yahoo:\n    seller_id: my-store\n")
    with pytest.raises(SystemExit) as exited:
        cli_main(["-c", str(tmp_path / "config.yaml"), "yahoo-token", "--paste"])
    err = capsys.readouterr().err.strip().splitlines()
    assert (1, 1) == (exited.value.code, len(err))
    assert "set YAHOO_CLIENT_ID and YAHOO_CLIENT_SECRET" in err[0]


# -- .env rewriting ------------------------------------------------------------------------------------------


def test_rewrite_keeps_line_endings_quotes_and_order(tmp_path: Path) -> None:
    """CRLF lines stay CRLF, a value with spaces is quoted, new keys go at the end, the rest is untouched."""
    path = tmp_path / ".env"
    path.write_bytes(b'# head\r\nA=1\r\nYAHOO_REFRESH_TOKEN="x y" # old\r\nB=2')
    rewrite_env(path, {"YAHOO_REFRESH_TOKEN": "new token", "YAHOO_CONSENT_AT": "2027-01-01T00:00:00Z"})
    assert (
        b'# head\r\nA=1\r\nYAHOO_REFRESH_TOKEN="new token" # old\r\nB=2\nYAHOO_CONSENT_AT=2027-01-01T00:00:00Z\n'
        == (path.read_bytes())
    )
    assert {"A": "1", "YAHOO_REFRESH_TOKEN": "new token", "B": "2"} == {
        k: v for k, v in dotenv_values(path).items() if k != "YAHOO_CONSENT_AT"
    }


def test_rewrite_keeps_the_quote_style(tmp_path: Path) -> None:
    """A value written in single quotes (as `ecsync sandbox` writes .env) gets its new value in single quotes."""
    path = tmp_path / ".env"
    path.write_text(
        "YAHOO_CLIENT_ID='id'\nYAHOO_REFRESH_TOKEN='old-token'\nYAHOO_CONSENT_AT='2026-11-01T00:00:00+00:00'\n"
    )
    rewrite_env(path, {"YAHOO_REFRESH_TOKEN": "new-token", "YAHOO_CONSENT_AT": "2026-11-29T00:00:00Z"})
    assert [
        "YAHOO_CLIENT_ID='id'",
        "YAHOO_REFRESH_TOKEN='new-token'",
        "YAHOO_CONSENT_AT='2026-11-29T00:00:00Z'",
    ] == path.read_text().splitlines()


def test_rewrite_creates_a_private_file(tmp_path: Path) -> None:
    """A .env that does not exist yet is created readable by its owner only."""
    path = tmp_path / "conf" / ".env"
    rewrite_env(path, {"YAHOO_REFRESH_TOKEN": "t"})
    assert ("YAHOO_REFRESH_TOKEN=t\n", 0o600) == (path.read_text(), stat.S_IMODE(path.stat().st_mode))


def test_rewrite_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the rename fails, the old .env is intact and no temporary file is left behind."""
    path = tmp_path / ".env"
    path.write_text("YAHOO_REFRESH_TOKEN=old\n")

    def refuse(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        rewrite_env(path, {"YAHOO_REFRESH_TOKEN": "new"})
    assert (["YAHOO_REFRESH_TOKEN=old"], [".env"]) == (
        path.read_text().splitlines(),
        [p.name for p in tmp_path.iterdir()],
    )


LINE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=40,
)


@settings(max_examples=60)
@given(st.lists(LINE, max_size=8))
def test_rewrite_never_touches_other_lines(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    """Whatever else .env holds, every line that does not set the renewed keys comes out unchanged."""
    path = tmp_path_factory.mktemp("env") / ".env"
    others = [ln for ln in lines if not re.match(r"\s*(export\s+)?(YAHOO_REFRESH_TOKEN|YAHOO_CONSENT_AT)\s*=", ln)]
    path.write_text("".join(f"{ln}\n" for ln in others), encoding="utf-8")
    rewrite_env(path, {"YAHOO_REFRESH_TOKEN": "tok", "YAHOO_CONSENT_AT": "2027-01-01T00:00:00Z"})
    assert [*others, "YAHOO_REFRESH_TOKEN=tok", "YAHOO_CONSENT_AT=2027-01-01T00:00:00Z"] == (
        path.read_text(encoding="utf-8").split("\n")[:-1]
    )
