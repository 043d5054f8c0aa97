"""Read the Lambda API's answer: a result, the function's error document, or a service error.

Pure code: no I/O, nothing from httpx, botocore or temporalio (the client hands the status,
headers and body to :func:`parse_response`).

Decisions worth knowing:

- The error code of a service error is taken exactly as botocore's ``RestJSONParser`` does:
  the ``x-amzn-ErrorType`` header cut at the first ``:``, else the body's ``code``/``Code``,
  else its ``__type`` (namespace before ``#`` dropped). When none of them is present the code
  is the one the status itself names — 429 ``TooManyRequestsException``, 413
  ``RequestTooLargeException`` (a proxy or load balancer in front of Lambda answers so) — and
  otherwise ``"Unknown"`` (so the ``ApplicationError`` type is ``"Lambda.Unknown"``), the status
  code alone deciding whether it is retryable; botocore would use the status as the code, which
  makes a poor ``ApplicationError`` type.
- The three spellings of "payload too large" (``RequestTooLargeException``,
  ``SerializedRequestEntityTooLargeException`` and the unmodelled
  ``RequestEntityTooLargeException`` AWS actually sends) all become
  ``RequestTooLargeException``.
- Retryable or not is :func:`temporal_lambda._codes.is_retryable`'s answer.
- A function error document without ``errorType`` is reported as ``UnknownFunctionError``.
- Every text taken from an error answer (message, error type, stack trace, log tail) is
  scrubbed of the call's secrets and of signing material
  (:func:`temporal_lambda._redact.scrub`) as soon as it is read, before any bound cuts it:
  a cut would leave a part of a secret that no longer matches it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from temporal_lambda._codes import (
    REQUEST_TOO_LARGE,
    TOO_LARGE_SPELLINGS,
    TOO_MANY_REQUESTS,
    UNKNOWN_CODE,
    UNKNOWN_FUNCTION_ERROR_TYPE,
    is_retryable,
)
from temporal_lambda._errors import FunctionErrorInfo, LambdaFunctionError, LambdaServiceError
from temporal_lambda._redact import scrub
from temporal_lambda._spec import (
    DURABLE_EXECUTION_ARN_HEADER,
    ERROR_TYPE_HEADER,
    EXECUTED_VERSION_HEADER,
    FUNCTION_ERROR_HEADER,
    LOG_RESULT_HEADER,
    MAX_FUNCTION_DURATION,
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
)
from temporal_lambda._types import LambdaInvokeRequest, LambdaInvokeResult, PayloadEncoding

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER",
    "classify_service_error",
    "decode_log_tail",
    "parse_response",
    "retry_after_seconds",
]

DEFAULT_MAX_RETRY_AFTER = float(MAX_FUNCTION_DURATION)
"""Longest ``Retry-After`` wait honoured by default, in seconds (Lambda's 15 minutes)."""
_NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_MAX_MESSAGE = 4096
"""Longest message taken from a raw (non-JSON) response body."""
_CODE_OF_STATUS = {429: TOO_MANY_REQUESTS, 413: REQUEST_TOO_LARGE}
"""The code an answer without one (a proxy's, a load balancer's) gets from its status."""
_REQUEST_ID = REQUEST_ID_HEADER.lower()
_ERROR_TYPE = ERROR_TYPE_HEADER.lower()
_RETRY_AFTER = RETRY_AFTER_HEADER.lower()
_FUNCTION_ERROR = FUNCTION_ERROR_HEADER.lower()
_LOG_RESULT = LOG_RESULT_HEADER.lower()
_EXECUTED_VERSION = EXECUTED_VERSION_HEADER.lower()
_DURABLE_EXECUTION_ARN = DURABLE_EXECUTION_ARN_HEADER.lower()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_body(body: bytes) -> tuple[Any, PayloadEncoding]:
    """Decode a response body: empty, strict JSON, UTF-8 text, or base64 of the bytes."""
    if not body:
        return None, PayloadEncoding.EMPTY
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), PayloadEncoding.BASE64
    try:
        return json.loads(text, parse_constant=_reject_constant), PayloadEncoding.JSON
    except ValueError:
        return text, PayloadEncoding.TEXT


