"""Why an externally stored payload could not be stored or read back.

The storage drivers raise :class:`StorageError`, an ``ApplicationError`` whose ``type`` names
the failure, so it keeps its type wherever Temporal's SDK reports it::

    activity result not stored      the activity fails with this error itself
    activity input not read         ApplicationError "Failed decoding arguments" (the SDK's,
                                    retryable), caused by this error
    workflow task payload           the workflow task fails, its message ends with
                                    "<type>: <message>", and Temporal retries the task

Types (``STORAGE_*``, defined in :mod:`temporal_lambda._codes`)::

    Lambda.ExternalStorage.NotFound       no object/file under the reference    not retryable
    Lambda.ExternalStorage.NoSuchBucket   no such bucket, or it is in another region   not retryable
    Lambda.ExternalStorage.AccessDenied   403 (expired or skewed credentials: retryable)
    Lambda.ExternalStorage.Unavailable    5xx, throttling, no connection        retryable
    Lambda.ExternalStorage.Error          any other refusal of the service      not retryable

Messages name the bucket (or directory), the key and the service's own error code and
request id; never credentials, signatures or the payload.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from temporal_lambda._codes import (
    STORAGE_ACCESS_DENIED,
    STORAGE_ERROR,
    STORAGE_NO_SUCH_BUCKET,
    STORAGE_NOT_FOUND,
    STORAGE_UNAVAILABLE,
)

__all__ = [
    "STORAGE_ACCESS_DENIED",
    "STORAGE_ERROR",
    "STORAGE_NOT_FOUND",
    "STORAGE_NO_SUCH_BUCKET",
    "STORAGE_UNAVAILABLE",
    "StorageError",
]


class StorageError(ApplicationError):
    """A payload could not be stored in, or read from, external storage."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        retryable: bool,
        code: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Create the error.

        Args:
            message: What failed and where (bucket or directory, key), never a secret.
            error_type: One of the ``STORAGE_*`` types.
            retryable: Whether another attempt may succeed.
            code: The service's own error code (``NoSuchKey``, ``SlowDown``), if any.
            status_code: The HTTP status, if there was an answer.
            request_id: The service's request id, if any.
        """
        self.code = code
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(
            message,
            {"code": code, "status_code": status_code, "request_id": request_id},
            type=error_type,
            non_retryable=not retryable,
        )

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed."""
        return not self.non_retryable
