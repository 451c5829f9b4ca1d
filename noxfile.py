"""
Sessions: lint, typing, tests, plugin(name), bench. `make test` runs the same checks in .venv directly.
"""

from __future__ import annotations

from pathlib import Path

import nox


nox.options.sessions = ["lint", "typing", "tests"]
# Reused because installing DuckDB and the type stubs again on every run costs more than the check itself.
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PLUGINS = {p.name.removeprefix("ecsync_"): p for p in sorted(Path("plugins").glob("ecsync_*"))}
SOURCES = ["src", *(str(p / "src") for p in PLUGINS.values())]


def _install_all(session: nox.Session) -> None:
    session.install("-e", ".[dev]", *(arg for p in PLUGINS.values() for arg in ("-e", str(p))))


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    _install_all(session)
    session.run("mypy", *SOURCES)


@nox.session
def tests(session: nox.Session) -> None:
    _install_all(session)
    session.run("pytest", *session.posargs)


@nox.session
@nox.parametrize("name", list(PLUGINS))
def plugin(session: nox.Session, name: str) -> None:
    """The core plus one plugin alone: it must install, load and pass its own tests without the others."""
    session.install("-e", ".[dev]", "-e", str(PLUGINS[name]))
    session.run("ecsync", "malls")
    session.run("pytest", str(PLUGINS[name] / "tests"), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Print the benchmark figures (wall time against the floor, ratios, peak memory); asserts nothing."""
    _install_all(session)
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
