"""The README says what the code does: its testing example runs, its configuration tables match.

The "Testing your own workflows" example (the python block right under that heading, with the
pytest settings of the toml block after it) is run as written by pytest in a subprocess, in an
empty directory, offline. The configuration tables' keyword columns are checked against
``LambdaPlugin.__init__``, ``LambdaClient.__init__`` and ``HttpSettings``'s fields, defaults
included, and the plugin is checked not to repeat the client's settings.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from temporal_lambda import HttpSettings, LambdaClient, LambdaPlugin

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text()


def _section(heading: str) -> str:
    """The text of the ``## heading`` section, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match, f"README has no section {heading!r}"
    return match.group(1)


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def _table_after(text: str, intro: str) -> dict[str, str]:
    """``{keyword: default}`` of the markdown table that follows the line starting ``intro``."""
    start = text.index(intro)
    lines = text[start:].splitlines()[1:]
    while lines and not lines[0].startswith("|"):
        lines = lines[1:]
    rows: dict[str, str] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        keyword = re.fullmatch(r"`(\w+)`", cells[0])
        assert keyword, f"first column is not a `keyword`: {line}"
        default = re.fullmatch(r"`([^`]+)`", cells[1])
        assert default, f"default of {cells[0]} is not a `literal`: {line}"
        assert keyword.group(1) not in rows, f"{cells[0]} documented twice"
        rows[keyword.group(1)] = default.group(1)
    assert rows, f"no table after {intro!r}"
    return rows


def _keywords(func: Any) -> dict[str, Any]:
    """``{name: default}`` of every parameter that can be passed by keyword (``self`` aside)."""
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if name != "self"
        and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }


def _assert_documented(documented: dict[str, str], real: dict[str, Any]) -> None:
    assert sorted(documented) == sorted(real), "README keywords differ from the code's"
    for name, literal in documented.items():
        assert ast.literal_eval(literal) == real[name], f"default of {name}"
        assert type(ast.literal_eval(literal)) is type(real[name]), f"type of {name}'s default"


def test_every_lambda_plugin_keyword_is_documented_with_its_default() -> None:
    table = _table_after(_section("Configuration"), "`LambdaPlugin(...)` keywords")
    _assert_documented(table, _keywords(LambdaPlugin.__init__))


def test_every_lambda_client_keyword_is_documented_with_its_default() -> None:
    table = _table_after(_section("Configuration"), "`LambdaClient(...)` keywords")
    _assert_documented(table, _keywords(LambdaClient.__init__))


def test_the_plugin_says_no_client_setting_again() -> None:
    # Configuration said once: the plugin takes a built client; only the region, as the short
    # form for a default client, is a keyword of both.
    plugin, client = _keywords(LambdaPlugin.__init__), _keywords(LambdaClient.__init__)
    assert set(plugin) & set(client) == {"region"}
    assert sorted(plugin) == [
        "client",
        "external_storage",
        "idempotency_store",
        "payload_limit",
        "region",
    ]


def test_every_http_settings_field_is_documented_with_its_default() -> None:
    table = _table_after(_section("Configuration"), "`HttpSettings(...)` fields")
    _assert_documented(table, {f.name: f.default for f in dataclasses.fields(HttpSettings)})


def test_the_tables_check_would_catch_a_drift() -> None:
    # The checker itself: a wrong default, a missing and an invented keyword all fail.
    real = {"a": 5.0, "b": None}
    with pytest.raises(AssertionError, match="default of a"):
        _assert_documented({"a": "1000", "b": "None"}, real)
    with pytest.raises(AssertionError, match="differ"):
        _assert_documented({"a": "5.0"}, real)
    with pytest.raises(AssertionError, match="differ"):
        _assert_documented({"a": "5.0", "b": "None", "c": "1"}, real)
    with pytest.raises(AssertionError, match="type of a"):
        _assert_documented({"a": "5", "b": "None"}, real)


@pytest.mark.timeout(120)
def test_the_testing_example_runs_as_written(tmp_path: Path) -> None:
    section = _section("Testing your own workflows")
    assert section.lstrip().startswith("```python\n"), "the example must come right after"
    (example,) = _fenced(section, "python")[:1]
    (settings,) = _fenced(section, "toml")
    (tmp_path / "test_example.py").write_text(example)
    (tmp_path / "pyproject.toml").write_text(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TEMPORAL_"))}
    env["HOME"] = str(tmp_path / "home")  # anything written to the user's home lands here
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^1 passed", proc.stdout, re.M), proc.stdout
    assert not (tmp_path / "home").exists(), "the example wrote to the user's home"
