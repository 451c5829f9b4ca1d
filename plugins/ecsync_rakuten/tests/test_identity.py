"""What rakuten_item_number may say, and how it is spelled canonically."""

from __future__ import annotations

import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_rakuten.identity import ItemKey, check_item_key, normalize_item_key, parse_item_key, sample_item_key


PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=32)


@pytest.mark.parametrize("code", ["abc-001", "ABC_001:normal-inventory", "tee-01:Red-M", "a" * 32 + ":" + "b" * 32])
def test_valid_keys_pass(code: str) -> None:
    """A manageNumber, optionally with :variantId, of RMS's charset and length is accepted."""
    assert check_item_key(code) is None


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("", "manageNumber is empty"),
        ("abc:", "variantId is empty"),
        (":red", "manageNumber is empty"),
        ("abc 001", "may hold only a-z, A-Z, 0-9, '-' and '_'"),
        ("商品:red", "may hold only"),
        ("abc:red/m", "variantId 'red/m' may hold only"),
        ("a" * 33, "33 characters long; Rakuten allows at most 32"),
        ("abc:" + "v" * 33, "variantId"),
        ("abc:red:m", "more than one ':'"),
    ],
)
def test_bad_keys_say_what_is_wrong(code: str, says: str) -> None:
    """A bad key gets one line naming the part that is wrong."""
    problem = check_item_key(code)
    assert problem is not None
    assert says in problem


def test_parse_folds_manage_number_only() -> None:
    """Rakuten folds manageNumber to lower case; variantId keeps its case (case-sensitive per RMS docs)."""
    assert ItemKey("tee-01", "Red-M") == parse_item_key("TEE-01:Red-M")
    assert ItemKey("tee-01", None) == parse_item_key("Tee-01")


def test_parse_refuses_with_the_check_text() -> None:
    """Parsing a bad key raises with the same words the importer shows."""
    with pytest.raises(ValueError, match="more than one ':'"):
        parse_item_key("a:b:c")


@given(PART, st.one_of(st.none(), PART))
def test_normalize_is_idempotent_and_keeps_meaning(manage_number: str, variant_id: str | None) -> None:
    """The canonical spelling parses to the same SKU, and normalizing twice changes nothing."""
    code = manage_number if variant_id is None else f"{manage_number}:{variant_id}"
    canonical = normalize_item_key(code)
    assert canonical == normalize_item_key(canonical)
    assert parse_item_key(code) == parse_item_key(canonical)
    assert (variant_id or "") == canonical.partition(":")[2]


def test_demo_keys_are_valid_distinct_and_varied() -> None:
    """The sandbox's demo codes are valid manageNumber:variantId pairs, unique even after case folding."""
    codes = [sample_item_key(n) for n in range(3000)]
    assert [None] * len(codes) == [check_item_key(c) for c in codes]
    assert len(codes) == len({normalize_item_key(c) for c in codes})
    assert all(":" in c for c in codes)
    assert {"normal-inventory", "red-m", "blue-l"} <= {c.partition(":")[2] for c in codes}
    assert any(c != normalize_item_key(c) for c in codes)
