"""The amazon plugin as the core finds it: entry point, descriptor, settings, and a light import."""

from __future__ import annotations

import subprocess
import sys

from pathlib import Path

import pluggy
import pytest

from ecsync_amazon import plugin as amazon_plugin
from ecsync_amazon.plugin import AmazonSettings, ecsync_malls
from ecsync_core import hookspecs
from ecsync_core.config import Settings, mall_settings
from ecsync_core.errors import ConfigError
from ecsync_core.plugins import get_plugin_host


def test_the_installed_entry_point_brings_the_amazon_source() -> None:
    """`ecsync` entry point `amazon` loads as the one source mall, with its emulator and stock-file reader."""
    host = get_plugin_host()
    installed = host.malls["amazon"]
    assert "ecsync-amazon" == installed.distribution
    found = host.source()
    assert ("amazon", "source", AmazonSettings) == (found.code, found.role, found.settings_type)
    assert found.make_emulator is not None
    assert found.read_stock_file is not None
    assert ("AMAZON_LWA_CLIENT_ID", "AMAZON_LWA_CLIENT_SECRET", "AMAZON_LWA_REFRESH_TOKEN") == found.secret_names


def test_the_hooks_module_registers_cleanly_on_a_fresh_manager() -> None:
    """Every hookimpl in the module has a spec (check_pending), and it declares exactly one mall."""
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(amazon_plugin)
    pm.check_pending()
    assert [["amazon"]] == [[m.code for m in malls] for malls in pm.hook.ecsync_malls()]


def test_defaults_are_production_japan() -> None:
    """With no malls.amazon section: the Far East host, api.amazon.com LWA, Amazon.co.jp, listing by API."""
    s = mall_settings(Settings(), "amazon", AmazonSettings)
    assert "https://sellingpartnerapi-fe.amazon.com" == s.endpoint
    assert "https://api.amazon.com/auth/o2/token" == s.token_url
    assert ("A1VC38T7YXB528", "api") == (s.marketplace_id, s.source)
    assert (1.9, 1.5, 50) == (pytest.approx(s.rate), s.burst, s.lookup_batch)


@pytest.mark.parametrize(
    ("section", "key", "said"),
    [
        ({"lookup_batch": 51}, "malls.amazon.lookup_batch", "must be at least 1 and at most 50, got 51"),
        ({"rate": 0}, "malls.amazon.rate", "must be more than 0, got 0.0"),
        ({"burst": 0.5}, "malls.amazon.burst", "must be at least 1, got 0.5"),
        ({"rate": float("nan")}, "malls.amazon.rate", "must be more than 0, got nan"),  # NaN paced nothing
        ({"next_token_refused": [401]}, "malls.amazon.next_token_refused", "4xx statuses other than 401"),
        ({"source": "ftp"}, "malls.amazon.source", ""),
        ({"report_type": "GET_MERCHANT_LISTINGS_ALL_DATA"}, "malls.amazon.report_type", ""),
        ({"region": "fe"}, "malls.amazon.region", "unknown key"),
        ({"endpoint": "http://sellingpartnerapi-fe.amazon.com"}, "malls.amazon.endpoint", "https"),
    ],
)
def test_a_bad_setting_is_one_located_config_error(section: dict[str, object], key: str, said: str) -> None:
    """An out-of-range, unknown or insecure value in malls.amazon is one error naming the key."""
    with pytest.raises(ConfigError) as caught:
        mall_settings(Settings(malls={"amazon": section}), "amazon", AmazonSettings)
    assert key == caught.value.key
    assert said in caught.value.problem


def test_sync_file_reads_through_the_descriptor(tmp_path: Path) -> None:
    """The descriptor's read_stock_file is the report parser: a downloaded TSV gives SKU -> fulfillable."""
    path = tmp_path / "Inventory.txt"
    path.write_bytes("sku\tproduct-name\tafn-fulfillable-quantity\n0012\tマグ\t5\n".encode("cp932"))
    reader = ecsync_malls()[0].read_stock_file
    assert reader is not None
    assert {"0012": 5} == reader(path)


def test_importing_the_descriptor_leaves_the_adapter_and_emulator_unloaded() -> None:
    """Every CLI call loads every plugin, so the descriptor module pulls in neither client nor emulator."""
    code = (
        "import sys, ecsync_amazon.plugin\n"
        "heavy = [m for m in ('ecsync_amazon.client', 'ecsync_amazon.emulator', 'starlette') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == out.strip()
