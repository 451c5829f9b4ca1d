"""Settings every Amazon plugin test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    """Retries still happen (and are counted) but without real waiting; as many attempts as in production."""
    stamina.set_testing(True, attempts=5)
    yield
    stamina.set_testing(False)
