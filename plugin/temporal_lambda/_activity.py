"""The invoke activity: one Lambda call per attempt, heartbeating while it waits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from temporalio import activity
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.common import RawValue
from temporalio.converter import DataConverter, PayloadCodec

from temporal_lambda._attempt import LambdaAttempt
from temporal_lambda._client import LambdaClient
from temporal_lambda._codes import UNCOUNTED_FUNCTION_ERRORS
from temporal_lambda._errors import (
    CallInProgress,
    KeyReused,
    LambdaError,
    LambdaFunctionError,
    LambdaIdempotencyError,
    LambdaResultTooLargeError,
    RecordUnreadable,
    StoreUnavailable,
    to_application_error,
)
from temporal_lambda._keys import derive_idempotency_key, scoped_record_key
from temporal_lambda._redact import scrub_error
from temporal_lambda._request import effective_qualifier, function_scope
from temporal_lambda._sizes import DEFAULT_PAYLOAD_LIMIT, payload_size, payloads_size
from temporal_lambda._types import (
    INVOKE_ACTIVITY_NAME,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaStreamResult,
)
from temporal_lambda.idempotency import IdempotencyStore, request_fingerprint
from temporal_lambda.storage._errors import StorageError

MAX_HEARTBEAT_INTERVAL = 9.5
"""Heartbeat at least this often (seconds), so cancellation reaches a long call promptly.

A cancel request reaches the activity only in the answer to a heartbeat RPC, so the gap
between two of them is the worst wait: 9.5 s leaves half a second of the 10 s promise for
the workflow task that asks for the cancel, the RPC's round trip and closing the connection,
at one heartbeat RPC per held call per 9.5 s.
"""
HEARTBEAT_THROTTLE_INTERVAL = 9.0
"""The worker's ``max_heartbeat_throttle_interval`` the plugin sets when the user left the SDK's
default (seconds): shorter than :data:`MAX_HEARTBEAT_INTERVAL`, so every beat of a held call
goes out as its own RPC at once instead of waiting for the SDK's 0.8 x heartbeat-timeout window.
"""
DEADLINE_MARGIN = 0.5
"""Give up reading this long (seconds) before the attempt's deadline, to report it ourselves."""
FIRST_HEARTBEAT_DELAY = 1.0
"""Seconds before the first heartbeat (less when the interval is shorter): calls that answer
sooner send no heartbeat at all."""
MIN_READ_TIMEOUT = 1.0
"""Never use a read timeout shorter than this (seconds)."""
DEFAULT_LEASE_SECONDS = 16 * 60.0
"""Lease of an attempt that has no timeout: Lambda's 15 minutes and a margin."""
ENCODED_RESULT_MARKER = b"\x00temporal-lambda/payload:"
"""Starts a stored result that went through a payload codec (a serialised ``Payload``
follows); results stored without a codec are plain JSON, which never starts with NUL."""
STORED_PAYLOADS_MARKER = b"\x00temporal-lambda/payloads:"
"""Starts a stored result that went through the worker client's data converter because it
has external storage: a serialised ``Payloads`` follows, holding the result's JSON as one
payload after the codec and external storage, i.e. a reference of a few hundred bytes
when the result is over the storage threshold (the result itself is in the storage)."""
_T = TypeVar("_T")
_R = TypeVar("_R")
_S = TypeVar("_S", LambdaInvokeResult, LambdaStreamResult)
_StoredResult = LambdaInvokeResult | LambdaStreamResult | RawValue
"""What a store record can hold: a result, or (a stream written into the local driver) the
storage reference Temporal gets instead of it."""
_RESULT_FIELDS = {
    result_type: frozenset(field.name for field in dataclasses.fields(result_type))
    for result_type in (LambdaInvokeResult, LambdaStreamResult)
}


