"""The service-error catalogue, the retry rule, and every ``ApplicationError.type`` string.

Dependency-free (the workflow helper builds its default retry policy from it). The types fall
in four groups::

    Lambda.<Code>                     a service error of the Invoke API (SERVICE_ERROR_STATUS,
                                      UNMODELLED_ERROR_STATUS; UNKNOWN_CODE when none is named)
    <errorType>                       the function's own error (UNKNOWN_FUNCTION_ERROR_TYPE
                                      when its document names none)
    Lambda.ValidationError ...        raised by this package (the ``*_ERROR_TYPE`` constants)
    Lambda.ExternalStorage.<What>     raised by the external-storage drivers (``STORAGE_*``)

The retry rule (:func:`is_retryable`): 408, 429, every 5xx, and the codes in
:data:`RETRYABLE_CODES` whatever their status, are retried; every other status (4xx, and
anything unexpected below 400) is not. :data:`NON_RETRYABLE_ERROR_TYPES` lists the known
types the rule never retries, for a ``RetryPolicy``.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_PREFIX = "Lambda."
"""Starts every ``ApplicationError.type`` of this package except a function's own."""

# -- raised by the package --------------------------------------------------------------------

VALIDATION_ERROR_TYPE = "Lambda.ValidationError"
"""Bad input rejected before sending: not retried."""
TRANSPORT_ERROR_TYPE = "Lambda.SdkClientException"
"""No complete answer (connect, reset): retried (the name Step Functions uses)."""
TIMEOUT_ERROR_TYPE = "Lambda.ClientExecutionTimeoutException"
"""A read that outlived the attempt's deadline: retried."""
RESPONSE_TOO_LARGE_ERROR_TYPE = "Lambda.ResponseTooLarge"
"""A successful answer's body is larger than the call type allows: not retried (the function
may have run)."""
RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE = "Lambda.ResultTooLargeForTemporal"
"""The function ran but its encoded result is over Temporal's payload limit: not retried,
since a retry would run the function again."""
IN_PROGRESS_ERROR_TYPE = "Lambda.IdempotencyInProgress"
"""An earlier attempt holds a live lease on the key: retried when the lease ends."""
KEY_REUSED_ERROR_TYPE = "Lambda.IdempotencyKeyReused"
"""The key was used for a different request: not retried."""
RESULT_TOO_LARGE_ERROR_TYPE = "Lambda.IdempotencyResultTooLarge"
"""The result is larger than the idempotency store holds: not retried."""
STORE_UNAVAILABLE_ERROR_TYPE = "Lambda.IdempotencyStoreUnavailable"
"""The idempotency store could not answer (locked, full, unreachable): retried."""
RECORD_UNREADABLE_ERROR_TYPE = "Lambda.IdempotencyRecordUnreadable"
"""The call already ran, but its stored result cannot be read (damaged, or encoded with a
codec this worker lacks): not retried, since a retry would read the same record."""
UNKNOWN_ERROR_TYPE = "Lambda.Unknown"
"""The type of a package error that names no other (and of a service error naming no code)."""

# -- raised by the external-storage drivers ---------------------------------------------------

STORAGE_NOT_FOUND = "Lambda.ExternalStorage.NotFound"
"""The reference names an object (or file) that is not there (expired, deleted, other store)."""
STORAGE_NO_SUCH_BUCKET = "Lambda.ExternalStorage.NoSuchBucket"
"""The bucket does not exist, or lives in another region than the client signs for."""
STORAGE_ACCESS_DENIED = "Lambda.ExternalStorage.AccessDenied"
"""The service refused the credentials or the bucket policy refused the operation."""
STORAGE_UNAVAILABLE = "Lambda.ExternalStorage.Unavailable"
"""The service failed (5xx, SlowDown) or could not be reached: worth retrying."""
STORAGE_ERROR = "Lambda.ExternalStorage.Error"
"""Any other refusal of the storage service."""

# -- the function's own ------------------------------------------------------------------------

UNKNOWN_FUNCTION_ERROR_TYPE = "UnknownFunctionError"
"""The function ``errorType`` used when the error document names none."""

# -- service errors ---------------------------------------------------------------------------

UNKNOWN_CODE = "Unknown"
"""The service error code used when the answer names none and its status names none
(type ``Lambda.Unknown``)."""
TOO_MANY_REQUESTS = "TooManyRequestsException"
"""The throttle's code; also what a 429 that names no code is."""
REQUEST_TOO_LARGE = "RequestTooLargeException"
"""The one code the three spellings of "payload too large" become; also a bare 413's."""
DURABLE_ALREADY_STARTED = "DurableExecutionAlreadyStartedException"
"""The code of a durable start whose name is taken (by this payload, or another)."""

