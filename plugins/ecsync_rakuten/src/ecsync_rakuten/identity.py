"""
Item identity on Rakuten: what ``rakuten_item_number`` in the master sheet may say, and how a bare
``manageNumber`` becomes the one ``(manageNumber, variantId)`` pair that stock is written on.

Stock lives per SKU, ``(manageNumber, variantId)``. The sheet names it as ``manageNumber:variantId``, or, for
a product with a single SKU, as the bare ``manageNumber``; the bare form is resolved through Items API 2.0
and refused when the product has several variants or none (facts sheet §5.1). A variantId is never guessed:
Rakuten silently accepts a wrong one (§3.1).
"""

from __future__ import annotations

import json
import re

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from ecsync_core.errors import CredentialError, MallError
from ecsync_core.ports import KeyValueStore


MAX_PART_BYTES = 32
"""manageNumber and variantId are at most 32 bytes (facts sheet §3.1, bulk-upsert body)."""

_PART = re.compile(r"[A-Za-z0-9_-]+")
# The common case in one match (a sync parses every key of the sheet twice: before and after writing).
_VALID_KEY = re.compile(r"([A-Za-z0-9_-]{1,32})(?::([A-Za-z0-9_-]{1,32}))?")
SEPARATOR = ":"


@attrs.frozen
class ItemKey:
    """
    A parsed sheet key.

    Attributes:
        manage_number: folded to lower case, as Rakuten stores it.
        variant_id: as written (case-sensitive per most RMS pages), ``None`` for a bare manageNumber.
    """

    manage_number: str
    variant_id: str | None = None

    @property
    def pair(self) -> tuple[str, str] | None:
        return None if self.variant_id is None else (self.manage_number, self.variant_id)


def _check_part(name: str, part: str) -> str | None:
    if not part:
        return f"{name} is empty"
    if not _PART.fullmatch(part):
        return f"{name} {part!r} may hold only a-z, A-Z, 0-9, '-' and '_'"
    if len(part) > MAX_PART_BYTES:
        return f"{name} {part!r} is {len(part)} characters long; Rakuten allows at most {MAX_PART_BYTES}"
    return None


def check_item_key(code: str) -> str | None:
    """What is wrong with a ``rakuten_item_number`` (``manageNumber`` or ``manageNumber:variantId``), or None."""
    manage_number, sep, variant_id = code.partition(SEPARATOR)
    if problem := _check_part("manageNumber", manage_number):
        return problem
    if sep:
        if SEPARATOR in variant_id:
            return f"{code!r} has more than one ':'; write manageNumber or manageNumber:variantId"
        return _check_part("variantId", variant_id)
    return None


def parse_item_key(code: str) -> ItemKey:
    """
    Parse a sheet key, folding the manageNumber to lower case.

    Raises:
        ValueError: with :func:`check_item_key`'s text when the key is not valid.
    """
    match = _VALID_KEY.fullmatch(code)
    if match is None:
        raise ValueError(check_item_key(code) or f"{code!r} is not a Rakuten item number")
    return ItemKey(match[1].lower(), match[2])


def normalize_item_key(code: str) -> str:
    """
    The key two spellings of one item share: manageNumber folded to lower case (Rakuten folds it too), variantId
    kept. The import tells one item claimed twice by it; the sheet's own spelling is what is stored and shown.
    """
    manage_number, sep, variant_id = code.partition(SEPARATOR)
    return f"{manage_number.lower()}{sep}{variant_id}"


_DEMO_VARIANTS = ("normal-inventory", "normal-inventory", "red-m", "blue-l", "r-sku")


def sample_item_key(n: int) -> str:
    """
    The *n*-th demo key: always ``manageNumber:variantId`` (the demo needs no Items API calls), with the
    variant ids peers report (``normal-inventory`` for single-SKU products, option SKUs, auto-numbered
    ``r-sku…``) and an upper-case manageNumber now and then, which Rakuten folds.
    """
    variant = _DEMO_VARIANTS[n % len(_DEMO_VARIANTS)]
    if variant == "r-sku":
        variant = f"r-sku{n:08d}"
    manage_number = f"EC{n:05d}" if n % 4 == 3 else f"ec{n:05d}"
    return f"{manage_number}:{variant}"


