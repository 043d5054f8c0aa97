"""Hostile or odd answers and inputs: Retry-After, echoed secrets, foreign ARNs, small edges.

The end-to-end tests run a real Temporal dev server, a worker with the plugin, and a small
hostile HTTP server of their own on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import secrets
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import botocore.auth
import botocore.awsrequest
import httpx
import pytest
from aiohttp import web
from botocore.credentials import Credentials
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import HttpSettings, LambdaClient, LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import LambdaActivities
from temporal_lambda._errors import (
    FunctionErrorInfo,
    LambdaFunctionError,
    LambdaServiceError,
    LambdaValidationError,
    to_application_error,
)
from temporal_lambda._redact import REDACTED, call_quietly, quiet_signing, scrub, scrub_error
from temporal_lambda._request import prepare_call
from temporal_lambda._response import (
    DEFAULT_MAX_RETRY_AFTER,
    classify_service_error,
    retry_after_seconds,
)
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.activity_env import make_env
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow

KEY = "k-1"
NOW = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


# -- item 10: Retry-After ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-0", 0.0),
        ("900", 900.0),
        ("901", 900.0),
        ("1000000000", 900.0),
        ("1e15", 900.0),
        ("1e400", 900.0),  # inf as a float
        ("9" * 5000, 900.0),  # longer than int() accepts
        ("-1", None),
        ("-1e15", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("Infinity", None),
        ("", None),
        ("soon", None),
        ("1 hour", None),
        ("0x10", None),
        ("2030-01-02T03:04:35Z", None),  # ISO 8601 is not an HTTP-date
        ("\x00\xff", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


def test_retry_after_http_dates() -> None:
    # Measured from now when there is no Date header.
    assert retry_after_seconds("Wed, 02 Jan 2030 03:04:35 GMT", now=NOW) == 30.0
    assert retry_after_seconds("Wed, 02 Jan 2030 03:04:00 GMT", now=NOW) == 0.0  # past
    assert retry_after_seconds("Fri, 01 Jan 2100 00:00:00 GMT", now=NOW) == 900.0  # far
    assert retry_after_seconds("Wednesday, 02-Jan-30 03:04:45 GMT", now=NOW) == 40.0  # RFC 850
    assert retry_after_seconds("Wed Jan  2 03:04:15 2030", now=NOW) == 10.0  # asctime
    # Measured from the response's own Date (the server's clock), whatever ours says.
    assert (
        retry_after_seconds(
            "Wed, 21 Oct 2015 07:28:20 GMT", date="Wed, 21 Oct 2015 07:28:00 GMT", now=NOW
        )
        == 20.0
    )
    # An unreadable Date falls back to now.
    assert retry_after_seconds("Wed, 02 Jan 2030 03:04:35 GMT", date="junk", now=NOW) == 30.0
    # Garbage dates.
    assert retry_after_seconds("Wed, 99 Foo 2030 03:04:35 GMT", now=NOW) is None
    assert retry_after_seconds("Wed, 02 Jan 99999 03:04:35 GMT", now=NOW) is None
    # Without now=, the system clock: a date an hour ahead is cut to the maximum.
    ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    assert retry_after_seconds(ahead.strftime("%a, %d %b %Y %H:%M:%S GMT")) == 900.0


def test_retry_after_configured_maximum() -> None:
    assert retry_after_seconds("1e15", maximum=5.0) == 5.0
    assert retry_after_seconds("3", maximum=5.0) == 3.0
    assert retry_after_seconds("3", maximum=0.0) == 0.0
    assert DEFAULT_MAX_RETRY_AFTER == 900.0
    assert HttpSettings().max_retry_after == 900.0
    client = LambdaClient(region="us-east-1", http=HttpSettings(max_retry_after=7.5))
    assert client.max_retry_after == 7.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^max_retry_after must be between 0 and one year"):
            HttpSettings(max_retry_after=bad)


@pytest.mark.parametrize("value", ["1000000000", "1e15", "1e400", "9" * 400])
def test_huge_retry_after_keeps_the_throttle_type(value: str) -> None:
    error = classify_service_error(
        429,
        {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": value},
        b'{"Reason":"CallerRateLimitExceeded","Type":"User","message":"Rate Exceeded."}',
    )
    assert error.retry_after == 900.0
    with pytest.raises(ApplicationError) as caught:
        to_application_error(error)
    assert caught.value.type == "Lambda.TooManyRequestsException"
    assert caught.value.non_retryable is False
    assert caught.value.next_retry_delay == datetime.timedelta(seconds=900)
    small = classify_service_error(429, {"Retry-After": value}, b"", max_retry_after=2.0)
    assert small.retry_after == 2.0


@asynccontextmanager
async def hostile_server(handler: Any) -> AsyncIterator[str]:
    """Serve ``handler`` for every request on 127.0.0.1; yield the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def worker_for(
    env: WorkflowEnvironment,
    endpoint_url: str,
    task_queue: str,
    credentials: Credentials | None = None,
    http: HttpSettings | None = None,
) -> AsyncIterator[Worker]:
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=endpoint_url,
            credentials=credentials or Credentials("testing", "testing"),
            http=http,
        ),
        idempotency_store=None,
    )
    async with Worker(
        env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin]
    ) as worker:
        yield worker


