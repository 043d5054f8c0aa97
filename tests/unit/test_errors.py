"""The exception tree of ``_errors``: as drawn in its docstring, typed by ``_codes``."""

from __future__ import annotations

import re

import pytest
from temporalio.exceptions import ApplicationError

import temporal_lambda.idempotency
import temporal_lambda.storage
from temporal_lambda import _codes, _errors
from temporal_lambda._errors import (
    CallInProgress,
    KeyReused,
    LambdaError,
    LambdaIdempotencyError,
    RecordUnreadable,
    ResultTooLarge,
    StoreUnavailable,
    to_application_error,
)


def _drawn() -> dict[str, str | None]:
    """``{class: parent}`` as the docstring's tree draws it (a name's column gives its parent).

    A node is a root (a dotted name at column 4) or a name right after ``├── ``/``└── ``.
    """
    tree: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (_errors.__doc__ or "").splitlines():
        match = re.match(r"^    ([\w.]+)\b", line) or re.search(r"[├└]── (\w+)", line)
        if match is None:
            continue
        depth = match.start(1)
        name = match.group(1).rsplit(".", 1)[-1]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        tree[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return tree


def test_the_drawn_tree_is_the_real_one() -> None:
    drawn = _drawn()
    defined = {
        name: cls
        for name, cls in vars(_errors).items()
        if isinstance(cls, type) and issubclass(cls, LambdaError)
    }
    assert {name for name, parent in drawn.items() if parent is not None} - {"StorageError"} == (
        set(defined) - {"LambdaError"}
    )
    for name, cls in defined.items():
        if name != "LambdaError":
            assert cls.__bases__[0].__name__ == drawn[name], name
    assert drawn["StorageError"] == "ApplicationError"
    assert issubclass(temporal_lambda.storage.StorageError, ApplicationError)


def test_idempotency_errors_are_the_same_classes_from_the_idempotency_package() -> None:
    for cls in (CallInProgress, KeyReused, RecordUnreadable, ResultTooLarge, StoreUnavailable):
        assert getattr(temporal_lambda.idempotency, cls.__name__) is cls
        assert issubclass(cls, LambdaIdempotencyError)


@pytest.mark.parametrize(
    ("error", "error_type", "non_retryable", "message", "delay"),
    [
        (
            CallInProgress("k-1", 2.5),
            _codes.IN_PROGRESS_ERROR_TYPE,
            False,
            "an earlier attempt of this call (key k-1) may still be waiting for Lambda; "
            "not calling again until its lease ends in 2.5 s",
            2.5,
        ),
        (
            KeyReused("k-1"),
            _codes.KEY_REUSED_ERROR_TYPE,
            True,
            "idempotency key k-1 was already used for a different request; "
            "give each logical call its own key",
            None,
        ),
        (
            RecordUnreadable("charge", "k-1", "ValueError: bad"),
            _codes.RECORD_UNREADABLE_ERROR_TYPE,
            True,
            "charge already ran for idempotency key k-1, and its stored result cannot be read "
            "(ValueError: bad); not calling it again: repair or delete the record to call it anew",
            None,
        ),
        (
            ResultTooLarge(10, 5),
            _codes.RESULT_TOO_LARGE_ERROR_TYPE,
            True,
            "result is 10 bytes; the idempotency store holds at most 5",
            None,
        ),
        (
            StoreUnavailable("locked"),
            _codes.STORE_UNAVAILABLE_ERROR_TYPE,
            False,
            "locked",
            None,
        ),
    ],
)
def test_idempotency_errors_as_a_workflow_sees_them(
    error: LambdaError, error_type: str, non_retryable: bool, message: str, delay: float | None
) -> None:
    with pytest.raises(ApplicationError) as raised:
        to_application_error(error)
    app = raised.value
    assert (app.type, app.non_retryable, app.message) == (error_type, non_retryable, message)
    got = app.next_retry_delay
    assert (None if got is None else got.total_seconds()) == delay
    assert list(app.details) == [{"retry_after": delay}]
