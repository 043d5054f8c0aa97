"""The one-activity workflow that ``temporal-lambda invoke --through-temporal`` runs.

It calls :func:`temporal_lambda.workflow.invoke_lambda` exactly as a user's workflow does
(default timeouts, heartbeat timeout and retry policy), except that the retry policy stops
after ``max_attempts`` so that a try ends. Sandbox-safe: it imports only the workflow helper.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

from temporal_lambda.workflow import default_retry_policy, invoke_lambda

with workflow.unsafe.imports_passed_through():
    from temporal_lambda._types import LambdaInvokeResult

__all__ = ["TRY_WORKFLOW_NAME", "TryInput", "TryInvokeWorkflow"]

TRY_WORKFLOW_NAME = "temporal_lambda.cli.TryInvoke"
"""The workflow type name shown in the Temporal UI."""


@dataclass
class TryInput:
    """The settings of one test request, and how many attempts Temporal may make."""

    function_name: str
    payload: Any = None
    invocation_type: str = "RequestResponse"
    qualifier: str | None = None
    log_type: str | None = None
    client_context: dict[str, Any] | None = None
    tenant_id: str | None = None
    invoke_async: bool = False
    idempotency_key: str | None = None
    max_attempts: int = 3


@workflow.defn(name=TRY_WORKFLOW_NAME)
class TryInvokeWorkflow:
    """Invoke one Lambda function through the plugin's activity, and return its result."""

    @workflow.run
    async def run(self, args: TryInput) -> LambdaInvokeResult:
        """Run the call with the default policy, capped at ``args.max_attempts`` attempts."""
        policy = dataclasses.replace(default_retry_policy(), maximum_attempts=args.max_attempts)
        return await invoke_lambda(
            args.function_name,
            args.payload,
            invocation_type=args.invocation_type,
            qualifier=args.qualifier,
            log_type=args.log_type,
            client_context=args.client_context,
            tenant_id=args.tenant_id,
            invoke_async=args.invoke_async,
            idempotency_key=args.idempotency_key,
            retry_policy=policy,
        )
