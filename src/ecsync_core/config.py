"""
Settings: ``config/config.yaml`` (or ``-c``, or ``ECSYNC_CONFIG``) and secrets from ``.env`` and the environment.

Every error is one line naming the key. Secrets never live in YAML.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs
import yaml

from cattrs.gen import make_dict_structure_fn

from ecsync_core.allocation import parse_rule
from ecsync_core.domain import MANUAL_RULE, RuleSet
from ecsync_core.errors import ConfigError


DEFAULT_CONFIG = Path("config/config.yaml")
CONFIG_ENV = "ECSYNC_CONFIG"


@attrs.frozen
class Safety:
    """The refusals of a live sync (SPEC "Safety"); ``--force`` overrides them."""

    min_source_ratio: Fraction = Fraction(1, 2)
    max_zero_ratio: Fraction = Fraction(1, 5)


def _at_least(section: str, low: int) -> Any:
    """A validator naming its key itself: cattrs can place an ``__init__`` error only on the section."""

    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < low:
            raise ConfigError(f"{section}.{attribute.name}", f"must be at least {low}, got {value!r}")

    return check


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _upper(value: str) -> str:
    return str(value).upper()


def _log_level(_instance: object, _attribute: object, value: str) -> None:
    if value not in LOG_LEVELS:
        raise ConfigError("logging.level", f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")


@attrs.frozen
class LogSettings:
    """``logging``: *level* is the log file's (``-v`` makes it DEBUG); the console follows ``-v`` alone."""

    level: str = attrs.field(default="INFO", converter=_upper, validator=_log_level)
    max_bytes: int = attrs.field(default=10 * 1024 * 1024, validator=_at_least("logging", 1))
    backups: int = attrs.field(default=14, validator=_at_least("logging", 0))
    # 0 or less would have `cleanup` delete the run history, last night's sync (and its rollback) included.
    retention_days: int = attrs.field(default=90, validator=_at_least("logging", 1))


@attrs.frozen
class HealthSettings:
    """
    ``health``: how old the last live run may be before health warns that the schedule may have stopped, and how
    long each mall gets to answer health's questions.
    """

    # A daily 04:00 run, plus two hours of slack for a slow night; 0: no schedule is expected.
    last_run_within_hours: int = attrs.field(default=26, validator=_at_least("health", 0))
    # A mall that hangs: its calls retry with a minute's timeout each, which kept health waiting for 5-10 minutes.
    mall_answer_within_s: int = attrs.field(default=30, validator=_at_least("health", 1))


