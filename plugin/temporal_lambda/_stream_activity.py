"""The streaming invoke activity: one ``InvokeWithResponseStream`` call per attempt.

It shares the invoke activity's client, idempotency key, heartbeats (same interval and
throttle; the details also carry ``received_bytes`` and ``received_chunks``), function-error
count and error mapping. The stream is spooled to a file as it arrives
(:mod:`temporal_lambda._stream`) and handed to Temporal inline or through the client's
external storage (:mod:`temporal_lambda._stream_result`).

Cancellation reaches a running stream as it reaches a held ``Invoke``: in the answer to a
heartbeat, the SDK cancels the activity's task, the read in progress stops, the connection
is closed and the spool deleted.

Streams use the idempotency store as ``Invoke`` does, through the invoke activity's own
:meth:`~temporal_lambda._activity.LambdaActivities.send_once`: the same scoped record key,
the same fingerprint plus the API (an ``Invoke`` and a stream under one key are
``Lambda.IdempotencyKeyReused``), the same in-progress and key-reused outcomes, the record
released when the attempt fails (a function error mid-stream included). The stored result
goes through the same encoding as an ``Invoke``'s: with external storage on the client, a
large stream is kept in the storage and the record holds its reference of a few hundred
bytes, never the stream. The function also receives the idempotency key in its client
context (``custom``), as for ``Invoke``.
"""

from __future__ import annotations

import asyncio
import time

from temporalio import activity
from temporalio.common import RawValue

from temporal_lambda._activity import (
    DEADLINE_MARGIN,
    MIN_READ_TIMEOUT,
    LambdaActivities,
    _Attempt,
    _Heartbeating,
    attempt_budget,
    call_key,
    fail,
)
from temporal_lambda._errors import LambdaError
from temporal_lambda._request import STREAM_API
from temporal_lambda._stream import Received, StreamAttempt
from temporal_lambda._stream_result import (
    Delivery,
    check_inline,
    inline_result,
    plan,
    store_in_local_driver,
)
from temporal_lambda._types import (
    INVOKE_STREAM_ACTIVITY_NAME,
    LambdaInvokeRequest,
    LambdaStreamResult,
)

__all__ = ["LambdaStreamActivities"]


class LambdaStreamActivities:
    """The streaming invoke activity, sharing the client and settings of the invoke activity."""

    def __init__(self, activities: LambdaActivities, *, spool_dir: str | None = None) -> None:
        """Create the activity.

        Args:
            activities: The invoke activities whose client and payload limit it uses.
            spool_dir: Where streams are spooled (default: the system's temporary directory);
                a stream of up to 200 MB is held there while it arrives.
        """
        self._activities = activities
        self._spool_dir = spool_dir

    @activity.defn(name=INVOKE_STREAM_ACTIVITY_NAME)
    async def invoke_stream(self, request: LambdaInvokeRequest) -> LambdaStreamResult | RawValue:
        """Invoke a function with ``InvokeWithResponseStream`` once, and return the whole stream.

        Args:
            request: What to invoke and how (``RequestResponse`` or ``DryRun``).

        Returns:
            The stream's result, or (streamed into a local external storage driver) the
            storage reference to it, which the workflow reads as the result.

        Raises:
            temporalio.exceptions.ApplicationError: for every failure, typed and with the
                right retryability (see :mod:`temporal_lambda._stream`).
        """
        info = activity.info()
        started = time.monotonic()
        client = self._activities.client
        key = call_key(request, info)
        try:
            attempt = _Attempt(info, StreamAttempt(client, request, key), started)
            store = self._activities.store
            if store is None:
                return await self._stream(attempt)
            return await self._activities.send_once(
                store,
                attempt,
                lambda: self._stream(attempt),
                result_type=LambdaStreamResult,
                api=STREAM_API,
            )
        except LambdaError as err:
            fail(err, info, request, key, started, client)

    async def _stream(self, attempt: _Attempt[StreamAttempt]) -> LambdaStreamResult | RawValue:
        """Call once, spool the stream as it arrives, and hand it to Temporal."""
        info, request, key = attempt.info, attempt.request, attempt.key
        read_timeout = None
        budget = attempt_budget(info)
        if budget is not None:
            remaining = budget - (time.monotonic() - attempt.started) - DEADLINE_MARGIN
            read_timeout = max(MIN_READ_TIMEOUT, remaining)
        beat = _Heartbeating(
            info, request.function_name, key, attempt.started, phase="streaming from Lambda"
        )
        beat.update(received_bytes=0, received_chunks=0)
        received = await attempt.call.receive(
            read_timeout=read_timeout,
            waiting=beat,
            progress=lambda size, chunks: beat.update(received_bytes=size, received_chunks=chunks),
            spool_dir=self._spool_dir,
        )
        try:
            return await self._deliver(request, received, key, info)
        finally:
            received.spool.close()

    def _stores_through_own_codec(self) -> bool:
        """Whether stored results go through a codec of their own (not the client's)."""
        return self._activities.store is not None and self._activities.payload_codec is not None

    async def _deliver(
        self,
        request: LambdaInvokeRequest,
        received: Received,
        key: str,
        info: activity.Info,
    ) -> LambdaStreamResult | RawValue:
        """Hand the spooled stream to Temporal (see :mod:`temporal_lambda._stream_result`)."""
        try:
            data_converter = activity.client().data_converter
        except RuntimeError:  # no client (ActivityEnvironment): inline only
            data_converter = None
        payload_converter = activity.payload_converter()
        limit = self._activities.payload_limit
        delivery, driver, metadata = plan(
            received.size,
            request.function_name,
            received.request_id,
            data_converter=data_converter,
            payload_converter=payload_converter,
            payload_limit=limit,
        )
        if delivery == Delivery.LOCAL_DRIVER and self._stores_through_own_codec():
            # The reference would be stored through a codec the workflow's converter does
            # not use, and read back unresolved: the SDK's storage stores this one.
            delivery = Delivery.SDK_STORAGE
        if delivery == Delivery.LOCAL_DRIVER:
            assert driver is not None
            namespace = info.workflow_namespace or info.namespace
            return await asyncio.to_thread(
                store_in_local_driver, received, key, driver, namespace, metadata
            )
        result = await asyncio.to_thread(inline_result, received, key)
        check_inline(
            result,
            payload_converter,
            request.function_name,
            limit,
            data_converter.external_storage if data_converter is not None else None,
        )
        return result
