"""The context object handed to handlers, shaped like the real Python runtime's."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

__all__ = ["Client", "ClientContext", "LambdaContext", "decode_client_context"]


def decode_client_context(header: str) -> dict[str, Any] | None:
    """Decode an ``X-Amz-Client-Context`` header; ``None`` unless base64 of a JSON object."""
    try:
        data = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Client:
    """The mobile ``client`` part of a client context (as in ``awslambdaric``)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.installation_id: Any = data.get("installation_id")
        self.app_title: Any = data.get("app_title")
        self.app_version_name: Any = data.get("app_version_name")
        self.app_version_code: Any = data.get("app_version_code")
        self.app_package_name: Any = data.get("app_package_name")

    def __repr__(self) -> str:
        return f"Client(installation_id={self.installation_id!r}, app_title={self.app_title!r})"


class ClientContext:
    """The decoded ``X-Amz-Client-Context`` header: ``custom``, ``env`` and ``client``."""

    def __init__(self, data: dict[str, Any]) -> None:
        client = data.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else None
        self.custom: Any = data.get("custom")
        self.env: Any = data.get("env")

    def __repr__(self) -> str:
        return f"ClientContext(custom={self.custom!r}, env={self.env!r}, client={self.client!r})"


class LambdaContext:
    """The second argument of a handler, with the attributes of the real runtime's context."""

    def __init__(
        self,
        *,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: int,
        aws_request_id: str,
        log_group_name: str,
        log_stream_name: str,
        client_context: ClientContext | None,
        tenant_id: str | None,
        deadline: float,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.client_context = client_context
        self.identity: Any = None
        self.tenant_id = tenant_id
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function times out (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"function_version={self.function_version!r}, aws_request_id={self.aws_request_id!r})"
        )
