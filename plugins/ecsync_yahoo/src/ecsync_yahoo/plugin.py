"""
The yahoo mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

import math
import re

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import ConfigError


if TYPE_CHECKING:
    from ecsync_core.sandbox.harness import Emulator


CODE = "yahoo"
MAX_CODES_PER_CALL = 1000
"""getStock and setStock take at most 1,000 item codes a call (more: ``st-02102``)."""


# ConfigErrors on their keys: cattrs can only place a ValueError from __init__ on the section.
def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):  # NaN passed `<= 0` and turned the pacing off
        raise ConfigError(attribute.name, f"must be above 0, got {value!r}")


def _batch(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 1 <= value <= MAX_CODES_PER_CALL:
        raise ConfigError(attribute.name, f"must be 1..{MAX_CODES_PER_CALL} (the store API's limit), got {value!r}")


@attrs.frozen
class YahooSettings:
    """
    ``malls.yahoo`` in config. Defaults are the production hosts of the facts sheet.

    Attributes:
        endpoint: the store API base (``…/ShoppingWebService/V1``); Yahoo's test host is
            ``https://test.circus.shopping.yahooapis.jp/ShoppingWebService/V1``.
        token_url: YConnect v2 token endpoint.
        authorize_url: YConnect v2 authorization endpoint (used by ``ecsync yahoo-token``).
        redirect_uri: the callback registered for the Client ID; a ``http://127.0.0.1:PORT/...`` callback
            lets ``yahoo-token`` catch the code itself, any other needs the code pasted.
        scope: the OAuth scope asked for at consent: ``openid profile``, as Yahoo's authorization example
            has it (facts sheet §2.1, ``scope=openid+profile``).
        seller_id: the store account (ストアアカウント).
        requests_per_second: our own pace. The older help page put the per-API limit at 10/s; the newer one
            is silent, so the real limit is unconfirmed, and other tools of the same store may share it.
            We default to one call every 2 s, the spacing a peer client uses: 100,000 items then take
            about 200 s to write and as long to read back, well inside a nightly window.
        burst: calls that may go out back to back before the pace applies (2 absorbs timer jitter without
            ever nearing the published limit).
        max_in_flight: calls waiting on Yahoo at once (latency overlaps; the pace still rules).
        batch_size: item codes per getStock/setStock call (at most 1,000).
        daily_quota: calls a day per application ID (Yahoo: 50,000; counted per JST date).
        timeout_s: seconds before one call counts as timed out (and is retried).
        refresh_token_days: the refresh token's life from consent (YConnect: 4 weeks, not extended by use).
        refresh_token_warn_days: health warns this many days before the refresh token runs out (a person
            must consent again; the manual says 7).
        public_key_warn_days: health warns this many days before the public key expires (keys last a year
            and are reissued in Store Creator Pro).
        keep_overdraft: resend each item's 超過購入 flag (AllowOverdraft) as getStock read it, the shop's own
            setting. Either way every item read with it on is named in a warning: Yahoo takes orders for it
            beyond the stock we set, so it can be oversold. ``false`` sends 0 with every item we write, which
            turns it off on each as it is next written.
        default_allow_overdraft: the 超過購入 flag sent for an item getStock does not know (it is then
            stored by Yahoo as an orphan and the read-back fails it anyway).
        status_zero_is_missing: whether a getStock row with ``Status`` 0 means "no such item". The meaning of
            ``Status`` is unconfirmed; peers keep only ``Status`` 1 rows.
        sign_token_requests: also send the public-key headers to the token endpoint (some peers do; whether
            YConnect reads them is unconfirmed).
        signature_window_s: (emulator) how far a signature's timestamp may be from now (Yahoo's window is
            unpublished).
    """

    endpoint: str = "https://circus.shopping.yahooapis.jp/ShoppingWebService/V1"
    token_url: str = "https://auth.login.yahoo.co.jp/yconnect/v2/token"
    authorize_url: str = "https://auth.login.yahoo.co.jp/yconnect/v2/authorization"
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    scope: str = "openid profile"
    seller_id: str = ""
    requests_per_second: float = attrs.field(default=0.5, validator=_positive)
    burst: float = attrs.field(default=2.0, validator=_positive)
    max_in_flight: int = attrs.field(default=4, validator=_positive)
    batch_size: int = attrs.field(default=MAX_CODES_PER_CALL, validator=_batch)
    daily_quota: int = attrs.field(default=50_000, validator=_positive)
    timeout_s: float = attrs.field(default=30.0, validator=_positive)
    refresh_token_days: int = attrs.field(default=28, validator=_positive)
    refresh_token_warn_days: int = attrs.field(default=7)
    public_key_warn_days: int = attrs.field(default=30, validator=attrs.validators.ge(0))
    keep_overdraft: bool = True
    default_allow_overdraft: int = attrs.field(default=0, validator=attrs.validators.in_((0, 1)))
    status_zero_is_missing: bool = True
    sign_token_requests: bool = False
    signature_window_s: float = 600.0

    @refresh_token_warn_days.validator
    def _within_the_tokens_life(self, attribute: attrs.Attribute[Any], value: int) -> None:
        # At or above the token's life, health warned every day from the day of consent on.
        if not 0 <= value < self.refresh_token_days:
            days = self.refresh_token_days
            raise ConfigError(attribute.name, f"must be 0 or more and below refresh_token_days ({days}), got {value!r}")


SECRET_NAMES = ("YAHOO_CLIENT_ID", "YAHOO_CLIENT_SECRET", "YAHOO_REFRESH_TOKEN")
"""Required in ``.env``. Also read: ``YAHOO_CONSENT_AT`` (written by the token flow) and the optional
``YAHOO_PUBLIC_KEY`` (PEM text or a path to the PEM file), ``YAHOO_PUBLIC_KEY_VERSION``,
``YAHOO_PUBLIC_KEY_EXPIRES`` (ISO date; Store Creator Pro keys last one year)."""

_PART = re.compile(r"[A-Za-z0-9-]{1,99}")
_KEY = re.compile(r"[A-Za-z0-9-]{1,99}(?::[A-Za-z0-9-]{1,99})?")


def check_item_key(code: str) -> str | None:
    """
    What is wrong with a Yahoo item key from the master sheet, or ``None``.

    A key is a 商品コード, or ``商品コード:個別商品コード`` for a variation; each part is 1..99 half-width
    letters, digits and ``-``.
    """
    if _KEY.fullmatch(code):  # the common case, in one regex call (a 100,000-item sync checks every key)
        return None
    parts = code.split(":")
    if len(parts) > 2:
        return f"Yahoo item code {code!r} has more than one ':' (write item-code or item-code:sub-code)"
    for name, part in zip(("item code", "sub-code"), parts, strict=False):
        if not part:
            return f"Yahoo item code {code!r} has an empty {name}"
        if not _PART.fullmatch(part):
            where = f" in {code!r}" if len(parts) > 1 else ""
            return f"Yahoo {name} {part!r}{where} must be 1 to 99 half-width letters, digits or '-'"
    return None


def sample_item_key(n: int) -> str:
    """The sandbox's *n*-th demo code; every fourth one is a variation (``item:subcode``)."""
    if n % 4 == 3:
        return f"ec-tee-{n:05d}:size-{'sml'[n % 3]}"
    return f"ec-item-{n:05d}"


def make_adapter(context: MallContext) -> Any:
    from ecsync_yahoo.client import YahooShoppingClient

    return YahooShoppingClient.from_context(context)


def make_emulator(seed: Mapping[str, int]) -> Emulator:
    from ecsync_yahoo.emulator import YahooEmulator

    return YahooEmulator(seed)


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [
        MallPlugin(
            code=CODE,
            name="Yahoo!ショッピング",
            role="target",
            sheet_column="yahoo_item_code",
            settings_type=YahooSettings,
            make_adapter=make_adapter,
            make_emulator=make_emulator,
            check_item_key=check_item_key,
            sample_item_key=sample_item_key,
            secret_names=SECRET_NAMES,
        )
    ]
