"""
The amazon mall descriptor: the module the ``ecsync`` entry point names. Light: heavy imports live in factories.
"""

from __future__ import annotations

from typing import Any

import attrs

from ecsync_core import MallContext, MallPlugin, hookimpl
from ecsync_core.errors import NotYetAvailableError


CODE = "amazon"


@attrs.frozen
class AmazonSettings:
    """``malls.amazon`` in config."""

    endpoint: str = "https://sellingpartnerapi-fe.amazon.com"
    token_url: str = "https://api.amazon.com/auth/o2/token"
    marketplace_id: str = "A1VC38T7YXB528"


def make_adapter(context: MallContext) -> Any:
    raise NotYetAvailableError("the amazon adapter lands with issue 04")


@hookimpl
def ecsync_malls() -> list[MallPlugin]:
    return [
        MallPlugin(
            code=CODE,
            name="Amazon (FBA)",
            role="source",
            settings_type=AmazonSettings,
            make_adapter=make_adapter,
            secret_names=("AMAZON_LWA_CLIENT_ID", "AMAZON_LWA_CLIENT_SECRET", "AMAZON_LWA_REFRESH_TOKEN"),
        )
    ]
