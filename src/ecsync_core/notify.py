"""
Alerts: FAILED, PARTIAL, REFUSED, INTERRUPTED and credential expiry reach a person.

The Slack and e-mail channels come with the operations work; until then every alert is a warning in the
log (and so on the console), through the same port.
"""

from __future__ import annotations

from typing import Protocol

from ecsync_core.logging import get_logger


class Notifier(Protocol):
    def notify(self, subject: str, body: str, *, run_id: str | None = None) -> None: ...


class LoggingNotifier:
    """Every alert as a structured warning: the log file and the console both show it."""

    def notify(self, subject: str, body: str, *, run_id: str | None = None) -> None:
        get_logger("ecsync.alert").warning("alert", subject=subject, body=body, run_id=run_id)