async def run_failing(
    env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec, workflow_id: str | None = None
) -> ApplicationError:
    handle = await env.client.start_workflow(
        InvokeWorkflow.run,
        spec,
        id=workflow_id or f"wf-{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=datetime.timedelta(seconds=30),
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(handle.result(), timeout=30)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_huge_retry_after_through_a_worker(dev_env: WorkflowEnvironment) -> None:
    hits: list[str] = []

    async def throttle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response(
            {"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate Exceeded."},
            status=429,
            headers={"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1e15"},
        )

    task_queue = f"tq-{uuid.uuid4()}"
    async with hostile_server(throttle) as url, worker_for(dev_env, url, task_queue):
        error = await run_failing(dev_env, task_queue, InvokeSpec("fn", {"n": 1}, max_attempts=1))
    assert error.type == "Lambda.TooManyRequestsException"
    assert error.message == "Rate Exceeded."
    assert error.non_retryable is False
    assert error.next_retry_delay == datetime.timedelta(seconds=900)
    assert error.details[0]["retry_after"] == 900.0
    assert error.details[0]["reason"] == "CallerRateLimitExceeded"
    assert len(hits) == 1


# -- item 11: secrets echoed back ------------------------------------------------------------------


def test_scrub_patterns() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20300102/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "ab12" * 16
    )
    text = f"Authorization: {auth}\nX-Amz-Security-Token: FwoGZXIvYXdzEJr//token+/=\nok"
    cleaned = scrub(text)
    assert cleaned == f"Authorization: {REDACTED}\nX-Amz-Security-Token: {REDACTED}\nok"
    assert scrub(f'{{"authorization": "{auth}"}}') == f'{{"authorization": "{REDACTED}"}}'
    assert scrub(f"<td>{auth}</td>") == f"<td>AWS4-HMAC-SHA256 {REDACTED}</td>"
    assert scrub("Signature=" + "0f" * 32 + " end") == f"Signature={REDACTED} end"
    assert scrub("X-Amz-Signature=deadbeef&x=1") == f"X-Amz-Signature={REDACTED}&x=1"
    assert scrub("Credential=AKID/2030/us-east-1/lambda/aws4_request,") == (
        f"Credential={REDACTED},"
    )
    # Exact secrets anywhere; short strings are never treated as secrets.
    assert scrub("the key is s3cr3t-value-xyz!", ["s3cr3t-value-xyz"]) == (
        f"the key is {REDACTED}!"
    )
    assert scrub("a short abc", ["abc"]) == "a short abc"
    # Ordinary text is left alone.
    plain = "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f (credentials ok)"
    assert scrub(plain) == plain


def test_scrub_aws_invalid_signature_message() -> None:
    """AWS's own 403 shows the canonical request it expected, session token included."""
    token = "IQoJb3JpZ2luX2VjE" + secrets.token_hex(20)
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method.\n\nThe Canonical String for "
        "this request should have been\n'POST\n/2015-03-31/functions/f/invocations\n\n"
        f"host:lambda.us-east-1.amazonaws.com\nx-amz-date:20300102T030405Z\n"
        f"x-amz-security-token:{token}\n\nhost;x-amz-date;x-amz-security-token\n"
        + "e3b0" * 16
        + "'"
    )
    assert token not in scrub(message)
    assert token not in scrub(message, [token])
    assert f"x-amz-security-token:{REDACTED}" in scrub(message)