def heartbeat_interval(heartbeat_timeout: timedelta | None) -> float:
    """Return how often to heartbeat: a third of the timeout, at most every 9.5 s.

    Args:
        heartbeat_timeout: The activity's heartbeat timeout, if any.

    Returns:
        The interval in seconds.
    """
    if heartbeat_timeout is None:
        return MAX_HEARTBEAT_INTERVAL
    return max(0.05, min(heartbeat_timeout.total_seconds() / 3, MAX_HEARTBEAT_INTERVAL))


def function_errors_before(info: activity.Info) -> int:
    """Return how many earlier attempts of this call the function failed on.

    The count travels in the heartbeat details (``function_errors``): every beat carries it,
    and an attempt the function fails on heartbeats the new count before it reports the
    failure (the SDK sends that last heartbeat before the failure), so the next attempt reads
    it from ``info.heartbeat_details`` with no store at all. Throttled or lost attempts do
    not heartbeat a new count, so only the function's failures are counted.

    Args:
        info: The running activity's info.

    Returns:
        The count, 0 when no earlier attempt recorded one.
    """
    details = info.heartbeat_details
    last = details[0] if details else None
    count = last.get("function_errors") if isinstance(last, dict) else None
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return 0


def attempt_budget(info: activity.Info) -> float | None:
    """Return the seconds this attempt may run, from the server's own timestamps.

    Wall clocks of worker and server are never compared: the budget is the attempt's
    ``start_to_close_timeout``, shortened by what remains of ``schedule_to_close_timeout``
    when the attempt started.

    Args:
        info: The running activity's info.

    Returns:
        Seconds, or ``None`` when the activity has no timeout at all.
    """
    budgets: list[float] = []
    if info.start_to_close_timeout:
        budgets.append(info.start_to_close_timeout.total_seconds())
    if info.schedule_to_close_timeout:
        deadline = info.scheduled_time + info.schedule_to_close_timeout
        budgets.append((deadline - info.started_time).total_seconds())
    return min(budgets) if budgets else None


