"""
ecsync: Amazon FBA stock is the truth; every other mall gets a banded share of it.

The importable API for notebooks and scripts is :mod:`ecsync_core.api` (``from ecsync_core import api``);
plugin authors use :data:`hookimpl` and :class:`MallPlugin`.
"""

from __future__ import annotations

from typing import Any

from ecsync_core.hookspecs import hookimpl
from ecsync_core.mall import MallContext, MallPlugin


__all__ = ["MallContext", "MallPlugin", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("ecsync-core")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
