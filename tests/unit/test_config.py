"""Config: defaults, strictness, and one located line per error."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import attrs
import pytest

from ecsync_core.config import load_secrets, load_settings, mall_settings
from ecsync_core.domain import RuleSet
from ecsync_core.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_means_every_default() -> None:
    """Without -c and without config/config.yaml, the manual's defaults apply."""
    s = load_settings()
    assert (Path("data/ecsync.duckdb"), Path("../commonsettings/master.xlsx")) == (s.database, s.master_file)
    assert RuleSet() == s.rules
    assert Fraction(1, 2) == s.safety.min_source_ratio


def test_three_paths_alone_are_valid(tmp_path: Path) -> None:
    """A config holding only database, master_file and log_file is valid."""
    cfg = write(tmp_path / "c.yaml", "database: db/x.duckdb\nmaster_file: m.xlsx\nlog_file: l/x.log\n")
    s = load_settings(cfg)
    assert (Path("db/x.duckdb"), Path("m.xlsx"), Path("l/x.log")) == (s.database, s.master_file, s.log_file)


def test_default_location_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/config.yaml is read by default; ECSYNC_CONFIG points elsewhere."""
    Path("config").mkdir()
    write(Path("config/config.yaml"), "database: a.duckdb\n")
    assert Path("a.duckdb") == load_settings().database
    monkeypatch.setenv("ECSYNC_CONFIG", str(write(tmp_path / "o.yaml", "database: b.duckdb\n")))
    assert Path("b.duckdb") == load_settings().database


def test_missing_c_file_is_an_error(tmp_path: Path) -> None:
    """A -c file that does not exist is an error, not a silent fall back to defaults."""
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "key", "fault"),
    [
        ("databse: x.duckdb\n", "databse", "unknown key"),
        ("safety:\n  max_zero: 0.2\n", "safety.max_zero", "unknown key"),
        ("safety:\n  max_zero_ratio: 1.5\n", "safety.max_zero_ratio", "between 0 and 1"),
        ("safety:\n  max_zero_ratio: lots\n", "safety.max_zero_ratio", "share"),
        ("logging:\n  backups: many\n", "logging.backups", "whole number"),
        ("database: 5\n", "database", "path"),
        ("timezone: Mars/Base\n", "timezone", "unknown time zone"),
        (
            "rules:\n  default:\n    - {min: 1, ratio: '1/2'}\n    - {min: 3, ratio: '1/5'}\n",
            "rules.default",
            "overlap",
        ),
        ("rules:\n  default:\n    - {min: 1, ratio: 'half'}\n", "rules.default[0].ratio", "fraction"),
        ("rules:\n  defaults: []\n", "rules.defaults", "unknown key"),
        ("database: [unclosed\n", "line 2", "YAML"),
        # PyYAML keeps the last of two keys in silence: the first block's settings would be dropped unseen.
        ("safety:\n  max_zero_ratio: 0.1\nsafety:\n  min_source_ratio: 0.4\n", "line 3", "'safety' is given twice"),
        ("rules:\n  default:\n    - {min: 1, ratio: '1/2', ratio: '1'}\n", "line 3", "'ratio' is given twice"),
        # YAML 1.1 reads 010 as octal 8 and 1:30 as 90: a band or an id would change in silence.
        ("rules:\n  default:\n    - {min: 010, ratio: '1/2'}\n", "line 3", "010 reads as the number 8"),
        ("malls:\n  yahoo:\n    seller_id: 012345\n", "line 3", "012345 reads as the number 5349"),
        ("logging:\n  retention_days: 0\n", "logging.retention_days", "at least 1"),
        ("logging:\n  level: BOGUS\n", "logging.level", "DEBUG, INFO, WARNING, ERROR"),
        ("# \x93\xfa\x96{\x8c\xea\ndatabase: x.duckdb\n", "-c/--config", "not UTF-8"),
        ("disable_plugins: rakuten\n", "disable_plugins", "must be a list of plugin names"),
        ("health:\n  last_run_within_hours: -1\n", "health.last_run_within_hours", "at least 0"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, fault: str) -> None:
    """Each fault is one ConfigError naming the key, the fault and the file."""
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(text.encode("latin-1"))  # the bytes as written: one case is Shift-JIS, not UTF-8
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert key == info.value.key
    assert fault in info.value.problem
    assert str(cfg) in str(info.value)
    assert "\n" not in str(info.value)


def test_mall_sections_are_structured_strictly(tmp_path: Path) -> None:
    """A plugin's section is checked against its settings class; unknown keys and plain http are refused."""
    from ecsync_yahoo.plugin import YahooSettings

    ok = load_settings(write(tmp_path / "a.yaml", "malls:\n  yahoo:\n    endpoint: http://127.0.0.1:9/x\n"))
    assert mall_settings(ok, "yahoo", YahooSettings).endpoint == "http://127.0.0.1:9/x"
    bad = load_settings(write(tmp_path / "b.yaml", "malls:\n  yahoo:\n    endpont: https://x\n"))
    with pytest.raises(ConfigError) as info:
        mall_settings(bad, "yahoo", YahooSettings)
    assert info.value.key == "malls.yahoo.endpont"
    plain = load_settings(write(tmp_path / "c.yaml", "malls:\n  yahoo:\n    endpoint: http://example.com/x\n"))
    with pytest.raises(ConfigError, match="https"):
        mall_settings(plain, "yahoo", YahooSettings)


