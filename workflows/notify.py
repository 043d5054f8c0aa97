"""NotifyWorkflow: check permission with ``DryRun``, then fire an ``Event`` notification.

``DryRun`` validates the parameters and that the caller may invoke the function (204), so
a misconfiguration fails here rather than after other work. The ``Event`` call returns
as soon as Lambda has queued the event (202); the function runs later, and Lambda's own
asynchronous retries and destinations take over from there. The idempotency key travels
in the event itself (``event["idempotency_key"]``), since ``Event`` calls carry no client
context, so the function can drop duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

from temporal_lambda.workflow import invoke_lambda


@dataclass
class NotifyInput:
    recipient: str
    message: str
    function_name: str = "send-notification"


@dataclass
class NotifyResult:
    dry_run_status: int
    status_code: int
    idempotency_key: str
    request_id: str | None = None


@workflow.defn
class NotifyWorkflow:
    @workflow.run
    async def run(self, params: NotifyInput) -> NotifyResult:
        check = await invoke_lambda(
            params.function_name,
            invocation_type="DryRun",
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"may we invoke {params.function_name}?",
        )
        sent = await invoke_lambda(
            params.function_name,
            {"to": params.recipient, "message": params.message},
            invocation_type="Event",
            start_to_close_timeout=timedelta(seconds=30),
        )
        return NotifyResult(
            dry_run_status=check.status_code,
            status_code=sent.status_code,
            idempotency_key=sent.idempotency_key,
            request_id=sent.request_id,
        )
