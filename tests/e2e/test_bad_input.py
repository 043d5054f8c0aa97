"""Bad input through the activity and a real Temporal server: a clear, non-retryable error, and
nothing sent.

Two levels, each stricter about "nothing was sent" (the rules themselves, as properties of
``prepare_call`` alone, are in ``tests/unit/test_request.py``):

1. The invoke activity (``ActivityEnvironment``) with a real client talking over a real socket
   to ``LocalLambda``: the ``ApplicationError`` is typed and non-retryable, and the emulator saw
   no HTTP request at all (its invocation log, and a count of every request it served).
2. A workflow on a real (time-skipping) Temporal server that catches the error by type.

Expected values are computed independently of the package (``tests/support/request_oracle``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import LambdaActivities
from temporal_lambda._client import LambdaClient
from temporal_lambda._errors import LambdaValidationError
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.property_workflows import BadCall, CatchValidationErrorWorkflow, Caught
from tests.support.request_oracle import (
    ALIAS_CHARS,
    CONTEXT_RAW_EDGE,
    INVOCATION_TYPES,
    KEY,
    LOG_TYPES,
    NAME_PATTERN_MESSAGE,
    QUALIFIER_PATTERN_MESSAGE,
    VALIDATION,
    forbidden_name_chars,
    payloads_with_one_bad_value,
    unambiguous_bare,
)

# -- 1. through the activity, over a real socket --------------------------------------------------


def echo(event: Any, context: LambdaContext) -> Any:
    return event


@dataclass
class Emulator:
    lam: LocalLambda

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every HTTP request the emulator served, whatever its path (``lam.invocations`` only
        logs requests that reached an invoke route)."""
        return [(r.method, r.path) for r in self.lam.requests()]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    lam = LocalLambda(credentials=("testing", "testing"))
    lam.register("echo", echo)
    lam.publish_version("echo")
    lam.create_alias("echo", "live", "1")
    async with lam:
        yield Emulator(lam)


def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, start_to_close_timeout=timedelta(minutes=1), heartbeat_timeout=None
    )
    return env


async def run_activity(emulator: Emulator, request: LambdaInvokeRequest) -> Any:
    client = LambdaClient(
        region="us-east-1",
        endpoint_url=emulator.lam.endpoint_url,
        credentials=Credentials("testing", "testing"),
    )
    try:
        return await activity_env().run(LambdaActivities(client).invoke, request)
    finally:
        await client.aclose()


def _string_of_size(size: int) -> str:
    return "x" * (size - 2)


_CONTEXT_3584 = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE + 1 - 62)}}