def test_quiet_span_drops_only_our_debug_records() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("botocore.endpoint")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with quiet_signing():
            logger.debug("signed request inside")
            logger.warning("warning inside")
        call_quietly(lambda: logger.debug("refresh inside"))
        logger.debug("outside")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage() for r in records] == ["warning inside", "outside"]


def test_scrub_error_reaches_details_and_causes() -> None:
    secret = "very-secret-" + secrets.token_hex(8)
    info = FunctionErrorInfo(
        error_type="ValueError",
        message=f"boom {secret}",
        stack_trace=[f"line {secret}"],
        log_tail=f"log {secret}",
    )
    error = LambdaFunctionError(info)
    try:
        try:
            raise OSError(f"socket said {secret}")
        except OSError as low:
            raise error from low
    except LambdaFunctionError:
        pass
    assert scrub_error(error, [secret]) is error
    assert secret not in str(error)
    assert secret not in json.dumps(error.details())
    assert secret not in "".join(traceback.format_exception(error))
    assert error.info.message == f"boom {REDACTED}"
    assert error.details()["stack_trace"] == [f"line {REDACTED}"]
    service = LambdaServiceError(
        f"echo {secret}", code="AccessDeniedException", status_code=403, retryable=False
    )
    scrub_error(service, [secret])
    assert str(service) == f"echo {REDACTED}"
    assert service.error_type == "Lambda.AccessDeniedException"


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Capture every log record (root, botocore, temporalio at DEBUG), fully formatted."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            lines.append(f"{record.name}: {text}")

    handler = Keep(level=logging.DEBUG)
    names = ("", "botocore", "temporalio", "temporal_lambda")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def test_echoed_secrets_never_reach_history_or_logs(dev_env: WorkflowEnvironment) -> None:
    access_key = "ASIA" + secrets.token_hex(8).upper()
    secret_key = "sk-" + secrets.token_urlsafe(30)
    token = "tok-" + secrets.token_urlsafe(60)
    seen: list[dict[str, str]] = []

    async def echo_headers(request: web.Request) -> web.Response:
        headers = dict(request.headers)
        seen.append(headers)
        dump = "\n".join(f"{name}: {value}" for name, value in headers.items())
        if "denied" in request.path:
            return web.json_response(
                {"Type": "User", "message": f"Access denied. Your request was:\n{dump}"},
                status=403,
                headers={"x-amzn-ErrorType": "AccessDeniedException"},
            )
        rows = "".join(f"<tr><td>{n}</td><td>{v}</td></tr>" for n, v in headers.items())
        page = f"<html><body><h1>502 Bad Gateway</h1><table>{rows}</table></body></html>"
        return web.Response(status=502, text=page, content_type="text/html")

    task_queue = f"tq-{uuid.uuid4()}"
    credentials = Credentials(access_key, secret_key, token)
    ids = [f"wf-denied-{uuid.uuid4()}", f"wf-proxy-{uuid.uuid4()}"]
    with captured_logs() as lines:
        # The capture works: botocore's signer logs the canonical request and signature
        # (with the token) at DEBUG when it is not run by the plugin.
        probe = botocore.awsrequest.AWSRequest(method="POST", url="https://h/", data=b"")
        botocore.auth.SigV4Auth(
            Credentials("AKIDPROBE", "probe-secret", "probe-token-value"), "lambda", "us-east-1"
        ).add_auth(probe)
        assert any("probe-token-value" in line for line in lines)
        lines.clear()

        async with (
            hostile_server(echo_headers) as url,
            worker_for(dev_env, url, task_queue, credentials),
        ):
            denied = await run_failing(
                dev_env, task_queue, InvokeSpec("denied", {"n": 1}, max_attempts=1), ids[0]
            )
            proxy = await run_failing(
                dev_env, task_queue, InvokeSpec("proxy", {"n": 2}, max_attempts=1), ids[1]
            )
        histories = [
            json.dumps((await dev_env.client.get_workflow_handle(i).fetch_history()).to_json_dict())
            for i in ids
        ]

    assert len(seen) == 2
    signatures = []
    for headers in seen:
        # The server really received the secrets it echoes.
        assert headers["X-Amz-Security-Token"] == token
        match = re.search(r"Signature=([0-9a-f]{64})$", headers["Authorization"])
        assert match is not None
        signatures.append(match.group(1))
    assert denied.type == "Lambda.AccessDeniedException"
    assert denied.non_retryable is True
    assert denied.message.startswith("Access denied. Your request was:\n")
    assert f"Authorization: {REDACTED}" in denied.message
    assert f"X-Amz-Security-Token: {REDACTED}" in denied.message
    assert proxy.type == "Lambda.Unknown"
    assert proxy.non_retryable is False
    assert proxy.message.startswith("<html><body><h1>502 Bad Gateway</h1>")
    assert f"<td>AWS4-HMAC-SHA256 {REDACTED}</td>" in proxy.message
    assert any("Lambda denied failed" in line for line in lines)  # the plugin did log
    forbidden = [access_key, secret_key, token, *signatures]
    texts = {
        "history": "\n".join(histories),
        "logs": "\n".join(lines),
        "errors": json.dumps([str(denied), denied.details, str(proxy), proxy.details]),
    }
    for where, text in texts.items():
        for value in forbidden:
            assert value not in text, f"a secret reached the {where}"
    assert not any("CanonicalRequest" in line or "StringToSign" in line for line in lines)