@attrs.frozen
class Settings:
    """
    The whole configuration, structured and checked.

    Attributes:
        malls: ``malls.<code>`` as written; each plugin structures its own section (see ``mall_settings``).
        disable_plugins: plugins (entry-point names, the mall codes) to leave out, as ``ECSYNC_DISABLE_PLUGINS``
            does: kept with the config, so cron and the sandbox need no environment for it.
        path: the config file read, ``None`` when every default applies.
    """

    database: Path = Path("data/ecsync.duckdb")
    master_file: Path = Path("../commonsettings/master.xlsx")
    log_file: Path = Path("logs/inventory_sync.log")
    env_file: Path | None = None
    timezone: str = "Asia/Tokyo"
    rules: RuleSet = RuleSet()
    safety: Safety = Safety()
    logging: LogSettings = LogSettings()
    health: HealthSettings = HealthSettings()
    malls: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    disable_plugins: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _share(value: object, _type: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        msg = f'must be a share such as 0.5 or "1/2", got {value!r}'
        raise ValueError(msg)
    try:
        share = Fraction(value if not isinstance(value, float) else str(value))
    except (ValueError, ZeroDivisionError):
        msg = f'must be a share such as 0.5 or "1/2", got {value!r}'
        raise ValueError(msg) from None
    if not 0 <= share <= 1:
        msg = f"must be between 0 and 1, got {value!r}"
        raise ValueError(msg)
    return share


def _rules(value: object, _type: object) -> RuleSet:
    if not isinstance(value, dict):
        raise ConfigError("rules", "must be a mapping with 'default' and optionally 'malls'")
    unknown = set(value) - {"default", "malls"}
    if unknown:
        raise ConfigError(f"rules.{sorted(unknown)[0]}", "unknown key (rules has default and malls)")
    default = parse_rule(value["default"], "rules.default") if "default" in value else MANUAL_RULE
    malls = value.get("malls") or {}
    if not isinstance(malls, dict):
        raise ConfigError("rules.malls", "must map a mall code to its own tier list")
    return RuleSet(default, {str(m): parse_rule(t, f"rules.malls.{m}") for m, t in malls.items()})


def _zone(value: object, _type: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r}"
        raise ValueError(msg) from None
    return str(value)


def _names(value: object, _type: object) -> tuple[str, ...]:
    # A bare string would be taken letter by letter as a sequence.
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        msg = f"must be a list of plugin names such as [rakuten], got {value!r}"
        raise ValueError(msg)
    return tuple(v.strip() for v in value)


def _strict_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"must be a whole number, got {value!r}"
        raise ValueError(msg)
    return value


def _strict_bool(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        msg = f"must be true or false, got {value!r}"
        raise ValueError(msg)
    return value


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        msg = f"must be text, got {value!r}"
        raise ValueError(msg)
    return value


def _path(value: object, _type: object) -> Path:
    if not isinstance(value, str) or not value.strip():
        msg = f"must be a path, got {value!r}"
        raise ValueError(msg)
    return Path(value).expanduser()


def _mall_sections(value: object, _type: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict | None) for v in value.values()):
        msg = "must map each mall code to its settings"
        raise ValueError(msg)
    return {str(k): dict(v or {}) for k, v in value.items()}


def make_converter() -> cattrs.Converter:
    """A strict converter: unknown keys are refused, ints are not bools, paths are paths."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(bool, _strict_bool)  # bool is an int to singledispatch: give it its own hook
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(Path, _path)
    conv.register_structure_hook(Fraction, _share)
    conv.register_structure_hook(RuleSet, _rules)
    conv.register_structure_hook(
        Settings,
        make_dict_structure_fn(
            Settings,
            conv,
            _cattrs_forbid_extra_keys=True,
            timezone=cattrs.override(struct_hook=_zone),
            malls=cattrs.override(struct_hook=_mall_sections),
            disable_plugins=cattrs.override(struct_hook=_names),
        ),
    )
    return conv


_CONVERTER = make_converter()
_EXTRA = re.compile(r"extra fields found \((?P<names>[^)]*)\) @ \$(?P<path>\S*)")
_AT = re.compile(r"(?P<msg>.*) @ \$\.?(?P<path>\S*)$")
_VALIDATOR = re.compile(r"'(?P<name>\w+)' (?P<rest>must .*)", re.S)


def first_problem(exc: Exception, source: str, prefix: str = "") -> ConfigError:
    """The first of cattrs' problems as one located ConfigError (``prefix`` names the section)."""
    for cause in _leaves(exc):
        if isinstance(cause, ConfigError):
            return ConfigError(f"{prefix}{cause.key}", cause.problem, source)
    message = cattrs.transform_error(exc)[0] if isinstance(exc, cattrs.BaseValidationError) else str(exc)
    if m := _EXTRA.fullmatch(message):
        path = m["path"].lstrip(".")
        name = m["names"].split(",")[0].strip()
        return ConfigError(f"{prefix}{path + '.' if path else ''}{name}", "unknown key", source)
    if m := _AT.fullmatch(message):
        detail = _detail(exc) or m["msg"]
        key = f"{prefix}{m['path']}".rstrip(".")
        if named := _VALIDATOR.match(detail):  # attrs' validators name the field in their text, not in the path
            key, detail = f"{key}.{named['name']}", named["rest"]
        return ConfigError(key, detail, source)
    return ConfigError(prefix.rstrip(".") or "(top level)", message, source)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _detail(exc: BaseException) -> str | None:
    for leaf in _leaves(exc):
        if isinstance(leaf, ValueError) and str(leaf):
            return str(leaf)
    return None


def _locate(cli_path: str | os.PathLike[str] | None) -> Path | None:
    if cli_path is not None:
        path = Path(cli_path)
        if not path.is_file():
            raise ConfigError("-c/--config", f"file not found: {path}")
        return path
    if env := os.environ.get(CONFIG_ENV):
        path = Path(env)
        if not path.is_file():
            raise ConfigError(CONFIG_ENV, f"file not found: {path}")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last one in silence."""


def _unique_keys(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base`` then overriding a key is meant
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            again = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping names it
            continue
        if again:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice; keep one", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


def _decimal_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    value: int = loader.construct_yaml_int(node)
    text = str(node.value).lstrip("+-").replace("_", "")
    if (len(text) > 1 and text[0] == "0") or ":" in text:
        # YAML 1.1 reads 010 as 8 (octal) and 1:30 as 90 (base 60): a band's min of 010, or an id of 012345
        # (5349), would change in silence.
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"{node.value} reads as the number {value} in YAML: write a number in plain digits, or quote text",
            node.start_mark,
        )
    return value


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _decimal_int)


def _yaml_line(exc: yaml.YAMLError) -> int | None:
    """The line (from 1) a YAML error points at, if it points at one."""
    mark = getattr(exc, "problem_mark", None)
    return None if mark is None else int(mark.line) + 1


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader: plain data only


def load_settings(cli_path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and check the config; with no file anywhere, every default applies."""
    path = _locate(cli_path)
    if path is None:
        return Settings()
    source = str(path)
    try:
        raw = _yaml(path)
    except yaml.YAMLError as exc:
        line = _yaml_line(exc)
        where = "(parse)" if line is None else f"line {line}"
        raise ConfigError(where, f"not valid YAML: {getattr(exc, 'problem', exc)}", source) from None
    except OSError as exc:
        raise ConfigError("-c/--config", f"cannot read: {exc.strerror}", source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError("-c/--config", _not_utf8(exc), source) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("(top level)", "must be a mapping of keys", source)
    if "path" in raw:
        raise ConfigError("path", "unknown key", source)
    try:
        settings = _CONVERTER.structure(raw, Settings)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, source) from None
    except Exception as exc:  # cattrs wraps every problem; we report the first, located
        raise first_problem(exc, source) from None
    return attrs.evolve(settings, path=path)


def mall_settings(settings: Settings, code: str, settings_type: type[Any]) -> Any:
    """Structure ``malls.<code>`` into the plugin's own settings class, with located errors."""
    raw = settings.malls.get(code, {})
    source = str(settings.path or "")
    try:
        value = _CONVERTER.structure(raw, settings_type)
    except Exception as exc:
        raise first_problem(exc, source, prefix=f"malls.{code}.") from None
    for key in ("endpoint", "token_url"):
        url = getattr(value, key, None)
        if isinstance(url, str) and url:
            _check_url(url, f"malls.{code}.{key}", source)
    return value


def _check_url(url: str, key: str, source: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(key, f"must be an http(s) URL, got {url!r}", source)
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(key, f"must be https unless it is loopback, got {url!r}", source)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_file_for(settings: Settings) -> Path | None:
    """The ``.env`` in use: the configured one, else beside the config file, else in the working directory."""
    if settings.env_file is not None:
        return settings.env_file
    candidates = [settings.path.parent / ".env"] if settings.path else []
    candidates.append(Path(".env"))
    return next((p for p in candidates if p.is_file()), None)


def load_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Secrets from the ``.env`` file, overridden by the process environment."""
    from dotenv import dotenv_values

    env_path = env_file_for(settings)
    secrets: dict[str, str] = {}
    if env_path is not None and env_path.is_file():
        try:
            text = env_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(".env", _not_utf8(exc), str(env_path)) from None
        _check_env_lines(text, str(env_path))
        read = dotenv_values(stream=io.StringIO(text))
        secrets.update({k: v for k, v in read.items() if v is not None})
    secrets.update(os.environ if environ is None else environ)
    return secrets


_NEWLINE = re.compile(r"\r\n|\n|\r")
_ENV_NAME = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")  # a name, only where '=' ends it


def _check_env_lines(text: str, source: str) -> None:
    """
    A line dotenv cannot read is refused with its number: dotenv skips it with a warning naming no file, and the
    secret on it then reads as missing. The line's text is not shown: it may hold the secret.
    """
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            said = binding.original.string
            # The parser's line is where it began, before the blank lines it skipped to reach this one.
            line = binding.original.line + len(_NEWLINE.findall(said[: len(said) - len(said.lstrip())]))
            name = _ENV_NAME.match(said)
            shown = f" ({name[1]}...)" if name else ""
            raise ConfigError(
                f"line {line}", f"cannot be read as NAME=value{shown}: an unclosed quote, or no '='?", source
            )


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"not UTF-8 text (byte {exc.start}): save it as UTF-8 (a Shift-JIS comment is the usual cause)"


def load_rules_file(path: Path) -> RuleSet:
    """A proposed rule table for `simulate --rules`: a YAML file with a ``rules:`` section, as in config."""
    source = str(path)
    try:
        raw = _yaml(path)
    except OSError as exc:
        raise ConfigError("--rules", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("--rules", f"{path}: {_not_utf8(exc)}") from None
    except yaml.YAMLError as exc:
        line = _yaml_line(exc)
        where = "" if line is None else f" (line {line})"
        raise ConfigError("--rules", f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if isinstance(raw, dict) and "rules" in raw:
        raw = raw["rules"]
    try:
        return _rules(raw, RuleSet)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, source) from None
