"""Workflows of the streaming tests: a streamed call, summarised in the workflow."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_lambda.workflow import invoke_lambda_stream


@dataclass
class StreamCall:
    function_name: str
    payload: Any = None
    invocation_type: str = "RequestResponse"
    log_type: str | None = None
    qualifier: str | None = None
    tenant_id: str | None = None
    client_context: dict[str, Any] | None = None
    max_attempts: int = 1
    function_error_attempts: int = 3
    heartbeat_seconds: float = 30.0
    timeout_seconds: float = 60.0
    keep_payload: bool = False
    non_retryable: list[str] = field(default_factory=list)
    idempotency_key: str | None = None


@workflow.defn
class StreamWorkflow:
    """Invoke with a stream; return what arrived (the payload itself only when asked)."""

    @workflow.run
    async def run(self, call: StreamCall) -> dict[str, Any]:
        result = await invoke_lambda_stream(
            call.function_name,
            call.payload,
            invocation_type=call.invocation_type,
            log_type=call.log_type,
            qualifier=call.qualifier,
            tenant_id=call.tenant_id,
            client_context=call.client_context,
            idempotency_key=call.idempotency_key,
            function_error_attempts=call.function_error_attempts,
            non_retryable_function_errors=call.non_retryable,
            start_to_close_timeout=timedelta(seconds=call.timeout_seconds),
            heartbeat_timeout=timedelta(seconds=call.heartbeat_seconds),
            retry_policy=RetryPolicy(
                maximum_attempts=call.max_attempts, initial_interval=timedelta(milliseconds=100)
            ),
        )
        text = result.payload
        return {
            "status_code": result.status_code,
            "size": result.size,
            "chunks": result.chunks,
            "sha256": result.sha256,
            "encoding": result.payload_encoding,
            "payload_length": None if text is None else len(text),
            "payload_sha256": None
            if text is None
            else hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "payload": text if call.keep_payload else None,
            "log_tail": result.log_tail,
            "request_id": result.request_id,
            "executed_version": result.executed_version,
            "key": result.idempotency_key,
        }
