"""
The yahoo mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

from typing import Any

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import NotYetAvailableError


CODE = "yahoo"


@attrs.frozen
class YahooSettings:
    """``malls.yahoo`` in config."""

    endpoint: str = "https://circus.shopping.yahooapis.jp/ShoppingWebService/V1"
    token_url: str = "https://auth.login.yahoo.co.jp/yconnect/v2/token"
    seller_id: str = ""


def make_adapter(context: MallContext) -> Any:
    raise NotYetAvailableError("the yahoo adapter lands with issue 05")


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [
        MallPlugin(
            code=CODE,
            name="Yahoo!ショッピング",
            role="target",
            sheet_column="yahoo_item_code",
            settings_type=YahooSettings,
            make_adapter=make_adapter,
            secret_names=("YAHOO_CLIENT_ID", "YAHOO_CLIENT_SECRET", "YAHOO_REFRESH_TOKEN"),
        )
    ]