class LambdaActivities:
    """The activities the plugin registers, with the client and store they share."""

    def __init__(
        self,
        client: LambdaClient,
        store: IdempotencyStore | None = None,
        *,
        payload_codec: PayloadCodec | None = None,
        payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
    ) -> None:
        """Create the activities.

        Args:
            client: The Lambda client every invocation goes through.
            store: Where results are kept per idempotency key, so that an attempt after a
                crash returns the earlier attempt's result instead of calling again;
                ``None`` to call Lambda on every attempt.
            payload_codec: Encodes results kept in the store (e.g. encrypts them); default:
                the payload codec of the worker's Temporal client, if it has one, so that
                results at rest are as protected as they are in workflow history. When that
                client has external storage, stored results go through its data converter
                (this codec in place of its own), so a large one is kept in the external
                storage and the store holds its reference.
            payload_limit: The largest encoded result (bytes) Temporal accepts; a larger
                one fails the call with ``Lambda.ResultTooLargeForTemporal`` instead of
                being refused by Temporal and retried (which would run the function again).
        """
        self._client = client
        self._store = store
        self._payload_codec = payload_codec
        self._payload_limit = payload_limit

    @property
    def client(self) -> LambdaClient:
        """The Lambda client every invocation goes through."""
        return self._client

    @property
    def payload_codec(self) -> PayloadCodec | None:
        """The codec given for stored results (``None``: the worker client's, if any)."""
        return self._payload_codec

    @property
    def payload_limit(self) -> int:
        """The largest encoded result (bytes) Temporal accepts."""
        return self._payload_limit

    @property
    def store(self) -> IdempotencyStore | None:
        """The idempotency store the next invocation uses (``None``: no store).

        Replaceable between workers: the plugin puts a new default store here when a worker
        starts after the last one closed the previous store.
        """
        return self._store

    @store.setter
    def store(self, store: IdempotencyStore | None) -> None:
        self._store = store

    @activity.defn(name=INVOKE_ACTIVITY_NAME)
    async def invoke(self, request: LambdaInvokeRequest) -> LambdaInvokeResult:
        """Invoke a Lambda function once (one attempt of one logical call).

        Args:
            request: What to invoke and how.

        Returns:
            The parsed result (or the stored result of an earlier attempt).

        Raises:
            temporalio.exceptions.ApplicationError: for every failure, typed and with the
                right retryability (see :mod:`temporal_lambda._errors`).
        """
        info = activity.info()
        started = time.monotonic()
        key = call_key(request, info)
        try:
            attempt = _Attempt(info, LambdaAttempt(self._client, request, key), started)
            request = attempt.request
            if self._store is None:
                return await self._fits_temporal(await self._send(attempt), attempt)
            return await self.send_once(
                self._store,
                attempt,
                lambda: self._sent_and_fitting(attempt),
                result_type=LambdaInvokeResult,
                fits=lambda stored: self._fits_temporal(stored, attempt, stored=True),
            )
        except LambdaError as err:
            fail(err, info, request, key, started, self._client)

    async def _sent_and_fitting(self, attempt: _Attempt[LambdaAttempt]) -> LambdaInvokeResult:
        """Send the call once, and refuse a result Temporal would refuse."""
        return await self._fits_temporal(await self._send(attempt), attempt)

    async def send_once(
        self,
        store: IdempotencyStore,
        attempt: _Attempt[Any],
        send: Callable[[], Awaitable[_R]],
        *,
        result_type: type[_S],
        fits: Callable[[_S], Awaitable[_S]] | None = None,
        api: str | None = None,
    ) -> _R | _S:
        """Send under the store's record for the key: one caller at a time, results kept.

        The record is the key's within its scope (:func:`_record_key`); the function and
        every message see the key itself. Both activities go through here, so an
        ``Invoke`` and a stream follow one protocol: ``begin``, then the stored result, an
        in-progress or key-reused failure, or one send; ``complete`` with its result (a
        result of ``result_type``, or the storage reference a stream was written to),
        encoded as every stored result is (:func:`_encode_result`); ``release`` when the
        send fails.

        Args:
            store: The idempotency store.
            attempt: The attempt (its info, its validated call, when it started).
            send: Sends the call once and returns what the activity returns.
            result_type: The type a stored result is read back as.
            fits: Checks a stored result before it is returned (raises if Temporal would
                refuse it); ``None``: returned as read.
            api: The API of a call that is not ``Invoke``: part of the fingerprint, so the
                same key used for an ``Invoke`` and a stream is ``KeyReused``. ``None`` for
                ``Invoke``, whose fingerprint stays what it always was.

        Returns:
            What ``send`` returned, or the stored result of an earlier attempt.

        Raises:
            LambdaError: the store's outcome (``CallInProgress``, ``KeyReused``, an
                unreadable record), or whatever ``send`` raised.
        """
        key = attempt.key
        record = _record_key(attempt, self._client)
        codec = self._codec()
        converter = self._stored_converter()
        owner = f"{attempt.info.activity_id}#{attempt.info.attempt}#{uuid.uuid4().hex[:12]}"
        budget = attempt_budget(attempt.info)
        fields = _fingerprint_fields(attempt.request)
        if api is not None:
            fields["api"] = api
        outcome = await store.begin(
            record,
            request_fingerprint(fields),
            lease_seconds=budget if budget is not None else DEFAULT_LEASE_SECONDS,
            owner=owner,
        )
        if outcome.kind == "completed":
            activity.logger.info(
                "Lambda %s: returning the stored result", attempt.request.function_name
            )
            stored = await _decode_result(outcome.result, codec, converter, attempt, result_type)
            return stored if fits is None else await fits(stored)
        if outcome.kind == "in_progress":
            raise CallInProgress(key, outcome.retry_after or MIN_READ_TIMEOUT)
        if outcome.kind == "mismatch":
            raise KeyReused(key)
        if outcome.taken_over:
            activity.logger.warning(
                "Lambda %s: taking over key %s from an earlier attempt whose lease ran out; "
                "that attempt may have reached Lambda, so the function may run twice",
                attempt.request.function_name,
                key,
            )
        try:
            result = await send()
        except BaseException:
            await _release(store, record, owner)
            raise
        if isinstance(result, LambdaInvokeResult) and result.function_error is not None:
            await _release(store, record, owner)
            return result
        if not isinstance(result, LambdaInvokeResult | LambdaStreamResult | RawValue):
            raise TypeError(f"send returned {type(result).__name__}, not a result to store")
        try:
            encoded = await _encode_result(result, codec, converter)
        except Exception as exc:
            # A codec or external storage failing (a key service's hiccup): the function
            # ran, so its result goes to Temporal, which records it; the record is
            # released, not left claimed until its lease ends.
            await _release(store, record, owner)
            activity.logger.warning(
                "Lambda %s succeeded but its result could not be encoded for the idempotency "
                "store (%s: %s); returning it to Temporal, which records it",
                attempt.request.function_name,
                type(exc).__name__,
                exc,
            )
            return result
        except BaseException:
            await _release(store, record, owner)
            raise
        try:
            await store.complete(record, owner, encoded)
        except LambdaIdempotencyError as err:
            await _release(store, record, owner)
            if not err.retryable:
                raise
            activity.logger.warning(
                "Lambda %s succeeded but its result could not be stored (%s); "
                "returning it to Temporal, which records it",
                attempt.request.function_name,
                err,
            )
        return result

    def _codec(self) -> PayloadCodec | None:
        """Return the codec for stored results: the given one, else the worker client's."""
        if self._payload_codec is not None:
            return self._payload_codec
        try:
            return activity.client().data_converter.payload_codec
        except RuntimeError:  # no client: a sync activity context, or a test environment
            return None

    def _stored_converter(self) -> DataConverter | None:
        """Return the data converter stored results go through, if it has external storage.

        That is the worker client's, with the given payload codec in place of its own when
        one was given: a large result is then kept in the external storage and the store
        holds only its reference. Without external storage, results are stored as JSON,
        through the codec of :meth:`_codec` if there is one.
        """
        try:
            converter = activity.client().data_converter
        except RuntimeError:  # no client: a sync activity context, or a test environment
            return None
        if converter.external_storage is None:
            return None
        if self._payload_codec is not None and converter.payload_codec is not self._payload_codec:
            converter = dataclasses.replace(converter, payload_codec=self._payload_codec)
        return converter

    async def _fits_temporal(
        self, result: LambdaInvokeResult, attempt: _Attempt[LambdaAttempt], *, stored: bool = False
    ) -> LambdaInvokeResult:
        """Return ``result`` if Temporal will accept it, else fail the call for good.

        Measured as Temporal will see it: encoded by the worker's payload converter, then its
        codec (compression or encryption change the size), framed as the completion's
        ``Payloads``. With external storage on the client, large payloads are stored outside
        Temporal, so nothing is refused here. Checked before the result is stored, so a
        result Temporal cannot carry is neither kept nor blamed on the store.
        """
        try:
            data_converter = activity.client().data_converter
        except RuntimeError:  # no client (ActivityEnvironment): no codec either
            data_converter = None
        if data_converter is not None and data_converter.external_storage is not None:
            return result  # before encoding: a large result is not encoded just to be measured
        payloads = activity.payload_converter().to_payloads([result])
        if data_converter is not None and data_converter.payload_codec is not None:
            payloads = await data_converter.payload_codec.encode(payloads)
        size = payloads_size(map(payload_size, payloads))
        if size <= self._payload_limit:
            return result
        if stored:
            ran = "ran in an earlier attempt, whose stored result"
        elif result.function_error is not None:
            ran = (
                f"failed ({result.function_error}) and returned an error document, which "
                "raise_on_function_error=False returns as the result; it"
            )
        else:
            ran = "ran once and returned; its result"
        raise LambdaResultTooLargeError(
            f"Lambda function {attempt.request.function_name} {ran} "
            f"(request id {result.request_id}) is {size} bytes once encoded for Temporal, "
            f"over Temporal's payload limit of {self._payload_limit} bytes. Not retried, "
            "since a retry would run the function again: return a smaller result (e.g. a "
            "reference to an object in S3) or turn on external storage for large payloads",
            size=size,
            limit=self._payload_limit,
            request_id=result.request_id,
        )

    async def _send(self, attempt: _Attempt[LambdaAttempt]) -> LambdaInvokeResult:
        """Send the call once, heartbeating while waiting, and parse the answer."""
        read_timeout = None
        budget = attempt_budget(attempt.info)
        if budget is not None:
            remaining = budget - (time.monotonic() - attempt.started) - DEADLINE_MARGIN
            read_timeout = max(MIN_READ_TIMEOUT, remaining)
        return await attempt.call.send(
            read_timeout=read_timeout,
            waiting=_Heartbeating(
                attempt.info, attempt.request.function_name, attempt.key, attempt.started
            ),
        )


