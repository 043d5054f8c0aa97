"""``LambdaPlugin``: builds the client, store and activity for workers, and owns their lifetime."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, ExternalStorage
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    Replayer,
    Worker,
    WorkerConfig,
    WorkflowReplayResult,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from temporal_lambda._activity import HEARTBEAT_THROTTLE_INTERVAL, LambdaActivities
from temporal_lambda._client import LambdaClient
from temporal_lambda._sizes import (
    DEFAULT_PAYLOAD_LIMIT,
    MAX_TASK_REQUESTS,
    UNLIMITED,
    PayloadLimits,
    limits_through_codec,
    payload_size,
    registered_limits,
)
from temporal_lambda._stream_activity import LambdaStreamActivities
from temporal_lambda._types import INVOKE_ACTIVITY_NAME
from temporal_lambda.idempotency import IdempotencyStore, SQLiteIdempotencyStore, default_store_path
from temporal_lambda.storage import close_drivers, install_external_storage, require_on_client

PLUGIN_NAME = "temporal_lambda.LambdaPlugin"
PASSTHROUGH_MODULES = ("temporal_lambda", "httpx", "botocore")
"""Imported once, outside the workflow sandbox, instead of once per workflow run.

``temporal_lambda.workflow`` itself loads only pure modules (no httpx, botocore, aiohttp or
SQLite; ``tests/e2e/test_import_weight.py``), so a worker without the plugin runs it sandboxed as
is. The package is passed through because the payload limits the plugin sets per task queue
(``_sizes``) are read by workflows, and a sandbox's re-imported copy would hold none. httpx and
botocore are passed through for the user's own workflow modules, which often import them (the
README's testing example imports ``botocore.credentials``): neither can be imported inside the
sandbox, and passing a module through costs nothing for workflows that do not import it."""
CODEC_SAMPLE_SIZES = (64 * 1024, 256 * 1024)
"""Sizes of the random payloads a worker's payload codec is measured with when it starts."""
CODEC_MEASURE_TIMEOUT = 30.0
"""Seconds the codec measurement may take (an encryption codec may call a key service)."""
_logger = logging.getLogger(__name__)
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


def _refuse_twice(plugin: LambdaPlugin, config: WorkerConfig) -> None:
    """Refuse a worker that already has the invoke activity, naming the plugin at fault.

    A plugin on ``Client.connect`` reaches every worker of the client; given to
    ``Worker(plugins=...)`` as well, it would register its activity twice, which the SDK
    refuses with "More than one activity named temporal_lambda.invoke" (naming neither
    plugin nor fix).
    """
    activities = config.get("activities") or ()
    if plugin.lambda_activities.invoke in activities:
        raise ValueError(
            "LambdaPlugin is already on this worker's client; do not also pass it to "
            "Worker(plugins=...)"
        )
    names = (
        getattr(getattr(a, "__temporal_activity_definition", None), "name", None)
        for a in activities
    )
    if INVOKE_ACTIVITY_NAME in names:
        raise ValueError(
            "this worker already has a LambdaPlugin (from its client or its plugins): "
            "give each worker one LambdaPlugin, on Client.connect or on Worker(plugins=...)"
        )


