"""
An opt-in pytest plugin: the real ``ecsync sandbox`` on loopback, for end-to-end tests.

Load it from a test module or the root ``conftest.py``::

    pytest_plugins = ["ecsync_core.testing.pytest_plugin"]

and take the ``ecsync_sandbox`` fixture. Override ``ecsync_sandbox_args`` (extra CLI arguments) or
``ecsync_sandbox_env`` (extra environment, e.g. ``ECSYNC_EXTRA_PLUGINS``) in your module to change how it
starts. The sandbox is stopped with SIGTERM when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecsync_core.testing.sandbox import RunningSandbox, start_sandbox


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
