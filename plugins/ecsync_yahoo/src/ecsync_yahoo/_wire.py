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
from pyexpat import ErrorString, ExpatError
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import attrs

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeTree


class WireError(ValueError):
    """Raised when a body is not the XML the store API answers."""


class StockRow(NamedTuple):
    """
    One ``<Result>`` of getStock or setStock, as text where Yahoo's meaning is not certain.

    A named tuple rather than an attrs class: a 1,000-code answer makes a thousand of them, and a tuple is
    the cheapest immutable record to build.

    Attributes:
        key: the item key as the master sheet writes it (``item`` or ``item:subcode``); ``None`` without
            an ``ItemCode``.
        item_code: ``ItemCode``, ``None`` when the element is missing (getStock's row for an unknown code
            may carry only ``Status``).
        sub_code: ``SubCode``, ``""`` for items without variations.
        quantity: ``Quantity`` as a number; ``None`` when missing or empty (stock not managed).
        status: ``Status`` as sent ("1", "0"; getItem/deleteItem answer "OK").
        allow_overdraft: ``AllowOverdraft`` (0/1) when present.
        error_code: ``ErrorCode`` of a per-item failure.
        error_message: ``ErrorMessage`` when present (its name is not confirmed).
    """

    key: str | None
    item_code: str | None
    sub_code: str = ""
    quantity: int | None = None
    status: str | None = None
    allow_overdraft: int | None = None
    error_code: str | None = None
    error_message: str | None = None


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
    # The 2014 error body is namespaced (urn:yahoo:api); expat names such a tag "urn:yahoo:api}Error".
    return tag.rpartition("}")[2]


