"""
Characters that make a code look right and match nothing: trimmed around a master sheet's code and refused inside
one, and left out when the sync looks for a mistyped SKU.
"""

from __future__ import annotations


_RANGES = (
    # Unicode's format characters (Cf): soft hyphen, zero-width spaces and joiners, direction marks and isolates,
    # the BOM, tags; text pasted from web pages, chat and other sheets carries them.
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    # Selectors and joiners with no glyph of their own.
    (0x034F, 0x034F), (0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF),
)  # fmt: skip

INVISIBLE = "".join(chr(c) for first, last in _RANGES for c in range(first, last + 1))
"""Every such character, for ``str.strip``."""

INVISIBLE_CLASS = "".join(f"{chr(first)}-{chr(last)}" for first, last in _RANGES)
"""The same as a regex character class's body, by ranges: 370 single characters made every search 30x slower."""
