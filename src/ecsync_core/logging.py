"""
structlog: readable lines on the console, one JSON event a line in the log file, secrets redacted in both.
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
            if _SECRET_KEY.search(key) and key != "event":
                event[key] = REDACTED
            elif isinstance(value, str):
                event[key] = self.scrub(value)
        return event


REDACTOR = Redactor()


class _ScrubStdlib(logging.Filter):
    """httpx logs request lines through the stdlib; scrub those too (-vv)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # structlog's own records carry the event dict, already redacted by the processor chain.
        if isinstance(record.msg, str):
            record.msg = REDACTOR.scrub(record.getMessage())
            record.args = ()
        return True


def configure(
    verbosity: int = 0,
    log_file: Path | None = None,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 14,
    file_level: str = "INFO",
    library: bool = False,
    zone: ZoneInfo | None = None,
) -> None:
    """
    Set up logging for one process.

    Console: warnings only by default, debug with ``-v``, HTTP traffic with ``-vv``. File: every event from
    *file_level* up (DEBUG with -v) as a JSON line, rotated by size.

    With *library* (a live sync started from the API, in someone else's program) only the file is set up, on
    the ``ecsync`` logger: the host's own handlers, levels and console stay as they were (structlog is set
    up for ecsync all the same: the trail must be written, and redacted).

    The file keeps UTC ISO times (one clock for every reader); the console shows them in *zone*, the
    configured one, as every other time the operator reads.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        REDACTOR,
    ]
    # Even for a library run: ecsync's events must reach its log file through the redactor, whatever a host
    # program set structlog to (a structlog set-up of its own is replaced; its stdlib logging is not).
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger("ecsync" if library else None)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    if library:  # the host's handlers see what the file keeps, no debug chatter
        root.setLevel(logging.DEBUG if verbosity else logging.getLevelName(file_level))
        _file_handler(root, log_file, shared, verbosity, max_bytes, backups, file_level)
        return
    root.setLevel(logging.DEBUG)
    ours = logging.getLogger("ecsync")  # as a library run may have left it
    for handler in list(ours.handlers):
        ours.removeHandler(handler)
        handler.close()
    ours.setLevel(logging.NOTSET)

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbosity else logging.WARNING)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([_in_zone(zone)] if zone is not None else []),
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    )
    console.addFilter(_ScrubStdlib())
    if not verbosity:
        # Each retry is a warning line: in cron mail that is noise, as the run's outcome says what failed in the
        # end. The log file keeps them.
        console.addFilter(lambda record: not record.name.startswith("stamina"))
    root.addHandler(console)

    _file_handler(root, log_file, shared, verbosity, max_bytes, backups, file_level)

    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _file_handler(
    logger: logging.Logger,
    log_file: Path | None,
    shared: list[Any],
    verbosity: int,
    max_bytes: int,
    backups: int,
    file_level: str,
) -> None:
    """The log file's JSON lines on *logger*; a file that cannot be opened is said, not raised."""
    if log_file is None:
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    except OSError as exc:
        structlog.get_logger("ecsync").warning("log_file_unwritable", path=str(log_file), error=exc.strerror)
        return
    to_file.setLevel(logging.DEBUG if verbosity else logging.getLevelName(file_level))
    to_file.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    to_file.addFilter(_ScrubStdlib())
    logger.addHandler(to_file)


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


@contextlib.contextmanager
def host_structlog_kept() -> Iterator[None]:
    """
    For a library run: ecsync sets structlog up for its trail (``configure(library=True)``), and the host program
    gets its own set-up back when the run is over.
    """
    configured, saved = structlog.is_configured(), structlog.get_config()
    try:
        yield
    finally:
        if configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def get_logger(name: str = "ecsync") -> Any:
    return structlog.get_logger(name)
