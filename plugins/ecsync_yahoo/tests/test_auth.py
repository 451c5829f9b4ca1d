"""What health is told about Yahoo's credentials, and the public-key signature's recipe."""

from __future__ import annotations

import base64

from datetime import UTC, datetime

import pytest

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ecsync_core.errors import CredentialError
from ecsync_yahoo.auth import PublicKeySigner, credential_statuses, load_public_pem
from ecsync_yahoo.emulator import demo_key, demo_public_pem
from ecsync_yahoo.plugin import YahooSettings


NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
BASE = {"YAHOO_CLIENT_ID": "id", "YAHOO_CLIENT_SECRET": "secret", "YAHOO_REFRESH_TOKEN": "rt"}


@pytest.mark.parametrize(
    ("consent", "days"),
    [
        ("2027-01-01T00:00:00Z", 28),
        ("2026-12-11T00:00:00+00:00", 7),
        ("2026-12-11T08:59:59+09:00", 6),
        ("2026-12-04T00:00:00Z", 0),
        ("2026-12-01T00:00:00Z", -3),
    ],
)
def test_refresh_token_days_left(consent: str, days: int) -> None:
    """Days left are whole days until 28 days after consent (warned 7 ahead); past it they go negative."""
    [status] = credential_statuses({**BASE, "YAHOO_CONSENT_AT": consent}, YahooSettings(), NOW)
    assert (days, 7) == (status.days_left, status.warn_days)


def test_unknown_consent_time_is_said() -> None:
    """Without YAHOO_CONSENT_AT the days are unknown, and the action says how to record it."""
    [status] = credential_statuses(BASE, YahooSettings(), NOW)
    assert status.days_left is None
    assert "YAHOO_CONSENT_AT is not set" in status.action
    assert "scripts/get_yahoo_token.py" in status.action


def test_a_consent_time_still_to_come_is_warned_not_counted() -> None:
    """A typo'd year would show 28 days for ever and never warn: a consent in the future is warned as unknown."""
    [status] = credential_statuses({**BASE, "YAHOO_CONSENT_AT": "2027-11-20T00:00:00Z"}, YahooSettings(), NOW)
    assert (None, True) == (status.days_left, status.expires_unknown)
    assert "a time still to come" in status.action


def test_bad_consent_time_is_one_clear_error() -> None:
    """A consent time that is not ISO is a credential error naming the entry and an example."""
    with pytest.raises(CredentialError, match=r"YAHOO_CONSENT_AT='last week' is not an ISO date"):
        credential_statuses({**BASE, "YAHOO_CONSENT_AT": "last week"}, YahooSettings(), NOW)


@pytest.mark.parametrize(
    ("now", "days"),
    [
        (NOW, 9),  # 09:00 on 1 January in Japan: nine days to the 10th
        (datetime(2027, 1, 10, 14, 59, tzinfo=UTC), 0),  # 23:59 on the 10th in Japan: its last day
        (datetime(2027, 1, 10, 15, 1, tzinfo=UTC), -1),  # 00:01 on the 11th in Japan: lapsed, still the 10th in UTC
    ],
)
def test_public_key_expiry(now: datetime, days: int) -> None:
    """A configured public key's expiry date is counted too: it works through that whole day in Japan."""
    secrets = {
        **BASE,
        "YAHOO_CONSENT_AT": "2027-01-01T00:00:00Z",
        "YAHOO_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----...",
        "YAHOO_PUBLIC_KEY_VERSION": "3",
        "YAHOO_PUBLIC_KEY_EXPIRES": "2027-01-10",
    }
    _token, key = credential_statuses(secrets, YahooSettings(), now)
    assert ("Yahoo public key v3", days, 30) == (key.name, key.days_left, key.warn_days)
    assert "暗号鍵管理" in key.action


def test_public_key_without_expiry() -> None:
    """A key with no expiry date set reports unknown days and asks for YAHOO_PUBLIC_KEY_EXPIRES."""
    secrets = {**BASE, "YAHOO_PUBLIC_KEY": "x", "YAHOO_PUBLIC_KEY_VERSION": "1"}
    _token, key = credential_statuses(secrets, YahooSettings(), NOW)
    assert key.days_left is None
    assert "YAHOO_PUBLIC_KEY_EXPIRES is not set" in key.action


def test_signature_is_seller_and_time_encrypted_with_the_key() -> None:
    """X-sws-signature decrypts (with the store's private key) to "<seller_id>:<unix seconds>"."""
    signer = PublicKeySigner(load_public_pem(demo_public_pem()), "2", "snbx-shop", clock=lambda: 1_700_000_000.9)
    headers = signer.headers()
    assert "2" == headers["X-sws-signature-version"]
    plain = demo_key().decrypt(base64.b64decode(headers["X-sws-signature"]), PKCS1v15())
    assert b"snbx-shop:1700000000" == plain


def test_a_key_that_is_not_pem_is_refused() -> None:
    """YAHOO_PUBLIC_KEY holding something else than a PEM public key is one clear credential error."""
    with pytest.raises(CredentialError, match="not an RSA public key in PEM"):
        PublicKeySigner.from_secrets(
            {
                "YAHOO_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                "YAHOO_PUBLIC_KEY_VERSION": "1",
            },
            "s",
        )


def test_pkcs1_public_key_is_read_too() -> None:
    """A 'BEGIN RSA PUBLIC KEY' (PKCS#1) block gives the same key as the SubjectPublicKeyInfo one."""
    public = demo_key().public_key()
    pkcs1 = public.public_bytes(Encoding.PEM, PublicFormat.PKCS1).decode()
    assert public.public_numbers() == load_public_pem(pkcs1).public_numbers()
