"""The command line knows InvokeWithResponseStream: listed, and described from botocore's model."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def describe(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "temporal_lambda", "describe", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_describe_the_stream_api() -> None:
    ref = json.loads(describe("InvokeWithResponseStream", "--json"))
    assert (ref["method"], ref["path"], ref["success_status"], ref["deprecated"]) == (
        "POST",
        "/2021-11-15/functions/{FunctionName}/response-streaming-invocations",
        200,
        False,
    )
    params = {p["name"]: p for p in ref["parameters"]}
    assert set(params) == {
        "FunctionName",
        "InvocationType",
        "LogType",
        "ClientContext",
        "Qualifier",
        "Payload",
        "TenantId",
    }
    assert params["InvocationType"]["constraints"]["enum"] == ["RequestResponse", "DryRun"]
    assert ref["limits"] == {"payload_request_response": 6_291_456, "client_context_base64": 3583}
    assert ref["workflow_call"] == (
        'invoke_lambda_stream(..., invocation_type="RequestResponse" | "DryRun")'
    )
    errors = {e["error_type"]: e for e in ref["errors"]}
    assert errors["Lambda.ResponseTooLarge"]["retryable"] is False
    assert errors["Lambda.ResultTooLargeForTemporal"]["retryable"] is False
    assert errors["Lambda.TooManyRequestsException"]["retryable"] is True


def test_describe_text_names_the_workflow_helper() -> None:
    lines = describe("InvokeWithResponseStream").splitlines()
    assert lines[:4] == [
        "InvokeWithResponseStream (2021-11-15)",
        "POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations  -> 200",
        lines[2],
        'in a workflow: invoke_lambda_stream(..., invocation_type="RequestResponse" | "DryRun")',
    ]
    invoke = describe("Invoke").splitlines()
    assert invoke[3] == (
        'in a workflow: invoke_lambda(..., invocation_type="RequestResponse" | "Event" | "DryRun")'
    )