class _Call(Protocol):
    """What the store's protocol needs of a validated call (``Invoke`` or a stream)."""

    @property
    def request(self) -> LambdaInvokeRequest:
        """The request as sent."""
        ...

    @property
    def key(self) -> str:
        """The idempotency key."""
        ...


_C = TypeVar("_C", bound=_Call)


class _Attempt(Generic[_C]):
    """What one attempt works with: its activity info, its call, when it started."""

    __slots__ = ("call", "info", "started")

    def __init__(self, info: activity.Info, call: _C, started: float) -> None:
        self.info = info
        self.call = call
        self.started = started

    @property
    def request(self) -> LambdaInvokeRequest:
        """The request as sent."""
        return self.call.request

    @property
    def key(self) -> str:
        """The idempotency key."""
        return self.call.key


def call_key(request: LambdaInvokeRequest, info: activity.Info) -> str:
    """Return the call's idempotency key: the caller's, else derived from the activity's ids."""
    return request.idempotency_key or derive_idempotency_key(
        info.workflow_namespace or info.namespace,
        info.workflow_id or "",
        info.workflow_run_id or "",
        info.activity_id,
    )


def fail(
    err: LambdaError,
    info: activity.Info,
    request: LambdaInvokeRequest,
    key: str,
    started: float,
    client: LambdaClient,
) -> NoReturn:
    """Raise ``err`` as the activity's failure: counted if a function error, scrubbed, logged.

    Args:
        err: What failed the attempt.
        info: The running activity's info.
        request: The request (its ``function_error_attempts`` bounds the count).
        key: The idempotency key.
        started: When the attempt started (``time.monotonic()``).
        client: The client whose recent secrets are scrubbed from the message.

    Raises:
        ApplicationError: always (:func:`~temporal_lambda._errors.to_application_error`).
    """
    # A server may echo the signed request's headers into its answer. Scrubbed before the
    # attempts are counted, so the note that makes the error final is added (within the
    # message bound) to the scrubbed text and never redacted.
    scrub_error(err, client.secrets())
    if (
        isinstance(err, LambdaFunctionError)
        and err.retryable
        and err.error_type not in UNCOUNTED_FUNCTION_ERRORS
    ):
        _count_function_error(err, info, request, key, started)
    activity.logger.info("Lambda %s failed: %s (%s)", request.function_name, err.error_type, err)
    to_application_error(err)


