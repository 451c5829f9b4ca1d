"""
The YConnect v2 authorization-code flow: a person consents once, we keep the refresh token for 28 days.

Used by ``scripts/get_yahoo_token.py`` and ``ecsync yahoo-token``:

1. print the authorize URL (with ``state``, ``nonce`` and a PKCE S256 challenge);
2. take the code from Yahoo's redirect, caught on ``127.0.0.1`` when the registered callback is a loopback
   address, or pasted (the whole redirected address, or the code alone);
3. exchange it at the token endpoint (client authenticated with HTTP Basic);
4. rewrite ``.env`` atomically: ``YAHOO_REFRESH_TOKEN`` and ``YAHOO_CONSENT_AT`` change, every other line and
   comment stays as it was. ``YAHOO_CONSENT_AT`` is when the flow started (no later than the consent itself),
   so the 28 days that health counts never overshoot.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import os
import re
import secrets
import stat
import sys
import tempfile

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import attrs
import httpx

from ecsync_core.errors import CredentialError, MallError
from ecsync_core.mall import shared_tls
from ecsync_core.pacing import retrying, transport_error
from ecsync_yahoo.auth import consent_expiry, token_answer
from ecsync_yahoo.plugin import CODE, YahooSettings


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App


@attrs.frozen
class Consent:
    """What the flow did: where the token went and until when it lasts."""

    env_file: Path
    consent_at: datetime
    expires_on: date


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_pkce() -> tuple[str, str]:
    """A PKCE verifier (RFC 7636: 43..128 characters) and its S256 challenge."""
    verifier = _b64url(secrets.token_bytes(48))
    return verifier, _b64url(hashlib.sha256(verifier.encode()).digest())


def authorize_url(settings: YahooSettings, client_id: str, *, state: str, nonce: str, challenge: str) -> str:
    """The address the person opens to log in and consent."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": settings.scope,
        "bail": "1",  # back to the callback with error=access_denied when the person declines
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{settings.authorize_url}?{urlencode(params, quote_via=quote)}"


def code_from_redirect(text: str, state: str) -> str:
    """
    The authorization code from what the browser landed on: the whole address, its query, or the bare code.

    Raises:
        CredentialError: Yahoo answered an error (consent refused), or the ``state`` is not ours.
    """
    text = text.strip()
    if "=" not in text:
        if not text:
            raise CredentialError(CODE, "no authorization code was given")
        return text
    query = urlsplit(text).query if "?" in text else text
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if "error" in params:
        detail = params.get("error_description", "")
        raise CredentialError(
            CODE, f"Yahoo answered {params['error']}{f' ({detail})' if detail else ''}: no consent was given"
        )
    if params.get("state") != state:
        raise CredentialError(CODE, "the redirect's state does not match this authorization request; start again")
    if not params.get("code"):
        raise CredentialError(CODE, "the redirected address has no code=...")
    return params["code"]


def loopback_callback(redirect_uri: str) -> tuple[str, int, str] | None:
    """(host, port, path) to listen on when the registered callback is ``http://127.0.0.1:PORT/...``."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "localhost"}:
        return None
    return "127.0.0.1", parts.port or 80, parts.path or "/"


_DONE_PAGE = (
    "<!doctype html><meta charset='utf-8'><title>ecsync</title>"
    "<p>{text}</p><p>このタブは閉じてかまいません。 You may close this tab.</p>"
)


class CallbackServer:
    """A one-shot HTTP listener on 127.0.0.1 that catches Yahoo's redirect (``GET <path>?code=...``)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self._server: asyncio.Server | None = None
        self._target: asyncio.Future[str] | None = None

    async def __aenter__(self) -> CallbackServer:
        self._target = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise MallError(
                CODE, f"cannot listen on {self.host}:{self.port} for the redirect ({exc.strerror}); use --paste"
            ) from None
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait(self, timeout_s: float) -> str:
        """The redirect's request target (``/callback?code=...&state=...``)."""
        assert self._target is not None, "use CallbackServer as an async context manager"
        try:
            return await asyncio.wait_for(asyncio.shield(self._target), timeout_s)
        except TimeoutError:
            raise MallError(
                CODE, f"no redirect reached {self.host}:{self.port} within {timeout_s:g} s; run again, or use --paste"
            ) from None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method != "GET" or urlsplit(target).path != self.path:
                await self._reply(writer, 404, "Not the callback.")
                return
            said = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
            text = "Yahoo の認可を受け取りました。" if "code" in said else f"Yahoo: {said.get('error', 'no code')}"
            await self._reply(writer, 200, text)
            if self._target is not None and not self._target.done():
                self._target.set_result(target)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self._reply(writer, 400, "Bad request.")
        finally:
            writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
        body = _DONE_PAGE.format(text=html.escape(text)).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()


