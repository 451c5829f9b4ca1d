"""
The rakuten mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

import math

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import ConfigError
from ecsync_rakuten.identity import check_item_key, normalize_item_key, sample_item_key


if TYPE_CHECKING:
    from ecsync_core.sandbox.harness import Emulator


CODE = "rakuten"
SECRET_NAMES = ("RAKUTEN_SERVICE_SECRET", "RAKUTEN_LICENSE_KEY")
WRITE_SLICE = 800
"""
Items the sync hands one ``write``: two bulk-upserts, read back in one bulk-get. Between two slices the sync
waits for the last upsert's answer, judges the slice and prepares the next on the event loop the next upsert
is paced on; at 2,000 items that took longer than an upsert's interval at ``--speed 100``, so each slice's first
upsert went out late (bench_rakuten: 2.80 s at 2,000, 2.64 s at 800, 2.73 s at 1,200). A real run, with 1 s
between upserts, would not tell them apart; 25% more bulk-gets still fit inside the upserts' pacing.
"""


# Validators raise ConfigError naming the field: attrs runs them after cattrs, which no longer knows the key.
def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):  # NaN passed `<= 0` and turned the pacing off
        raise ConfigError(attribute.name, f"must be above 0, got {value!r}")


def _between(low: int, high: int, why: str = "") -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if not low <= value <= high:
            raise ConfigError(attribute.name, f"must be between {low} and {high}{why}, got {value!r}")

    return check


def _not_negative(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(attribute.name, f"must be 0 or more, got {value!r}")


def _margin(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value < 1:
        raise ConfigError(attribute.name, f"must be at least 0 and below 1, got {value!r}")


@attrs.frozen
class RakutenSettings:
    """
    ``malls.rakuten`` in config. Rates are calls a second as RMS publishes them; the adapter paces a little
    under them (``pacing_margin``).

    Attributes:
        bulk_get_rate: ``inventories/bulk-get``, 5/s published.
        bulk_get_batch: SKUs per ``bulk-get``, at most 1,000.
        upsert_rate: ``inventories/bulk-upsert``, 1/s published.
        upsert_batch: SKUs per ``bulk-upsert``, at most 400.
        items_rate: Items API 2.0 ``items.get`` (resolving a bare manageNumber). Its limit is not in the
            facts sheet [U]: 1/s, the limit of the other single-item RMS calls, is the cautious guess.
        pacing_margin: how far under the published rate to pace, as a fraction. RMS publishes no burst, so a
            client bucket with the gateway's own parameters (1/s, one deep) races it on jitter: two calls
            sent exactly 1 s apart can arrive 0.99 s apart and draw a 429. The token is taken in a request hook,
            after the body is encoded, so only network jitter is left; 3% is 30 ms of slack a call at 1/s
            (6 ms at 5/s), more than the jitter of a sound path to RMS [I], and costs 3% over the floor, inside the 10%
            goal. A 429 all the same is retried, not failed.
        variant_cache_hours: how long the single variant of a bare manageNumber is trusted before Items API is
            asked again. A product that gains variants is refused at the latest this long after; until then its
            whole allocation still goes to its one old SKU. 0 asks every run (one Items API call a bare
            product, at 1 call a second). A week by default: a day would lapse just before each nightly run
            and ask again every night. Rows written ``manageNumber:variantId`` need no lookup at all.
        fold_variant_case: fold variantId to lower case too. Most RMS pages say variantId is case-sensitive;
            one Inventory 2.0 page says it is folded like manageNumber [U]. Off: the id is sent as written.
        max_in_flight: calls under way at once. The buckets still space calls by the published rate; a second
            call on the wire lets one answer be decoded while the next is served.
        expiry_warn_days: health warns this many days before the license key expires (it lives 90 days).
        timeout_s: seconds to wait for one answer before retrying.
    """

    endpoint: str = "https://api.rms.rakuten.co.jp"
    bulk_get_rate: float = attrs.field(default=5.0, validator=_positive)
    bulk_get_batch: int = attrs.field(default=1000, validator=_between(1, 1000, " (Rakuten's maximum per call)"))
    upsert_rate: float = attrs.field(default=1.0, validator=_positive)
    upsert_batch: int = attrs.field(default=400, validator=_between(1, 400, " (Rakuten's maximum per call)"))
    items_rate: float = attrs.field(default=1.0, validator=_positive)
    pacing_margin: float = attrs.field(default=0.03, validator=_margin)
    variant_cache_hours: float = attrs.field(default=168.0, validator=_not_negative)
    fold_variant_case: bool = False
    max_in_flight: int = attrs.field(default=4, validator=_between(1, 16))
    expiry_warn_days: int = attrs.field(default=14, validator=_between(0, 89))
    timeout_s: float = attrs.field(default=60.0, validator=_positive)


def make_adapter(context: MallContext) -> Any:
    from ecsync_rakuten.client import RakutenRmsClient

    return RakutenRmsClient.from_context(context)


def make_emulator(seed: Mapping[str, int]) -> Emulator:
    from ecsync_rakuten.emulator import RakutenEmulator

    return RakutenEmulator(seed)


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [
        MallPlugin(
            code=CODE,
            name="楽天市場",
            role="target",
            sheet_column="rakuten_item_number",
            settings_type=RakutenSettings,
            make_adapter=make_adapter,
            make_emulator=make_emulator,
            check_item_key=check_item_key,
            normalize_item_key=normalize_item_key,
            sample_item_key=sample_item_key,
            secret_names=SECRET_NAMES,
            write_slice=WRITE_SLICE,
        )
    ]
