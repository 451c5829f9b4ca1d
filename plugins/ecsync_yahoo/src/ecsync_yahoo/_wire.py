"""
The store API's XML, both ways: parsing what Yahoo answers and writing what the emulator answers.

Shapes follow the recorded answers in ``recorded/yahoo/``: stock answers are one line with no whitespace
between elements, ``ResultSet`` carries ``totalResultsAvailable``, ``totalResultsReturned``,
``firstResultPosition``, ``ok`` and ``ng``; empty elements are present, not omitted; whole-request errors
are an ``<Error>`` with ``Message`` (CDATA), ``Detail`` and ``Code``. Parse by ``Code``, never by ``Message``.
"""

from __future__ import annotations

import re

from collections.abc import Iterable
from xml.etree.ElementTree import Element  # only the type; parsing goes through defusedxml
from xml.sax.saxutils import escape

import attrs

from defusedxml import ElementTree as SafeTree


class WireError(ValueError):
    """Raised when a body is not the XML the store API answers."""


@attrs.frozen
class StockRow:
    """
    One ``<Result>`` of getStock or setStock, as text where Yahoo's meaning is not certain.

    Attributes:
        item_code: ``ItemCode``, ``None`` when the element is missing (getStock's row for an unknown code
            may carry only ``Status``).
        sub_code: ``SubCode``, ``""`` for items without variations.
        quantity: ``Quantity`` as a number; ``None`` when missing or empty (stock not managed).
        status: ``Status`` as sent ("1", "0"; getItem/deleteItem answer "OK").
        allow_overdraft: ``AllowOverdraft`` (0/1) when present.
        error_code: ``ErrorCode`` of a per-item failure.
        error_message: ``ErrorMessage`` when present (its name is not confirmed).
    """

    item_code: str | None
    sub_code: str = ""
    quantity: int | None = None
    status: str | None = None
    allow_overdraft: int | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def key(self) -> str | None:
        """The item key as the master sheet writes it: ``item`` or ``item:subcode``."""
        if self.item_code is None:
            return None
        return f"{self.item_code}:{self.sub_code}" if self.sub_code else self.item_code


@attrs.frozen
class ResultSet:
    """A ``<ResultSet>``: its rows and the counters Yahoo puts on it."""

    rows: tuple[StockRow, ...]
    ok: int | None = None
    ng: int | None = None
    total_available: int | None = None
    total_returned: int | None = None


@attrs.frozen
class ApiError:
    """
    A whole-request ``<Error>``.

    Attributes:
        code: ``Code`` (``st-02102``, ``ed-00001``...); ``None`` for the auth failure, which has no code.
        message: ``Message``, stripped (Japanese or English; for people, never for logic).
    """

    code: str | None
    message: str
    detail: str = ""


def _local(tag: str) -> str:
    # The 2014 error body is namespaced (urn:yahoo:api); the 2017 ones are not.
    return tag.rsplit("}", 1)[-1]


def _int_or_none(text: str | None, what: str) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        msg = f"{what} is not a number: {text!r}"
        raise WireError(msg) from None


def _row(result: Element) -> StockRow:
    fields: dict[str, str] = {}
    for child in result:
        fields[_local(child.tag)] = child.text or ""
    return StockRow(
        item_code=fields.get("ItemCode"),
        sub_code=fields.get("SubCode", "").strip(),
        quantity=_int_or_none(fields.get("Quantity"), "Quantity"),
        status=fields["Status"].strip() if "Status" in fields else None,
        allow_overdraft=_int_or_none(fields.get("AllowOverdraft"), "AllowOverdraft"),
        error_code=fields["ErrorCode"].strip() or None if "ErrorCode" in fields else None,
        error_message=fields["ErrorMessage"].strip() or None if "ErrorMessage" in fields else None,
    )


def parse(body: bytes | str) -> ResultSet | ApiError:
    """
    Parse one store-API answer: a ``ResultSet`` or a whole-request ``Error``.

    Raises:
        WireError: the body is not XML, or its root is neither.
    """
    try:
        root = SafeTree.fromstring(body)
    except SafeTree.ParseError as exc:
        msg = f"not XML ({exc})"
        raise WireError(msg) from None
    except Exception as exc:  # defusedxml refuses entities and DTDs with its own exceptions
        msg = f"refused XML ({type(exc).__name__})"
        raise WireError(msg) from None
    tag = _local(root.tag)
    if tag == "Error":
        parts = {_local(c.tag): (c.text or "").strip() for c in root}
        return ApiError(
            code=parts.get("Code") or None, message=parts.get("Message", ""), detail=parts.get("Detail", "")
        )
    if tag != "ResultSet":
        msg = f"root element is <{tag}>, expected <ResultSet> or <Error>"
        raise WireError(msg)
    rows = tuple(_row(r) for r in root if _local(r.tag) == "Result")
    attrib = root.attrib
    return ResultSet(
        rows=rows,
        ok=_int_or_none(attrib.get("ok"), "ok"),
        ng=_int_or_none(attrib.get("ng"), "ng"),
        total_available=_int_or_none(attrib.get("totalResultsAvailable"), "totalResultsAvailable"),
        total_returned=_int_or_none(attrib.get("totalResultsReturned"), "totalResultsReturned"),
    )


_PARAM = re.compile(r'([A-Za-z_]+)=(?:"([^"]*)"|([^\s,"]+))')


def auth_challenge(www_authenticate: str) -> dict[str, str]:
    """
    The parameters of a ``WWW-Authenticate: Bearer ...`` header (``error``, ``error_description``...).

    The expired-token body repeats the same text in its ``Message``, so this parses that too.
    """
    return {m[1]: m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(www_authenticate)}


# -- writing (the emulator) ------------------------------------------------------------------------------

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
ERROR_DECLARATION = '<?xml version="1.0" encoding="UTF-8" ?>\n'  # the recorded error has a space before ?>


def _element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def render_result_set(rows: Iterable[Iterable[tuple[str, object]]], *, ok: int, ng: int) -> bytes:
    """A one-line ``ResultSet`` (the stock APIs' layout); each row is its elements in order."""
    body = "".join("<Result>" + "".join(_element(n, v) for n, v in row) + "</Result>" for row in rows)
    count = ok + ng
    head = (
        f'<ResultSet totalResultsAvailable="{count}" totalResultsReturned="{count}" '
        f'firstResultPosition="1" ok="{ok}" ng="{ng}">'
    )
    return (XML_DECLARATION + head + body + "</ResultSet>\n").encode()


def render_error(code: str, message: str) -> bytes:
    """The whole-request error envelope, laid out as the recorded one."""
    safe = message.replace("]]>", "]]]]><![CDATA[>")
    return (
        f"{ERROR_DECLARATION}<Error>\n  <Message><![CDATA[{safe}]]></Message>\n  <Detail></Detail>\n"
        f"  <Code>{escape(code)}</Code>\n</Error>\n"
    ).encode()


def render_auth_error(challenge: str) -> bytes:
    """The expired-token body: a ``Message`` only, no ``Code`` (as recorded on the test host in 2019)."""
    return f'<?xml version="1.0" encoding="utf-8" ?><Error><Message>{escape(challenge)}</Message></Error>'.encode()
