"""
The descriptor a mall plugin hands the core, and what the core hands back to build its adapter.
"""

from __future__ import annotations

import functools
import ssl

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs


if TYPE_CHECKING:
    import httpx

    from ecsync_core.ports import KeyValueStore
    from ecsync_core.sandbox.harness import Emulator


Role = Literal["source", "target"]

WRITE_SLICE = 2_000
"""
Items the sync hands a target's ``write`` at a time, unless its descriptor says otherwise. Each slice is read
back while the next is written, so a mall with its own read limit (Rakuten: 5 reads/s beside 1 write/s) spends
on the read-back only the last slice's read, not a second pass over every item. 2,000 is a whole number of
Yahoo's batches (1,000 codes a call).
"""


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """
    One TLS context for every adapter's httpx client in this process: pass it as ``verify=``. It is httpx's
    default (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), which httpx otherwise makes for each client,
    loading the CA bundle each time: 30 to 50 ms a client, three of them before a sync's first page.
    """
    import httpx  # here: `import ecsync_core` (status, import-sku) does without it

    return httpx.create_ssl_context()


def _no_check(_key: str) -> str | None:
    return None


def _same(key: str) -> str:
    return key


@attrs.frozen
class MallContext:
    """
    Everything an adapter factory gets from the core.

    Attributes:
        code: the mall code (the plugin's own).
        settings: the plugin's settings object, structured from ``malls.<code>`` in config.
        secrets: the secrets from ``.env`` and the environment (the plugin picks its own names).
        store: persistent state for the plugin, namespaced by its code.
        env_file: the ``.env`` in use, for helpers that renew tokens.
        transport: an httpx transport to use instead of the network (tests route it into an emulator).
    """

    code: str
    settings: Any
    secrets: Mapping[str, str]
    store: KeyValueStore
    env_file: Path | None = None
    transport: httpx.AsyncBaseTransport | None = None


def _names(_plugin: object, _attribute: object, names: object) -> None:
    # One string is a sequence too: health then reported "missing in .env: T, O, Y, ..." for it.
    if isinstance(names, str) or not isinstance(names, tuple | list) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"secret_names must be a tuple of .env names, not {names!r}")


@attrs.frozen
class MallPlugin:
    """
    A mall, as a plugin declares it through the ``ecsync_malls`` hook.

    Attributes:
        code: short lower-case code (``yahoo``); the config key ``malls.<code>``.
        name: the mall's name for people.
        role: ``source`` (the truth, Amazon) or ``target`` (gets a share).
        sheet_column: the master-sheet column that names this mall's items (targets only).
        settings_type: an attrs class structured from ``malls.<code>``; unknown keys are refused.
        make_adapter: builds a ``StockSource`` (source) or ``MallInventory`` (target) from a context.
        make_emulator: builds the sandbox emulator from seed stock (item key -> quantity).
        check_item_key: returns what is wrong with an item code from the sheet, or ``None``.
        normalize_item_key: the key two spellings of one item share (Rakuten folds case): the import refuses
            one item on two SKUs by it. The sheet's own spelling is stored, shown and given to the adapter.
        sample_item_key: the *n*-th item code the sandbox's demo catalogue uses.
        secret_names: the ``.env`` names the adapter needs, for health's "credentials present".
        read_stock_file: (sources) reads a stock report file as downloaded (``sync --file``) into
            SKU -> fulfillable quantity; raises ``InputError`` naming file, row and column.
        write_slice: (targets) items handed to one ``write`` call (``WRITE_SLICE`` by default): a whole number
            of the mall's write batches, read back while the next slice is written.
    """

    code: str
    name: str
    role: Role
    settings_type: type[Any]
    make_adapter: Callable[[MallContext], Any]
    sheet_column: str | None = None
    make_emulator: Callable[[Mapping[str, int]], Emulator] | None = None
    check_item_key: Callable[[str], str | None] = _no_check
    normalize_item_key: Callable[[str], str] = _same
    sample_item_key: Callable[[int], str] | None = None
    secret_names: tuple[str, ...] = attrs.field(default=(), validator=_names)
    read_stock_file: Callable[[Path], dict[str, int]] | None = None
    write_slice: int = attrs.field(default=WRITE_SLICE, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.role == "target" and not self.sheet_column:
            msg = f"mall plugin {self.code!r}: a target mall needs a sheet_column"
            raise ValueError(msg)
