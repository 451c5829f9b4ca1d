"""
Just enough RSA for Yahoo's public-key authentication (公開鍵認証): PKCS#1 v1.5 *encryption* with the
store's public key, and, for the emulator, key generation and decryption.

Yahoo asks for ``base64(rsa_pkcs1v15_encrypt(public_key, "<seller_id>:<unix seconds>"))`` — an encryption,
not a signature. The project's dependency list has no cryptography library, and the operation is a single
modular exponentiation over a padded block, so it is written out here (RFC 8017 §7.2) with the standard
library: ``pow`` and ``secrets``. Nothing here is used for secrecy of our own data.
"""

from __future__ import annotations

import base64
import re
import secrets

import attrs


RSA_OID = bytes.fromhex("06092a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption, DER-encoded
_PEM = re.compile(r"-----BEGIN (?P<label>[A-Z ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.S)


class PemError(ValueError):
    """Raised when a PEM text is not an RSA public key."""


@attrs.frozen
class PublicKey:
    n: int
    e: int

    @property
    def size(self) -> int:
        """The modulus length in bytes."""
        return (self.n.bit_length() + 7) // 8


@attrs.frozen
class PrivateKey:
    n: int
    e: int
    d: int

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.n, self.e)


# -- DER, the few shapes a public key uses -----------------------------------------------------------------


def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
    """One TLV at *at*: (tag, value, offset after it)."""
    if at + 2 > len(data):
        raise PemError("truncated DER")
    tag, first = data[at], data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise PemError("bad DER length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise PemError("truncated DER")
    return tag, data[at : at + length], at + length


def _children(value: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(value):
        tag, inner, at = _read(value, at)
        out.append((tag, inner))
    return out


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def _integer(n: int) -> bytes:
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")  # one spare byte keeps the sign bit clear
    return _tlv(0x02, raw)


def _rsa_public(value: bytes) -> PublicKey:
    parts = _children(value)
    if len(parts) != 2 or any(tag != 0x02 for tag, _ in parts):
        raise PemError("not an RSAPublicKey (SEQUENCE of modulus and exponent)")
    return PublicKey(int.from_bytes(parts[0][1], "big"), int.from_bytes(parts[1][1], "big"))


def load_public_pem(text: str) -> PublicKey:
    """
    An RSA public key from PEM: ``BEGIN PUBLIC KEY`` (SubjectPublicKeyInfo, what Store Creator Pro
    issues) or ``BEGIN RSA PUBLIC KEY`` (PKCS#1).

    Raises:
        PemError: the text holds no such key.
    """
    match = _PEM.search(text)
    if match is None:
        raise PemError("no PEM block (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----)")
    try:
        der = base64.b64decode("".join(match["body"].split()), validate=True)
    except ValueError:
        raise PemError("the PEM body is not base64") from None
    tag, outer, _ = _read(der, 0)
    if tag != 0x30:
        raise PemError("not a DER SEQUENCE")
    if match["label"] == "RSA PUBLIC KEY":
        return _rsa_public(outer)
    if match["label"] != "PUBLIC KEY":
        raise PemError(f"a {match['label']} block, expected PUBLIC KEY")
    parts = _children(outer)
    if len(parts) != 2 or parts[0][0] != 0x30 or parts[1][0] != 0x03:
        raise PemError("not a SubjectPublicKeyInfo")
    if not parts[0][1].startswith(RSA_OID):
        raise PemError("not an RSA key")
    bits = parts[1][1]
    if not bits or bits[0] != 0:
        raise PemError("bad BIT STRING")
    tag, inner, _ = _read(bits[1:], 0)
    if tag != 0x30:
        raise PemError("not an RSAPublicKey")
    return _rsa_public(inner)


def public_pem(key: PublicKey) -> str:
    """The key as a ``BEGIN PUBLIC KEY`` PEM, as Store Creator Pro hands it out."""
    rsa = _tlv(0x30, _integer(key.n) + _integer(key.e))
    spki = _tlv(0x30, _tlv(0x30, RSA_OID + b"\x05\x00") + _tlv(0x03, b"\x00" + rsa))
    body = base64.b64encode(spki).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


# -- PKCS#1 v1.5 encryption (RFC 8017 §7.2) --------------------------------------------------------------


def encrypt(key: PublicKey, message: bytes) -> bytes:
    """RSAES-PKCS1-v1_5: ``00 02 <random non-zero> 00 <message>``, raised to *e* mod *n*."""
    k = key.size
    if len(message) > k - 11:
        msg = f"message of {len(message)} bytes is too long for a {k * 8}-bit key"
        raise ValueError(msg)
    padding = bytearray()
    while len(padding) < k - 3 - len(message):
        padding.extend(b for b in secrets.token_bytes(k) if b != 0)
    block = b"\x00\x02" + bytes(padding[: k - 3 - len(message)]) + b"\x00" + message
    return pow(int.from_bytes(block, "big"), key.e, key.n).to_bytes(k, "big")


def decrypt(key: PrivateKey, ciphertext: bytes) -> bytes | None:
    """The message, or ``None`` when the block is not a valid PKCS#1 v1.5 encryption for *key*."""
    k = (key.n.bit_length() + 7) // 8
    if len(ciphertext) != k:
        return None
    c = int.from_bytes(ciphertext, "big")
    if c >= key.n:
        return None
    block = pow(c, key.d, key.n).to_bytes(k, "big")
    if block[:2] != b"\x00\x02":
        return None
    end = block.find(b"\x00", 2)
    if end < 10:
        return None
    return block[end + 1 :]


# -- key generation (the emulator's test key) -----------------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def _probably_prime(n: int, rounds: int = 24) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in {1, n - 1}:
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1  # top two bits set: n has full length
        if _probably_prime(candidate):
            return candidate


def generate(bits: int = 2048, e: int = 65537) -> PrivateKey:
    """A fresh RSA key pair (the emulator's stand-in for a store's key)."""
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            return PrivateKey(p * q, e, pow(e, -1, phi))