def _count_function_error(
    err: LambdaFunctionError,
    info: activity.Info,
    request: LambdaInvokeRequest,
    key: str,
    started: float,
) -> None:
    """Count this attempt's function error; make it final at the bound, else record the count.

    The count is heartbeated only when another attempt follows: one heartbeat RPC per
    failed attempt, none for a call that succeeds.
    """
    failed = function_errors_before(info) + 1
    err.count_attempts(failed, request.function_error_attempts, info.attempt)
    if not err.retryable:
        return
    details = _progress(info, request.function_name, key, failed, "function failed")
    details["elapsed_seconds"] = round(time.monotonic() - started, 1)
    try:
        activity.heartbeat(details)
    except Exception as exc:  # the count is then lost: one more attempt, never fewer
        activity.logger.warning("heartbeat failed: %s", exc)


def _progress(
    info: activity.Info, function_name: str, key: str, function_errors: int, phase: str
) -> dict[str, Any]:
    """Return the heartbeat details of an attempt (what it is doing, never the payload)."""
    return {
        "phase": phase,
        "function": function_name,
        "attempt": info.attempt,
        "elapsed_seconds": 0.0,
        "idempotency_key": key,
        "function_errors": function_errors,
    }


def _fingerprint_fields(request: LambdaInvokeRequest) -> dict[str, Any]:
    """Return what makes two requests the same call (not how failures are handled).

    The function is fingerprinted as its scope (:func:`~temporal_lambda._request.function_scope`)
    and the qualifier as the one the call carries, whether the name (``charge:live``) or
    the option (``qualifier="live"``) gives it: both send one Invoke on the wire, so they
    are one call (a request giving both, different, is refused before this).
    """
    return {
        "function_name": function_scope(request.function_name),
        "payload": request.payload,
        "invocation_type": request.invocation_type,
        "qualifier": effective_qualifier(request),
        "log_type": request.log_type,
        "client_context": request.client_context,
        "tenant_id": request.tenant_id,
        "durable_execution_name": request.durable_execution_name,
        "invoke_async": request.invoke_async,
        "idempotency_key_field": request.idempotency_key_field,
    }


