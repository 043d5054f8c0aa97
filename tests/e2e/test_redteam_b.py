"""Red-team findings (redB): each test showed a defect (fixed since: each asserts the fix).

Only public names are imported (``temporal_lambda``, ``.idempotency``, ``.storage``,
``.testing``, ``.workflow`` and the ``temporal-lambda`` command line as a subprocess), so the
tests survive the re-cut of the private modules. Every server is real and on 127.0.0.1:
the Temporal dev server (``dev_env``), LocalLambda, SQLite, and small hostile HTTP servers
written here. /work/notes/redB.md says, for each, what happened and what must happen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from botocore.credentials import Credentials
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import (
    LambdaActivities,
    LambdaClient,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaPlugin,
)
from temporal_lambda.idempotency import SQLiteIdempotencyStore
from temporal_lambda.storage import S3Client, StorageError, local_storage
from temporal_lambda.testing import LocalLambda
from tests.support.redteam_b_workflows import OneCall, OneCallWorkflow

ROOT = Path(__file__).resolve().parent.parent.parent
ACCESS_KEY = "AKIAREDTEAMB0000KEY1"
SECRET_KEY = "redB-secret-3c1d9a7e5b"
SESSION_TOKEN = "redB-session-token-77aa41"
LOCAL_CREDS = Credentials("testing", "testing")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
MB = 1_000_000


def activity_env(*, attempt: int = 1) -> ActivityEnvironment:
    """An activity context like a worker's: one workflow, one activity, ``attempt``."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id="order-wf",
        workflow_run_id="run-1",
        activity_id="1",
        attempt=attempt,
        start_to_close_timeout=timedelta(minutes=16),
        schedule_to_close_timeout=None,
        heartbeat_timeout=timedelta(seconds=30),
        scheduled_time=T0,
        started_time=T0,
    )
    return env


def charge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"charged": event["order"]}


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as emulator:
        emulator.register("charge", charge)
        emulator.register("big", lambda event, context: "x" * int(event["size"]), timeout=10.0)
        yield emulator


async def invoke(
    acts: LambdaActivities, request: LambdaInvokeRequest, *, attempt: int = 1
) -> LambdaInvokeResult:
    result: LambdaInvokeResult = await activity_env(attempt=attempt).run(acts.invoke, request)
    return result


# -- the idempotency scope ------------------------------------------------------------------


async def test_one_endpoint_spelled_in_two_cases_is_one_scope(
    lam: LocalLambda, tmp_path: Path
) -> None:
    """RFC 3986: scheme and host are case-insensitive; the two URLs reach one server."""
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    port = lam.endpoint_url.rsplit(":", 1)[1]
    results = []
    try:
        for url in (f"http://localhost:{port}", f"HTTP://LOCALHOST:{port}"):
            client = LambdaClient(region="us-east-1", endpoint_url=url, credentials=LOCAL_CREDS)
            request = LambdaInvokeRequest("charge", {"order": 42}, idempotency_key="order-42")
            results.append(await invoke(LambdaActivities(client, store), request))
            await client.aclose()
    finally:
        await store.aclose()
    assert len(lam.records("charge")) == 1, "the same call on the same endpoint ran twice"
    assert results[0].request_id == results[1].request_id


async def test_default_endpoint_and_the_same_url_with_its_port_are_one_scope(
    tmp_path: Path,
) -> None:
    """A fleet where one worker sets ``endpoint_url`` to the regional URL and another not."""
    calls: list[httpx.Request] = []

    def lambda_service(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            200, json={"ok": True}, headers={"x-amzn-RequestId": f"r{len(calls)}"}
        )

    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    try:
        for url in (None, "https://lambda.us-east-1.amazonaws.com:443"):
            client = LambdaClient(
                region="us-east-1",
                endpoint_url=url,
                credentials=LOCAL_CREDS,
                transport=httpx.MockTransport(lambda_service),
            )
            request = LambdaInvokeRequest("charge", {"order": 42}, idempotency_key="order-42")
            await invoke(LambdaActivities(client, store), request)
    finally:
        await store.aclose()
    assert len(calls) == 1, [str(c.url) for c in calls]


async def test_one_function_by_full_and_partial_arn_is_one_scope(
    lam: LocalLambda, tmp_path: Path
) -> None:
    """Both spellings carry region-independent account and name; Lambda runs one function."""
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    client = LambdaClient(
        region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
    )
    acts = LambdaActivities(client, store)
    try:
        for name in (
            "arn:aws:lambda:us-east-1:123456789012:function:charge",
            "123456789012:function:charge",
        ):
            request = LambdaInvokeRequest(name, {"order": 42}, idempotency_key="order-42")
            await invoke(acts, request)
    finally:
        await client.aclose()
        await store.aclose()
    assert len(lam.records("charge")) == 1, "one function, one key: called twice"


