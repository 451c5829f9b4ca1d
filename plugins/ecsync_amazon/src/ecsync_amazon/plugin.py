"""
The amazon mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

import math

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import ConfigError


if TYPE_CHECKING:
    from ecsync_amazon.client import FbaInventoryClient
    from ecsync_amazon.emulator import AmazonEmulator


CODE = "amazon"

PUBLISHED_RATE = 2.0
"""getInventorySummaries, default usage plan: 2 requests a second, burst 2 (amazon.md §1.4)."""


def _within(low: float, high: float = float("inf"), *, above: bool = False) -> Callable[[Any, Any, float], None]:
    """A validator raising a ConfigError on its key: cattrs can only place __init__ errors on the section."""

    def check(_instance: Any, attribute: Any, value: float) -> None:
        if not math.isfinite(value) or value < low or value > high or (above and value == low):
            bound = f"more than {low:g}" if above else f"at least {low:g}"
            limit = f" and at most {high:g}" if high != float("inf") else ""
            raise ConfigError(attribute.name, f"must be {bound}{limit}, got {value!r}")

    return check


def _client_errors(_instance: Any, attribute: Any, value: tuple[int, ...]) -> None:
    if not value or any(not 400 <= s <= 499 or s in (401, 403) for s in value):
        raise ConfigError(attribute.name, f"must list 4xx statuses other than 401 and 403, got {list(value)!r}")


_positive = _within(0, above=True)
_not_negative = _within(0)


@attrs.frozen
class AmazonSettings:
    """
    ``malls.amazon`` in config. Every default is the production value.

    Attributes:
        endpoint: SP-API host; Japan is served by the Far East host.
        token_url: the Login with Amazon token endpoint (one host for every region).
        marketplace_id: Amazon.co.jp.
        source: ``api`` lists FBA inventory page by page (getInventorySummaries); ``report`` asks the
            Reports API for the FBA inventory report instead (large catalogues: one download, not
            thousands of pages; its data may be up to ~30 minutes old).
        rate: getInventorySummaries calls a second the adapter sends: 5% under the published 2/s. The
            adapter's bucket and Amazon's run on different clocks with network jitter between them, so a
            client paced exactly at the limit sometimes lands a request on Amazon's empty bucket (429).
            Raise it if Amazon grants your account a higher usage plan.
        burst: the adapter's bucket depth, 1.5 where Amazon allows 2. The half token never spent stays in
            Amazon's bucket as a cushion (about 260 ms of jitter at 2/s); the other half lets the adapter
            make up for a late wake-up or a slow page, so a long listing keeps within ~5% of the floor
            (pages / published rate) instead of losing every overshoot.
        timeout_s: seconds to wait for any one HTTP answer.
        token_margin_s: refresh the LWA access token this long before it expires.
        client_secret_days: how long an LWA client secret lives (180 days, amazon.md §2); counted from
            ``AMAZON_LWA_CLIENT_SECRET_ISSUED`` in .env, the date the current secret was made.
        client_secret_warn_days: health warns this many days before the client secret lapses (Amazon's own
            notices start 90 days ahead).
        listing_restarts: how many times an expired nextToken restarts the listing before the run fails.
        next_token_refused: the statuses that, answered to a request carrying a nextToken, mean the token has
            lapsed (the listing starts over). UNCERTAIN (amazon.md §1.3, §8): 400 ``InvalidInput`` is likely;
            401 and 403 are the access token's, never this.
            UNCERTAIN how often real tokens lapse between back-to-back pages; 2 is a guess, so settable.
        lookup_batch: SKUs per ``sellerSkus`` lookup (Amazon's maximum is 50).
        report_type: the FBA inventory report the ``report`` source asks for (``_ALL_`` adds archived SKUs).
        report_poll_s: seconds between status checks of a report being generated.
        report_timeout_s: give up waiting for a report after this long (the run fails).
        report_reuse_minutes: a DONE report younger than this is downloaded instead of asking for a new one:
            Amazon makes a near-real-time FBA report at most once per 30 minutes and answers FATAL sooner
            (observed, not documented: UNCERTAIN, hence settable).
    """

    endpoint: str = "https://sellingpartnerapi-fe.amazon.com"
    token_url: str = "https://api.amazon.com/auth/o2/token"
    marketplace_id: str = "A1VC38T7YXB528"
    source: Literal["api", "report"] = "api"
    rate: float = attrs.field(default=PUBLISHED_RATE * 0.95, validator=_positive)
    burst: float = attrs.field(default=1.5, validator=_within(1))
    timeout_s: float = attrs.field(default=30.0, validator=_positive)
    token_margin_s: float = attrs.field(default=60.0, validator=_not_negative)
    client_secret_days: int = attrs.field(default=180, validator=_within(1))
    client_secret_warn_days: int = attrs.field(default=30, validator=_not_negative)
    listing_restarts: int = attrs.field(default=2, validator=_not_negative)
    next_token_refused: tuple[int, ...] = attrs.field(default=(400,), validator=_client_errors)
    lookup_batch: int = attrs.field(default=50, validator=_within(1, 50))
    report_type: Literal["GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA", "GET_FBA_MYI_ALL_INVENTORY_DATA"] = (
        "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
    )
    report_poll_s: float = attrs.field(default=15.0, validator=_not_negative)
    report_timeout_s: float = attrs.field(default=1800.0, validator=_positive)
    report_reuse_minutes: float = attrs.field(default=30.0, validator=_not_negative)


def make_adapter(context: MallContext) -> FbaInventoryClient:
    from ecsync_amazon.client import build_client

    return build_client(context)


def make_emulator(seed: Mapping[str, int]) -> AmazonEmulator:
    from ecsync_amazon.emulator import AmazonEmulator

    return AmazonEmulator(seed)


def read_stock_file(path: Path) -> dict[str, int]:
    from ecsync_amazon.report import read_report_file

    return read_report_file(path)


def sample_sku(n: int) -> str:
    """The *n*-th SKU of the sandbox's demo catalogue (zero-padded, so codes must stay text)."""
    return f"FBA-{n:05d}"


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [
        MallPlugin(
            code=CODE,
            name="Amazon (FBA)",
            role="source",
            settings_type=AmazonSettings,
            make_adapter=make_adapter,
            make_emulator=make_emulator,
            sample_item_key=sample_sku,
            secret_names=("AMAZON_LWA_CLIENT_ID", "AMAZON_LWA_CLIENT_SECRET", "AMAZON_LWA_REFRESH_TOKEN"),
            read_stock_file=read_stock_file,
        )
    ]
