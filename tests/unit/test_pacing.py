"""Which failures are tried again, and how long a mall's Retry-After may hold a call."""

from __future__ import annotations

import httpx
import pytest

from ecsync_core.errors import CredentialError, MallError
from ecsync_core.pacing import RETRY_AFTER_MAX_S, _backoff


@pytest.mark.parametrize(
    ("failure", "wait"),
    [
        (MallError("m", "503", retryable=True), True),
        (MallError("m", "429", retryable=True, retry_after=2.0), 2.0),
        (MallError("m", "429", retryable=True, retry_after=3600.0), RETRY_AFTER_MAX_S),
        (MallError("m", "400"), False),
        (CredentialError("m", "key expired"), False),
        (httpx.ReadTimeout("slow"), True),
    ],
)
def test_retried_failures_and_their_wait(failure: Exception, wait: bool | float) -> None:
    """A Retry-After of an hour is not waited out in one call; refusals and credentials are never retried."""
    assert wait == _backoff(failure)
