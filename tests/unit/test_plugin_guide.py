"""docs/plugins.md stays true to the plugin API: every descriptor field and emulator member is explained."""

from __future__ import annotations

from pathlib import Path

import attrs

from ecsync_core.mall import MallPlugin
from ecsync_core.sandbox.harness import Emulator


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_every_descriptor_field_is_in_the_guide() -> None:
    """A MallPlugin field the guide does not name is a field plugin authors cannot know about."""
    text = GUIDE.read_text(encoding="utf-8")
    missing = [f.name for f in attrs.fields(MallPlugin) if f"`{f.name}`" not in text]
    assert [] == missing


def test_every_emulator_member_is_in_the_guide() -> None:
    """Each member of the Emulator protocol appears in the guide's emulator table."""
    text = GUIDE.read_text(encoding="utf-8")
    members = [m for m in (*Emulator.__annotations__, *vars(Emulator)) if not m.startswith("_")]
    missing = sorted({m for m in members if f"`{m}" not in text})
    assert [] == missing