def _int_or_none(text: str | None, what: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        if not text.strip():
            return None
        msg = f"{what} is not a number: {text!r}"
        raise WireError(msg) from None


class _Collector:
    """
    A parser target that keeps only what the store API's answers carry: the root, its attributes, the text
    of each child of the root (``Error``) or of each ``Result`` (``ResultSet``).

    Streaming instead of building a tree: a 1,000-code getStock answer is 8,000 elements. ``parse`` only
    falls back on it for answers ``_fast_rows`` does not take (errors, per-item failures, other layouts).
    """

    def __init__(self) -> None:
        self.root = ""
        self.attrs: dict[str, str] = {}
        self.rows: list[StockRow] = []
        self.fields: dict[str, str] = {}
        self._depth = 0
        self._row: dict[str, str] | None = None  # the Result being read; one dict, cleared for each row
        self._field = ""
        self._field_depth = -1
        self._text = ""

    def start(self, tag: str, attrs: list[str]) -> None:
        depth = self._depth = self._depth + 1
        if depth == 3:  # most events: a field of a Result
            if self._row is not None:
                self._field, self._field_depth, self._text = tag.rpartition("}")[2], 3, ""
        elif depth == 2:
            if self.root == "ResultSet" and _local(tag) == "Result":
                self._row = self.fields
            elif self.root == "Error":
                self._field, self._field_depth, self._text = _local(tag), 2, ""
        elif depth == 1:
            self.root, self.attrs = _local(tag), dict(zip(attrs[::2], attrs[1::2], strict=True))

    def data(self, text: str) -> None:
        if self._depth == self._field_depth:
            self._text += text  # expat buffers text: usually one piece per element

    def end(self, _tag: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        if depth == self._field_depth:
            row = self._row
            (row if row is not None else self.fields)[self._field] = self._text
            self._field_depth = -1
        elif depth == 2 and self._row is not None:
            self.rows.append(_row(self._row))
            self._row.clear()  # fewer objects for the garbage collector to walk: only the row tuples stay
            self._row = None


def _row(fields: dict[str, str]) -> StockRow:
    get = fields.get
    item, sub, status, error, said = (
        get("ItemCode"),
        get("SubCode"),
        get("Status"),
        get("ErrorCode"),
        get("ErrorMessage"),
    )
    sub = sub.strip() if sub else ""
    return StockRow(
        None if item is None else f"{item}:{sub}" if sub else item,
        item,
        sub,
        _int_or_none(get("Quantity"), "Quantity"),
        None if status is None else status.strip(),
        _int_or_none(get("AllowOverdraft"), "AllowOverdraft"),
        (error.strip() or None) if error else None,
        (said.strip() or None) if said else None,
    )


def _row_pattern(fields: tuple[str, ...], kept: int) -> re.Pattern[str]:
    # Text without markup, entity or CR: exactly what expat would hand the collector for it.
    text = "[^<&\r]*"
    return re.compile(
        "<Result>"
        + "".join(
            f"<{name}>({text})</{name}>" if n < kept else f"<{name}>{text}</{name}>" for n, name in enumerate(fields)
        )
        + "</Result>"
    )


_GET_ROW = _row_pattern(("ItemCode", "SubCode", "Status", "Quantity", "AllowOverdraft", "IsPublished", "UpdateTime"), 5)
"""A getStock ``Result`` as Yahoo lays it out (recorded ``getStock.200.xml``): item code to update time."""
_GET_TAGS = 16  # '<' in one such row: its own two and two for each of its seven fields
_SET_ROW = _row_pattern(("ItemCode", "SubCode", "Quantity"), 3)
"""A setStock ``Result`` (recorded ``setStock.200.xml``)."""
_SET_TAGS = 8
_UTF8_DECLARATION = re.compile(rb'<\?xml version="1\.0" encoding="(?i:utf-8)"\s*\?>')


def _well_formed(body: bytes | str) -> tuple[str, dict[str, str], int]:
    """
    Check *body* with defusedxml's expat parser and no per-element Python handler: its root, the root's
    attributes and the byte offset of the root's start tag.

    The only Python call is the root's start, which then unhooks itself: expat checks the rest at C speed
    (about 1 ms for a 1,000-code answer, against 9 ms with a handler per element event).

    Raises:
        WireError: the body is not XML or carries a DTD.
    """
    defused = SafeTree.XMLParser(forbid_dtd=True)
    expat = defused.parser
    root: list[tuple[str, dict[str, str], int]] = []

    def start(tag: str, attrs: list[str]) -> None:
        root.append((_local(tag), dict(zip(attrs[::2], attrs[1::2], strict=True)), expat.CurrentByteIndex))
        expat.StartElementHandler = None

    # Without these, text and end tags would go to ElementTree's Python handlers (DefaultHandlerExpand catches
    # what no other handler takes); defusedxml's DTD and entity guards stay as it set them.
    expat.StartElementHandler = start
    expat.EndElementHandler = None
    expat.CharacterDataHandler = None
    expat.DefaultHandlerExpand = None
    expat.CommentHandler = None
    expat.ProcessingInstructionHandler = None
    _feed(expat, body)
    return root[0] if root else ("", {}, -1)


def _feed(expat: Any, body: bytes | str) -> None:
    try:
        expat.Parse(body, True)
    except ExpatError as exc:
        msg = f"not XML ({ErrorString(exc.code)}, line {exc.lineno} column {exc.offset})"
        raise WireError(msg) from None
    except DefusedXmlException as exc:
        msg = f"refused XML ({type(exc).__name__}: a DTD or entity in an API answer)"
        raise WireError(msg) from None


def _fast_rows(body: bytes | str, root_at: int) -> list[StockRow] | None:
    """
    The rows of a well-formed UTF-8 ``ResultSet`` whose every ``Result`` has exactly the getStock (or the
    setStock) layout with plain text; ``None`` for anything else, which the collector then reads.

    Exact, not a guess: the body already passed expat, so a ``<`` in it opens markup; when the rows this
    finds hold every ``<`` between the root's tags, no element, comment, CDATA or PI is left unread, and
    the text they take has no entity and no CR to normalize: the collector would see the same strings.
    Text between rows carries no ``<`` and is ignored, as the collector ignores it.
    """
    if isinstance(body, str) or not _UTF8_DECLARATION.match(body):
        return None
    text = body.decode()
    begin = text.find(">", len(body[:root_at].decode())) + 1
    stop = text.rfind("</ResultSet>")
    if begin <= 0 or stop < begin:
        return None
    first = text[begin : text.find("</Result>", begin)]
    get = "<Status>" in first
    found = (_GET_ROW if get else _SET_ROW).findall(text, begin, stop)
    if text.count("<", begin, stop) != (_GET_TAGS if get else _SET_TAGS) * len(found):
        return None
    rows = []
    try:  # int() refusing a number: the collector then names the field, or reads a blank one as None
        if get:
            for item, spaced, status, quantity, overdraft in found:
                sub = spaced.strip()  # as _row strips it
                rows.append(
                    StockRow(
                        f"{item}:{sub}" if sub else item,
                        item,
                        sub,
                        int(quantity) if quantity else None,
                        status.strip(),
                        int(overdraft) if overdraft else None,
                    )
                )
        else:
            for item, spaced, quantity in found:
                sub = spaced.strip()
                rows.append(StockRow(f"{item}:{sub}" if sub else item, item, sub, int(quantity) if quantity else None))
    except ValueError:
        return None
    return rows


def parse(body: bytes | str) -> ResultSet | ApiError:
    """
    Parse one store-API answer: a ``ResultSet`` or a whole-request ``Error``.

    defusedxml's expat parser checks it, with DTDs forbidden (the answers never carry one), so no entity can
    be declared and none expanded or fetched. The rows of the answers Yahoo sends (every ``Result`` laid out
    as recorded) are then cut out by one regular expression; any other shape is read by the collector.

    Raises:
        WireError: the body is not XML, carries a DTD, or its root is neither.
    """
    root, attrib, root_at = _well_formed(body)
    rows = _fast_rows(body, root_at) if root == "ResultSet" else None
    if rows is None:
        collector = _Collector()
        defused = SafeTree.XMLParser(forbid_dtd=True)
        # The element events go straight to the collector, skipping ElementTree's per-element Python layer.
        expat = defused.parser
        expat.StartElementHandler = collector.start
        expat.EndElementHandler = collector.end
        expat.CharacterDataHandler = collector.data
        _feed(expat, body)
        rows = collector.rows
        if root == "Error":
            fields = collector.fields
            return ApiError(
                code=fields.get("Code", "").strip() or None,
                message=fields.get("Message", "").strip(),
                detail=fields.get("Detail", "").strip(),
            )
    if root != "ResultSet":
        msg = f"root element is <{root}>, expected <ResultSet> or <Error>"
        raise WireError(msg)
    return ResultSet(
        rows=tuple(rows),
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
    text = str(value)
    if "&" in text or "<" in text or ">" in text:
        text = escape(text)
    return f"<{name}>{text}</{name}>"


def render_row(elements: Iterable[tuple[str, object]]) -> str:
    """One ``<Result>`` with its elements in order (text escaped)."""
    return "<Result>" + "".join(_element(n, v) for n, v in elements) + "</Result>"


def render_result_set(rows: Iterable[str], *, ok: int, ng: int) -> bytes:
    """A one-line ``ResultSet`` (the stock APIs' layout) around rendered rows."""
    count = ok + ng
    head = (
        f'<ResultSet totalResultsAvailable="{count}" totalResultsReturned="{count}" '
        f'firstResultPosition="1" ok="{ok}" ng="{ng}">'
    )
    return (XML_DECLARATION + head + "".join(rows) + "</ResultSet>\n").encode()


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
