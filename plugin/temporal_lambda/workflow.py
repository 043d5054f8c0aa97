"""The workflow-facing API: :func:`invoke_lambda`.

This module is safe to import inside the Temporal workflow sandbox: it imports nothing that
does I/O. The call is executed by the activity that :class:`~temporal_lambda.LambdaPlugin`
registers on the worker.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import Priority, RawValue, RetryPolicy
from temporalio.converter import DefaultPayloadConverter, PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

from temporal_lambda._codes import NON_RETRYABLE_ERROR_TYPES, VALIDATION_ERROR_TYPE
from temporal_lambda._sizes import (
    ENCODING_OVERHEAD,
    MAX_TASK_REQUESTS,
    UNLIMITED_PAYLOAD,
    describe_refusal,
    json_bound,
    payload_limits,
    payload_size,
    payloads_size,
)
from temporal_lambda._types import (
    DEFAULT_FUNCTION_ERROR_ATTEMPTS,
    DEFAULT_IDEMPOTENCY_FIELD,
    INVOKE_ACTIVITY_NAME,
    INVOKE_STREAM_ACTIVITY_NAME,
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaStreamResult,
    LogType,
)

STREAM_INVOCATION_TYPES = (InvocationType.REQUEST_RESPONSE.value, InvocationType.DRY_RUN.value)
"""What :func:`invoke_lambda_stream` accepts (``_spec.STREAM_INVOCATION_TYPES``, spelled here so
the workflow helper imports no more modules than it did)."""
MAX_FUNCTION_TIMEOUT = timedelta(minutes=15)
"""The longest a Lambda function may run (900 s)."""
TIMEOUT_MARGIN = timedelta(minutes=1)
"""Added to the function's timeout for network, throttling and cold start."""
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
"""How long the server waits for a heartbeat before it retries the attempt elsewhere."""
REFUSAL_MARKER = "temporal_lambda.refused"
"""The patch marker a size refusal leaves in history (``temporal_lambda.refused.<n>``, the
``n``-th call of the run), so that a replay makes the decision the run made (see
:func:`_activity_input`)."""


@dataclass
class _RunState:
    """What :func:`invoke_lambda` keeps for one workflow run instance."""

    calls: int = 0
    """Calls made by this instance so far (the number of the next one's refusal marker)."""
    task: int = -1
    """The history length of the workflow task ``scheduled`` counts for."""
    scheduled: int = 0
    """Request bytes scheduled by that workflow task."""


_RUNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RunState] = weakref.WeakKeyDictionary()
"""Per workflow run instance, keyed by its event loop: the SDK runs each instance (each
cached run, each replay from the start) in a loop of its own, so the state lives exactly as
long as the instance, and a replay starts afresh as the original run did."""


def _run_state() -> _RunState:
    """Return this workflow run instance's state (made on its first call)."""
    loop = asyncio.get_running_loop()
    state = _RUNS.get(loop)
    if state is None:
        state = _RUNS[loop] = _RunState()
    return state


def default_retry_policy(non_retryable_function_errors: Sequence[str] = ()) -> RetryPolicy:
    """Return the retry policy :func:`invoke_lambda` uses when none is given.

    Exponential backoff from 1 s to 60 s with no attempt limit (Temporal's own default), so
    throttles, 5xx and transport errors are retried until the call's timeouts end; never
    retrying the bad-request codes of the Invoke API, our validation errors, or the function
    error types the caller names. A function that keeps failing is not retried forever: the
    activity makes its error final after ``function_error_attempts`` of
    :func:`invoke_lambda`. Each type is listed once.

    Args:
        non_retryable_function_errors: Function ``errorType`` values not to retry.

    Returns:
        The retry policy.
    """
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=0,
        non_retryable_error_types=list(
            dict.fromkeys(
                [*NON_RETRYABLE_ERROR_TYPES, VALIDATION_ERROR_TYPE, *non_retryable_function_errors]
            )
        ),
    )


def lambda_start_to_close_timeout(function_timeout: timedelta | None = None) -> timedelta:
    """Return the attempt timeout for a function with the given timeout.

    Args:
        function_timeout: The function's configured timeout; unknown means 15 minutes.

    Returns:
        The function timeout (capped at 15 minutes) plus :data:`TIMEOUT_MARGIN`.
    """
    base = MAX_FUNCTION_TIMEOUT if function_timeout is None else function_timeout
    return min(base, MAX_FUNCTION_TIMEOUT) + TIMEOUT_MARGIN


