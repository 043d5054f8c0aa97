"""``temporal-lambda emulator`` as a user runs it: the console script, from a project directory.

A console script's ``sys.path`` starts at its ``bin/`` directory, not the working directory
``python -m`` would add, so ``--handlers myapp.lambdas`` must still find the user's modules.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.timeout(60)

LISTENING = re.compile(r"^LocalLambda listening on (http://127\.0\.0\.1:\d+) — functions: (.*)$")


def test_console_script_finds_handlers_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "myapp_lambdas.py").write_text(
        textwrap.dedent(
            """
            def charge(event, context):
                return {"charged": event["amount"]}
            """
        )
    )
    script = Path(sys.executable).parent / "temporal-lambda"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    proc = subprocess.Popen(
        [str(script), "emulator", "--port", "0", "--handlers", "charge=myapp_lambdas:charge"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")
        match = LISTENING.match(line)
        assert match is not None, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert match.group(2) == "charge"
        client = boto3.client(
            "lambda",
            endpoint_url=match.group(1),
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
        answer = client.invoke(FunctionName="charge", Payload=b'{"amount": 120}')
        assert answer["StatusCode"] == 200
        assert answer["Payload"].read() == b'{"charged": 120}'
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_the_demos_try_by_hand_commands_work_as_printed() -> None:
    """The demo's last lines: the emulator command, then an invoke that exits 0 with a snippet."""
    from workers.demo import TRY_BY_HAND

    emulator_cmd = re.search(r"`(temporal-lambda emulator [^`]+)`", TRY_BY_HAND)
    invoke_line = next(
        line for line in TRY_BY_HAND.splitlines() if "temporal-lambda invoke" in line
    )
    assert emulator_cmd is not None
    bin_dir = Path(sys.executable).parent
    root = Path(__file__).resolve().parent.parent.parent
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    words = emulator_cmd.group(1).split()
    proc = subprocess.Popen(
        [str(bin_dir / words[0]), *words[1:], "--port", "0"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = LISTENING.match(proc.stdout.readline().rstrip("\n"))
        assert match is not None
        command = invoke_line.strip().replace("http://127.0.0.1:9001", match.group(1))
        env_words, _, rest = command.partition("temporal-lambda ")
        run_env = dict(env, **dict(word.split("=", 1) for word in env_words.split()))
        done = subprocess.run(
            f"{bin_dir / 'temporal-lambda'} {rest}",
            shell=True,
            cwd=root,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Invoke answered HTTP 200" in done.stdout
        assert "result = await invoke_lambda('charge-card'" in done.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