# -- item 13: another region's or partition's ARN --------------------------------------------------


def req(function_name: str, **options: Any) -> LambdaInvokeRequest:
    return LambdaInvokeRequest(function_name, {"n": 1}, **options)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "function arn:aws:lambda:eu-west-1:123456789012:function:f is in region eu-west-1, "
            "but this worker's Lambda client signs for and calls region us-east-1; invoke it "
            "from a worker (task queue) configured for eu-west-1",
        ),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:f:live",
            "function arn:aws:lambda:eu-west-1:123456789012:function:f:live is in region "
            "eu-west-1, but this worker's Lambda client signs for and calls region us-east-1; "
            "invoke it from a worker (task queue) configured for eu-west-1",
        ),
        (
            "eu-west-1:123456789012:function:f",
            "function eu-west-1:123456789012:function:f is in region eu-west-1, but this "
            "worker's Lambda client signs for and calls region us-east-1; invoke it from a "
            "worker (task queue) configured for eu-west-1",
        ),
        (
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
            "function arn:aws-cn:lambda:cn-north-1:123456789012:function:f is in partition "
            "aws-cn, region cn-north-1, but this worker's Lambda client signs for and calls "
            "region us-east-1 in partition aws; invoke it from a worker (task queue) "
            "configured for cn-north-1",
        ),
        (
            "arn:aws-us-gov:lambda:us-east-1:123456789012:function:f",
            "function arn:aws-us-gov:lambda:us-east-1:123456789012:function:f is in partition "
            "aws-us-gov, region us-east-1, but this worker's Lambda client signs for and calls "
            "region us-east-1 in partition aws; invoke it from a worker (task queue) "
            "configured for us-east-1",
        ),
    ],
)
def test_foreign_arn_refused(name: str, message: str) -> None:
    with pytest.raises(LambdaValidationError) as caught:
        prepare_call(req(name), KEY, region="us-east-1", partition="aws")
    assert str(caught.value) == message
    assert caught.value.field == "function_name"
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "name",
    [
        "f",
        "f:live",
        "my-fn-1:prod",  # a name and a qualifier, though the name looks like a region
        "123456789012:function:f",
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        "us-east-1:123456789012:function:f:1",
        "arn::lambda:us-east-1:123456789012:function:f",
    ],
)
def test_own_region_names_accepted(name: str) -> None:
    call = prepare_call(req(name), KEY, region="us-east-1", partition="aws")
    assert call.function_name == name


def test_unchecked_without_region() -> None:
    prepare_call(req("arn:aws-cn:lambda:cn-north-1:123456789012:function:f"), KEY)


