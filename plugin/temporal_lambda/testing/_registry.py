"""Registered functions, their published versions and aliases, and FunctionName parsing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._spec import BARE_NAME_MAX, FUNCTION_NAME_MAX, FUNCTION_NAME_PATTERN

__all__ = [
    "FunctionConfig",
    "InvalidFunctionName",
    "Registry",
    "Resolved",
    "asked_function_arn",
    "parse_function_name",
]

Handler = Callable[[Any, Any], Any]

_NAME_RE = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9\-_\.]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?$"
)


class InvalidFunctionName(ValueError):
    """A FunctionName or qualifier that Lambda would reject with a 400."""

    def __init__(self, message: str, code: str = "ValidationException") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FunctionConfig:
    """One function (``$LATEST``) or a published snapshot of it."""

    name: str
    handler: Handler
    timeout: float
    reserved_concurrency: int | None
    memory_mb: int
    throttle_retry_after: int
    version: str = "$LATEST"


@dataclass(frozen=True)
class Resolved:
    """A request's function, resolved to the configuration that runs."""

    config: FunctionConfig
    qualifier: str | None


def parse_function_name(
    raw: str, query_qualifier: str | None, *, region: str, account_id: str
) -> tuple[str, str | None, bool]:
    """Split a FunctionName in any accepted form into ``(name, qualifier, ours)``.

    Args:
        raw: The decoded FunctionName path parameter.
        query_qualifier: The ``?Qualifier=`` query parameter, if any.
        region: The emulator's region.
        account_id: The emulator's account.

    Returns:
        The bare name, the qualifier (from the query or the name's suffix), and whether the
        region and account in the name (when given) are the emulator's own.

    Raises:
        InvalidFunctionName: The name does not match Lambda's pattern, or its qualifier
            disagrees with ``?Qualifier=``.
    """
    if not 1 <= len(raw) <= FUNCTION_NAME_MAX:
        raise InvalidFunctionName(
            "1 validation error detected: Value at 'functionName' failed to satisfy "
            f"constraint: Member must have length less than or equal to {FUNCTION_NAME_MAX}"
        )
    match = _NAME_RE.match(raw)
    if match is None or len(match["name"]) > BARE_NAME_MAX:
        raise InvalidFunctionName(
            "1 validation error detected: Value '"
            + raw
            + "' at 'functionName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: " + FUNCTION_NAME_PATTERN
        )
    qualifier = match["qualifier"]
    if query_qualifier is not None:
        if qualifier is not None and qualifier != query_qualifier:
            raise InvalidFunctionName(
                "The derived qualifier from the function name does not match the specified "
                "qualifier.",
                "InvalidParameterValueException",
            )
        qualifier = query_qualifier
    ours = match["region"] in (None, region) and match["account"] in (None, account_id)
    return match["name"], qualifier, ours


def asked_function_arn(raw: str, qualifier: str | None, *, region: str, account_id: str) -> str:
    """Return the ARN a FunctionName asks for, as Lambda names it in a 404.

    The partition, region and account are the name's own when it gives them (another
    account's ARN is reported as that account's function), else the emulator's.

    Args:
        raw: The decoded FunctionName (already validated by :func:`parse_function_name`).
        qualifier: The resolved qualifier, if any.
        region: The emulator's region.
        account_id: The emulator's account.
    """
    match = _NAME_RE.match(raw)
    if match is None:
        raise InvalidFunctionName(f"invalid function name {raw!r}")
    arn = (
        f"arn:{match['partition'] or 'aws'}:lambda:{match['region'] or region}:"
        f"{match['account'] or account_id}:function:{match['name']}"
    )
    return arn if qualifier is None else f"{arn}:{qualifier}"


class Registry:
    """Functions by name, with their versions and aliases."""

    def __init__(self) -> None:
        self._latest: dict[str, FunctionConfig] = {}
        self._versions: dict[str, dict[str, FunctionConfig]] = {}
        self._aliases: dict[str, dict[str, str]] = {}

    def register(self, config: FunctionConfig) -> None:
        """Create or replace a function's ``$LATEST``."""
        self._latest[config.name] = config
        self._versions.setdefault(config.name, {})
        self._aliases.setdefault(config.name, {})

    def publish_version(self, name: str) -> str:
        """Snapshot ``$LATEST`` as the next version number and return it."""
        latest = self._get(name)
        versions = self._versions[name]
        number = str(len(versions) + 1)
        versions[number] = replace(latest, version=number)
        return number

    def create_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (``$LATEST`` or a published number)."""
        self._get(name)
        if version != "$LATEST" and version not in self._versions[name]:
            raise KeyError(f"{name} has no version {version}")
        if alias.isdigit() or alias.startswith("$"):
            raise ValueError(f"invalid alias name {alias!r}")
        self._aliases[name][alias] = version

    def names(self) -> list[str]:
        """Every registered function name."""
        return list(self._latest)

    def resolve(self, name: str, qualifier: str | None) -> Resolved | None:
        """Find the configuration a request runs, or ``None`` if Lambda would answer 404."""
        latest = self._latest.get(name)
        if latest is None:
            return None
        if qualifier is None or qualifier == "$LATEST":
            return Resolved(latest, qualifier)
        versions = self._versions[name]
        version = self._aliases[name].get(qualifier, qualifier)
        if version == "$LATEST":
            return Resolved(latest, qualifier)
        config = versions.get(version)
        return None if config is None else Resolved(config, qualifier)

    def _get(self, name: str) -> FunctionConfig:
        try:
            return self._latest[name]
        except KeyError:
            raise KeyError(f"no function named {name!r} is registered") from None