def _wire_value(value: Enum | str) -> str:
    """Return an enum member's value, or a string as given (the activity validates it)."""
    return str(value.value) if isinstance(value, Enum) else value


def _refuse(message: str, field: str) -> NoReturn:
    """Raise the validation error the activity would raise, from the workflow."""
    raise ApplicationError(
        message, {"field": field}, type=VALIDATION_ERROR_TYPE, non_retryable=True
    )


def _is_default_json(converter: PayloadConverter) -> bool:
    """Whether ``converter`` is Temporal's default one (which the size bound is exact-safe for)."""
    inner = getattr(converter, "_inner_payload_converter", converter)
    return type(inner) is DefaultPayloadConverter


def _fields_bound(request: LambdaInvokeRequest) -> int:
    """Upper bound of the JSON of the request's string fields (huge if one is not a string)."""
    texts = [
        request.function_name,
        request.invocation_type,
        request.qualifier,
        request.log_type,
        request.tenant_id,
        request.durable_execution_name,
        request.idempotency_key,
        request.idempotency_key_field,
        *request.non_retryable_function_errors,
    ]
    total = 0
    for text in texts:
        if text is None:
            continue
        if not isinstance(text, str):
            return 2**62
        total += 3 + (6 if text.isascii() else 12) * len(text)
    return total


def _activity_input(request: LambdaInvokeRequest) -> Any:
    """Check that ``request`` can cross Temporal, and return what to schedule the activity with.

    Payload and client context must be JSON values nested at most
    :data:`~temporal_lambda._sizes.MAX_PAYLOAD_DEPTH` deep (one iterative walk), the request
    must encode within the namespace's payload limit, and the requests scheduled by one
    workflow task must stay within :data:`~temporal_lambda._sizes.MAX_TASK_REQUESTS` together
    (the task's completion is one gRPC message). With Temporal's default converter, a walk's
    bound far below the limits proves the request fits without encoding it; otherwise it is
    encoded here with the workflow's converter, and (default converter only) handed to the
    activity already encoded, so it is not encoded twice.

    The two size decisions depend on configuration (``payload_limit``, external storage, a
    codec), which may change while a workflow runs. A refusal therefore leaves a patch
    marker in history, and on replay the decision is the recorded one: refused where the
    marker is, scheduled where it is not, whatever today's limits say (the JSON checks are
    the request's own, and are made again).

    Raises:
        ApplicationError: ``Lambda.ValidationError``, non-retryable, with the field's name
            in the details; no activity is scheduled.
    """
    bound = json_bound(request.payload)
    if bound is None:
        _refuse(describe_refusal(request.payload, "payload"), "payload")
    if request.client_context is not None:
        context_bound = json_bound(request.client_context)
        if context_bound is None:
            _refuse(describe_refusal(request.client_context, "client_context"), "client_context")
        bound += context_bound
    bound += _fields_bound(request) + ENCODING_OVERHEAD
    info = workflow.info()
    limits = payload_limits(info.namespace, info.task_queue)
    state = _run_state()
    marker = f"{REFUSAL_MARKER}.{state.calls}"
    state.calls += 1
    converter = workflow.payload_converter()
    default = _is_default_json(converter)
    budgeted = limits.task < UNLIMITED_PAYLOAD
    if budgeted:
        task = info.get_current_history_length()
        if state.task != task:
            state.task, state.scheduled = task, 0
    payloads = None
    size = bound
    if (
        not default
        or bound > limits.request
        or (budgeted and state.scheduled + bound > limits.task)
    ):
        payloads = _encode(converter, request)
        size = payloads_size(map(payload_size, payloads))
    refusal: str | None = None
    if size > limits.request:
        refusal = (
            f"the request is {size} bytes once encoded for Temporal, over its payload limit of "
            f"{limits.request} bytes; nothing was sent. Send a smaller payload (e.g. a "
            "reference to an object in S3) or turn on external storage for large payloads"
        )
    elif budgeted and state.scheduled + size > limits.task:
        refusal = (
            f"the request is {size} bytes once encoded for Temporal, and this workflow task "
            f"already scheduled {state.scheduled} bytes of requests: together over the "
            f"{limits.task} bytes one workflow task may schedule (its completion is one gRPC "
            f"message of at most 4 MiB); nothing was sent. Await the calls in smaller groups "
            "(each group in a workflow task of its own) or turn on external storage for large "
            "payloads"
        )
    if workflow.unsafe.is_replaying():
        refused = workflow.patched(marker)  # what the run decided when it made this call
    else:
        refused = refusal is not None
        if refused:
            workflow.patched(marker)  # records the decision, for replays
    if refused:
        _refuse(
            refusal
            or "the request did not fit Temporal's payload limit, or this workflow task's "
            "share of it, when the run first made this call (the refusal is in its "
            "history); nothing was sent",
            "payload",
        )
    if budgeted:
        state.scheduled += size
    if payloads is not None and default and len(payloads) == 1:
        return RawValue(payloads[0])
    return request


