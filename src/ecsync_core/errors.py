"""
Every error ecsync raises on purpose. The CLI turns each into one line and an exit code.
"""

from __future__ import annotations

import attrs


class EcsyncError(Exception):
    """The root: an error that the CLI reports as one line, exit 1, no traceback (unless -v)."""

    exit_code = 1

    def one_line(self) -> str:
        return str(self)


@attrs.define(str=False)
class ConfigError(EcsyncError):
    """Raised when a config key is unknown, of the wrong type, or out of range."""

    key: str
    problem: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"config error: {where}{self.key}: {self.problem}"


@attrs.define(str=False)
class InputProblem:
    """One located problem in an input file."""

    file: str
    problem: str
    row: int | None = None
    column: str | None = None
    value: object = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        where = ", ".join(parts)
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{where}: {self.problem}{shown}"


SHOWN_PROBLEMS = 100
"""The most problems an input error lists: a sheet with one mistake in every row gave 50,000 lines (5 MB of JSON)."""


class InputError(EcsyncError):
    """Raised when an input file (master sheet, stock report) has problems; carries all of them."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems
        super().__init__(str(problems[0]) if problems else "bad input")

    def one_line(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        shown, more = self.problems[:SHOWN_PROBLEMS], len(self.problems) - SHOWN_PROBLEMS
        tail = [f"... and {more:,} more problems not shown: fix these, and check again"] if more > 0 else []
        return "\n".join([f"{len(self.problems):,} problems, nothing imported:", *map(str, shown), *tail])


@attrs.define(str=False)
class MallError(EcsyncError):
    """
    Raised by a mall adapter when a call fails as a whole.

    Attributes:
        retryable: a 429, 5xx, timeout or dropped connection; worth trying again.
        retry_after: seconds the mall asked us to wait, when it said.
    """

    mall: str
    message: str
    retryable: bool = False
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.mall}: {self.message}"


@attrs.define(str=False)
class MallWarning(MallError):
    """Raised by an adapter's ``ping`` when the mall answered, but with something to fix soon: health WARNs."""


@attrs.define(str=False)
class CredentialError(MallError):
    """Raised when a mall refuses our credentials; never retried. *message* says what to renew."""


class RunLockedError(EcsyncError):
    """Raised when another sync or rollback holds the run lock of this database."""


class RefusedError(EcsyncError):
    """Raised when a safety check or the rule governance stops a live run."""


class NotYetAvailableError(EcsyncError):
    """Raised by a command whose issue has not landed yet: it says so instead of faking output."""


class PluginError(EcsyncError):
    """Raised when installed plugins conflict (two claim one mall code) or a needed mall is missing."""