# The first table is modelled for Invoke and InvokeAsync in botocore's service model (checked by
# tests/unit/test_spec.py); the second is seen on the wire but unmodelled.
SERVICE_ERROR_STATUS: Mapping[str, int] = {
    "InvalidParameterValueException": 400,
    "InvalidRequestContentException": 400,
    "ModeNotSupportedException": 400,
    "NoPublishedVersionException": 400,
    "RecursiveInvocationException": 400,
    "SnapStartException": 400,
    "ServiceQuotaExceededException": 402,
    "EFSMountFailureException": 403,
    "S3FilesMountFailureException": 403,
    "ResourceNotFoundException": 404,
    "EFSMountConnectivityException": 408,
    "EFSMountTimeoutException": 408,
    "S3FilesMountConnectivityException": 408,
    "S3FilesMountTimeoutException": 408,
    "SnapStartTimeoutException": 408,
    "CodeArtifactUserDeletedException": 409,
    "CodeArtifactUserFailedException": 409,
    "CodeArtifactUserPendingException": 409,
    "DurableExecutionAlreadyStartedException": 409,
    "ResourceConflictException": 409,
    "SnapStartNotReadyException": 409,
    "SnapStartRegenerationFailureException": 409,
    "EFSIOException": 410,
    "RequestTooLargeException": 413,
    "SerializedRequestEntityTooLargeException": 413,
    "UnsupportedMediaTypeException": 415,
    "TooManyRequestsException": 429,
    "ServiceException": 500,
    "EC2AccessDeniedException": 502,
    "EC2ThrottledException": 502,
    "EC2UnexpectedException": 502,
    "ENILimitReachedException": 502,
    "ENINotReadyException": 502,
    "InvalidRuntimeException": 502,
    "InvalidSecurityGroupIDException": 502,
    "InvalidSubnetIDException": 502,
    "InvalidZipFileException": 502,
    "KMSAccessDeniedException": 502,
    "KMSDisabledException": 502,
    "KMSInvalidStateException": 502,
    "KMSNotFoundException": 502,
    "ResourceNotReadyException": 502,
    "SubnetIPAddressLimitReachedException": 502,
}
"""Every service error code modelled for ``Invoke``/``InvokeAsync``, with its HTTP status."""

UNMODELLED_ERROR_STATUS: Mapping[str, int] = {
    "AccessDeniedException": 403,
    "ExpiredTokenException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "RuntimeAliasDeletedException": 409,
    "RuntimeVersionDeletedException": 409,
    "RequestEntityTooLargeException": 413,
}
"""Codes AWS sends for Invoke that the service model does not list, with their status."""

TOO_LARGE_SPELLINGS = frozenset(
    {
        "RequestTooLargeException",
        "SerializedRequestEntityTooLargeException",
        "RequestEntityTooLargeException",
    }
)
"""The codes Lambda (and its front end) send for a payload too large; all become
:data:`REQUEST_TOO_LARGE`."""

RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "EC2ThrottledException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "ServiceException",
        "SnapStartNotReadyException",
        "TooManyRequestsException",
    }
)
"""Service error codes that are retryable whatever status they arrive with."""

RETRYABLE_STATUSES = frozenset({408, 429})
"""Statuses below 500 that are retried whatever the code."""


def is_retryable(code: str, status_code: int) -> bool:
    """Return whether a service error is worth another attempt (the one retry rule).

    Args:
        code: The service error code.
        status_code: The HTTP status it came with.
    """
    return code in RETRYABLE_CODES or status_code in RETRYABLE_STATUSES or status_code >= 500


def service_error_type(code: str) -> str:
    """Return the ``ApplicationError.type`` of service error ``code``: ``Lambda.<code>``."""
    return TYPE_PREFIX + code


UNCOUNTED_FUNCTION_ERRORS: frozenset[str] = frozenset({"IdempotencyAlreadyInProgressError"})
"""Function ``errorType`` values retried without using up ``function_error_attempts``.

Powertools' idempotency raises ``IdempotencyAlreadyInProgressError`` while another execution
holds the same key (after a worker crash, a timeout or a reset, until that execution ends or
its record expires): the call is not failing, it is waiting, so the bound on failed runs does
not apply to it.
"""

NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = (
    *sorted(
        service_error_type(code)
        for code, status in {**SERVICE_ERROR_STATUS, **UNMODELLED_ERROR_STATUS}.items()
        if code not in TOO_LARGE_SPELLINGS - {REQUEST_TOO_LARGE}
        and 400 <= status < 500
        and not is_retryable(code, status)
    ),
    VALIDATION_ERROR_TYPE,
)
"""``ApplicationError`` types that must never be retried (for ``RetryPolicy``).

The ``Lambda.<Code>`` names of every known non-retryable 4xx service error, plus
``Lambda.ValidationError``.
"""
