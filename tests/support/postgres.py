"""A pytest plugin giving tests a real PostgreSQL server (fixture ``pg_dsn``), or a clear skip.

``TEMPORAL_LAMBDA_TEST_PG_DSN`` points the tests at a running server. Without it,
``scripts/postgres`` starts (or reuses) a private cluster, installing the server from Debian's
packages when it is missing. Where it cannot be installed (not root and no server binaries, or
no apt-get), the tests that need it skip with one line saying how to enable them — except in CI
(``CI=true``), where nothing is skipped silently: there, as whenever the server can be
installed (root with apt-get, or binaries present), a failure to start it fails those tests.

Registered by ``pytest_plugins`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import enum
import functools
import glob
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DSN_VARIABLE = "TEMPORAL_LAMBDA_TEST_PG_DSN"
SKIP_MESSAGE = (
    f"PostgreSQL tests skipped: run as root (scripts/postgres installs it) or set {DSN_VARIABLE}"
)


class Plan(enum.Enum):
    """Where the tests' PostgreSQL comes from."""

    USE_DSN = "use-dsn"
    """The environment names a server: use it (if it does not answer, the tests fail)."""
    START = "start"
    """Run ``scripts/postgres``; if it fails, the tests fail."""
    SKIP = "skip"
    """The server cannot be had here: the tests skip with :data:`SKIP_MESSAGE`."""


def plan(environ: Mapping[str, str], *, is_root: bool, have_binaries: bool, have_apt: bool) -> Plan:
    """Decide where PostgreSQL comes from, from the environment and what the machine has.

    Args:
        environ: The process environment (``TEMPORAL_LAMBDA_TEST_PG_DSN``, ``CI``).
        is_root: Whether the tests run as root (``scripts/postgres`` may install the server).
        have_binaries: Whether PostgreSQL's server binaries are installed.
        have_apt: Whether ``apt-get`` is there to install them.

    Returns:
        ``USE_DSN`` if a DSN is given; ``START`` if the server is or can be installed, or in
        CI (a missing server must fail there, not skip); otherwise ``SKIP``.
    """
    if environ.get(DSN_VARIABLE):
        return Plan.USE_DSN
    if have_binaries or (is_root and have_apt):
        return Plan.START
    if environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        return Plan.START
    return Plan.SKIP


def have_server_binaries() -> bool:
    """Whether a PostgreSQL server is installed where ``scripts/postgres`` looks for one."""
    return any(
        all(Path(bindir, tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))
        for bindir in glob.glob("/usr/lib/postgresql/*/bin")
    )


def machine_plan() -> Plan:
    """:func:`plan` for this process and machine."""
    return plan(
        os.environ,
        is_root=os.geteuid() == 0,
        have_binaries=have_server_binaries(),
        have_apt=shutil.which("apt-get") is not None,
    )


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
    """The DSN of a real PostgreSQL server (see :func:`postgres_dsn`), or a skip (see above)."""
    if machine_plan() is Plan.SKIP:
        pytest.skip(SKIP_MESSAGE)
    try:
        return postgres_dsn()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}")
