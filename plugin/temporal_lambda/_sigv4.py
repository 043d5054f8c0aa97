"""SigV4 signing with botocore, and credentials resolved and refreshed off the event loop.

:class:`SigV4Signer` signs an ``httpx.Request`` in place with botocore's ``SigV4Auth`` just
before it is sent, so every attempt gets a fresh ``X-Amz-Date`` and signature, and what is sent
(URL and body, byte for byte) is what was signed. The credential chain (env, profile, SSO,
container, instance metadata) and a refreshable credential's refresh may block on the network,
so they run in a thread; botocore's debug logs of our own signing and resolution are kept
quiet (:func:`~temporal_lambda._redact.quiet_signing`), and the signer remembers the last few
secrets it signed with, so errors can be scrubbed of them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session
import httpx

from temporal_lambda._errors import LambdaTransportError
from temporal_lambda._redact import call_quietly, quiet_signing

__all__ = [
    "SIGNATURE_HEADERS",
    "UNSIGNED_HEADERS",
    "SigV4Signer",
    "add_signature",
    "may_refresh",
    "session_region",
]


def session_region(session: botocore.session.Session, region: str | None, service: str) -> str:
    """Return the region to sign for: the given one, else botocore's, else ``AWS_REGION``.

    botocore reads ``AWS_DEFAULT_REGION`` and the profile's ``region``, but not ``AWS_REGION``
    (which the AWS CLI v2 and the Lambda runtime set), so it is the last resort.

    Args:
        session: The botocore session (its profile).
        region: The region the caller passed, if any.
        service: How to name the client in the error (``""`` for Lambda, ``" for S3"``).

    Raises:
        ValueError: no region anywhere.
    """
    resolved = region or session.get_config_variable("region") or os.environ.get("AWS_REGION")
    if not resolved:
        raise ValueError(
            f"no AWS region{service}: pass region=, or set AWS_REGION / AWS_DEFAULT_REGION, "
            "or configure one in the profile"
        )
    return str(resolved)


UNSIGNED_HEADERS = frozenset(
    {"accept", "accept-encoding", "connection", "content-length", "host", "user-agent"}
)
"""Headers httpx or the transport add on their own: sent, but not signed (botocore signs
none of them)."""
SIGNATURE_HEADERS = (
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-SHA256",
)
"""Headers SigV4 adds or replaces; copied from the signed botocore request onto the httpx one."""
KEPT_SECRETS = 12
"""Most recent secret keys and tokens a signer remembers for scrubbing errors."""
NO_CREDENTIALS = (
    "no AWS credentials found (standard chain: env, profile, SSO, container, instance metadata)"
)


def add_signature(request: httpx.Request, auth: botocore.auth.SigV4Auth) -> None:
    """Sign ``request`` in place with ``auth`` (a botocore ``SigV4Auth`` or ``S3SigV4Auth``).

    botocore signs an ``AWSRequest`` built from the request's method, URL, signed headers and
    body; the headers SigV4 adds or replaces (:data:`SIGNATURE_HEADERS`) are copied back.
    """
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in UNSIGNED_HEADERS
    }
    aws_request = botocore.awsrequest.AWSRequest(
        method=request.method, url=str(request.url), headers=headers, data=request.content
    )
    auth.add_auth(aws_request)
    for name in SIGNATURE_HEADERS:
        value = aws_request.headers.get(name)
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value


def may_refresh(credentials: Any) -> bool:
    """Tell whether freezing ``credentials`` may do I/O (and so must leave the event loop).

    Static credentials never do; refreshable ones only when a refresh is due.
    """
    if type(credentials) is botocore.credentials.Credentials:
        return False
    refresh_needed = getattr(credentials, "refresh_needed", None)
    return refresh_needed is None or bool(refresh_needed())


class SigV4Signer:
    """Sign requests for one service and region with one set of (refreshable) credentials."""

    def __init__(self, credentials: Any, region: str, service: str) -> None:
        """Create the signer.

        Args:
            credentials: botocore credentials (static or refreshable).
            region: The region requests are signed for.
            service: The signing name (``lambda``).
        """
        self._credentials = credentials
        self._region = region
        self._service = service
        self.secrets: tuple[str, ...] = ()
        """Access keys, secret keys and session tokens of the credentials signed with lately
        (the last few, so an error of a call signed just before a refresh is scrubbed too)."""

    @classmethod
    async def resolve(
        cls,
        session: botocore.session.Session,
        credentials: Any,
        region: str,
        service: str,
    ) -> SigV4Signer:
        """Return a signer for ``credentials``, else for the session's standard chain.

        Raises:
            LambdaTransportError: no credentials anywhere (``maybe_sent=False``).
        """
        if credentials is None:
            credentials = await asyncio.to_thread(call_quietly, session.get_credentials)
        if credentials is None:
            raise LambdaTransportError(NO_CREDENTIALS, maybe_sent=False)
        return cls(credentials, region, service)

    async def frozen(self) -> Any:
        """Return frozen credentials, refreshing them off the event loop when due."""
        credentials = self._credentials
        if may_refresh(credentials):
            return await asyncio.to_thread(call_quietly, credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def sign(self, request: httpx.Request, frozen: Any) -> None:
        """Sign ``request`` in place with frozen ``frozen`` credentials."""
        self._remember(frozen)
        with quiet_signing():
            add_signature(request, botocore.auth.SigV4Auth(frozen, self._service, self._region))

    def _remember(self, frozen: Any) -> None:
        """Keep the secrets of ``frozen``, so errors can be scrubbed of them."""
        for value in (
            getattr(frozen, "access_key", None),
            getattr(frozen, "secret_key", None),
            getattr(frozen, "token", None),
        ):
            if isinstance(value, str) and value and value not in self.secrets:
                self.secrets = (value, *self.secrets)[:KEPT_SECRETS]
