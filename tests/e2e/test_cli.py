"""The ``temporal-lambda`` command line, run as a subprocess against LocalLambda over sockets."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.emulator_keys import record_key

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
SECRET_KEY = "cli-secret-" + secrets.token_hex(16)
SESSION_TOKEN = "cli-session-token-" + secrets.token_hex(24)


def echo(event: Any, context: LambdaContext) -> Any:
    print("echo saw", json.dumps(event))
    return {"got": event, "version": context.function_version}


def boom(event: Any, context: LambdaContext) -> Any:
    raise ValueError("card declined")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=(ACCESS_KEY, SECRET_KEY)) as emulator:
        emulator.register("echo", echo)
        emulator.register("boom", boom)
        emulator.publish_version("echo")
        emulator.create_alias("echo", "live", "1")
        yield emulator


def _env(**extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TEMPORAL_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        TEMPORAL_CONFIG_FILE=os.devnull,
        PYTHONPATH=str(ROOT / "plugin"),
    )
    env.update(extra)
    return env


CLI_DEADLINE = 30.0


async def cli(*args: str, stdin: bytes | None = None, **env: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "temporal_lambda",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(**env),
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), CLI_DEADLINE)
    run = Run(proc.returncode or 0, out.decode(), err.decode())
    for secret in (SECRET_KEY, SESSION_TOKEN):  # never printed, whatever the command
        assert secret not in run.out and secret not in run.err
    return run


def target(lam: LocalLambda) -> list[str]:
    return ["--endpoint-url", lam.endpoint_url, "--region", "us-east-1"]


# -- apis / describe ------------------------------------------------------------------------


async def test_apis_lists_the_three_apis_and_filters() -> None:
    run = await cli("apis")
    assert run.code == 0
    assert [line.split()[:2] for line in run.out.splitlines()] == [
        ["Invoke", "2015-03-31"],
        ["InvokeAsync", "2014-11-13"],
        ["InvokeWithResponseStream", "2021-11-15"],
    ]
    run = await cli("apis", "deprecated")
    assert run.code == 0
    assert [line.split()[0] for line in run.out.splitlines()] == ["InvokeAsync"]
    run = await cli("apis", "streaming")
    assert run.code == 0
    assert [line.split()[0] for line in run.out.splitlines()] == ["InvokeWithResponseStream"]
    run = await cli("apis", "kinesis")
    assert (run.code, run.out) == (1, "no API matches\n")


async def test_describe_invoke_from_botocore_model() -> None:
    run = await cli("describe", "Invoke", "--json")
    assert run.code == 0
    ref = json.loads(run.out)
    assert (ref["method"], ref["path"], ref["success_status"]) == (
        "POST",
        "/2015-03-31/functions/{FunctionName}/invocations",
        200,
    )
    params = {p["name"]: p for p in ref["parameters"]}
    assert params["FunctionName"]["location"] == "path"
    assert params["FunctionName"]["required"] is True
    assert params["FunctionName"]["constraints"]["max"] == 256
    assert params["Qualifier"]["location"] == "query"
    assert params["InvocationType"]["wire_name"] == "X-Amz-Invocation-Type"
    assert params["InvocationType"]["constraints"]["enum"] == ["Event", "RequestResponse", "DryRun"]
    assert params["Payload"]["location"] == "body"
    assert "<" not in params["LogType"]["documentation"]  # HTML stripped
    assert {r["name"] for r in ref["response"]} >= {"StatusCode", "FunctionError", "LogResult"}
    errors = {e["code"]: e for e in ref["errors"]}
    assert errors["TooManyRequestsException"] == {
        "code": "TooManyRequestsException",
        "status": 429,
        "error_type": "Lambda.TooManyRequestsException",
        "retryable": True,
        "source": "model",
        "documentation": errors["TooManyRequestsException"]["documentation"],
    }
    assert errors["ResourceNotFoundException"]["retryable"] is False
    assert errors["AccessDeniedException"]["source"] == "wire"
    assert errors["RequestEntityTooLargeException"]["error_type"] == (
        "Lambda.RequestTooLargeException"
    )
    assert errors["Lambda.ValidationError"]["retryable"] is False
    run = await cli("describe", "invoke")
    assert run.code == 0
    assert run.out.startswith(
        "Invoke (2015-03-31)\nPOST /2015-03-31/functions/{FunctionName}/invocations  -> 200\n"
    )
    assert (
        "  429 TooManyRequestsException  ->  type=Lambda.TooManyRequestsException, retried\n"
        in run.out
    )


async def test_describe_invoke_async_and_unknown() -> None:
    run = await cli("describe", "InvokeAsync", "--json")
    ref = json.loads(run.out)
    assert (ref["path"], ref["success_status"], ref["deprecated"]) == (
        "/2014-11-13/functions/{FunctionName}/invoke-async",
        202,
        True,
    )
    assert [p["name"] for p in ref["parameters"]] == ["FunctionName", "InvokeArgs"]
    run = await cli("describe", "InvokeWithResponseStreaming")
    assert run.code == 2
    assert run.err == (
        "temporal-lambda describe: unknown API 'InvokeWithResponseStreaming'; "
        "the APIs are: Invoke, InvokeAsync, InvokeWithResponseStream\n"
    )


# -- invoke ---------------------------------------------------------------------------------


async def test_invoke_success_shows_request_answer_log_and_snippet(lam: LocalLambda) -> None:
    run = await cli(
        "invoke",
        "echo",
        "--payload",
        '{"order": 42}',
        "--qualifier",
        "live",
        "--log-type",
        "Tail",
        "--show-request",
        "--snippet",
        *target(lam),
    )
    assert run.code == 0, run.err
    [record] = lam.records("echo")
    key = re.search(r"^idempotency key: (tl-[A-Za-z0-9_-]{43}) \(derived", run.out, re.M)
    assert key is not None
    assert f"  POST {lam.endpoint_url}/2015-03-31/functions/echo/invocations?Qualifier=live\n" in (
        run.out
    )
    assert "  authorization: [REDACTED]\n" in run.out
    assert "  x-amz-security-token: [REDACTED]\n" in run.out
    assert "  body: 12 bytes\n" in run.out
    assert "Invoke answered HTTP 200 in " in run.out
    assert f"  x-amzn-requestid: {record.request_id}\n" in run.out
    assert "  x-amz-executed-version: 1\n" in run.out
    assert 'echo saw {"order": 42}\n' in run.out
    assert 'Payload (json):\n  {\n    "got": {\n      "order": 42\n    },\n' in run.out
    assert "result = await invoke_lambda('echo', {'order': 42}, qualifier='live', " in run.out
    assert (
        'client = await Client.connect("localhost:7233", plugins=[LambdaPlugin(client=LambdaClient('
        f"region='us-east-1', endpoint_url='{lam.endpoint_url}'))])" in run.out
    )
    assert "from temporal_lambda import LambdaClient, LambdaPlugin\n" in run.out
    assert (record_key(record), record.qualifier) == (key.group(1), "live")


async def test_invoke_json_with_given_key_and_payload_file(
    lam: LocalLambda, tmp_path: Path
) -> None:
    path = tmp_path / "event.json"
    path.write_text('{"from": "file"}')
    run = await cli(
        "invoke",
        "echo",
        "--payload",
        f"@{path}",
        "--idempotency-key",
        "my-key",
        "--json",
        *target(lam),
    )
    assert run.code == 0
    data = json.loads(run.out)
    assert (data["kind"], data["exit_code"], data["idempotency_key"]) == ("success", 0, "my-key")
    assert data["idempotency_key_source"] == "given"
    assert data["result"]["payload"] == {"got": {"from": "file"}, "version": "$LATEST"}
    assert data["request"]["headers"]["authorization"] == "[REDACTED]"
    run = await cli("invoke", "echo", "--payload", "-", "--json", *target(lam), stdin=b"[1, 2]")
    assert json.loads(run.out)["result"]["payload"]["got"] == [1, 2]


async def test_invoke_function_error_exit_1(lam: LocalLambda) -> None:
    run = await cli("invoke", "boom", "--log-type", "Tail", "--json", *target(lam))
    assert run.code == 1
    data = json.loads(run.out)
    assert data["kind"] == "function_error"
    assert data["status_code"] == 200
    assert data["headers"]["x-amz-function-error"] == "Unhandled"
    error = data["error"]
    assert (error["type"], error["message"], error["non_retryable"]) == (
        "ValueError",
        "card declined",
        False,
    )
    assert error["next_retry_delay_seconds"] is None
    assert error["details"][0]["error_type"] == "ValueError"
    assert "[ERROR] ValueError: card declined" in error["details"][0]["log_tail"]
    run = await cli("invoke", "boom", *target(lam))
    assert run.code == 1
    assert "The workflow gets ApplicationError type=ValueError\n  message: card declined\n" in (
        run.out
    )
    assert "  retried, after the retry policy's backoff\n" in run.out


async def test_invoke_throttle_is_a_retryable_service_error_exit_4(lam: LocalLambda) -> None:
    lam.faults.fail_next(
        1,
        status=429,
        code="TooManyRequestsException",
        message="Rate exceeded",
        retry_after=7,
        reason="ReservedFunctionConcurrentInvocationLimitExceeded",
        function="echo",
    )
    run = await cli("invoke", "echo", *target(lam))
    assert run.code == 4
    assert "Invoke answered HTTP 429 in " in run.out
    assert "  retry-after: 7\n" in run.out
    assert (
        "The workflow gets ApplicationError type=Lambda.TooManyRequestsException\n"
        "  message: Rate exceeded\n"
        "  retried after 7 s (next_retry_delay from Retry-After)\n"
    ) in run.out
    run = await cli("invoke", "missing", "--json", *target(lam))
    assert run.code == 4
    error = json.loads(run.out)["error"]
    assert (error["type"], error["non_retryable"]) == ("Lambda.ResourceNotFoundException", True)
    assert error["details"][0]["status_code"] == 404


async def test_invoke_refused_input_sends_nothing_exit_3(lam: LocalLambda) -> None:
    cases = [
        (["--qualifier", "no spaces"], "qualifier", "qualifier must be $LATEST"),
        (["--payload", "{not json"], "payload", "--payload is not valid JSON: "),
        (["--client-context", "[1]"], "client_context", "client context must be a JSON object"),
        (["--invoke-async"], "payload", "InvokeAsync requires a payload (InvokeArgs); got None"),
        (["--invocation-type", "Sync"], "invocation_type", "invocation type must be one of"),
        (["--payload", "@/nonexistent/x.json"], "payload", "cannot read the payload file"),
    ]
    for extra, field, message in cases:
        run = await cli("invoke", "echo", *extra, "--json", *target(lam))
        assert run.code == 3, (extra, run.out, run.err)
        data = json.loads(run.out)
        assert data["kind"] == "refused"
        assert data["request"] is None
        error = data["error"]
        assert (error["type"], error["non_retryable"]) == ("Lambda.ValidationError", True)
        assert error["details"] == [{"field": field}]
        assert error["message"].startswith(message), error["message"]
    assert lam.records() == []
    run = await cli("invoke", "echo", "--tenant-id", "bad\ttenant", *target(lam))
    assert run.code == 3
    assert "refused before sending: nothing was sent\n" in run.out


async def test_invoke_no_answer_is_a_transport_error_exit_5() -> None:
    run = await cli(
        "invoke", "echo", "--json", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"
    )
    assert run.code == 5
    error = json.loads(run.out)["error"]
    assert (error["type"], error["non_retryable"]) == ("Lambda.SdkClientException", False)
    assert error["details"] == [{"timeout": False, "maybe_sent": False}]


async def test_invoke_usage_error_exit_2() -> None:
    run = await cli("invoke")
    assert run.code == 2
    assert "the following arguments are required: function" in run.err


# -- through Temporal -----------------------------------------------------------------------


async def test_through_temporal_records_throttle_retry_then_success(
    lam: LocalLambda, dev_env: WorkflowEnvironment
) -> None:
    lam.faults.fail_next(
        1,
        status=429,
        code="TooManyRequestsException",
        message="Rate exceeded",
        retry_after=1,
        function="echo",
    )
    address = dev_env.client.service_client.config.target_host
    run = await cli(
        "invoke",
        "echo",
        "--payload",
        '{"n": 1}',
        "--through-temporal",
        "--json",
        *target(lam),
        TEMPORAL_ADDRESS=address,
    )
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["server"] == f"{address} (from temporalio.envconfig)"
    assert data["kind"] == "success"
    assert data["result"]["payload"] == {"got": {"n": 1}, "version": "$LATEST"}
    first, second = data["attempts"]
    assert first == {
        "number": 1,
        "outcome": "failed",
        "error_type": "Lambda.TooManyRequestsException",
        "message": "Rate exceeded",
        "non_retryable": False,
        "next_attempt_in_seconds": first["next_attempt_in_seconds"],
        "heartbeats": [],
    }
    assert first["next_attempt_in_seconds"] == pytest.approx(1.0, abs=0.01)  # Retry-After: 1
    assert (second["number"], second["outcome"]) == (2, "completed")
    described = await dev_env.client.get_workflow_handle(data["workflow_id"]).describe()
    assert described.workflow_type == "temporal_lambda.cli.TryInvoke"
    assert len(lam.records("echo")) == 2


async def test_through_temporal_function_error_fails_after_max_attempts(
    lam: LocalLambda, dev_env: WorkflowEnvironment
) -> None:
    address = dev_env.client.service_client.config.target_host
    run = await cli(
        "invoke",
        "boom",
        "--through-temporal",
        "--max-attempts",
        "1",
        *target(lam),
        TEMPORAL_ADDRESS=address,
    )
    assert run.code == 1, run.err
    assert re.search(r"^workflow id: temporal-lambda-try-[0-9a-f-]{36}  \(run ", run.out, re.M)
    assert "  attempt 1: failed with ValueError (retryable): card declined\n" in run.out
    assert (
        "the workflow failed: ActivityError caused by ApplicationError type=ValueError\n"
        "  message: card declined\n"
    ) in run.out


async def test_emulator_is_python_m_temporal_lambda_testing() -> None:
    run = await cli("emulator", "--help")
    assert run.code == 0
    assert run.out.startswith("usage: python -m temporal_lambda.testing ")
    assert "--handlers" in run.out


# --- one request path: the try is the activity's attempt ------------------------------------


async def test_a_try_refuses_a_function_in_another_region_as_the_activity_does(
    lam: LocalLambda,
) -> None:
    from temporal_lambda.cli import _core

    arn = "arn:aws:lambda:eu-west-1:123456789012:function:echo"
    outcome = await _core.try_request(
        _core.TrySettings(function_name=arn, idempotency_key="k-1"),
        region="us-east-1",
        endpoint_url=lam.endpoint_url,
    )
    assert outcome.kind == "refused"
    assert outcome.request is None
    assert outcome.error is not None
    assert outcome.error["type"] == "Lambda.ValidationError"
    assert outcome.error["non_retryable"] is True
    assert outcome.error["message"] == (
        f"function {arn} is in region eu-west-1, but this worker's Lambda client signs for and "
        "calls region us-east-1; invoke it from a worker (task queue) configured for eu-west-1"
    )
    assert outcome.error["details"] == [{"field": "function_name"}]
    assert lam.records() == []


async def test_a_try_shows_status_and_headers_of_a_function_error(
    lam: LocalLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    from temporal_lambda.cli import _core

    for name, value in _env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    outcome = await _core.try_request(
        _core.TrySettings(function_name="boom", idempotency_key="k-2"),
        region="us-east-1",
        endpoint_url=lam.endpoint_url,
    )
    [record] = lam.records("boom")
    assert outcome.kind == "function_error"
    assert outcome.status_code == 200
    assert outcome.headers["x-amz-function-error"] == "Unhandled"
    assert outcome.headers["x-amzn-requestid"] == record.request_id
    assert outcome.request is not None
    assert outcome.request.headers["authorization"] == "[REDACTED]"
    assert outcome.elapsed_ms is not None