ACTIVITY_CASES: list[tuple[str, LambdaInvokeRequest, str, str]] = [
    (
        "name-with-space-and-bang",
        LambdaInvokeRequest("bad name!"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    ("name-unicode", LambdaInvokeRequest("fünction"), "function_name", NAME_PATTERN_MESSAGE),
    ("name-newline", LambdaInvokeRequest("echo\n"), "function_name", NAME_PATTERN_MESSAGE),
    (
        "name-65",
        LambdaInvokeRequest("f" * 65),
        "function_name",
        "function name part is 65 characters; a function name is at most 64 characters",
    ),
    (
        "name-257",
        LambdaInvokeRequest("f" * 257),
        "function_name",
        "function name is 257 characters; it must be 1 to 256 characters",
    ),
    (
        "name-empty",
        LambdaInvokeRequest(""),
        "function_name",
        "function name is 0 characters; it must be 1 to 256 characters",
    ),
    (
        "arn-11-digit-account",
        LambdaInvokeRequest("arn:aws:lambda:us-east-1:12345678901:function:echo"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    (
        "name-bad-qualifier-suffix",
        LambdaInvokeRequest("echo:1.0"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    (
        "qualifier-space",
        LambdaInvokeRequest("echo", qualifier="v 1"),
        "qualifier",
        QUALIFIER_PATTERN_MESSAGE,
    ),
    (
        "qualifier-129",
        LambdaInvokeRequest("echo", qualifier="q" * 129),
        "qualifier",
        "qualifier is 129 characters; it must be 1 to 128 characters",
    ),
    (
        "qualifier-conflict",
        LambdaInvokeRequest("echo:live", qualifier="1"),
        "qualifier",
        "qualifier '1' conflicts with the qualifier 'live' in the function name",
    ),
    (
        "client-context-3584",
        LambdaInvokeRequest("echo", client_context=_CONTEXT_3584, idempotency_key=KEY),
        "client_context",
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed",
    ),
    (
        "client-context-set",
        LambdaInvokeRequest("echo", client_context={"custom": {"s": {1}}}),
        "client_context",
        "client context is not JSON-serialisable: TypeError",
    ),
    (
        "payload-6MB+1",
        LambdaInvokeRequest("echo", _string_of_size(6_291_457)),
        "payload",
        "payload is 6291457 bytes; RequestResponse invocations accept at most 6291456",
    ),
    (
        "dry-run-6MB+1",
        LambdaInvokeRequest("echo", _string_of_size(6_291_457), invocation_type="DryRun"),
        "payload",
        "payload is 6291457 bytes; DryRun invocations accept at most 6291456",
    ),
    (
        "event-1MB+1",
        LambdaInvokeRequest("echo", _string_of_size(1_048_577), invocation_type="Event"),
        "payload",
        "payload is 1048577 bytes; Event invocations accept at most 1048576",
    ),
    (
        "event-1MB-object-plus-key",
        LambdaInvokeRequest(
            "echo",
            {"data": "x" * (1_048_576 - 11)},
            invocation_type="Event",
            idempotency_key=KEY,
        ),
        "payload",
        "payload is 1048616 bytes; Event invocations accept at most 1048576",
    ),
    (
        "invoke-async-256KB+1",
        LambdaInvokeRequest("echo", _string_of_size(262_145), invoke_async=True),
        "payload",
        "payload is 262145 bytes; InvokeAsync calls accept at most 262144",
    ),
    (
        "payload-set",
        LambdaInvokeRequest("echo", {"ids": {1, 2}}),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-bytes",
        LambdaInvokeRequest("echo", b"\x00\x01"),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-object",
        LambdaInvokeRequest("echo", object()),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-tuple-key",
        LambdaInvokeRequest("echo", {(1, 2): "a"}),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-nan",
        LambdaInvokeRequest("echo", {"x": math.nan}),
        "payload",
        "payload is not JSON-serialisable: ValueError",
    ),
    (
        "payload-inf",
        LambdaInvokeRequest("echo", [math.inf]),
        "payload",
        "payload is not JSON-serialisable: ValueError",
    ),
    (
        "payload-surrogate",
        LambdaInvokeRequest("echo", "\ud800", invocation_type="Event"),
        "payload",
        "payload is not JSON-serialisable: UnicodeEncodeError",
    ),
    (
        "invocation-type-sideways",
        LambdaInvokeRequest("echo", invocation_type="Sideways"),
        "invocation_type",
        "invocation type must be one of RequestResponse, Event, DryRun; got 'Sideways'",
    ),
    (
        "log-type-lowercase",
        LambdaInvokeRequest("echo", log_type="tail"),
        "log_type",
        "log type must be one of None, Tail; got 'tail'",
    ),
    (
        "tail-with-event",
        LambdaInvokeRequest("echo", {"a": 1}, invocation_type="Event", log_type="Tail"),
        "log_type",
        "log type Tail is only available for synchronous invocations, not Event",
    ),
    (
        "event-with-client-context",
        LambdaInvokeRequest("echo", invocation_type="Event", client_context={"custom": {}}),
        "client_context",
        "client context is only passed to synchronous invocations, not Event",
    ),
    (
        "invoke-async-client-context",
        LambdaInvokeRequest("echo", {"a": 1}, invoke_async=True, client_context={"custom": {}}),
        "client_context",
        "InvokeAsync does not accept a client context",
    ),
]


async def assert_rejected_by_activity(
    emulator: Emulator, request: LambdaInvokeRequest, field: str, message: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await run_activity(emulator, request)
    error = caught.value
    assert error.type == VALIDATION
    assert error.non_retryable is True
    assert error.message == message
    assert error.details == ({"field": field},)
    assert error.next_retry_delay is None
    # Raised from None so Temporal does not encode the message twice; kept as the context.
    assert error.__cause__ is None
    assert isinstance(error.__context__, LambdaValidationError)
    assert emulator.lam.invocations == []
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [pytest.param(r, f, m, id=i) for i, r, f, m in ACTIVITY_CASES],
)
async def test_activity_rejects_bad_input_before_sending(
    emulator: Emulator, request_: LambdaInvokeRequest, field: str, message: str
) -> None:
    await assert_rejected_by_activity(emulator, request_, field, message)


async def test_activity_control_a_good_request_is_sent_and_logged(emulator: Emulator) -> None:
    """The control for the tests above: what is sent does show up in both logs."""
    result = await run_activity(emulator, LambdaInvokeRequest("echo:live", {"n": 1}))
    assert result.status_code == 200
    assert result.payload == {"n": 1}
    assert result.executed_version == "1"
    assert [(r.function, r.qualifier) for r in emulator.lam.invocations] == [("echo", "live")]
    assert emulator.requests == [("POST", "/2015-03-31/functions/echo%3Alive/invocations")]


bad_requests: st.SearchStrategy[tuple[LambdaInvokeRequest, str]] = st.one_of(
    st.builds(
        lambda name, char: (LambdaInvokeRequest(name + char), "function_name"),
        unambiguous_bare,
        forbidden_name_chars.filter(lambda c: c != "$"),
    ),
    st.builds(
        lambda q: (LambdaInvokeRequest("echo", qualifier=q), "qualifier"),
        st.text(ALIAS_CHARS, min_size=1, max_size=5).map(lambda s: s + "."),
    ),
    payloads_with_one_bad_value().map(lambda bad: (LambdaInvokeRequest("echo", bad[0]), "payload")),
    st.text(min_size=1)
    .filter(lambda s: s not in INVOCATION_TYPES)
    .map(lambda t: (LambdaInvokeRequest("echo", invocation_type=t), "invocation_type")),
    st.text(min_size=1)
    .filter(lambda s: s not in LOG_TYPES)
    .map(lambda t: (LambdaInvokeRequest("echo", log_type=t), "log_type")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad=bad_requests)
async def test_activity_rejects_generated_bad_input_before_sending(
    emulator: Emulator, bad: tuple[LambdaInvokeRequest, str]
) -> None:
    request, field = bad
    with pytest.raises(ApplicationError) as caught:
        await run_activity(emulator, request)
    error = caught.value
    assert (error.type, error.non_retryable, error.details) == (
        VALIDATION,
        True,
        ({"field": field},),
    )
    assert emulator.lam.invocations == []
    assert emulator.requests == []


WORKFLOW_CASES: list[tuple[str, BadCall, str, str]] = [
    ("bad-name", BadCall("bad name!", {"n": 1}), "function_name", NAME_PATTERN_MESSAGE),
    ("bad-qualifier-suffix", BadCall("echo:1.0", {"n": 1}), "function_name", NAME_PATTERN_MESSAGE),
    (
        "bad-qualifier",
        BadCall("echo", {"n": 1}, {"qualifier": "v 1"}),
        "qualifier",
        QUALIFIER_PATTERN_MESSAGE,
    ),
    (
        "oversized-client-context",
        BadCall("echo", {"n": 1}, {"client_context": _CONTEXT_3584, "idempotency_key": KEY}),
        "client_context",
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed",
    ),
    (
        "invocation-type-sideways",
        BadCall("echo", {"n": 1}, {"invocation_type": "Sideways"}),
        "invocation_type",
        "invocation type must be one of RequestResponse, Event, DryRun; got 'Sideways'",
    ),
    (
        "log-type-verbose",
        BadCall("echo", {"n": 1}, {"log_type": "Verbose"}),
        "log_type",
        "log type must be one of None, Tail; got 'Verbose'",
    ),
    (
        "tail-with-event",
        BadCall("echo", {"n": 1}, {"invocation_type": "Event", "log_type": "Tail"}),
        "log_type",
        "log type Tail is only available for synchronous invocations, not Event",
    ),
    # A NaN payload no longer reaches the activity: invoke_lambda refuses it in the workflow
    # (tests/e2e/test_size_edges.py::test_bad_request_refused_in_the_workflow[nan-...]).
    (
        "invoke-async-256KB+1",
        BadCall("echo", _string_of_size(262_145), {"invoke_async": True}),
        "payload",
        "payload is 262145 bytes; InvokeAsync calls accept at most 262144",
    ),
]


async def test_workflow_catches_validation_errors_by_type(
    time_skipping_env: WorkflowEnvironment, emulator: Emulator, task_queue: str
) -> None:
    env = time_skipping_env
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=emulator.lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        )
    )

    async def run_case(call: BadCall) -> tuple[Caught, list[Any]]:
        handle = await env.client.start_workflow(
            CatchValidationErrorWorkflow.run,
            call,
            id=f"prop-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=30),
        )
        caught: Caught = await handle.result()
        history = await handle.fetch_history()
        return caught, list(history.events)

    # Real time: with time skipping a loaded machine can let the server skip past an
    # activity timeout while a failure is being reported, and that would be a second attempt
    # for a reason unrelated to the one this test checks.
    with env.auto_time_skipping_disabled():
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=[CatchValidationErrorWorkflow],
            plugins=[plugin],
        ):
            outcomes = await asyncio.gather(*(run_case(call) for _, call, _, _ in WORKFLOW_CASES))

    for (case_id, _, field, message), (caught, events) in zip(
        WORKFLOW_CASES, outcomes, strict=True
    ):
        assert caught == Caught(
            error_class="ActivityError",
            cause_class="ApplicationError",
            type=VALIDATION,
            message=message,
            non_retryable=True,
            details=[{"field": field}],
            retry_state="NON_RETRYABLE_FAILURE",
        ), case_id
        started = [
            e.activity_task_started_event_attributes.attempt
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
        assert (started, len(failed)) == ([1], 1), case_id
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, case_id
    assert emulator.lam.invocations == []
    assert emulator.requests == []