@attrs.frozen
class ProductVariants:
    """What Items API 2.0 says of one manageNumber: its variant ids, or ``None`` when no such product exists."""

    manage_number: str
    variant_ids: tuple[str, ...] | None


@attrs.frozen
class Resolution:
    """
    The outcome of resolving some keys.

    Attributes:
        pairs: sheet key -> the ``(manageNumber, variantId)`` it names.
        refused: sheet key -> why it cannot be written (several variants, none, a malformed key).
        unknown: sheet keys whose manageNumber Rakuten does not know (absent from a read; failed on write).
        cached: the bare sheet keys whose pair came from the cache, not from Items API this time.
    """

    pairs: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    refused: dict[str, str] = attrs.field(factory=dict)
    unknown: dict[str, str] = attrs.field(factory=dict)
    cached: set[str] = attrs.field(factory=set)

    def shared(self) -> dict[str, str]:
        """
        The sheet keys that name one Rakuten SKU with another key (``ec1`` and ``ec1:normal-inventory``, or
        variant ids differing in case under ``fold_variant_case``), each with why it cannot be written.

        Each sheet key is one FBA SKU's, so two keys on one SKU are two FBA SKUs feeding one item: each run's
        last write would win, and the item's stock would follow whichever SKU came last.
        """
        if len(set(self.pairs.values())) == len(self.pairs):  # the usual case, asked twice a slice: at C speed
            return {}
        by_pair: dict[tuple[str, str], list[str]] = {}
        for key, pair in self.pairs.items():
            by_pair.setdefault(pair, []).append(key)
        return {
            key: (
                f"names the same Rakuten SKU ({m}:{v}) as {', '.join(repr(k) for k in keys if k != key)}, "
                "mapped from another FBA SKU: one item cannot follow two; keep one row in the master sheet"
            )
            for (m, v), keys in by_pair.items()
            # One key in two spellings of the manageNumber's case is one sheet key (the import refuses it on two SKUs).
            if len(keys) > 1 and len({normalize_item_key(k) for k in keys}) > 1
            for key in keys
        }


CACHE_KEY = "resolved_variants"
"""
The store key holding every resolved ``manageNumber -> [variantId, when resolved (ISO, UTC)]`` as one JSON object
(one read per run).
"""


