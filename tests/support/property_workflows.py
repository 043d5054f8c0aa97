"""A workflow for the property tests: call ``invoke_lambda`` with bad input and catch the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from temporal_lambda.workflow import invoke_lambda


@dataclass
class BadCall:
    function_name: str
    payload: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Caught:
    """What the workflow caught, as the workflow saw it."""

    error_class: str
    cause_class: str
    type: str | None
    message: str
    non_retryable: bool
    details: list[Any]
    retry_state: str | None


@workflow.defn
class CatchValidationErrorWorkflow:
    """Invoke with the given (bad) input; return the ``Lambda.ValidationError`` caught by type."""

    @workflow.run
    async def run(self, call: BadCall) -> Caught:
        try:
            await invoke_lambda(call.function_name, call.payload, **call.options)
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "Lambda.ValidationError":
                return Caught(
                    error_class=type(err).__name__,
                    cause_class=type(cause).__name__,
                    type=cause.type,
                    message=cause.message,
                    non_retryable=cause.non_retryable,
                    details=list(cause.details),
                    retry_state=None if err.retry_state is None else err.retry_state.name,
                )
            raise
        raise ApplicationError("the bad call unexpectedly succeeded", non_retryable=True)