async def exchange_code(
    http: httpx.AsyncClient, settings: YahooSettings, client_id: str, client_secret: str, code: str, verifier: str
) -> str:
    """The refresh token for an authorization code."""
    async for attempt in retrying():
        with attempt:
            try:
                response = await http.post(
                    settings.token_url,
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": settings.redirect_uri,
                        "code_verifier": verifier,
                    },
                    auth=(client_id, client_secret),
                )
            except httpx.TransportError as exc:
                raise transport_error(CODE, exc) from None
            answer = token_answer(response, grant="authorization_code")
    if answer.refresh_token is None:
        raise MallError(CODE, "YConnect answered the authorization code without a refresh token")
    return answer.refresh_token


_ASSIGN = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_PLAIN = re.compile(r"[A-Za-z0-9._~:+/=@-]*")


def _env_value(value: str, quote: str = "") -> str:
    """*value* as a .env value, in the quotes the line had (single, double, none) when they can hold it."""
    if quote == "'" and "'" not in value and "\n" not in value:
        return f"'{value}'"
    if quote != '"' and _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _inline_comment(rest: str) -> str:
    """The `` # ...`` after an assignment's old value, kept with the new value."""
    rest = rest.rstrip("\r\n")
    stripped = rest.lstrip()
    if stripped[:1] in {"'", '"'}:
        end = stripped.find(stripped[0], 1)
        tail = stripped[end + 1 :] if end != -1 else ""
    else:
        found = re.search(r"\s+#.*$", rest)
        tail = found[0] if found else ""
    return tail if tail.lstrip().startswith("#") else ""