class VariantResolver:
    """
    Turns sheet keys into ``(manageNumber, variantId)`` pairs, asking Items API 2.0 for bare manageNumbers.

    A single-variant product is cached in the plugin's store (DuckDB in production) for *trust_for*, so it costs
    one Items API call a period, not one a run (the API answers 1 call a second). A product that gains variants
    is refused at the latest when its entry runs out; until then its stock still goes to the one SKU it had,
    which reads back as written, so nothing else would tell. Refusals are not cached: the shop may add or
    remove variants, and the next run should see it. A cached variant that reads absent (deleted, replaced)
    is forgotten by the adapter and asked for again at once (``forget``).
    """

    def __init__(
        self,
        store: KeyValueStore,
        fetch: Callable[[str], Awaitable[ProductVariants]],
        *,
        fold_variant_case: bool = False,
        trust_for: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._fold_variant = fold_variant_case
        self._trust_for = trust_for
        self._clock = clock
        self._cache: dict[str, tuple[str, datetime]] | None = None
        # Parsed ``manageNumber:variantId`` keys: a sync resolves the same keys again for its read-back.
        self._explicit: dict[str, tuple[str, str]] = {}

    def _cached(self) -> dict[str, tuple[str, datetime]]:
        """The stored entries; one not in the current shape (an older release's) is dropped, so asked again."""
        if self._cache is None:
            raw = self._store.get(CACHE_KEY)
            loaded = json.loads(raw) if raw else {}
            self._cache = {}
            for manage_number, entry in loaded.items() if isinstance(loaded, dict) else ():
                try:
                    variant_id, at = entry
                    self._cache[str(manage_number)] = (str(variant_id), datetime.fromisoformat(at))
                except (TypeError, ValueError):
                    continue
        return self._cache

    def _variant(self, variant_id: str) -> str:
        return variant_id.lower() if self._fold_variant else variant_id

    async def resolve(self, keys: Iterable[str]) -> Resolution:
        """Resolve every key; bare manageNumbers not cached are asked for one at a time, in order."""
        result = Resolution()
        bare: dict[str, list[str]] = {}
        explicit = self._explicit
        for key in keys:
            if (known := explicit.get(key)) is not None:
                result.pairs[key] = known
                continue
            match = _VALID_KEY.fullmatch(key)
            if match is None:
                result.refused[key] = check_item_key(key) or f"{key!r} is not a Rakuten item number"
            elif match[2] is not None:
                explicit[key] = result.pairs[key] = (match[1].lower(), self._variant(match[2]))
            else:
                bare.setdefault(match[1].lower(), []).append(key)
        if bare:
            await self._resolve_bare(bare, result)
        return result

    async def _resolve_bare(self, bare: dict[str, list[str]], result: Resolution) -> None:
        """Bare manageNumber -> the sheet keys naming it: from the cache while trusted, else from Items API."""
        cache = self._cached()
        now = self._clock()
        changed = False
        for manage_number, sheet_keys in bare.items():
            hit = cache.get(manage_number)
            if hit is not None and now - hit[1] < self._trust_for:
                for key in sheet_keys:
                    result.pairs[key] = (manage_number, hit[0])
                result.cached.update(sheet_keys)
                continue
            try:
                product = await self._fetch(manage_number)
            except CredentialError:
                raise
            except MallError as exc:  # one product Items API would not answer: its keys only, not the run
                for key in sheet_keys:
                    result.refused[key] = f"could not look up product {manage_number!r} in Items API: {exc.message}"
                continue
            outcome = _judge(product)
            _settle(result, sheet_keys, outcome, known=product.variant_ids is not None)
            if isinstance(outcome, tuple):
                cache[manage_number] = (outcome[1], now)
                changed = True
            elif cache.pop(manage_number, None) is not None:
                changed = True
        if changed:
            self._save(cache)

    def forget(self, manage_numbers: Iterable[str]) -> None:
        """Drop cached variants that no longer read back, so the next resolution asks Items API."""
        cache = self._cached()
        if [cache.pop(m) for m in set(manage_numbers) if m in cache]:
            self._save(cache)

    def _save(self, cache: dict[str, tuple[str, datetime]]) -> None:
        stored = {m: [v, at.isoformat()] for m, (v, at) in cache.items()}
        self._store.put(CACHE_KEY, json.dumps(stored, separators=(",", ":"), sort_keys=True))


def _settle(result: Resolution, keys: Sequence[str], outcome: tuple[str, str] | str, *, known: bool) -> None:
    """The keys naming one product: its pair, or refused (a known product) or unknown (none on Rakuten)."""
    for key in keys:
        if isinstance(outcome, tuple):
            result.pairs[key] = outcome
        elif known:
            result.refused[key] = outcome
        else:
            result.unknown[key] = outcome


def _judge(product: ProductVariants) -> tuple[str, str] | str:
    """The single pair of a product, or why there is none."""
    m = product.manage_number
    ids = product.variant_ids
    if ids is None:
        return f"not found on Rakuten: no product with manageNumber {m!r}"
    if len(ids) == 1:
        return (m, ids[0])
    if not ids:
        return f"product {m!r} has no variants on Rakuten, so it has no stock to set"
    return (
        f"product {m!r} has {len(ids)} variants ({_some(ids)}): write one row per variant as "
        f"{m}:<variantId> in rakuten_item_number"
    )


def _some(ids: Sequence[str], shown: int = 5) -> str:
    head = ", ".join(ids[:shown])
    return head if len(ids) <= shown else f"{head}, …"
