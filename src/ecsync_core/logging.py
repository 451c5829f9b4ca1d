"""
structlog: readable lines on the console, one JSON event a line in the log file, secrets redacted in both.

ecsync's loggers carry their own processor chain (``get_logger``) into the standard library's ``ecsync.*``
loggers, whatever structlog is set to: imported into a notebook, where nothing set structlog up, its defaults
printed every debug event to stdout, unredacted. Where the events go is the standard library's to decide: the
CLI's handlers (``configure``), a live API run's log file (``library_trail``), or the host program's.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import re
import sys

from collections.abc import Iterable, Iterator, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
import structlog.tracebacks

from ecsync_core.errors import EcsyncError


REDACTED = "***"
_SECRET_KEY = re.compile(r"(secret|token|password|license|authorization|api[_-]?key|credential)", re.I)


class Redactor:
    """
    A processor that removes secrets before any renderer sees the event.

    It blanks values under secret-looking keys and every occurrence of a known secret value in any
    string, so a token inside a URL or an error message is caught too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.values: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # Short values ("1", "yes") would blank ordinary words; real secrets are long.
        self.values.update(s for s in secrets if s and len(s) >= 8)

    def scrub(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __call__(self, _logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            event[key] = REDACTED if key != "event" and _secret(key) else self._clean(value)
        return event

    def _clean(self, value: Any) -> Any:
        """*value* with the secrets out of every string in it, nested ones too (a traceback made into a dict)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: REDACTED if _secret(k) else self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def scrub_text(self, _logger: Any, _name: str, text: Any) -> Any:
        """The last step of a console line: secrets out of the text rendered, a traceback's included."""
        return self.scrub(text)


def _secret(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


REDACTOR = Redactor()


def said(exc: BaseException) -> str:
    """
    An error as the one line an operator, the ledger or an alert gets (ours as they say themselves, any other as
    ``Type: message``), without a known secret: a plugin's exception may carry one in its words.
    """
    return REDACTOR.scrub(exc.one_line() if isinstance(exc, EcsyncError) else f"{type(exc).__name__}: {exc}")


class _ScrubStdlib(logging.Filter):
    """httpx logs request lines through the stdlib; scrub those too (-vv)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # structlog's own records carry the event dict, already redacted by the processor chain.
        if isinstance(record.msg, str):
            record.msg = REDACTOR.scrub(record.getMessage())
            record.args = ()
        return True


# A traceback without its frames' local variables: they hold what the redactor cannot know to look for (a crash
# in a plugin logged App.secrets, every token in plain text). structlog's default shows them.
_TRACEBACK = structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))

SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    REDACTOR,
]
"""What every event gets first, ecsync's and (on the CLI's handlers) any other library's."""


class _Event(dict[str, Any]):
    """An event on its way to the standard library: our formatters read the dict, any other handler its text."""

    def __str__(self) -> str:
        rest = " ".join(f"{k}={v!r}" for k, v in self.items() if k not in {"event", "level", "timestamp"})
        return REDACTOR.scrub(f"{self.get('event', '')} {rest}".strip())  # an exception's repr is only made here


def _to_stdlib(logger: Any, name: str, event: MutableMapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args, kwargs = structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, name, event)
    return (_Event(args[0]),), kwargs


def get_logger(name: str = "ecsync") -> Any:
    """A structlog logger on the standard library's *name*: redacted, with the run ID, whatever structlog is set to."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, *SHARED, _to_stdlib],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,  # nothing in it depends on structlog's set-up
    )


def configure(
    verbosity: int = 0,
    log_file: Path | None = None,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 14,
    file_level: str = "INFO",
    zone: ZoneInfo | None = None,
) -> None:
    """
    Set up logging for the CLI's process.

    Console: warnings only by default, debug with ``-v``, HTTP traffic with ``-vv``. File: every event from
    *file_level* up (DEBUG with -v) as a JSON line, rotated by size.

    The file keeps UTC ISO times (one clock for every reader); the console shows them in *zone*, the
    configured one, as every other time the operator reads.
    """
    # The process is ours: another library's structlog events join ours on the handlers.
    structlog.configure(
        processors=[*SHARED, _to_stdlib],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbosity else logging.WARNING)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([_in_zone(zone)] if zone is not None else []),
                structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
                REDACTOR.scrub_text,
            ],
        )
    )
    console.addFilter(_ScrubStdlib())
    if not verbosity:
        # Each retry is a warning line: in cron mail that is noise, as the run's outcome says what failed in the
        # end. The log file keeps them.
        console.addFilter(lambda record: record.name != "ecsync.retry")
    root.addHandler(console)
    if (to_file := _file_handler(log_file, verbosity, max_bytes, backups, file_level)) is not None:
        root.addHandler(to_file)

    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _file_handler(
    log_file: Path | None, verbosity: int, max_bytes: int, backups: int, file_level: str
) -> logging.Handler | None:
    """The log file's JSON lines; None for a file that cannot be opened, which is said (the run goes on)."""
    if log_file is None:
        return None
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    except OSError as exc:
        get_logger("ecsync").warning("log_file_unwritable", path=str(log_file), error=exc.strerror)
        return None
    to_file.setLevel(logging.DEBUG if verbosity else logging.getLevelName(file_level))
    to_file.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _TRACEBACK,
                REDACTOR,  # again: the traceback is made here, after the chain's redactor
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    to_file.addFilter(_ScrubStdlib())
    return to_file


def _in_zone(zone: ZoneInfo) -> Any:
    """A console processor: the event's UTC timestamp shown in *zone*."""

    def shown(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        stamp = event.get("timestamp")
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(zone)
                event["timestamp"] = at.strftime("%Y-%m-%d %H:%M:%S")
        return event

    return shown


class _ToHost(logging.Handler):
    """Hands records on to the host program's handlers, as propagation would, from its own level up."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


@contextlib.contextmanager
def library_trail(
    log_file: Path | None, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 14, file_level: str = "INFO"
) -> Iterator[None]:
    """
    For a live run from the API, in someone else's program: the run's audit trail in the log file, from
    *file_level* up, on the ``ecsync`` logger alone. The host's handlers get ecsync's warnings (the alerts) and
    nothing below them, as before the run; everything is as it was once the run is over, the file closed.
    """
    ours = logging.getLogger("ecsync")
    saved = ours.level, ours.propagate
    host = _ToHost(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    added = [h for h in (_file_handler(log_file, 0, max_bytes, backups, file_level), host) if h is not None]
    for handler in added:
        ours.addHandler(handler)
    ours.setLevel(min(logging.getLevelName(file_level), host.level))
    ours.propagate = False
    try:
        yield
    finally:
        for handler in added:
            ours.removeHandler(handler)
            handler.close()
        ours.setLevel(saved[0])
        ours.propagate = saved[1]
