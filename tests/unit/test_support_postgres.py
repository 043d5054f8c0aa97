"""When the PostgreSQL tests run, skip or fail (``tests/support/postgres.plan``), case by case."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.postgres import DSN_VARIABLE, SKIP_MESSAGE, Plan, plan

DSN = "postgresql://u:p@127.0.0.1:5432/d"


@pytest.mark.parametrize(
    ("environ", "is_root", "have_binaries", "have_apt", "expected"),
    [
        # A DSN wins over everything, even a machine that could install a server.
        ({DSN_VARIABLE: DSN}, False, False, False, Plan.USE_DSN),
        ({DSN_VARIABLE: DSN, "CI": "true"}, True, True, True, Plan.USE_DSN),
        # Installed binaries: anyone can start a private cluster.
        ({}, False, True, False, Plan.START),
        ({}, True, True, False, Plan.START),
        # Root with apt-get installs the server.
        ({}, True, False, True, Plan.START),
        # Cannot be installed here: skip...
        ({}, False, False, True, Plan.SKIP),
        ({}, False, False, False, Plan.SKIP),
        ({}, True, False, False, Plan.SKIP),
        ({DSN_VARIABLE: ""}, False, False, True, Plan.SKIP),
        ({"CI": "false"}, False, False, False, Plan.SKIP),
        # ...but never in CI: there a missing server is a failure.
        ({"CI": "true"}, False, False, False, Plan.START),
        ({"CI": "TRUE"}, True, False, False, Plan.START),
        ({"CI": "1"}, False, False, True, Plan.START),
    ],
)
def test_plan(
    environ: dict[str, str], is_root: bool, have_binaries: bool, have_apt: bool, expected: Plan
) -> None:
    got = plan(environ, is_root=is_root, have_binaries=have_binaries, have_apt=have_apt)
    assert got is expected


def test_skip_message_is_one_line_saying_how_to_enable() -> None:
    assert SKIP_MESSAGE == (
        "PostgreSQL tests skipped: run as root (scripts/postgres installs it) "
        "or set TEMPORAL_LAMBDA_TEST_PG_DSN"
    )


def test_a_skipping_machine_skips_every_test_that_needs_postgres(tmp_path: Path) -> None:
    """Through pytest itself: the plan says SKIP, so each ``pg_dsn`` test skips with the line."""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import tests.support.postgres as pg

            pytest_plugins = ["tests.support.postgres"]
            pg.machine_plan = lambda: pg.Plan.SKIP
            """
        )
    )
    (tmp_path / "test_needs_pg.py").write_text(
        "def test_one(pg_dsn):\n    raise AssertionError\n\n"
        "def test_two(pg_dsn):\n    raise AssertionError\n\n"
        "def test_other():\n    pass\n"
    )
    root = Path(__file__).resolve().parents[2]
    args = ["-q", "-rs", "-p", "no:cacheprovider", "-p", "no:asyncio", "--rootdir", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 2 skipped" in proc.stdout
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 2
    assert all(line.endswith(f": {SKIP_MESSAGE}") for line in skipped), skipped
