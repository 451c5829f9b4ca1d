"""The plugin registers, is found by its entry point, and refuses bad settings by key."""

from __future__ import annotations

import importlib.metadata

import pluggy
import pytest

from ecsync_core import hookspecs
from ecsync_core.config import Settings, mall_settings
from ecsync_core.errors import ConfigError
from ecsync_rakuten import plugin


def test_hooks_register_on_a_fresh_manager() -> None:
    """The hooks module declares one target mall, rakuten, with its sheet column, emulator and key rules."""
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    [[mall]] = pm.hook.ecsync_malls()
    assert ("rakuten", "target", "rakuten_item_number") == (mall.code, mall.role, mall.sheet_column)
    assert ("RAKUTEN_SERVICE_SECRET", "RAKUTEN_LICENSE_KEY") == mall.secret_names
    assert mall.make_emulator is not None
    assert mall.sample_item_key is not None
    assert "abc:Red-M" == mall.normalize_item_key("ABC:Red-M")
    assert mall.check_item_key("abc def") is not None


def test_entry_point_is_installed() -> None:
    """`pip install ecsync-rakuten` makes the mall discoverable under the `ecsync` entry-point group."""
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="ecsync")}
    assert "ecsync_rakuten.plugin" == found["rakuten"]


def test_defaults_are_the_published_limits() -> None:
    """Out of the box: production RMS, 400 SKUs at 1/s up, 1,000 at 5/s down, warn 14 days before expiry."""
    settings = mall_settings(Settings(), "rakuten", plugin.RakutenSettings)
    assert "https://api.rms.rakuten.co.jp" == settings.endpoint
    assert (400, 1.0, 1000, 5.0) == (
        settings.upsert_batch,
        settings.upsert_rate,
        settings.bulk_get_batch,
        settings.bulk_get_rate,
    )
    assert 14 == settings.expiry_warn_days


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"upsert_batch": 401}, "malls.rakuten.upsert_batch", "between 1 and 400"),
        ({"bulk_get_batch": 0}, "malls.rakuten.bulk_get_batch", "between 1 and 1000"),
        ({"upsert_rate": 0}, "malls.rakuten.upsert_rate", "above 0"),
        ({"upsert_rate": float("nan")}, "malls.rakuten.upsert_rate", "above 0"),  # NaN paced nothing
        ({"pacing_margin": 1.5}, "malls.rakuten.pacing_margin", "below 1"),
        ({"upsert_sise": 10}, "malls.rakuten.upsert_sise", "unknown key"),
        ({"fold_variant_case": "yes"}, "malls.rakuten.fold_variant_case", "true or false"),
        ({"endpoint": "http://rms.example.com"}, "malls.rakuten.endpoint", "https"),
    ],
)
def test_bad_settings_are_refused_by_key(section: dict[str, object], key: str, says: str) -> None:
    """A wrong malls.rakuten value is one config error naming the key and the rule."""
    with pytest.raises(ConfigError) as caught:
        mall_settings(Settings(malls={"rakuten": section}), "rakuten", plugin.RakutenSettings)
    assert key == caught.value.key
    assert says in caught.value.problem
