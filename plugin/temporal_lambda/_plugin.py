"""``LambdaPlugin``: registers the invoke activity on a Temporal worker."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import httpx
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from temporal_lambda._activity import HEARTBEAT_THROTTLE_INTERVAL, LambdaActivities
from temporal_lambda._client import HttpSettings, LambdaClient
from temporal_lambda.idempotency import IdempotencyStore, SQLiteIdempotencyStore, default_store_path

if TYPE_CHECKING:
    from botocore.credentials import Credentials

PLUGIN_NAME = "temporal_lambda.LambdaPlugin"
PASSTHROUGH_MODULES = ("temporal_lambda", "httpx", "botocore")
"""Imported once, outside the workflow sandbox: deterministic at use, costly to re-import."""
SDK_HEARTBEAT_THROTTLE: timedelta = (
    inspect.signature(Worker.__init__).parameters["max_heartbeat_throttle_interval"].default
)
"""The SDK's default ``max_heartbeat_throttle_interval`` (60 s in temporalio 1.35), read from
``Worker`` itself: a worker configured with it is taken as not configured."""


def _heartbeat_throttle(config: WorkerConfig) -> WorkerConfig:
    """Let a held call's heartbeats reach the server every 9.5 s, so a cancel arrives within 10 s.

    The SDK sends an activity's heartbeats at most every 0.8 x its heartbeat timeout, capped
    by the worker's ``max_heartbeat_throttle_interval``: 24 s at the default 30 s timeout,
    which is what a cancel request waited. Lowering the cap keeps the timeout's 30 s of
    tolerance for a stalled worker. A value the user chose is kept; the cap applies to every
    activity of the worker, and only changes those that heartbeat more often than it.
    """
    if config.get("max_heartbeat_throttle_interval", SDK_HEARTBEAT_THROTTLE) == (
        SDK_HEARTBEAT_THROTTLE
    ):
        config["max_heartbeat_throttle_interval"] = timedelta(seconds=HEARTBEAT_THROTTLE_INTERVAL)
    return config


def _pass_through(runner: WorkflowRunner | None) -> WorkflowRunner:
    """Let workflows import this package without re-importing it (and its I/O) per run."""
    if runner is None:
        raise ValueError("LambdaPlugin needs the worker's workflow runner")
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner,
            restrictions=runner.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES),
        )
    return runner


class LambdaPlugin(SimplePlugin):
    """A Temporal plugin that lets workflows on this worker invoke AWS Lambda.

    Example::

        worker = Worker(client, task_queue="lambda", workflows=[OrderWorkflow],
                        plugins=[LambdaPlugin(region="eu-west-1")])
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        credentials: Credentials | None = None,
        use_fips: bool = False,
        use_dualstack: bool = False,
        http: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        idempotency_store: IdempotencyStore | Literal["default"] | None = "default",
    ) -> None:
        """Create the plugin and its Lambda client.

        Args:
            region: AWS region; default from the profile or ``AWS_REGION``.
            endpoint_url: A custom endpoint, e.g. a local emulator.
            profile: Shared-config profile for credentials and region.
            credentials: botocore credentials; default the standard AWS chain.
            use_fips: Use the FIPS endpoint.
            use_dualstack: Use the dual-stack (IPv6) endpoint.
            http: Timeouts, pool and TCP keepalive settings.
            transport: Replace the HTTP transport (tests).
            idempotency_store: Where each call's result is kept by idempotency key, so an
                attempt after a worker crash returns it instead of calling Lambda again:
                ``"default"`` is an SQLite file in the user's state directory (one host;
                ``TEMPORAL_LAMBDA_STATE_DIR`` moves it), a
                :class:`~temporal_lambda.idempotency.PostgresIdempotencyStore` serves a
                fleet, ``None`` turns the store off.
        """
        self.client = LambdaClient(
            region=region,
            endpoint_url=endpoint_url,
            profile=profile,
            credentials=credentials,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
            http=http,
            transport=transport,
        )
        self.store = (
            SQLiteIdempotencyStore(default_store_path())
            if idempotency_store == "default"
            else idempotency_store
        )
        self.lambda_activities = LambdaActivities(self.client, self.store)
        super().__init__(
            PLUGIN_NAME,
            activities=[self.lambda_activities.invoke],
            workflow_runner=_pass_through,
            run_context=self._run_context,
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Register the activity and set the worker's heartbeat throttle (see base class).

        Args:
            config: The worker's configuration so far.

        Returns:
            It, with the invoke activity and, unless the user set one, a heartbeat throttle
            of :data:`~temporal_lambda._activity.HEARTBEAT_THROTTLE_INTERVAL` seconds.
        """
        return _heartbeat_throttle(super().configure_worker(config))

    @asynccontextmanager
    async def _run_context(self) -> AsyncIterator[None]:
        """Close the client's connections and the store when the worker stops."""
        try:
            yield
        finally:
            await self.client.aclose()
            if self.store is not None:
                await self.store.aclose()