def test_client_partition_from_botocore() -> None:
    assert LambdaClient(region="us-east-1").partition == "aws"
    assert LambdaClient(region="cn-north-1").partition == "aws-cn"
    assert LambdaClient(region="us-gov-west-1").partition == "aws-us-gov"
    assert LambdaClient(region="eu-west-1", endpoint_url="http://127.0.0.1:1").partition == "aws"


def echo(event: Any, context: LambdaContext) -> Any:
    return event


async def test_foreign_arn_refused_through_a_worker(dev_env: WorkflowEnvironment) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    async with LocalLambda(credentials=("testing", "testing")) as lam:
        lam.register("echo", echo)
        async with worker_for(dev_env, lam.endpoint_url, task_queue):
            errors = [
                await run_failing(dev_env, task_queue, InvokeSpec(name, {"n": 1}))
                for name in (
                    "arn:aws:lambda:eu-west-1:123456789012:function:echo",
                    "arn:aws-cn:lambda:cn-north-1:123456789012:function:echo",
                )
            ]
        assert lam.invocations == []
    assert [e.type for e in errors] == ["Lambda.ValidationError"] * 2
    assert all(e.non_retryable for e in errors)
    assert [e.details[0] for e in errors] == [{"field": "function_name"}] * 2
    assert re.fullmatch(
        r"function \S+ is in region eu-west-1, .* calls region us-east-1; .*", errors[0].message
    )
    assert re.fullmatch(
        r"function \S+ is in partition aws-cn, region cn-north-1, .* calls region us-east-1 "
        r"in partition aws; .*",
        errors[1].message,
    )


# -- small ones ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["  t1  ", " t1", "t1 ", " "])
def test_tenant_id_with_edge_spaces_refused(tenant: str) -> None:
    with pytest.raises(LambdaValidationError) as caught:
        prepare_call(req("f", tenant_id=tenant), KEY)
    assert str(caught.value) == (
        f"tenant id {tenant!r} begins or ends with a space, which HTTP strips from a header "
        "value: the function would see another tenant id"
    )
    assert caught.value.field == "tenant_id"


def test_tenant_id_inner_space_sent_exactly() -> None:
    call = prepare_call(req("f", tenant_id="team a/t1"), KEY)
    assert call.headers["X-Amz-Tenant-Id"] == "team a/t1"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2-pass@lambda.example.com",
        "http://user@127.0.0.1:9000",
        "http://:hunter2-pass@127.0.0.1:9000/",
    ],
)
def test_endpoint_with_userinfo_refused(url: str) -> None:
    expected = (
        r"^endpoint_url must not contain user information \(user:password@host\); Lambda "
        r"calls are signed with the AWS credentials \(credentials= or the standard chain\), "
        r"not with URL credentials$"
    )
    with pytest.raises(ValueError, match=expected) as caught:
        LambdaClient(region="us-east-1", endpoint_url=url)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ValueError, match=expected):
        LambdaPlugin(
            client=LambdaClient(region="us-east-1", endpoint_url=url), idempotency_store=None
        )


def test_endpoint_without_userinfo_accepted() -> None:
    client = LambdaClient(region="us-east-1", endpoint_url="http://127.0.0.1:9000")
    assert client.endpoint == "http://127.0.0.1:9000"


async def test_durable_conflict_without_the_execution_is_an_error() -> None:
    """A 409 that does not name the execution means another payload: never a success."""
    requests: list[httpx.Request] = []

    def conflict(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(
            409,
            headers={"x-amzn-ErrorType": "DurableExecutionAlreadyStartedException"},
            json={
                "Type": "User",
                "message": "Durable execution x has already been started with a different payload.",
            },
        )

    acts = LambdaActivities(
        LambdaClient(
            region="us-east-1",
            credentials=Credentials("AKID", "SECRET"),
            transport=httpx.MockTransport(conflict),
        )
    )
    request = LambdaInvokeRequest("flow:1", {"order": 1}, durable_execution_name_from_key=True)
    with pytest.raises(ApplicationError) as caught:
        await make_env().run(acts.invoke, request)
    assert caught.value.type == "Lambda.DurableExecutionAlreadyStartedException"
    assert caught.value.message == (
        "Durable execution x has already been started with a different payload."
    )
    assert caught.value.non_retryable is True
    assert len(requests) == 1