def _encode(converter: PayloadConverter, request: LambdaInvokeRequest) -> list[Any]:
    """Encode ``request`` with the workflow's converter, refusing what it cannot encode."""
    failure: str | None = None
    try:
        return converter.to_payloads([request])
    except Exception as exc:  # the converter's own refusal; its message may quote the payload
        failure = type(exc).__name__
    _refuse(
        f"the request cannot be encoded by the workflow's payload converter: {failure}",
        "payload",
    )


_R = TypeVar("_R")


async def _execute(
    activity_name: str,
    request: LambdaInvokeRequest,
    result_type: type[_R],
    *,
    function_timeout: timedelta | None,
    start_to_close_timeout: timedelta | None,
    schedule_to_close_timeout: timedelta | None,
    schedule_to_start_timeout: timedelta | None,
    heartbeat_timeout: timedelta | None,
    retry_policy: RetryPolicy | None,
    non_retryable_function_errors: Sequence[str],
    task_queue: str | None,
    cancellation_type: ActivityCancellationType,
    activity_id: str | None,
    summary: str | None,
    priority: Priority,
) -> _R:
    """Check ``request`` and schedule it on ``activity_name``, with the call's defaults.

    One place for what :func:`invoke_lambda` and :func:`invoke_lambda_stream` share: the
    attempt timeout from ``function_timeout``, :func:`default_retry_policy`, and the checks
    of :func:`_activity_input`.
    """
    result: _R = await workflow.execute_activity(
        activity_name,
        _activity_input(request),
        result_type=result_type,
        task_queue=task_queue,
        start_to_close_timeout=start_to_close_timeout
        or lambda_start_to_close_timeout(function_timeout),
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy or default_retry_policy(non_retryable_function_errors),
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )
    return result


