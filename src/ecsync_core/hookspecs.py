"""
The hooks a plugin implements. Hooks only find plugins; the work goes through the ports.

A plugin is a module registered under the entry-point group ``ecsync``::

    [project.entry-points.ecsync]
    yahoo = "ecsync_yahoo.plugin"

whose hook implementations are marked with :data:`ecsync_core.hookimpl`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy


if TYPE_CHECKING:
    from ecsync_core.mall import MallPlugin

NAME = "ecsync"

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)


@hookspec
def ecsync_malls() -> list[MallPlugin]:  # type: ignore[empty-body]
    """
    Declare the malls this plugin provides.

    Called once when the plugin host starts; every plugin's lists are joined. Two descriptors with the
    same code are refused by the host.

    Returns:
        The plugin's mall descriptors; usually one.

    .. versionadded:: 0.1.0
    """