def _result_to_bytes(result: LambdaInvokeResult | LambdaStreamResult) -> bytes:
    """Serialise a result for the store.

    ``vars``, not ``dataclasses.asdict``: the fields are all JSON values already, and
    ``asdict`` would deep-copy the payload first (up to 6 MB) just to serialise it.
    """
    return json.dumps(vars(result), separators=(",", ":")).encode()


def _result_from_bytes(data: bytes, result_type: type[_S]) -> _S:
    """Read a result of ``result_type`` written by :func:`_result_to_bytes`.

    Fields this version does not know (written by a newer one) are ignored, so that a
    fleet of mixed versions shares one store.

    Raises:
        ValueError: ``data`` is not a JSON object (``UnicodeDecodeError`` included).
        TypeError: a field this version needs is missing.
    """
    fields = json.loads(data)
    if not isinstance(fields, dict):
        raise ValueError(f"a stored result is a JSON object, not {type(fields).__name__}")
    known = _result_fields(result_type)
    return result_type(**{k: v for k, v in fields.items() if k in known})


def _result_fields(result_type: type[Any]) -> frozenset[str]:
    """The field names of a result dataclass."""
    return _RESULT_FIELDS[result_type]


async def _encode_result(
    result: _StoredResult, codec: PayloadCodec | None, converter: DataConverter | None
) -> bytes:
    """Serialise a result for the store, through ``converter`` or ``codec`` when given.

    With ``converter`` (the client has external storage) the record holds
    :data:`STORED_PAYLOADS_MARKER` and the ``Payloads`` the converter made of the result's
    JSON: a reference, when the result went to the external storage. A ``RawValue`` is a
    stream already written into the external storage (its reference, which the converter
    keeps as it is: it is under the storage threshold), so the record holds that reference,
    never the stream. With only a codec it holds :data:`ENCODED_RESULT_MARKER` and the
    encoded ``Payload``'s protobuf bytes. Either way the plaintext result never reaches the
    store.

    Raises:
        TypeError: a ``RawValue`` without ``converter`` (a reference needs the storage).
        Exception: whatever the codec or the external storage raised.
    """
    if isinstance(result, RawValue):
        if converter is None:
            raise TypeError("a storage reference is stored only through external storage")
        payloads = await converter.encode([result])
        return STORED_PAYLOADS_MARKER + Payloads(payloads=payloads).SerializeToString()
    data = _result_to_bytes(result)
    if converter is not None:
        raw = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=data))
        payloads = await converter.encode([raw])
        return STORED_PAYLOADS_MARKER + Payloads(payloads=payloads).SerializeToString()
    if codec is None:
        return data
    (encoded,) = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=data)])
    return ENCODED_RESULT_MARKER + encoded.SerializeToString()