def test_a_plugin_settings_validator_names_its_key(tmp_path: Path) -> None:
    """The guide's attrs validators (``gt(0)``): the error names ``malls.<code>.<key>``, not the section alone."""

    @attrs.frozen
    class TinySettings:
        endpoint: str = "https://tiny.example"
        rate: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))

    settings = load_settings(write(tmp_path / "c.yaml", "malls:\n  tiny:\n    rate: 0\n"))
    with pytest.raises(ConfigError) as info:
        mall_settings(settings, "tiny", TinySettings)
    assert ("malls.tiny.rate", "must be > 0: 0.0") == (info.value.key, info.value.problem)


def test_secrets_from_env_file_beside_config_env_wins(tmp_path: Path) -> None:
    """.env beside the config is read; the process environment overrides it."""
    cfg = write(tmp_path / "c.yaml", "database: x.duckdb\n")
    write(tmp_path / ".env", "# comment\nYAHOO_CLIENT_ID=from-file\nRAKUTEN_LICENSE_KEY=lk\n")
    secrets = load_secrets(load_settings(cfg), environ={"YAHOO_CLIENT_ID": "from-env"})
    assert (secrets["YAHOO_CLIENT_ID"], secrets["RAKUTEN_LICENSE_KEY"]) == ("from-env", "lk")


def test_an_env_line_dotenv_cannot_read_is_refused_with_its_line(tmp_path: Path) -> None:
    """dotenv skipped it with a warning naming no file, and the secret read as missing; its text is not echoed."""
    cfg = write(tmp_path / "c.yaml", "database: x.duckdb\n")
    for text, line, name in [
        ('A=1\nYAHOO_CLIENT_SECRET = "s3cr3t-value\nB=2\n', "line 2", "(YAHOO_CLIENT_SECRET...)"),
        ("# Yahoo\nA=1\n\n# Rakuten\n\nRAKUTEN_LICENSE_KEY s3cr3t-value\n", "line 6", ""),  # after blank lines
        ("A=1\r\n\r\nRAKUTEN_LICENSE_KEY: s3cr3t-value\r\n", "line 3", ""),
    ]:
        write(tmp_path / ".env", text)
        with pytest.raises(ConfigError) as info:
            load_secrets(load_settings(cfg), environ={})
        assert (line, str(tmp_path / ".env")) == (info.value.key, info.value.source), text
        assert name in info.value.problem
        assert "s3cr3t" not in str(info.value), "no '=': the name cannot be told from the secret, so neither is shown"


def test_example_config_is_valid_and_complete() -> None:
    """config.example.yaml loads strictly and shows every key of the core and of each installed mall."""
    import attrs
    import yaml

    from ecsync_core.config import Settings
    from ecsync_core.plugins import get_plugin_host

    example = Path(__file__).resolve().parents[2] / "config" / "config.example.yaml"
    settings = load_settings(example)
    raw = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert {f.name for f in attrs.fields(Settings)} - {"path", "env_file"} == set(raw)
    for code, installed in get_plugin_host().malls.items():
        fields = {f.name for f in attrs.fields(installed.plugin.settings_type)}
        assert fields == set(raw["malls"][code]), code
        assert installed.plugin.settings_type() == mall_settings(settings, code, installed.plugin.settings_type)


def test_a_broken_plugins_section_does_not_stop_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a plugin fails to load its code is unknown: its section is not called a typo (health names it)."""
    from ecsync_core.bootstrap import build_app

    monkeypatch.setenv("ECSYNC_EXTRA_PLUGINS", "acme_zozo_missing.plugin")
    app = build_app(write(tmp_path / "c.yaml", "malls:\n  zozo:\n    endpoint: https://x\n"))
    assert "acme_zozo_missing.plugin" in app.host.broken


def test_disable_plugins_in_config_leaves_the_plugin_out(tmp_path: Path) -> None:
    """``disable_plugins`` does what ECSYNC_DISABLE_PLUGINS does, from the config (cron needs no environment)."""
    from ecsync_core.bootstrap import build_app

    app = build_app(
        write(tmp_path / "c.yaml", "disable_plugins: [rakuten]\nmalls:\n  rakuten:\n    endpoint: http://x\n")
    )
    assert ("rakuten" in app.host.malls, "rakuten" in app.host.disabled) == (False, True)


def test_a_mall_code_no_plugin_has_is_refused(tmp_path: Path) -> None:
    """A misspelt code in malls or rules.malls would leave that mall on the defaults: refused, key named."""
    from ecsync_core.bootstrap import build_app

    rules = "rules:\n  malls:\n    yahooo:\n      - {min: 1, ratio: '1/10'}\n"
    for text, key in ((rules, "rules.malls.yahooo"), ("malls:\n  rakutn:\n    endpoint: http://x\n", "malls.rakutn")):
        with pytest.raises(ConfigError) as info:
            build_app(write(tmp_path / "c.yaml", text))
        assert (key, True) == (info.value.key, "no installed mall plugin has this code" in info.value.problem)