async def test_qualifier_in_the_name_or_as_option_is_the_same_request(
    lam: LocalLambda, tmp_path: Path
) -> None:
    """``charge:live`` and ``charge`` with ``qualifier="live"`` send the same Invoke."""
    lam.create_alias("charge", "live", lam.publish_version("charge"))
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    client = LambdaClient(
        region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
    )
    acts = LambdaActivities(client, store)
    try:
        first = await invoke(
            acts, LambdaInvokeRequest("charge:live", {"order": 42}, idempotency_key="order-42")
        )
        second = await invoke(
            acts,
            LambdaInvokeRequest(
                "charge", {"order": 42}, qualifier="live", idempotency_key="order-42"
            ),
        )
    finally:
        await client.aclose()
        await store.aclose()
    assert second.request_id == first.request_id
    assert len(lam.records("charge")) == 1


# -- the store's codec -------------------------------------------------------------------------


class FlakyCodec(PayloadCodec):
    """An encrypting codec stand-in whose key service fails the first ``encode``/``decode``."""

    def __init__(self, *, fail_encode: int = 0, fail_decode: int = 0) -> None:
        self.fail_encode = fail_encode
        self.fail_decode = fail_decode

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.fail_encode:
            self.fail_encode -= 1
            raise ConnectionError("key service unreachable")
        return [
            Payload(metadata={"encoding": b"binary/flaky"}, data=p.SerializeToString()[::-1])
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.fail_decode:
            self.fail_decode -= 1
            raise ConnectionError("key service unreachable")
        return [Payload.FromString(p.data[::-1]) for p in payloads]


async def test_codec_encode_failure_does_not_hold_the_key_for_the_whole_lease(
    lam: LocalLambda, tmp_path: Path
) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    client = LambdaClient(
        region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
    )
    acts = LambdaActivities(client, store, payload_codec=FlakyCodec(fail_encode=1))
    request = LambdaInvokeRequest("charge", {"order": 42}, idempotency_key="order-42")
    try:
        try:
            first: object = await invoke(acts, request)
        except Exception as exc:  # today: the codec's ConnectionError, raw
            first = exc
        # The next attempt must not wait 16 minutes for a lease nobody holds.
        second = await invoke(acts, request, attempt=2)
    finally:
        await client.aclose()
        await store.aclose()
    assert isinstance(first, LambdaInvokeResult | ApplicationError), repr(first)
    assert second.payload == {"charged": 42}


async def test_codec_decode_failure_is_retryable(lam: LocalLambda, tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    client = LambdaClient(
        region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
    )
    codec = FlakyCodec()
    acts = LambdaActivities(client, store, payload_codec=codec)
    request = LambdaInvokeRequest("charge", {"order": 42}, idempotency_key="order-42")
    try:
        await invoke(acts, request)  # stored, through the codec
        codec.fail_decode = 1  # the key service hiccups once
        with pytest.raises(ApplicationError) as caught:
            await invoke(acts, request, attempt=2)
        third = await invoke(acts, request, attempt=3)
    finally:
        await client.aclose()
        await store.aclose()
    assert len(lam.records("charge")) == 1
    assert third.payload == {"charged": 42}
    assert caught.value.non_retryable is False, (caught.value.type, caught.value.message)


# -- the store file ------------------------------------------------------------------------


@pytest.mark.parametrize("through_symlink", [False, True], ids=["file", "symlink"])
async def test_store_file_readable_by_others_and_not_ours_is_not_used(
    tmp_path: Path, through_symlink: bool
) -> None:
    """E.g. ``TEMPORAL_LAMBDA_STATE_DIR`` on a shared directory where someone planted the file."""
    if os.getuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    planted = shared / ("elsewhere.sqlite3" if through_symlink else "store.sqlite3")
    sqlite3.connect(planted).close()
    os.chown(planted, 65534, 65534)  # nobody
    os.chmod(planted, 0o666)
    path = shared / "store.sqlite3"
    if through_symlink:
        path.symlink_to(planted)
    store = SQLiteIdempotencyStore(path)
    refused = False
    try:
        await store.begin("k", "f" * 64, lease_seconds=60.0, owner="o")
        await store.complete("k", "o", b'{"card":"4111-1111-1111-1111"}')
    except Exception:
        refused = True
    finally:
        await store.aclose()
    readable_by_others = os.stat(planted).st_mode & 0o077
    assert refused or not readable_by_others, (
        f"results written to {planted} (owner uid {os.stat(planted).st_uid}, "
        f"mode {oct(os.stat(planted).st_mode & 0o777)})"
    )


# -- the result store with external storage ---------------------------------------------------


async def test_large_result_with_external_storage_and_the_store(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, tmp_path: Path
) -> None:
    """Issue 14: "the idempotency store keeps references, not 6 MB blobs"."""
    store = SQLiteIdempotencyStore(tmp_path / "store.sqlite3")
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
        ),
        idempotency_store=store,
        external_storage=local_storage(tmp_path / "payloads"),
    )
    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin]
    )
    try:
        async with Worker(client, task_queue=task_queue, workflows=[OneCallWorkflow]):
            result = await client.execute_workflow(
                OneCallWorkflow.run,
                OneCall("big", {"size": 3 * MB}),
                id=f"redb-{uuid.uuid4()}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=15),
            )
    finally:
        await store.aclose()
    assert result["length"] == 3 * MB
    assert len(lam.records("big")) == 1
    rows = sqlite3.connect(tmp_path / "store.sqlite3").execute(
        "SELECT length(result) FROM idempotency_records"
    )
    assert [size for (size,) in rows if size is not None and size < 64 * 1024] != []


