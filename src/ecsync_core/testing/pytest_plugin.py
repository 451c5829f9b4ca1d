"""
An opt-in pytest plugin for ecsync and mall plugin tests. Load it from the root ``conftest.py``::

    pytest_plugins = ["ecsync_core.testing.pytest_plugin"]

Every test then retries as production does but without waiting, and runs in a fresh working directory
with no ``ECSYNC_*`` variables, so no developer's config or ``.env`` leaks in. For end-to-end tests take
the ``ecsync_sandbox`` fixture: the real ``ecsync sandbox`` on loopback. Override ``ecsync_sandbox_args``
(extra CLI arguments) or ``ecsync_sandbox_env`` (extra environment, e.g. ``ECSYNC_EXTRA_PLUGINS``) in your
module to change how it starts. The sandbox is stopped with SIGTERM when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from ecsync_core.pacing import RETRY_ATTEMPTS
from ecsync_core.testing.sandbox import RunningSandbox, start_sandbox


@pytest.fixture(autouse=True)
def _ecsync_fast_retries() -> Iterator[None]:
    """Retries still happen (and are counted, as many attempts as in production) but without real waiting."""
    stamina.set_testing(True, attempts=RETRY_ATTEMPTS)
    yield
    stamina.set_testing(False)


@pytest.fixture(autouse=True)
def _ecsync_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's config, .env or ECSYNC_* variables."""
    for name in ("ECSYNC_CONFIG", "ECSYNC_DISABLE_PLUGINS", "ECSYNC_EXTRA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def ecsync_sandbox_args() -> list[str]:
    """Extra arguments to ``ecsync sandbox --dir DIR`` (``--skus``, ``--speed``, ``--seed``)."""
    return []


@pytest.fixture
def ecsync_sandbox_env() -> dict[str, str]:
    """Extra environment for the sandbox process."""
    return {}


@pytest.fixture
def ecsync_sandbox(
    tmp_path_factory: pytest.TempPathFactory, ecsync_sandbox_args: list[str], ecsync_sandbox_env: dict[str, str]
) -> Iterator[RunningSandbox]:
    """A running ``ecsync sandbox`` in a fresh directory: its files, URLs and process."""
    directory = tmp_path_factory.mktemp("sandbox")
    with start_sandbox(directory, *ecsync_sandbox_args, env=ecsync_sandbox_env) as sandbox:
        yield sandbox
