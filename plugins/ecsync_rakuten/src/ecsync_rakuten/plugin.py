"""
The rakuten mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

from typing import Any

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import NotYetAvailableError


CODE = "rakuten"


@attrs.frozen
class RakutenSettings:
    """``malls.rakuten`` in config."""

    endpoint: str = "https://api.rms.rakuten.co.jp"


def make_adapter(context: MallContext) -> Any:
    raise NotYetAvailableError("the rakuten adapter lands with issue 06")


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
            secret_names=("RAKUTEN_SERVICE_SECRET", "RAKUTEN_LICENSE_KEY"),
        )
    ]
