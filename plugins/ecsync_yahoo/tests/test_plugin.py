"""The plugin registers, is found by its entry point, and judges item codes as Yahoo does."""

from __future__ import annotations

import importlib.metadata

import pluggy
import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core import hookspecs
from ecsync_yahoo import plugin


def test_hooks_register_on_a_fresh_manager() -> None:
    """The hooks module registers cleanly and declares one target mall, yahoo, with its sheet column."""
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    [malls] = pm.hook.ecsync_malls()
    assert [("yahoo", "target", "yahoo_item_code")] == [(m.code, m.role, m.sheet_column) for m in malls]


def test_entry_point_is_installed() -> None:
    """`pip install ecsync-yahoo` makes the mall discoverable under the `ecsync` entry-point group."""
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="ecsync")}
    assert "ecsync_yahoo.plugin" == found["yahoo"]


PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=99)


@given(item=PART, sub=st.none() | PART)
def test_valid_codes_pass(item: str, sub: str | None) -> None:
    """Any code of half-width letters, digits and '-' (1..99 a part, optional :subcode) is accepted."""
    assert plugin.check_item_key(item if sub is None else f"{item}:{sub}") is None


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ab_c", "'ab_c' must be 1 to 99 half-width letters"),
        ("tee-01:red m", "sub-code 'red m'"),
        ("ｔｅｅ", "half-width"),
        ("x" * 100, "1 to 99"),
        ("tee-01:", "empty sub-code"),
        (":red", "empty item code"),
        ("a:b:c", "more than one ':'"),
        ("", "empty item code"),
    ],
)
def test_bad_codes_are_named(code: str, says: str) -> None:
    """A code Yahoo would refuse gets one line that names it and the rule it breaks."""
    problem = plugin.check_item_key(code)
    assert problem is not None
    assert says in problem


@given(st.integers(min_value=0, max_value=99_999))
def test_sample_codes_are_valid_and_distinct(n: int) -> None:
    """The sandbox's demo codes are valid Yahoo codes, and the n-th differs from the next."""
    assert plugin.check_item_key(plugin.sample_item_key(n)) is None
    assert plugin.sample_item_key(n) != plugin.sample_item_key(n + 1)


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"batch_size": 5000}, "malls.yahoo.batch_size", "1..1000"),
        ({"requests_per_second": float("nan")}, "malls.yahoo.requests_per_second", "above 0"),  # NaN paced nothing
        # The token lives 28 days: warned 40 days ahead, health warned every day from the day of consent.
        ({"refresh_token_warn_days": 40}, "malls.yahoo.refresh_token_warn_days", "below refresh_token_days (28)"),
        ({"refresh_token_warn_days": -1}, "malls.yahoo.refresh_token_warn_days", "0 or more"),
    ],
)
def test_bad_settings_are_refused_by_key(section: dict[str, object], key: str, says: str) -> None:
    from ecsync_core.config import Settings, mall_settings
    from ecsync_core.errors import ConfigError
    from ecsync_yahoo.plugin import YahooSettings

    with pytest.raises(ConfigError) as caught:
        mall_settings(Settings(malls={"yahoo": section}), "yahoo", YahooSettings)
    assert (key, True) == (caught.value.key, says in caught.value.problem)