def decode_log_tail(value: str | None) -> str | None:
    """Decode a base64 log tail (``X-Amz-Log-Result``, a stream's ``LogResult``), leniently."""
    if value is None:
        return None
    try:
        return base64.b64decode(value).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _function_error_info(
    function_error: str,
    headers: Mapping[str, str],
    payload: Any,
    encoding: PayloadEncoding,
    log_tail: str | None,
    secrets: Sequence[str],
) -> FunctionErrorInfo:
    """Read the function's error document, its texts scrubbed before anything bounds them."""
    doc: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
    error_type = doc.get("errorType")
    if not isinstance(error_type, str) or not error_type:
        error_type = UNKNOWN_FUNCTION_ERROR_TYPE
    message = doc.get("errorMessage")
    if message is None:
        if encoding is PayloadEncoding.EMPTY:
            message = f"function failed ({function_error}) with an empty error document"
        elif encoding is PayloadEncoding.JSON:
            message = _truncate(scrub(json.dumps(payload, ensure_ascii=False), secrets))
        else:
            message = _truncate(scrub(str(payload), secrets))
    elif not isinstance(message, str):
        message = _truncate(scrub(json.dumps(message, ensure_ascii=False), secrets))
    message_size = len(message)
    message = scrub(message, secrets)
    raw_trace = doc.get("stackTrace")
    stack_trace: list[str] = []
    if isinstance(raw_trace, list):
        stack_trace = [
            scrub(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False), secrets)
            for line in raw_trace
        ]
    elif isinstance(raw_trace, str):
        stack_trace = [scrub(raw_trace, secrets)]
    doc_request_id = doc.get("requestId")
    request_id = headers.get(_REQUEST_ID) or (
        doc_request_id if isinstance(doc_request_id, str) else None
    )
    return FunctionErrorInfo(
        error_type=scrub(error_type, secrets),
        message=message,
        message_size=message_size,
        stack_trace=stack_trace,
        function_error=function_error,
        request_id=request_id,
        executed_version=headers.get(_EXECUTED_VERSION),
        log_tail=None if log_tail is None else scrub(log_tail, secrets),
    )


def parse_response(
    request: LambdaInvokeRequest,
    idempotency_key: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    secrets: Sequence[str] = (),
) -> LambdaInvokeResult:
    """Turn the Lambda API's answer into a result, or raise the error it reports.

    Args:
        request: The request that was sent.
        idempotency_key: The key the request carried.
        status_code: The HTTP status of the answer.
        headers: The response headers (looked up case-insensitively).
        body: The response body.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.
        secrets: The secrets the call was signed with, scrubbed from an error's texts.

    Returns:
        The result, with the body decoded as JSON, text or base64. When the function failed
        and ``request.raise_on_function_error`` is false, ``function_error`` is set and
        ``payload`` is the error document.

    Raises:
        LambdaFunctionError: the function failed (``X-Amz-Function-Error``) and
            ``request.raise_on_function_error`` is true; retryable unless its ``errorType``
            is in ``request.non_retryable_function_errors``.
        LambdaServiceError: the status is not 2xx (see :func:`classify_service_error`).
    """
    if not 200 <= status_code < 300:
        raise classify_service_error(
            status_code, headers, body, max_retry_after=max_retry_after, secrets=secrets
        )
    lowered = _lower(headers)
    payload, encoding = _decode_body(body)
    log_tail = decode_log_tail(lowered.get(_LOG_RESULT))
    function_error = lowered.get(_FUNCTION_ERROR)
    if function_error is not None and request.raise_on_function_error:
        info = _function_error_info(function_error, lowered, payload, encoding, log_tail, secrets)
        raise LambdaFunctionError(
            info, retryable=info.error_type not in request.non_retryable_function_errors
        )
    return LambdaInvokeResult(
        status_code=status_code,
        idempotency_key=idempotency_key,
        payload=payload,
        payload_encoding=encoding.value,
        executed_version=lowered.get(_EXECUTED_VERSION),
        request_id=lowered.get(_REQUEST_ID),
        log_tail=log_tail,
        function_error=function_error,
        durable_execution_arn=lowered.get(_DURABLE_EXECUTION_ARN),
    )


