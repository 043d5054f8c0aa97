"""An activity environment with a worker's info, and activities over a mock transport."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from botocore.credentials import Credentials
from temporalio.testing import ActivityEnvironment

from temporal_lambda._activity import LambdaActivities
from temporal_lambda._client import LambdaClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_env(**info: Any) -> ActivityEnvironment:
    env = ActivityEnvironment()
    defaults: dict[str, Any] = {
        "workflow_id": "order-1",
        "workflow_run_id": "run-1",
        "activity_id": "7",
        "attempt": 1,
        "start_to_close_timeout": timedelta(minutes=16),
        "schedule_to_close_timeout": None,
        "heartbeat_timeout": timedelta(seconds=30),
        "scheduled_time": T0,
        "started_time": T0,
    }
    defaults.update(info)
    env.info = dataclasses.replace(env.info, **defaults)
    return env


def make_activities(handler: Any) -> LambdaActivities:
    client = LambdaClient(
        region="us-east-1",
        credentials=Credentials("AKID", "SECRET"),
        transport=httpx.MockTransport(handler),
    )
    return LambdaActivities(client)
