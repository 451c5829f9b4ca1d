"""
RMS payloads as private attrs classes, and the one converter that reads and writes them.

Field names are snake_case here and camelCase on the wire (``manage_number`` <-> ``manageNumber``). Unknown
fields in answers are ignored (Inventory API 2.1 adds ``operationLeadTime`` and ``shipFromIds``; Items API
answers carry far more than we read). No real RMS payloads are recorded in ``shared/recorded``: the shapes
follow the facts sheet (``shared/malls/yahoo-rakuten.md`` §3.1, §4, §5.1), which copies the RMS docs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeVar

import attrs
import cattrs

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override


T = TypeVar("T")


@attrs.frozen
class InventoryRef:
    """One SKU asked for in ``bulk-get``."""

    manage_number: str
    variant_id: str


@attrs.frozen
class BulkGetRequest:
    inventories: list[InventoryRef]


@attrs.frozen
class Inventory:
    """
    One SKU's stock as ``bulk-get`` and ``variants.get`` answer it. They also carry ``created`` and ``updated``
    (ISO-8601, +09:00), which a sync does not need.
    """

    manage_number: str
    variant_id: str
    quantity: int


@attrs.frozen
class BulkGetResponse:
    # Required: a 200 without the list is no answer, not "Rakuten holds none of these" (which would let every
    # item past the zeroing check with its stock unknown).
    inventories: list[Inventory]


Mode = Literal["ABSOLUTE", "RELATIVE"]


@attrs.frozen
class InventoryUpsert:
    """
    One SKU in a ``bulk-upsert`` body. 2.0 has no lead-time or ship-from fields, so this body never asks to
    change them (whether RMS keeps a shop's 2.1 values on a 2.0 write is [U], see client.py).
    """

    manage_number: str
    variant_id: str
    quantity: int
    mode: Mode = "ABSOLUTE"


@attrs.frozen
class BulkUpsertRequest:
    inventories: list[InventoryUpsert]


@attrs.frozen
class ErrorMetadata:
    property_path: str | None = None


@attrs.frozen
class ApiError:
    """One entry of the RMS REST error envelope ``{"errors": [...]}``; ``metadata`` is optional."""

    code: str = ""
    message: str = ""
    metadata: ErrorMetadata | None = None

    def describe(self) -> str:
        where = f" ({self.metadata.property_path})" if self.metadata and self.metadata.property_path else ""
        return f"{self.code} {self.message}{where}".strip()


@attrs.frozen
class ErrorResponse:
    errors: list[ApiError] = attrs.field(factory=list)


@attrs.frozen
class Item:
    """The part of an Items API 2.0 ``items.get`` answer we read: the keys of ``variants`` are the SKU ids."""

    manage_number: str
    variants: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class ExpiryDate:
    """The license-management answer: ``expiryDate`` with no offset, meaning JST."""

    expiry_date: str


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()

    def renames(cls: type[Any]) -> dict[str, Any]:
        return {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls) if _camel(a.name) != a.name}

    conv.register_structure_hook_factory(attrs.has, lambda cls: make_dict_structure_fn(cls, conv, **renames(cls)))
    conv.register_unstructure_hook_factory(
        attrs.has, lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=False, **renames(cls))
    )
    return conv


CONVERTER = _make_converter()


def structure(data: object, cls: type[T]) -> T:
    """*data* as *cls*; raises ``cattrs.BaseValidationError`` (see ``describe_structure_error``)."""
    return CONVERTER.structure(data, cls)


def unstructure(value: object) -> Any:
    return CONVERTER.unstructure(value)


def describe_structure_error(exc: Exception) -> str:
    """The first problem cattrs found, as one line naming the field by its wire (camelCase) path."""
    if isinstance(exc, cattrs.BaseValidationError):
        return cattrs.transform_error(exc)[0]
    return str(exc)


# -- the hot path: one bulk-get and one bulk-upsert a call, 1,000 and 400 SKUs ----------------------------------
# cattrs builds these bodies and reads bulk-get's answer through generated code, an attrs object a SKU: about
# 0.6 ms to write a 1,000-SKU bulk-get, 1 ms to read its answer. The functions below do the same in plain
# dicts; the classes above stay the documented shapes, and the answer's slow path.


def bulk_get_body(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``unstructure(BulkGetRequest(...))`` for these (manageNumber, variantId) pairs, written directly."""
    return {"inventories": [{"manageNumber": m, "variantId": v} for m, v in pairs]}


def bulk_upsert_body(entries: Iterable[tuple[tuple[str, str], int]]) -> dict[str, Any]:
    """``unstructure(BulkUpsertRequest(...))`` of ``ABSOLUTE`` upserts ((manageNumber, variantId), quantity)."""
    return {
        "inventories": [
            {"manageNumber": m, "variantId": v, "quantity": quantity, "mode": "ABSOLUTE"}
            for (m, v), quantity in entries
        ]
    }


def bulk_get_quantities(data: object) -> dict[tuple[str, str], int] | None:
    """
    A ``bulk-get`` answer as (manageNumber folded, variantId) -> quantity, when every row is plainly typed
    (strings and a whole number, as RMS sends them); ``None`` for anything else.

    ``None`` sends the caller to ``structure(data, BulkGetResponse)``, which then either reads it as before
    (cattrs also takes ``"5"`` for a quantity) or names what is wrong: no row is ever dropped here.
    """
    if type(data) is not dict:
        return None
    rows = data.get("inventories")
    if type(rows) is not list:
        return None
    held: dict[tuple[str, str], int] = {}
    for row in rows:
        if type(row) is not dict:
            return None
        m, v, quantity = row.get("manageNumber"), row.get("variantId"), row.get("quantity")
        if type(m) is not str or type(v) is not str or type(quantity) is not int:
            return None
        held[(m.lower(), v)] = quantity  # Rakuten answers the manageNumber folded; the variantId as stored
    return held


__all__ = [
    "ApiError",
    "BulkGetRequest",
    "BulkGetResponse",
    "BulkUpsertRequest",
    "ErrorResponse",
    "ExpiryDate",
    "Inventory",
    "InventoryRef",
    "InventoryUpsert",
    "Item",
    "bulk_get_body",
    "bulk_get_quantities",
    "bulk_upsert_body",
    "describe_structure_error",
    "structure",
    "unstructure",
]