def _error_code(lowered: Mapping[str, str], doc: Mapping[str, Any]) -> str | None:
    code: object = lowered.get(_ERROR_TYPE)
    if not code:
        code = doc.get("code", doc.get("Code"))
    if not code:
        code = doc.get("__type")
    if not isinstance(code, str) or not code:
        return None
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    return code or None


def retry_after_seconds(
    value: str | None,
    *,
    date: str | None = None,
    now: datetime.datetime | None = None,
    maximum: float = DEFAULT_MAX_RETRY_AFTER,
) -> float | None:
    """Read a ``Retry-After`` header as the seconds to wait, at most ``maximum``.

    Never raises: whatever a server sends, the answer is a number of seconds or ``None``.

    Args:
        value: The header: delay-seconds (Lambda sends whole seconds; a decimal is taken
            as is, and so is an exponent) or an HTTP-date.
        date: The response's ``Date`` header; an HTTP-date is measured from it (the
            server's own clock), else from ``now``.
        now: The current time (default: the system clock, UTC).
        maximum: The longest wait returned; a longer delay, an overflowing number or a
            date further ahead is cut to it.

    Returns:
        Seconds in ``[0, maximum]`` (``0`` for a date in the past), or ``None`` when the
        header is absent, negative, NaN or neither a number nor an HTTP-date.
    """
    if value is None:
        return None
    text = value.strip()
    if _NUMBER_RE.fullmatch(text):
        # Decimal notation only ("nan" and "inf" are not numbers here); an exponent or a
        # number too long for a float gives a huge value, or inf, which the maximum cuts.
        seconds = float(text)
        if seconds < 0:
            return None
        seconds = max(0.0, seconds)  # "-0" is no wait
    else:
        when = _http_date(text)
        if when is None:
            return None
        reference = _http_date(date) if date is not None else None
        if reference is None:
            reference = now if now is not None else datetime.datetime.now(datetime.UTC)
        seconds = max(0.0, (when - reference).total_seconds())
    return min(seconds, maximum)


def _http_date(text: str) -> datetime.datetime | None:
    """Parse an HTTP-date (RFC 9110: IMF-fixdate, RFC 850 or asctime) as an aware datetime."""
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" and asctime: UTC by definition for HTTP
        when = when.replace(tzinfo=datetime.UTC)
    return when


def classify_service_error(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    secrets: Sequence[str] = (),
) -> LambdaServiceError:
    """Build the error for a non-2xx answer of the Lambda API.

    Args:
        status_code: The HTTP status.
        headers: The response headers (looked up case-insensitively).
        body: The response body (JSON error document, or anything a proxy sent).
        max_retry_after: The longest ``Retry-After`` honoured, in seconds (see
            :func:`retry_after_seconds`).
        secrets: The secrets the call was signed with: the message (which may echo the
            request's headers) is scrubbed of them before it is cut to 4,096 characters.

    Returns:
        The error, with code (``error_type`` is ``Lambda.<code>``), message, retryability,
        request id, ``Retry-After`` in seconds, throttle reason and error kind
        (``User``/``Service``).
    """
    lowered = _lower(headers)
    text = body.decode("utf-8", errors="replace")
    doc: Mapping[str, Any]
    if not text:
        doc = {}
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        doc = parsed if isinstance(parsed, dict) else {"message": text}
    code = _error_code(lowered, doc) or _CODE_OF_STATUS.get(status_code, UNKNOWN_CODE)
    if code in TOO_LARGE_SPELLINGS:
        code = REQUEST_TOO_LARGE
    message = doc.get("message", doc.get("Message"))
    if not isinstance(message, str) or not message:
        message = f"HTTP {status_code}"
    kind = doc.get("Type")
    reason = doc.get("Reason")
    return LambdaServiceError(
        _truncate(scrub(message, secrets)),
        code=code,
        status_code=status_code,
        retryable=is_retryable(code, status_code),
        request_id=lowered.get(_REQUEST_ID),
        retry_after=retry_after_seconds(
            lowered.get(_RETRY_AFTER), date=lowered.get("date"), maximum=max_retry_after
        ),
        reason=reason if isinstance(reason, str) else None,
        error_kind=kind if isinstance(kind, str) else None,
    )
