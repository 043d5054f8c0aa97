"""``LambdaPlugin``: registers the invoke activity on a Temporal worker."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import httpx
from temporalio.converter import DataConverter, ExternalStorage
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from temporal_lambda._activity import LambdaActivities
from temporal_lambda._client import HttpSettings, LambdaClient
from temporal_lambda.idempotency import IdempotencyStore, SQLiteIdempotencyStore, default_store_path
from temporal_lambda.storage import close_drivers, install_external_storage, require_on_client

if TYPE_CHECKING:
    from botocore.credentials import Credentials

PLUGIN_NAME = "temporal_lambda.LambdaPlugin"
PASSTHROUGH_MODULES = ("temporal_lambda", "httpx", "botocore")
"""Imported once, outside the workflow sandbox: deterministic at use, costly to re-import."""


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
        external_storage: ExternalStorage | None = None,
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
            external_storage: Temporal external storage for payloads over its threshold
                (:func:`temporal_lambda.storage.s3_storage`,
                :func:`~temporal_lambda.storage.local_storage`), installed on the client's
                data converter: pass the plugin to ``Client.connect``; a worker that gets
                it only through ``Worker(plugins=...)`` is refused with ``ValueError``.
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
        self.external_storage = external_storage
        super().__init__(
            PLUGIN_NAME,
            data_converter=(self._with_external_storage if external_storage is not None else None),
            activities=[self.lambda_activities.invoke],
            workflow_runner=_pass_through,
            run_context=self._run_context,
        )

    def _with_external_storage(self, converter: DataConverter | None) -> DataConverter:
        """Put the plugin's external storage on the client's (and replayer's) converter."""
        assert self.external_storage is not None
        return install_external_storage(converter, self.external_storage)

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Refuse a worker whose client lacks the plugin's external storage, then configure."""
        if self.external_storage is not None:
            require_on_client(config["client"], self.external_storage)
        return super().configure_worker(config)

    @asynccontextmanager
    async def _run_context(self) -> AsyncIterator[None]:
        """Close the client's connections and the store when the worker stops."""
        try:
            yield
        finally:
            await self.client.aclose()
            if self.store is not None:
                await self.store.aclose()
            await close_drivers(self.external_storage)