def rewrite_env(path: Path, updates: Mapping[str, str]) -> None:
    """
    Set *updates* in the ``.env`` at *path*, keeping every other line, comment and line ending.

    Each assignment of a named key gets the new value in place; keys not yet there are appended. The file
    is replaced atomically (a temporary file in the same directory, fsynced, then renamed) with its
    permissions kept; a new file is readable by its owner only.
    """
    try:
        text = path.read_bytes().decode("utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        text, mode = "", 0o600
    out: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines(keepends=True):
        match = _ASSIGN.match(line)
        if match is None or match["name"] not in updates:
            out.append(line)
            continue
        ending = line[len(line.rstrip("\r\n")) :]
        was = line[match.end() :].lstrip()
        value = _env_value(updates[match["name"]], was[0] if was[:1] in {"'", '"'} else "")
        out.append(f"{match['lead']}{match['name']}={value}{_inline_comment(line[match.end() :])}{ending}")
        seen.add(match["name"])
    missing = [name for name in updates if name not in seen]
    if missing and out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out.extend(f"{name}={_env_value(updates[name])}\n" for name in missing)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write("".join(out))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def run_flow(
    settings: YahooSettings,
    secrets_: Mapping[str, str],
    env_file: Path,
    *,
    paste: bool = False,
    timeout_s: float = 600.0,
    say: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
    transport: httpx.AsyncBaseTransport | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Consent:
    """
    Run the whole flow once and save the refresh token.

    Args:
        paste: ask for the code even when the callback is a loopback address.
        say: where the instructions go (never the token).
        ask: reads the pasted code or redirected address.
        transport: an httpx transport for the token call (tests route it into the emulator).
    """
    client_id, client_secret = secrets_.get("YAHOO_CLIENT_ID", ""), secrets_.get("YAHOO_CLIENT_SECRET", "")
    if not client_id or not client_secret:
        raise CredentialError(
            CODE,
            f"set YAHOO_CLIENT_ID and YAHOO_CLIENT_SECRET in {env_file} first (the app's Client ID and secret "
            "from the Yahoo! JAPAN developer page)",
        )
    started = now().astimezone(UTC).replace(microsecond=0)
    verifier, challenge = new_pkce()
    state = secrets.token_urlsafe(16)
    url = authorize_url(settings, client_id, state=state, nonce=secrets.token_urlsafe(16), challenge=challenge)
    intro = "Open this address in a browser, log in with the store's Yahoo! JAPAN ID and consent:"
    listen = None if paste else loopback_callback(settings.redirect_uri)
    if listen is None:
        say(f"{intro}\n\n  {url}\n")
        say(f"The browser then goes to {settings.redirect_uri}?code=... ; copy that whole address (or the code).")
        pasted = await asyncio.to_thread(ask, "Redirected address or code")
        code = code_from_redirect(pasted, state)
    else:
        async with CallbackServer(*listen) as server:
            say(f"{intro}\n\n  {url}\n")
            say(f"Waiting up to {timeout_s:g} s for the redirect to {settings.redirect_uri} ...")
            code = code_from_redirect(await server.wait(timeout_s), state)
    async with httpx.AsyncClient(transport=transport, verify=shared_tls(), timeout=settings.timeout_s) as http:
        refresh_token = await exchange_code(http, settings, client_id, client_secret, code, verifier)
    rewrite_env(
        env_file,
        {"YAHOO_REFRESH_TOKEN": refresh_token, "YAHOO_CONSENT_AT": started.isoformat().replace("+00:00", "Z")},
    )
    expires = consent_expiry(started, settings.refresh_token_days)
    say(
        f"Saved YAHOO_REFRESH_TOKEN and YAHOO_CONSENT_AT in {env_file}. The token works until about {expires} "
        f"({settings.refresh_token_days} days from consent); consent again before then."
    )
    if shadowed := [n for n in ("YAHOO_REFRESH_TOKEN", "YAHOO_CONSENT_AT") if os.environ.get(n)]:
        # The environment wins over .env (config.load_secrets): runs would keep the old values.
        say(f"warning: {', '.join(shadowed)} is also set in the environment, which wins over .env: unset it there")
    return Consent(env_file, started, expires)


def env_file_of(app: App) -> Path:
    """The ``.env`` in use, or where a new one goes: beside the config file, else in the working directory."""
    from ecsync_core.config import env_file_for

    found = env_file_for(app.settings)
    if found is not None:
        return found
    return app.settings.path.parent / ".env" if app.settings.path else Path(".env")


def run_for_app(
    app: App,
    *,
    paste: bool = False,
    timeout_s: float = 600.0,
    say: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
) -> Consent:
    """The flow with the settings, secrets and ``.env`` of an ecsync configuration (the CLI command)."""
    context = app.context(app.host.get(CODE))
    return asyncio.run(
        run_flow(
            context.settings,
            context.secrets,
            env_file_of(app),
            paste=paste,
            timeout_s=timeout_s,
            say=say,
            ask=ask,
            transport=context.transport,
        )
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """
    ``scripts/get_yahoo_token.py``: the same as ``ecsync yahoo-token``, through the CLI's one error handler.

    Global options (``-c/--config``, ``-v``) may come anywhere; the rest go to the command.
    """
    from ecsync_core.cli import main as cli_main

    args = sys.argv[1:] if argv is None else list(argv)
    front: list[str] = []
    rest: list[str] = []
    while args:
        arg = args.pop(0)
        if arg in {"-c", "--config"} and args:
            front += [arg, args.pop(0)]
        elif arg.startswith("--config=") or (arg.startswith("-v") and set(arg[1:]) <= {"v"}) or arg == "--verbose":
            front.append(arg)
        else:
            rest.append(arg)
    cli_main([*front, "yahoo-token", *rest])
