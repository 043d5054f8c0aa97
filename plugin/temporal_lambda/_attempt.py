"""One attempt of one call, the only request path: validate, send once, read the answer.

The activity (:mod:`temporal_lambda._activity`) runs one :class:`LambdaAttempt` per Temporal
attempt, around its store and heartbeats; the command line's test request
(:mod:`temporal_lambda.cli._core`) runs one as it is. Both therefore validate, sign, send,
read and classify alike:

1. the request is checked and encoded for the client's region and partition
   (:func:`~temporal_lambda._request.prepare_call`; a durable execution named after the key
   gets its name here), so a refusal is a ``Lambda.ValidationError`` and nothing is sent;
2. the client signs and sends it once (no retry: retrying is Temporal's decision);
3. the answer becomes a result or the error it reports
   (:func:`~temporal_lambda._response.parse_response`), with one rule of our own: a durable
   start whose name the key already holds, answered ``DurableExecutionAlreadyStartedException``
   with the execution's ARN, is that execution, so it is a result (``already_started``);
4. an error is scrubbed of the secrets the call was signed with (a server may echo the
   signed request's headers into its answer): the texts of an error answer as they are
   read, before any bound cuts them, and the whole error again before it is raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext

from temporal_lambda._client import LambdaClient, RawResponse
from temporal_lambda._codes import DURABLE_ALREADY_STARTED
from temporal_lambda._errors import LambdaError, LambdaServiceError, LambdaValidationError
from temporal_lambda._redact import scrub_error
from temporal_lambda._request import PreparedCall, prepare_call
from temporal_lambda._response import parse_response
from temporal_lambda._spec import DURABLE_EXECUTION_ARN_HEADER
from temporal_lambda._types import LambdaInvokeRequest, LambdaInvokeResult

__all__ = ["LambdaAttempt"]

_DURABLE_ARN = DURABLE_EXECUTION_ARN_HEADER.lower()


class LambdaAttempt:
    """One validated call, to be sent once with :meth:`send`."""

    __slots__ = ("_call", "client", "headers", "key", "request", "status_code")

    def __init__(self, client: LambdaClient, request: LambdaInvokeRequest, key: str) -> None:
        """Validate ``request`` and build its call, for ``client``'s region and partition.

        Args:
            client: The client that will sign and send it.
            request: What to invoke and how.
            key: The idempotency key the call carries across attempts.

        Raises:
            LambdaValidationError: anything in ``request`` or ``key`` Lambda would refuse, or
                that cannot be encoded; ``field`` names it. Nothing was sent.
        """
        _check_function_error_attempts(request)
        request = _with_durable_name(request, key)
        self._call: PreparedCall | None = prepare_call(
            request, key, region=client.region, partition=client.partition
        )
        self.client = client
        self.request = request
        """The request as sent (a durable execution named after the key has its name)."""
        self.key = key
        self.status_code: int | None = None
        """The answer's HTTP status, once one came (whatever it was)."""
        self.headers: Mapping[str, str] = {}
        """The answer's headers (lower-case names), once one came. The body is not kept."""

    @property
    def api(self) -> str:
        """``"Invoke"`` or ``"InvokeAsync"``."""
        return "InvokeAsync" if self.request.invoke_async else "Invoke"

    async def send(
        self,
        *,
        read_timeout: float | None = None,
        waiting: AbstractContextManager[object] | None = None,
    ) -> LambdaInvokeResult:
        """Send the call once and read the answer.

        The prepared call is handed to the client and not kept, so its body (up to 6 MB) is
        freed as soon as it is sent, before the answer is read.

        Args:
            read_timeout: Seconds for the whole answer (default: the client's).
            waiting: Entered while waiting for the answer (the activity heartbeats in it).

        Returns:
            The result (a failed function's error document too, when the request asks for it).

        Raises:
            LambdaFunctionError: the function failed and the request raises on that.
            LambdaServiceError: the Invoke API answered an error status.
            LambdaTransportError: no complete answer (or no credentials).
            RuntimeError: the call was already sent.
        """
        call, self._call = self._call, None
        if call is None:
            raise RuntimeError("the call of this attempt was already sent")
        try:
            with waiting if waiting is not None else nullcontext():
                raw = await self.client.send(call, read_timeout=read_timeout)
            del call
            self.status_code, self.headers = raw.status_code, raw.headers
            return self._read(raw)
        except LambdaError as err:
            scrub_error(err, self.client.secrets())
            raise

    def _read(self, raw: RawResponse) -> LambdaInvokeResult:
        """Parse the answer, applying the durable already-started rule."""
        try:
            return parse_response(
                self.request,
                self.key,
                raw.status_code,
                raw.headers,
                raw.body,
                max_retry_after=self.client.max_retry_after,
                secrets=self.client.secrets(),
            )
        except LambdaServiceError as err:
            arn = raw.headers.get(_DURABLE_ARN)
            if (
                err.code == DURABLE_ALREADY_STARTED
                and self.request.durable_execution_name_from_key
                and arn
            ):
                # The execution this key names exists, for this payload (Lambda answers a
                # same-payload start with the execution itself; a 409 naming it means the
                # same). Without its ARN the 409 is a different payload: an error.
                return LambdaInvokeResult(
                    status_code=raw.status_code,
                    idempotency_key=self.key,
                    request_id=err.request_id,
                    durable_execution_arn=arn,
                    already_started=True,
                )
            raise


def _check_function_error_attempts(request: LambdaInvokeRequest) -> None:
    """Refuse a bound on function-error attempts that is not a count (before sending)."""
    allowed = request.function_error_attempts
    if isinstance(allowed, bool) or not isinstance(allowed, int) or allowed < 0:
        raise LambdaValidationError(
            "function_error_attempts must be a whole number of attempts (0 for no bound), "
            f"got {allowed!r}",
            field="function_error_attempts",
        )


def _with_durable_name(request: LambdaInvokeRequest, key: str) -> LambdaInvokeRequest:
    """Name the durable execution after the key, when the request asks for it."""
    if not request.durable_execution_name_from_key:
        return request
    if request.durable_execution_name is not None:
        raise LambdaValidationError(
            "give durable_execution_name or durable_execution_name_from_key, not both",
            field="durable_execution_name",
        )
    return dataclasses.replace(request, durable_execution_name=key)
