"""The emulator's command line, ``python -m temporal_lambda.testing``, in a real subprocess.

Each server test starts it on a free port, invokes it over real HTTP with SigV4-signed boto3
requests, then stops it with SIGTERM.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
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

            def version(event, context):
                return {"version": context.function_version,
                        "arn": context.invoked_function_arn}

            HANDLERS = {"echo": echo}
            NOT_A_HANDLER = 42
            """
        )
    )
    return tmp_path


def _env(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "10000"  # help on one line per option: argparse breaks words at hyphens
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
    endpoint, names, _ = _read_until_listening(proc, timeout)
    return endpoint, names


def _read_until_listening(
    proc: subprocess.Popen[str], timeout: float = 20.0
) -> tuple[str, str, list[str]]:
    """The endpoint and function names of the listening line, and the lines printed before.

    A reader thread hands over whole lines up to the listening one, then stops: ``select`` on
    the pipe cannot see lines already in the text wrapper's buffer.
    """
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line)
            if LISTENING.match(line.strip()):
                return
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    before: list[str] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if not line:
            break
        match = LISTENING.match(line.strip())
        if match:
            return match.group(1), match.group(2), before
        before.append(line.rstrip("\n"))
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
    streamed = _client(endpoint).invoke_with_response_stream(
        FunctionName="echo", Payload=b'{"s": 1}'
    )
    assert list(streamed["EventStream"]) == [
        {"PayloadChunk": {"Payload": b'{"s": 1}'}},
        {"InvokeComplete": {}},
    ]
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
    assert "--publish NAME" in flat
    assert "--no-stream-throttle stream InvokeWithResponseStream answers at full speed" in flat
    assert "--alias NAME:ALIAS=VERSION" in flat
    assert "--fault NAME:KIND[:COUNT]" in flat
    assert "the next COUNT (default 1) requests for NAME (* for every function)" in flat
    for kind in (
        "throttle: answer 429 TooManyRequestsException (Retry-After: 1)",
        "5xx: answer 500 ServiceException",
        "delay: wait SECONDS (delay=SECONDS, default 5) before handling",
        "drop: run the function, then cut the connection halfway through its answer",
    ):
        assert kind in flat


def test_temporal_lambda_emulator_is_the_same_command(handlers_dir: Path) -> None:
    ours = _cli("--help", cwd=handlers_dir)
    theirs = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from temporal_lambda.cli import main; "
            "sys.exit(main(['emulator', '--help']))",
        ],
        cwd=handlers_dir,
        env=_env(handlers_dir),
        capture_output=True,
        text=True,
        timeout=30,
    )
    out, _ = ours.communicate(timeout=30)
    assert theirs.returncode == 0
    assert theirs.stdout == out
    assert "--fault NAME:KIND[:COUNT]" in out


def _client(endpoint: str) -> Any:
    # No retries at all: every fault must reach the test as it was answered.
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=10,
        ),
    )


def test_versions_aliases_and_faults_from_the_command_line(handlers_dir: Path) -> None:
    proc = _cli(
        "--port",
        "0",
        "--handlers",
        f"{MODULE}:HANDLERS",
        f"ver={MODULE}:version",
        "--publish",
        "ver",
        "--publish",
        "ver",
        "--alias",
        "ver:live=1",
        "--alias",
        "ver:next=2",
        "--alias",
        "ver:edge=$LATEST",
        "--fault",
        "ver:throttle:2",
        "--fault",
        "echo:delay=0.6",
        "--fault",
        "echo:5xx",
        "--fault",
        "*:drop",
        cwd=handlers_dir,
    )
    try:
        endpoint, names, before = _read_until_listening(proc)
        assert names == "echo, ver"
        assert before == [
            "published ver version 1",
            "published ver version 2",
            "alias ver:live -> 1",
            "alias ver:next -> 2",
            "alias ver:edge -> $LATEST",
            "fault ver: throttle x2",
            "fault echo: delay x1",
            "fault echo: 5xx x1",
            "fault *: drop x1",
        ]
        lam = _client(endpoint)
        for qualifier in ("live", "next"):
            with pytest.raises(botocore.exceptions.ClientError) as throttled:
                lam.invoke(FunctionName=f"ver:{qualifier}", Payload=b"{}")
            answer = throttled.value.response
            assert answer["Error"]["Code"] == "TooManyRequestsException"
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert answer["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
            assert answer["Reason"] == "ConcurrentInvocationLimitExceeded"
        # The drop cuts the first answer of a function that ran (any function: "*").
        with pytest.raises(botocore.exceptions.BotoCoreError):
            lam.invoke(FunctionName="ver:live", Payload=b"{}")["Payload"].read()
        arn = "arn:aws:lambda:us-east-1:123456789012:function:ver"
        for qualifier, version in (("live", "1"), ("next", "2"), ("edge", "$LATEST")):
            ok = lam.invoke(FunctionName="ver", Qualifier=qualifier, Payload=b"{}")
            assert ok["ExecutedVersion"] == version
            assert json.loads(ok["Payload"].read()) == {
                "version": version,
                "arn": f"{arn}:{qualifier}",
            }
        started = time.monotonic()
        with pytest.raises(botocore.exceptions.ClientError) as failed:
            lam.invoke(FunctionName="echo", Payload=b"{}")
        assert time.monotonic() - started >= 0.6
        assert failed.value.response["Error"]["Code"] == "ServiceException"
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert _invoke(endpoint, "echo", {"a": 2}) == (200, {"a": 2})
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--publish", "nope"), "--publish nope: no function named 'nope' is served"),
        (
            ("--alias", "echo:live"),
            "--alias echo:live: expected NAME:ALIAS=VERSION, e.g. echo:live=1",
        ),
        (("--alias", "echo:live=3"), "--alias echo:live=3: echo has no version 3"),
        (("--alias", "echo:7=$LATEST"), "--alias echo:7=$LATEST: invalid alias name '7'"),
        (("--fault", "echo"), "--fault echo: expected NAME:KIND[:COUNT], e.g. echo:throttle:2"),
        (
            ("--fault", "echo:bogus"),
            "--fault echo:bogus: unknown kind 'bogus' (known: throttle, 5xx, delay, drop)",
        ),
        (("--fault", "echo:5xx=2"), "--fault echo:5xx=2: only delay takes =SECONDS"),
        (
            ("--fault", "echo:delay=soon"),
            "--fault echo:delay=soon: 'soon' is not a number of seconds",
        ),
        (
            ("--fault", "echo:drop:0"),
            "--fault echo:drop:0: COUNT must be a whole number of at least 1",
        ),
    ],
)
def test_a_bad_publish_alias_or_fault_exits_with_a_clear_message(
    handlers_dir: Path, args: tuple[str, ...], message: str
) -> None:
    proc = _cli("--port", "0", "--handlers", f"{MODULE}:HANDLERS", *args, cwd=handlers_dir)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == message
    assert "listening" not in out