class LambdaPlugin(SimplePlugin):
    """A Temporal plugin that lets workflows on this worker invoke AWS Lambda.

    Example::

        client = await Client.connect("localhost:7233", plugins=[LambdaPlugin(region="eu-west-1")])
        worker = Worker(client, task_queue="lambda", workflows=[OrderWorkflow])

    Anything beyond the region is the client's to say (said once, there)::

        LambdaPlugin(client=LambdaClient(region="eu-west-1", endpoint_url=..., http=...))

    One plugin may serve any number of workers (on ``Client.connect`` it reaches every
    worker of that client): its HTTP pool and the store it made stay open while any of them
    runs, close when the last one stops, and open again for the next worker.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        client: LambdaClient | None = None,
        idempotency_store: IdempotencyStore | Literal["default"] | None = "default",
        payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
        external_storage: ExternalStorage | None = None,
    ) -> None:
        """Create the plugin.

        Args:
            region: The short form for ``client=LambdaClient(region=region)``: a client with
                every other setting at its default (credentials from the standard chain, the
                region's endpoint). ``None`` (and no ``client``): the region of the profile or
                ``AWS_REGION``.
            client: The Lambda client every invocation goes through, configured once
                (endpoint, profile, credentials, FIPS, dual-stack, HTTP settings, transport:
                see :class:`~temporal_lambda.LambdaClient`). The plugin owns its lifetime: it
                closes the client's connections when its last worker stops (a later call
                opens new ones).
            idempotency_store: Where each call's result is kept by idempotency key, so an
                attempt after a worker crash returns it instead of calling Lambda again:
                ``"default"`` is an SQLite file in the user's state directory (one host;
                ``TEMPORAL_LAMBDA_STATE_DIR`` moves it), a
                :class:`~temporal_lambda.idempotency.PostgresIdempotencyStore` serves a
                fleet, ``None`` turns the store off. The plugin closes the default store
                when its last worker stops (and makes a new one for the next); a store you
                pass stays yours: the plugin never closes it, so one store can serve
                several plugins, and you close it (``await store.aclose()``) when done.
            payload_limit: The largest payload (bytes, encoded) the namespace accepts: its
                ``limit.blobSize.error``, 2 MiB unless the server was configured otherwise.
                Requests over it are refused in the workflow, results over it fail the call
                without a retry (a retry would run the function again).
            external_storage: Temporal external storage for payloads over its threshold
                (:func:`temporal_lambda.storage.s3_storage`,
                :func:`~temporal_lambda.storage.local_storage`), installed on the client's
                data converter: pass the plugin to ``Client.connect``; a worker that gets
                it only through ``Worker(plugins=...)`` is refused with ``ValueError``.

        Raises:
            ValueError: both ``region`` and ``client`` given; ``payload_limit`` is not a
                positive number of bytes; or (no ``client``) no region given or configured.
        """
        if client is not None and region is not None:
            raise ValueError(
                "give LambdaPlugin a region or a client, not both: the client's region is "
                "LambdaClient(region=...)"
            )
        if (
            isinstance(payload_limit, bool)
            or not isinstance(payload_limit, int)
            or payload_limit < 1
        ):
            raise ValueError(
                f"payload_limit must be a positive number of bytes, got {payload_limit!r}"
            )
        self.payload_limit = payload_limit
        self.client = client if client is not None else LambdaClient(region=region)
        self._default_store_path = default_store_path() if idempotency_store == "default" else None
        self.store = (
            SQLiteIdempotencyStore(self._default_store_path)
            if self._default_store_path is not None
            else idempotency_store
            if idempotency_store != "default"
            else None
        )
        self._workers = 0
        self._store_closed = False
        self.lambda_activities = LambdaActivities(
            self.client, self.store, payload_limit=payload_limit
        )
        self.stream_activities = LambdaStreamActivities(self.lambda_activities)
        self.external_storage = external_storage
        super().__init__(
            PLUGIN_NAME,
            data_converter=(self._with_external_storage if external_storage is not None else None),
            activities=[self.lambda_activities.invoke, self.stream_activities.invoke_stream],
            workflow_runner=_pass_through,
            run_context=self._run_context,
        )

    def _with_external_storage(self, converter: DataConverter | None) -> DataConverter:
        """Put the plugin's external storage on the client's (and replayer's) converter."""
        assert self.external_storage is not None
        return install_external_storage(converter, self.external_storage)

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Add the activity and runner; set the heartbeat throttle.

        A worker whose client lacks the plugin's external storage is refused. Unless the user
        set one, the worker's heartbeat throttle becomes
        :data:`~temporal_lambda._activity.HEARTBEAT_THROTTLE_INTERVAL` seconds, so that a
        cancellation reaches a held call within 10 s. The payload limits its workflows check
        are registered when it runs (:meth:`run_worker`).

        Raises:
            ValueError: the worker already has this plugin (or another ``LambdaPlugin``)
                from its client, or the client's external storage is not the plugin's.
        """
        _refuse_twice(self, config)
        if self.external_storage is not None:
            require_on_client(config["client"], self.external_storage)
        return _heartbeat_throttle(super().configure_worker(config))

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """Run the worker with its queue's payload limits registered, removed when it stops.

        With external storage on, Temporal holds references to large payloads, so the
        workflow checks no size (the activity still checks Lambda's own limits before
        sending). With a payload codec, the limits are estimated before the codec
        (:meth:`_limits`).
        """
        config = worker.config(active_config=True)
        client = config["client"]
        limits = await self._limits(client.data_converter)
        with registered_limits(client.namespace, config["task_queue"], limits):
            await super().run_worker(worker, next)

    @asynccontextmanager
    async def run_replayer(
        self,
        replayer: Replayer,
        histories: AsyncIterator[WorkflowHistory],
        next: Callable[
            [Replayer, AsyncIterator[WorkflowHistory]],
            AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]],
        ],
    ) -> AsyncIterator[AsyncIterator[WorkflowReplayResult]]:
        """Replay with the replayer's own limits registered for its namespace, for the replay.

        A replay decides sizes as the run did (a refusal is recorded in history), so the
        limits matter only for a history's last, unfinished workflow task.
        """
        config = replayer.config(active_config=True)
        converter = config.get("data_converter") or DataConverter.default
        limits = await self._limits(converter)
        with registered_limits(config.get("namespace", "ReplayNamespace"), None, limits):
            async with super().run_replayer(replayer, histories, next) as results:
                yield results

    async def _limits(self, converter: DataConverter) -> PayloadLimits:
        """The limits workflows check requests against, in bytes before the codec.

        Without a codec, ``payload_limit`` and :data:`~temporal_lambda._sizes.MAX_TASK_REQUESTS`;
        with external storage, none. A codec (compression, encryption, base64) changes a
        payload's size after the workflow has checked it, so its growth is measured here, on
        random payloads of :data:`CODEC_SAMPLE_SIZES`, and the limits become the largest
        sizes whose encoding fits (:func:`~temporal_lambda._sizes.limits_through_codec`): an
        estimate, exact for codecs that grow a payload linearly. A codec that fails to encode
        them leaves the limits as without it (logged at WARNING).
        """
        if self.external_storage is not None or converter.external_storage is not None:
            return UNLIMITED
        codec = converter.payload_codec
        if codec is None:
            return PayloadLimits(self.payload_limit, MAX_TASK_REQUESTS)
        samples = [
            Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(size))
            for size in CODEC_SAMPLE_SIZES
        ]
        try:
            encoded = await asyncio.wait_for(codec.encode(samples), CODEC_MEASURE_TIMEOUT)
            small, large = (
                (payload_size(sample), payload_size(out))
                for sample, out in zip(samples, encoded, strict=True)
            )
        except Exception as exc:
            _logger.warning(
                "temporal_lambda: could not measure the payload codec %s (%s); requests are "
                "checked against payload_limit before the codec",
                type(codec).__name__,
                exc,
            )
            return PayloadLimits(self.payload_limit, MAX_TASK_REQUESTS)
        return limits_through_codec(self.payload_limit, (small, large))

    @asynccontextmanager
    async def _run_context(self) -> AsyncIterator[None]:
        """Count the running workers; when the last one stops, close what the plugin owns.

        That is the client's connection pool (the next request opens a new one) and the
        default store, which the next worker to start replaces with a new one on the same
        file. A store given by the user is left open.
        """
        if self._workers == 0 and self._store_closed and self._default_store_path is not None:
            self.store = SQLiteIdempotencyStore(self._default_store_path)
            self.lambda_activities.store = self.store
            self._store_closed = False
        self._workers += 1
        try:
            yield
        finally:
            self._workers -= 1
            if self._workers == 0:
                owned = self.store if self._default_store_path is not None else None
                self._store_closed = owned is not None
                try:
                    await self.client.aclose()
                finally:
                    try:
                        if owned is not None:
                            await owned.aclose()
                    finally:
                        await close_drivers(self.external_storage)