# -- one plugin on the client and on the worker ------------------------------------------


async def test_plugin_on_client_and_on_worker(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    """The README moved the plugin to Client.connect; a worker still passing it is told so.

    The refusal names the plugin and the fix (not the SDK's "More than one activity named
    temporal_lambda.invoke"), and a worker built as the README says runs the call once.
    """
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
        ),
        idempotency_store=None,
    )
    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin]
    )
    with (
        pytest.warns(UserWarning, match="present from both client and worker"),
        pytest.raises(ValueError) as caught,
    ):
        Worker(client, task_queue=task_queue, workflows=[OneCallWorkflow], plugins=[plugin])
    assert str(caught.value) == (
        "LambdaPlugin is already on this worker's client; do not also pass it to "
        "Worker(plugins=...)"
    )
    async with Worker(client, task_queue=task_queue, workflows=[OneCallWorkflow]):
        result = await client.execute_workflow(
            OneCallWorkflow.run,
            OneCall("charge", {"order": 1}),
            id=f"redb-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=10),
        )
    assert result["length"] > 0
    assert len(lam.records("charge")) == 1


# -- hostile S3 ------------------------------------------------------------------------------


@asynccontextmanager
async def http_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 answering every request with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def echo_headers_403(request: web.Request) -> web.Response:
    """A proxy's refusal that echoes the request's headers (as issue 12 item 11 describes)."""
    echoed = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
        f"<Message>denied, you sent {echoed}</Message><RequestId>rq-1</RequestId></Error>"
    )
    return web.Response(status=403, text=body, content_type="application/xml")


def assert_no_secret(text: str) -> None:
    for secret in (SECRET_KEY, SESSION_TOKEN, ACCESS_KEY, "Signature="):
        assert secret not in text, f"{secret!r} in {text[:400]!r}"


async def test_s3_error_echoing_the_request_headers_is_scrubbed() -> None:
    async with http_server(echo_headers_403) as url:
        s3 = S3Client(
            region="us-east-1",
            endpoint_url=url,
            credentials=Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN),
        )
        try:
            with pytest.raises(StorageError) as caught:
                await s3.get_object(bucket="payloads", key="v0/d/sha256/abc")
        finally:
            await s3.aclose()
    assert_no_secret(str(caught.value))


