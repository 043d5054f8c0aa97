"""``LambdaPlugin`` (``_plugin``): what it builds from its arguments and what it refuses."""

import pytest
from botocore.credentials import Credentials
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda._types import INVOKE_ACTIVITY_NAME, INVOKE_STREAM_ACTIVITY_NAME


def make_plugin() -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(
            region="eu-west-1",
            credentials=Credentials("a", "b"),
            use_fips=False,
            use_dualstack=True,
        )
    )


def test_plugin_appends_invoke_activity() -> None:
    plugin = make_plugin()
    existing = object()
    config = plugin.configure_worker(
        {"activities": [existing], "workflow_runner": SandboxedWorkflowRunner()}  # type: ignore[typeddict-item]
    )
    activities = list(config["activities"])
    assert activities[0] is existing
    assert len(activities) == 3
    assert activities[1].__temporal_activity_definition.name == INVOKE_ACTIVITY_NAME  # type: ignore[attr-defined]
    assert activities[2].__temporal_activity_definition.name == INVOKE_STREAM_ACTIVITY_NAME  # type: ignore[attr-defined]
    assert plugin.name() == "temporal_lambda.LambdaPlugin"


def test_plugin_resolves_endpoint_from_options() -> None:
    assert make_plugin().client.endpoint == "https://lambda.eu-west-1.api.aws"
    assert make_plugin().client.region == "eu-west-1"


async def test_run_context_closes_client_connections() -> None:
    plugin = make_plugin()
    assert plugin.run_context is not None
    async with plugin.run_context():
        assert not plugin.client.closed
    assert plugin.client.closed


def test_plugin_passes_package_through_sandbox() -> None:
    config = make_plugin().configure_worker(
        {"activities": [], "workflow_runner": SandboxedWorkflowRunner()}  # type: ignore[typeddict-item]
    )
    runner = config["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    for module in ("temporal_lambda", "httpx", "botocore"):
        assert module in runner.restrictions.passthrough_modules


def test_plugin_uses_the_client_it_is_given() -> None:
    client = LambdaClient(region="ap-south-1", credentials=Credentials("a", "b"))
    plugin = LambdaPlugin(client=client, idempotency_store=None)
    assert plugin.client is client
    assert plugin.lambda_activities.store is None


def test_region_is_the_short_form_of_a_default_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    plugin = LambdaPlugin("eu-central-1", idempotency_store=None)
    assert (plugin.client.region, plugin.client.endpoint) == (
        "eu-central-1",
        "https://lambda.eu-central-1.amazonaws.com",
    )
    assert LambdaPlugin(region="eu-central-1", idempotency_store=None).client.region == (
        "eu-central-1"
    )


def test_region_and_client_together_are_refused() -> None:
    client = LambdaClient(region="ap-south-1", credentials=Credentials("a", "b"))
    with pytest.raises(ValueError) as raised:
        LambdaPlugin("eu-west-1", client=client)
    assert str(raised.value) == (
        "give LambdaPlugin a region or a client, not both: the client's region is "
        "LambdaClient(region=...)"
    )
