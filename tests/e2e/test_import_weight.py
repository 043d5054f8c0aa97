"""The workflow-facing import is light: no I/O stack in the sandbox, a lazy public face.

``temporal_lambda.workflow`` is what workflow code imports, and the workflow sandbox re-imports
it on every run of a worker that does not pass the package through (a worker that runs only
workflows, which ``invoke_lambda(task_queue=...)`` invites). Each check runs in a fresh
interpreter, so nothing another test imported hides a heavy import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from botocore.credentials import Credentials
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import temporal_lambda
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow

HEAVY = ("aiohttp", "asyncpg", "botocore", "httpx", "sqlite3", "_sqlite3", "yarl")
"""Top-level packages that do I/O (or are only needed by what does)."""


def _modules_after(statement: str) -> list[str]:
    """The modules loaded by ``statement`` in a fresh interpreter."""
    code = f"{statement}; import sys, json; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules: list[str] = json.loads(proc.stdout)
    return modules


def _heavy(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in HEAVY]


def test_the_workflow_helper_loads_no_io_stack() -> None:
    modules = _modules_after("import temporal_lambda.workflow")
    assert "temporal_lambda.workflow" in modules
    assert _heavy(modules) == []
    assert sorted(name for name in modules if name.startswith("temporal_lambda")) == [
        "temporal_lambda",
        "temporal_lambda._codes",
        "temporal_lambda._converter",
        "temporal_lambda._errors",
        "temporal_lambda._keys",
        "temporal_lambda._sizes",
        "temporal_lambda._types",
        "temporal_lambda.workflow",
    ]


def test_the_package_alone_is_light() -> None:
    modules = _modules_after("import temporal_lambda")
    assert _heavy(modules) == []
    assert "temporal_lambda._plugin" not in modules


def test_a_heavy_name_loads_its_module_on_first_use() -> None:
    modules = _modules_after("from temporal_lambda import LambdaClient, LambdaPlugin")
    assert "temporal_lambda._plugin" in modules
    assert "httpx" in modules  # the check above would see a heavy import


def test_the_check_would_catch_a_heavy_import() -> None:
    assert "httpx" in _heavy(_modules_after("import temporal_lambda, httpx"))


def test_every_public_name_resolves_and_is_listed() -> None:
    names = temporal_lambda.__all__
    assert len(set(names)) == len(names)

    def kind(name: str) -> int:
        return 0 if name.isupper() else 1 if name[0].isupper() else 2

    assert names == sorted(names, key=lambda name: (kind(name), name))
    for name in names:
        assert getattr(temporal_lambda, name) is not None, name
    assert set(names) <= set(dir(temporal_lambda))
    assert temporal_lambda.LambdaPlugin.__module__ == "temporal_lambda._plugin"
    assert temporal_lambda.HttpSettings.__module__ == "temporal_lambda._transport"
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        _ = temporal_lambda.NoSuchName  # type: ignore[attr-defined]


def echo(event: object, context: LambdaContext) -> object:
    return event


async def test_a_workflow_only_worker_runs_invoke_lambda(dev_env: WorkflowEnvironment) -> None:
    """Workflows on a worker without the plugin (default sandbox), the activity on another."""
    workflows, activities = f"wf-{uuid.uuid4()}", f"act-{uuid.uuid4()}"
    async with LocalLambda(credentials=("testing", "testing")) as lam:
        lam.register("echo", echo)
        plugin = temporal_lambda.LambdaPlugin(
            client=temporal_lambda.LambdaClient(
                region="us-east-1",
                endpoint_url=lam.endpoint_url,
                credentials=Credentials("testing", "testing"),
            ),
            idempotency_store=None,
        )
        async with (
            Worker(dev_env.client, task_queue=workflows, workflows=[InvokeWorkflow]),
            Worker(dev_env.client, task_queue=activities, plugins=[plugin]),
        ):
            result = await dev_env.client.execute_workflow(
                InvokeWorkflow.run,
                InvokeSpec("echo", {"n": 1}, options={"task_queue": activities}),
                id=f"wf-{uuid.uuid4()}",
                task_queue=workflows,
            )
    assert result.payload == {"n": 1}
    assert result.status_code == 200
