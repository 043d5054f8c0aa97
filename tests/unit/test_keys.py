"""Idempotency keys (``_keys``): stable, derived from every id part, within Lambda's rules."""

import re

from temporal_lambda._keys import derive_idempotency_key


def test_key_is_stable_and_fits_lambda_and_powertools() -> None:
    key = derive_idempotency_key("default", "order-42", "run-1", "1")
    assert key == derive_idempotency_key("default", "order-42", "run-1", "1")
    assert re.fullmatch(r"tl-[A-Za-z0-9_-]{43}", key)
    assert len(key) == 46


def test_key_changes_with_each_part() -> None:
    base = ("default", "order-42", "run-1", "1")
    keys = {derive_idempotency_key(*base)}
    for i in range(4):
        parts = list(base)
        parts[i] = parts[i] + "x"
        keys.add(derive_idempotency_key(*parts))
    assert len(keys) == 5


def test_key_parts_cannot_be_shifted() -> None:
    assert derive_idempotency_key("a", "bc", "r", "1") != derive_idempotency_key(
        "ab", "c", "r", "1"
    )