async def invoke_lambda(
    function_name: str,
    payload: Any = None,
    *,
    invocation_type: InvocationType | str = InvocationType.REQUEST_RESPONSE,
    qualifier: str | None = None,
    log_type: LogType | str | None = None,
    client_context: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    durable_execution_name: str | None = None,
    durable_execution_name_from_key: bool = False,
    invoke_async: bool = False,
    idempotency_key: str | None = None,
    idempotency_key_field: str | None = DEFAULT_IDEMPOTENCY_FIELD,
    non_retryable_function_errors: Sequence[str] = (),
    function_error_attempts: int = DEFAULT_FUNCTION_ERROR_ATTEMPTS,
    raise_on_function_error: bool = True,
    function_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = DEFAULT_HEARTBEAT_TIMEOUT,
    retry_policy: RetryPolicy | None = None,
    task_queue: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> LambdaInvokeResult:
    """Invoke a Lambda function from a workflow, as a durable activity.

    Args:
        function_name: Name, partial ARN or ARN, optionally with ``:qualifier``.
        payload: A JSON value, sent as the event: ``dict`` with ``str`` keys, ``list`` or
            ``tuple`` (sent as an array), ``str``, ``int``, finite ``float``, ``bool``,
            ``None``; ``bytes``, ``set``, ``datetime`` and the like are refused, not
            converted.
        invocation_type: ``RequestResponse`` (default), ``Event`` or ``DryRun``.
        qualifier: Version or alias.
        log_type: ``Tail`` to receive the last 4 KB of the log in the result.
        client_context: Client context (``custom``, ``env``, ``client``); synchronous only.
        tenant_id: Tenant id for functions in tenant-isolation mode.
        durable_execution_name: Name of the durable execution to start.
        durable_execution_name_from_key: Name the durable execution after the idempotency
            key, so that a retried start finds the execution the first attempt started.
        invoke_async: Use the deprecated ``InvokeAsync`` API.
        idempotency_key: Use this key instead of the derived one.
        idempotency_key_field: Where the function finds the key; ``None`` to not send it.
        non_retryable_function_errors: Function ``errorType`` values not to retry.
        function_error_attempts: How many attempts the function may fail on before its
            error is final (raised non-retryable, its own ``errorType``, the count in the
            message and details); throttles, 5xx and transport errors do not count.
            Default 3; 0 for no bound (the retry policy alone decides).
        raise_on_function_error: When false, a failed function is returned as a result.
        function_timeout: The function's timeout, to shorten ``start_to_close_timeout``.
        start_to_close_timeout: Attempt timeout; default from ``function_timeout``.
        schedule_to_close_timeout: Overall timeout across all attempts.
        schedule_to_start_timeout: How long the task may wait for a worker.
        heartbeat_timeout: Heartbeat timeout; the activity heartbeats well inside it.
        retry_policy: Retry policy; default :func:`default_retry_policy`.
        task_queue: Task queue of the worker with the plugin; default the workflow's.
        cancellation_type: How cancellation of the call is awaited.
        activity_id: Activity id (part of the derived idempotency key).
        summary: Summary shown in the Temporal UI; none by default, as for any activity
            (the call's input names the function). Each summary is one more payload, which
            the sandboxed workflow worker visits four times, in CPU on every call.
        priority: Task priority.

    Returns:
        The invocation's result.

    Raises:
        temporalio.exceptions.ApplicationError: ``Lambda.ValidationError`` (non-retryable),
            raised in the workflow before anything is scheduled, when ``payload`` or
            ``client_context`` holds something other than JSON values, nests deeper than
            256 levels, or the request is larger than Temporal's payload limit, or than
            what is left of the workflow task's
            :data:`~temporal_lambda._sizes.MAX_TASK_REQUESTS` after the calls it already
            scheduled (await large calls in smaller groups).
        temporalio.exceptions.ActivityError: the call failed; its ``cause`` is an
            ``ApplicationError`` whose ``type`` names the failure.
    """
    request = LambdaInvokeRequest(
        function_name=function_name,
        payload=payload,
        invocation_type=_wire_value(invocation_type),
        qualifier=qualifier,
        log_type=None if log_type is None else _wire_value(log_type),
        client_context=client_context,
        tenant_id=tenant_id,
        durable_execution_name=durable_execution_name,
        durable_execution_name_from_key=durable_execution_name_from_key,
        invoke_async=invoke_async,
        idempotency_key=idempotency_key,
        idempotency_key_field=idempotency_key_field,
        non_retryable_function_errors=list(non_retryable_function_errors),
        function_error_attempts=function_error_attempts,
        raise_on_function_error=raise_on_function_error,
    )
    return await _execute(
        INVOKE_ACTIVITY_NAME,
        request,
        LambdaInvokeResult,
        function_timeout=function_timeout,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        non_retryable_function_errors=non_retryable_function_errors,
        task_queue=task_queue,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


async def invoke_lambda_stream(
    function_name: str,
    payload: Any = None,
    *,
    invocation_type: InvocationType | str = InvocationType.REQUEST_RESPONSE,
    qualifier: str | None = None,
    log_type: LogType | str | None = None,
    client_context: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    idempotency_key: str | None = None,
    idempotency_key_field: str | None = DEFAULT_IDEMPOTENCY_FIELD,
    non_retryable_function_errors: Sequence[str] = (),
    function_error_attempts: int = DEFAULT_FUNCTION_ERROR_ATTEMPTS,
    function_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = DEFAULT_HEARTBEAT_TIMEOUT,
    retry_policy: RetryPolicy | None = None,
    task_queue: str | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
    priority: Priority = Priority.default,
) -> LambdaStreamResult:
    """Invoke a function with ``InvokeWithResponseStream`` and get its whole stream, durably.

    The activity reads the stream as it arrives (up to Lambda's 200 MB) into a spool file,
    heartbeating the bytes and chunks received, and returns it once ``InvokeComplete``
    says the function succeeded. A stream over the client's external-storage threshold
    reaches the workflow through that storage (the history holds a reference); without
    external storage, a stream over Temporal's payload limit fails with
    ``Lambda.ResultTooLargeForTemporal``.

    The arguments are :func:`invoke_lambda`'s, less what has no streaming form (``Event``,
    ``InvokeAsync``, durable executions, returning a function error as a result).

    Args:
        function_name: Name, partial ARN or ARN, optionally with ``:qualifier``.
        payload: A JSON value, sent as the event (as for :func:`invoke_lambda`).
        invocation_type: ``RequestResponse`` (default) or ``DryRun``; ``Event`` is refused.
        qualifier: Version or alias.
        log_type: ``Tail`` to receive the last 4 KB of the log in the result.
        client_context: Client context (``custom``, ``env``, ``client``).
        tenant_id: Tenant id for functions in tenant-isolation mode.
        idempotency_key: Use this key instead of the derived one.
        idempotency_key_field: Where the function finds the key; ``None`` to not send it.
        non_retryable_function_errors: ``ErrorCode`` values not to retry.
        function_error_attempts: Attempts the function may fail on (``InvokeComplete``
            with an ``ErrorCode``) before its error is final; 0 for no bound.
        function_timeout: The function's timeout, to shorten ``start_to_close_timeout``
            (a stream lasts as long as the function runs).
        start_to_close_timeout: Attempt timeout; default from ``function_timeout``.
        schedule_to_close_timeout: Overall timeout across all attempts.
        schedule_to_start_timeout: How long the task may wait for a worker.
        heartbeat_timeout: Heartbeat timeout; the activity heartbeats well inside it.
        retry_policy: Retry policy; default :func:`default_retry_policy`.
        task_queue: Task queue of the worker with the plugin; default the workflow's.
        cancellation_type: How cancellation of the call is awaited.
        activity_id: Activity id (part of the derived idempotency key).
        summary: Summary shown in the Temporal UI.
        priority: Task priority.

    Returns:
        The whole stream: ``payload`` (its text, or base64 when not UTF-8), ``size``,
        ``chunks``, ``sha256``, ``log_tail``.

    Raises:
        temporalio.exceptions.ApplicationError: ``Lambda.ValidationError`` (non-retryable),
            raised in the workflow before anything is scheduled, for an ``Event``
            invocation and for the payloads :func:`invoke_lambda` refuses.
        temporalio.exceptions.ActivityError: the call failed; its ``cause`` is an
            ``ApplicationError``: the function's ``ErrorCode`` (message ``ErrorDetails``,
            log tail in details), ``Lambda.SdkClientException`` for a stream cut before
            ``InvokeComplete`` (retried), ``Lambda.ResponseTooLarge`` past 200 MB (not
            retried), or any error :func:`invoke_lambda` reports.
    """
    kind = _wire_value(invocation_type)
    if kind not in STREAM_INVOCATION_TYPES:
        _refuse(
            f"InvokeWithResponseStream takes invocation type "
            f"{' or '.join(STREAM_INVOCATION_TYPES)}, not {kind!r}; nothing was sent",
            "invocation_type",
        )
    request = LambdaInvokeRequest(
        function_name=function_name,
        payload=payload,
        invocation_type=kind,
        qualifier=qualifier,
        log_type=None if log_type is None else _wire_value(log_type),
        client_context=client_context,
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        idempotency_key_field=idempotency_key_field,
        non_retryable_function_errors=list(non_retryable_function_errors),
        function_error_attempts=function_error_attempts,
    )
    return await _execute(
        INVOKE_STREAM_ACTIVITY_NAME,
        request,
        LambdaStreamResult,
        function_timeout=function_timeout,
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        non_retryable_function_errors=non_retryable_function_errors,
        task_queue=task_queue,
        cancellation_type=cancellation_type,
        activity_id=activity_id,
        summary=summary,
        priority=priority,
    )


__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "MAX_FUNCTION_TIMEOUT",
    "MAX_TASK_REQUESTS",
    "REFUSAL_MARKER",
    "TIMEOUT_MARGIN",
    "default_retry_policy",
    "invoke_lambda",
    "invoke_lambda_stream",
    "lambda_start_to_close_timeout",
]
