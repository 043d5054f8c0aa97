"""A real PostgreSQL server for tests: ``scripts/postgres`` starts (or reuses) it.

``TEMPORAL_LAMBDA_TEST_PG_DSN`` points the tests at another server instead.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DSN_VARIABLE = "TEMPORAL_LAMBDA_TEST_PG_DSN"


@functools.cache
def postgres_dsn() -> str:
    """Return the DSN of the test server, starting it on first call (once per process)."""
    dsn = os.environ.get(DSN_VARIABLE)
    if dsn:
        return dsn
    proc = subprocess.run(
        [str(ROOT / "scripts" / "postgres")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"scripts/postgres failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The DSN of a real PostgreSQL server (see :func:`postgres_dsn`)."""
    try:
        return postgres_dsn()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}")