async def _decode_result(
    data: bytes | None,
    codec: PayloadCodec | None,
    converter: DataConverter | None,
    attempt: _Attempt[Any],
    result_type: type[_S],
) -> _S:
    """Read a stored result written by :func:`_encode_result` (or by an older version).

    The result is read as ``result_type``; a stream stored as a reference is read back
    from the external storage (the workflow gets the result, which Temporal's external
    storage then keeps again under the same content-addressed name).

    A record that cannot be a result (no result, a marker this worker cannot read, bytes
    that are not a ``Payload``, JSON that is not a result, a payload the external storage
    no longer has) is unreadable for good. A codec or external storage failing while it
    decodes (its key service or bucket unreachable) is not a property of the record: the
    next attempt may read it, so that is retryable.

    Raises:
        RecordUnreadable: ``Lambda.IdempotencyRecordUnreadable``, not retryable (the
            record stays the same however often it is read), logged at ERROR.
        StoreUnavailable: ``Lambda.IdempotencyStoreUnavailable``, retryable: the codec or
            the external storage raised while decoding; logged at WARNING.
    """
    try:
        if data is None:
            raise ValueError("the completed record holds no result")
        if data.startswith(STORED_PAYLOADS_MARKER):
            data = await _decode_stored_payloads(
                Payloads.FromString(data[len(STORED_PAYLOADS_MARKER) :]), codec, converter, attempt
            )
        elif data.startswith(ENCODED_RESULT_MARKER):
            if codec is None:
                raise ValueError(
                    "it was encoded with a payload codec, and this worker's client has none"
                )
            payload = Payload.FromString(data[len(ENCODED_RESULT_MARKER) :])
            data = (await _decoding(attempt, "payload codec", codec.decode([payload])))[0].data
        return _result_from_bytes(data, result_type)
    except StoreUnavailable:
        raise
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > 300:
            reason = reason[:300] + "..."
        err = RecordUnreadable(attempt.request.function_name, attempt.key, reason)
        activity.logger.error("idempotency record unreadable: %s", err)
        raise err from exc


async def _decode_stored_payloads(
    stored: Payloads,
    codec: PayloadCodec | None,
    converter: DataConverter | None,
    attempt: _Attempt[Any],
) -> bytes:
    """Return the result's JSON from a record written through a data converter.

    The converter to read it is this worker client's (even without external storage, for
    a result under the storage threshold), else one with just ``codec``.

    Raises:
        ValueError: the record holds a reference and this worker has no external storage.
        StorageError: the external storage refused for good (``NotFound``: cleaned up).
        StoreUnavailable: the codec or the external storage failed (retryable).
    """
    if converter is None:
        try:
            converter = activity.client().data_converter
        except RuntimeError:
            converter = DataConverter(payload_codec=codec) if codec else DataConverter.default
        if codec is not None and converter.payload_codec is not codec:
            converter = dataclasses.replace(converter, payload_codec=codec)
    if converter.external_storage is None and any(p.external_payloads for p in stored.payloads):
        raise ValueError(
            "it was kept in external storage, and this worker's client has no external storage"
        )
    try:
        decoding = converter.decode(list(stored.payloads), [RawValue])
        (raw,) = await _decoding(attempt, "payload codec or external storage", decoding)
    except StorageError as err:
        if err.non_retryable:
            raise
        raise StoreUnavailable(_undecodable(attempt, "external storage", err)) from err
    if not isinstance(raw, RawValue):
        raise ValueError(f"it decoded to {type(raw).__name__}, not a payload")
    return raw.payload.data


async def _decoding(attempt: _Attempt[Any], what: str, decoding: Awaitable[_T]) -> _T:
    """Await ``decoding``; a failure of the codec itself is retryable (not the record's).

    A :class:`~temporal_lambda.storage.StorageError` is let through (its own type says
    whether it is for good); any other exception becomes :class:`StoreUnavailable`.
    """
    try:
        return await decoding
    except StorageError:
        raise
    except Exception as exc:
        raise StoreUnavailable(_undecodable(attempt, what, exc)) from exc