async def test_s3_get_object_body_is_bounded() -> None:
    """A wrong endpoint or a hostile server answering 120 MB must not become 120 MB of RAM."""
    size = 120 * 1024 * 1024
    chunk = b"\0" * (1024 * 1024)

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": str(size)})
        await response.prepare(request)
        for _ in range(size // len(chunk)):
            await response.write(chunk)
        await response.write_eof()
        return response

    async with http_server(huge) as url:
        s3 = S3Client(region="us-east-1", endpoint_url=url, credentials=LOCAL_CREDS)
        try:
            with pytest.raises(StorageError):
                body = await asyncio.wait_for(s3.get_object(bucket="b", key="k"), 10.0)
                del body
        finally:
            await s3.aclose()


# -- the command line -----------------------------------------------------------------------


async def cli(*args: str, **more_env: str) -> tuple[int, str, str]:
    """Run ``python -m temporal_lambda`` with credentials only in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TEMPORAL_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        TEMPORAL_CONFIG_FILE=os.devnull,
        PYTHONPATH=str(ROOT / "plugin"),
        **more_env,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "temporal_lambda",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30.0)
    return proc.returncode or 0, out.decode(), err.decode()


async def echo_headers_lambda_403(request: web.Request) -> web.Response:
    echoed = json.dumps(dict(request.headers))
    return web.json_response(
        {"message": f"denied; you sent {echoed}"},
        status=403,
        headers={"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": "rq-1"},
    )


@pytest.mark.parametrize("output", ["text", "json"])
async def test_cli_scrubs_secrets_echoed_by_the_server(output: str) -> None:
    async with http_server(echo_headers_lambda_403) as url:
        options = ["--json"] if output == "json" else ["--show-request"]
        code, out, err = await cli(
            "invoke", "charge", "--region", "us-east-1", "--endpoint-url", url, *options
        )
    assert code == 4, (code, out, err)
    assert "Lambda.AccessDeniedException" in out
    assert_no_secret(out + err)


async def test_cli_refuses_another_regions_arn_like_the_activity(lam: LocalLambda) -> None:
    name = "arn:aws:lambda:eu-west-1:123456789012:function:charge"
    client = LambdaClient(
        region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
    )
    try:
        with pytest.raises(ApplicationError) as caught:
            await invoke(LambdaActivities(client), LambdaInvokeRequest(name, {"order": 1}))
    finally:
        await client.aclose()
    activity_saw = caught.value
    assert (activity_saw.type, activity_saw.non_retryable) == ("Lambda.ValidationError", True)
    code, out, err = await cli(
        "invoke",
        name,
        "--payload",
        '{"order": 1}',
        "--region",
        "us-east-1",
        "--endpoint-url",
        lam.endpoint_url,
        "--json",
    )
    outcome = json.loads(out)
    assert (code, outcome["kind"]) == (3, "refused"), (code, out, err)
    assert outcome["error"]["type"] == activity_saw.type
    assert outcome["error"]["message"] == activity_saw.message
    assert lam.records() == []


async def test_console_scrubs_secrets_echoed_by_the_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TEMPORAL_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=str(ROOT / "plugin"),
    )
    async with http_server(echo_headers_lambda_403) as url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "temporal_lambda",
            "console",
            "--region",
            "us-east-1",
            "--endpoint-url",
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20.0)).decode()
            page = line.split("open ", 1)[1].strip()
            origin, token = page.split("/?token=")
            async with httpx.AsyncClient(timeout=10.0) as http:
                answer = await http.post(
                    f"{origin}/api/invoke",
                    json={"function_name": "charge", "payload": '{"order": 1}'},
                    headers={"X-Console-Token": token, "Origin": origin},
                )
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10.0)
    assert answer.status_code == 200
    assert answer.json()["outcome"]["error"]["type"] == "Lambda.AccessDeniedException"
    assert_no_secret(answer.text)


# -- a damaged payload in external storage ----------------------------------------------------


def length_of(event: Any, context: Any) -> int:
    return len(str(event))


async def test_damaged_stored_payload_is_rewritten_by_the_next_store(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, tmp_path: Path
) -> None:
    """One damaged file must fail the call that reads it, not every later call with the same bytes.

    The store step skips the write when a file is at the content key (``os.utime`` only), so
    once that file is truncated (disk fault, a half restore, an operator's copy) every later
    workflow sending the same payload gets a reference to the damaged file and fails on the
    sha256 check (``Lambda.ExternalStorage.Error``), though it stored the payload itself.
    """
    lam.register("length", length_of)
    root = tmp_path / "payloads"
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
        ),
        idempotency_store=None,
        external_storage=local_storage(root),
    )
    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin]
    )
    call = OneCall("length", "y" * 400_000)
    async with Worker(client, task_queue=task_queue, workflows=[OneCallWorkflow]):
        first = await client.execute_workflow(
            OneCallWorkflow.run,
            call,
            id=f"redb-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=10),
        )
        stored = [p for p in root.rglob("*") if p.is_file()]
        assert stored, "nothing went to external storage"
        for path in stored:  # a damaged copy: truncated by one byte
            path.write_bytes(path.read_bytes()[:-1])
        second = await client.execute_workflow(
            OneCallWorkflow.run,
            call,
            id=f"redb-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=8),
        )
    assert second["request_id"] != first["request_id"]
