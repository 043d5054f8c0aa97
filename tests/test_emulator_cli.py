"""The emulator's command line, ``python -m temporal_lambda.testing``, in a real subprocess.

Each server test starts it on a free port, invokes it over real HTTP with SigV4-signed boto3
requests, then stops it with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.timeout(60)

MODULE = "tl_cli_handlers"
LISTENING = re.compile(r"^LocalLambda listening on (http://127\.0\.0\.1:\d+) — functions: (.*)$")


@pytest.fixture
def handlers_dir(tmp_path: Path) -> Path:
    (tmp_path / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            def shout(event, context):
                return {"shouted": str(event.get("text", "")).upper(),
                        "function": context.function_name}

            def echo(event, context):
                return event

            HANDLERS = {"echo": echo}
            NOT_A_HANDLER = 42
            """
        )
    )
    return tmp_path


def _env(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    return env


def _cli(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "temporal_lambda.testing", *args],
        cwd=cwd,
        env=_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_listening(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[str, str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        match = LISTENING.match(line.strip())
        if match:
            return match.group(1), match.group(2)
    proc.kill()
    _, err = proc.communicate(timeout=10)
    pytest.fail(f"the emulator did not start: {err}")


@pytest.fixture
def served(handlers_dir: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    proc = _cli(
        "--port",
        "0",
        "--handlers",
        f"{MODULE}:HANDLERS",
        f"{MODULE}:shout",
        f"charge-card={MODULE}:shout",
        cwd=handlers_dir,
    )
    try:
        endpoint, names = _wait_listening(proc)
        yield endpoint, names, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _invoke(endpoint: str, name: str, payload: Any) -> tuple[int, Any]:
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    answer = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return answer["StatusCode"], json.loads(answer["Payload"].read())


def test_one_handler_and_a_dict_of_handlers_are_served_over_http(
    served: tuple[str, str, subprocess.Popen[str]],
) -> None:
    endpoint, names, proc = served
    assert names == "echo, shout, charge-card"
    assert _invoke(endpoint, "echo", {"a": 1}) == (200, {"a": 1})
    assert _invoke(endpoint, "shout", {"text": "hi"}) == (
        200,
        {"shouted": "HI", "function": "shout"},
    )
    assert _invoke(endpoint, "charge-card", {"text": "ok"}) == (
        200,
        {"shouted": "OK", "function": "charge-card"},
    )
    # Signatures are checked by default: an unsigned request is refused.
    request = urllib.request.Request(
        f"{endpoint}/2015-03-31/functions/echo/invocations", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{MODULE}:missing", f"--handlers {MODULE}:missing: module '{MODULE}' has no 'missing'"),
        (
            f"{MODULE}:NOT_A_HANDLER",
            f"--handlers {MODULE}:NOT_A_HANDLER: 'NOT_A_HANDLER' is neither a handler nor a "
            "dict of name -> handler",
        ),
        (
            f"x={MODULE}:HANDLERS",
            f"--handlers x={MODULE}:HANDLERS: NAME= names one handler, 'HANDLERS' is a dict",
        ),
        (
            "tl_cli_no_such_module",
            "--handlers tl_cli_no_such_module: cannot import 'tl_cli_no_such_module': "
            "No module named 'tl_cli_no_such_module'",
        ),
    ],
)
def test_a_bad_handlers_spec_exits_with_a_clear_message(
    handlers_dir: Path, spec: str, message: str
) -> None:
    proc = _cli("--port", "0", "--handlers", spec, cwd=handlers_dir)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == message
    assert "listening" not in out


def test_help_shows_every_default(handlers_dir: Path) -> None:
    proc = _cli("--help", cwd=handlers_dir)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    flat = " ".join(out.split())
    for default in (
        "(default: 127.0.0.1)",
        "(default: 9001)",
        "(default: us-east-1)",
        "(default: 3.0)",
        "(default: testing)",
        "(default: 60.0)",
    ):
        assert default in flat
    assert "[NAME=]MODULE[:ATTR]" in flat
