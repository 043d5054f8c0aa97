"""The console in headless Chromium (Debian's ``chromium``, driven by Playwright).

The whole flow against LocalLambda over sockets: search and pick an API, read its reference,
fill the form, and Test request for a success, a function error, a throttle and a refused
input; the payload editor's validation as you type; a screenshot kept in the test's tmp dir
(and at ``$TEMPORAL_LAMBDA_CONSOLE_SCREENSHOT`` when set, which is how docs/console.png is
made).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from temporal_lambda.cli._console import Console
from temporal_lambda.testing import LambdaContext, LocalLambda

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_KEY = "browser-secret-" + secrets.token_hex(16)
SESSION_TOKEN = "browser-session-" + secrets.token_hex(24)
TIMEOUT_MS = 10_000
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def charge(event: Any, context: LambdaContext) -> Any:
    print("charging order", event.get("order"))
    return {"charged": event.get("order"), "version": context.function_version}


def declines(event: Any, context: LambdaContext) -> Any:
    raise ValueError("card declined")


@pytest.fixture
async def console(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Console, LocalLambda]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    async with LocalLambda(credentials=("testing", SECRET_KEY)) as lam:
        lam.register("charge-card", charge)
        lam.register("declines", declines)
        server = Console(region="us-east-1", endpoint_url=lam.endpoint_url)
        await server.start()
        try:
            yield server, lam
        finally:
            await server.stop()


async def test_console_flow_in_chromium(
    console: tuple[Console, LocalLambda], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    if not HAVE_CHROMIUM:
        pytest.fail("chromium is not installed: run scripts/browser")
    server, lam = console
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(server.url)

            # search, then click the API's name: its reference and the form appear
            await page.fill("#api-search", "deprec")
            await expect(page.locator("#api-list button")).to_have_count(1)
            await page.fill("#api-search", "")
            await expect(page.locator("#api-list button")).to_have_count(3)
            buttons = page.locator("#api-list button")
            assert sorted(await buttons.evaluate_all("els => els.map(e => e.dataset.api)")) == [
                "Invoke",
                "InvokeAsync",
                "InvokeWithResponseStream",
            ]
            await page.click("#api-list button[data-api=Invoke]")
            await expect(page.locator("#ref-title")).to_have_text("Invoke (2015-03-31)")
            await expect(page.locator("#ref-endpoint")).to_have_text(
                "POST /2015-03-31/functions/{FunctionName}/invocations → 200"
            )
            throttle_row = page.locator("#ref-errors tr", has_text="TooManyRequestsException")
            await expect(throttle_row.locator("td")).to_have_text(
                ["429", "TooManyRequestsException", "Lambda.TooManyRequestsException", "retried"]
            )

            # the payload editor validates as you type
            await page.fill("#f-payload", '{"order": ')
            await expect(page.locator("#payload-status")).to_contain_text("invalid JSON")
            await expect(page.locator("#test-request")).to_be_disabled()
            await page.fill("#f-payload", '{"order": 42}')
            await expect(page.locator("#payload-status")).to_have_text("valid JSON")
            await expect(page.locator("#test-request")).to_be_enabled()

            # a success
            await page.fill("#f-function", "charge-card")
            await page.select_option("#f-log-type", "Tail")
            await page.click("#test-request")
            summary = page.locator("#answer-summary")
            await expect(summary).to_have_attribute("data-kind", "success")
            await expect(summary).to_contain_text("Success — HTTP 200 in ")
            await expect(page.locator("#answer-payload")).to_have_text(
                '{\n  "charged": 42,\n  "version": "$LATEST"\n}'
            )
            await expect(page.locator("#answer-log")).to_contain_text("charging order 42")
            [record] = lam.records("charge-card")
            await expect(page.locator("#answer-headers")).to_contain_text(record.request_id)
            await expect(page.locator("#snippet")).to_contain_text(
                "result = await invoke_lambda('charge-card', {'order': 42}, log_type='Tail')"
            )
            await expect(page.locator("#answer-error")).to_be_hidden()
            await page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
            keep = os.environ.get("TEMPORAL_LAMBDA_CONSOLE_SCREENSHOT")
            if keep:
                shutil.copyfile(tmp_path / "console.png", keep)

            # a function error
            await page.fill("#f-function", "declines")
            await page.click("#test-request")
            await expect(summary).to_have_attribute("data-kind", "function_error")
            await expect(summary).to_contain_text("Function error — HTTP 200")
            await expect(page.locator("#error-type")).to_have_text("type=ValueError")
            await expect(page.locator("#error-message")).to_have_text("card declined")
            await expect(page.locator("#error-retry")).to_have_text(
                "retried, after the retry policy's backoff"
            )
            await expect(page.locator("#answer-log")).to_contain_text(
                "[ERROR] ValueError: card declined"
            )
            await expect(page.locator("#answer-payload")).to_be_hidden()

            # a throttle
            lam.faults.fail_next(
                1,
                status=429,
                code="TooManyRequestsException",
                message="Rate exceeded",
                retry_after=2,
                function="charge-card",
            )
            await page.fill("#f-function", "charge-card")
            await page.click("#test-request")
            await expect(summary).to_have_attribute("data-kind", "service_error")
            await expect(summary).to_contain_text("Service error — HTTP 429")
            await expect(page.locator("#error-type")).to_have_text(
                "type=Lambda.TooManyRequestsException"
            )
            await expect(page.locator("#error-message")).to_have_text("Rate exceeded")
            await expect(page.locator("#error-retry")).to_have_text(
                "retried after 2 s (next_retry_delay from Retry-After)"
            )

            # a refused input: nothing is sent
            sent = len(lam.records())
            await page.fill("#f-qualifier", "no spaces")
            await page.click("#test-request")
            await expect(summary).to_have_attribute("data-kind", "refused")
            await expect(summary).to_have_text("Refused before sending: nothing was sent")
            await expect(page.locator("#error-type")).to_have_text("type=Lambda.ValidationError")
            await expect(page.locator("#error-retry")).to_have_text("not retried (non_retryable)")
            await expect(page.locator("#error-details")).to_have_text(
                '{\n  "field": "qualifier"\n}'
            )
            assert len(lam.records()) == sent

            content = await page.content()
            assert SECRET_KEY not in content and SESSION_TOKEN not in content
        finally:
            await browser.close()