def _undecodable(attempt: _Attempt[Any], what: str, exc: Exception) -> str:
    """Say that ``what`` could not decode the stored result, and that it is retried."""
    reason = f"{type(exc).__name__}: {exc}"
    if len(reason) > 300:
        reason = reason[:300] + "..."
    message = (
        f"the {what} could not decode the stored result of {attempt.request.function_name} "
        f"for idempotency key {attempt.key} ({reason}); the function already ran and is not "
        "called again: the read is retried"
    )
    activity.logger.warning("idempotency record not decoded: %s", message)
    return message


def _record_key(attempt: _Attempt[Any], client: LambdaClient) -> str:
    """Return the store's record key: the idempotency key within its scope.

    A caller's key such as ``order-42`` is scoped to the namespace, the endpoint and
    region the client resolved, the function (an ARN's account included; the qualifier
    is part of the request fingerprint instead) and the tenant, so that two tenants
    using the same key get two calls. The function is its scope
    (:func:`~temporal_lambda._request.function_scope`: ``account:name`` or the bare name);
    :func:`~temporal_lambda._keys.scoped_record_key` canonicalises the endpoint.
    """
    info = attempt.info
    return scoped_record_key(
        namespace=info.workflow_namespace or info.namespace,
        endpoint=client.endpoint,
        region=client.region,
        function=function_scope(attempt.request.function_name),
        tenant_id=attempt.request.tenant_id,
        key=attempt.key,
    )


async def _release(store: IdempotencyStore, key: str, owner: str) -> None:
    """Drop our in-progress record so a retry calls again; a store failure only logs.

    If the record cannot be dropped, its lease still ends at the attempt's deadline.
    """
    try:
        await store.release(key, owner)
    except LambdaIdempotencyError as err:
        activity.logger.warning("could not release idempotency record %s: %s", key, err)


class _Heartbeating:
    """Heartbeat from the event loop's timers until the block ends.

    The first heartbeat goes out :data:`FIRST_HEARTBEAT_DELAY` seconds (at most one interval)
    after the call starts, then one every interval: a call that answers sooner sends none,
    and costs neither a task nor a heartbeat RPC. That is still well inside the heartbeat
    timeout (an interval is at most a third of it).

    Heartbeats carry what the attempt is doing and the count of earlier function errors
    (:func:`function_errors_before`), never the payload. They are also how the server's
    cancellation reaches this attempt (in the answer to a heartbeat RPC): the SDK then
    cancels the awaiting task, and with it the HTTP request, whose connection is closed.
    """

    __slots__ = ("_details", "_handle", "_interval", "_loop", "_started")

    def __init__(
        self,
        info: activity.Info,
        function_name: str,
        key: str,
        started: float,
        phase: str = "waiting for Lambda",
    ) -> None:
        self._interval = heartbeat_interval(info.heartbeat_timeout)
        self._started = started
        self._details = _progress(info, function_name, key, function_errors_before(info), phase)
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None

    def __enter__(self) -> None:
        # The timer callback runs in a copy of this (the activity's) context.
        self._handle = self._loop.call_later(min(self._interval, FIRST_HEARTBEAT_DELAY), self._beat)

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def update(self, **progress: Any) -> None:
        """Carry ``progress`` (e.g. the bytes and chunks a stream received) in the next beats."""
        self._details.update(progress)

    def _beat(self) -> None:
        if self._handle is None:
            return
        self._handle = self._loop.call_later(self._interval, self._beat)
        details = dict(self._details)
        details["elapsed_seconds"] = round(time.monotonic() - self._started, 1)
        try:
            activity.heartbeat(details)
        except Exception as exc:  # a failed heartbeat must not stop the next ones
            activity.logger.warning("heartbeat failed: %s", exc)
