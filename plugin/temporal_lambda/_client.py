"""``LambdaClient``: resolve region, partition and endpoint; sign and send prepared calls.

Region and endpoint are resolved the way botocore resolves them (its endpoint rule set and
partition data); each call is signed with SigV4 (:mod:`temporal_lambda._sigv4`) and sent over
a pooled HTTP/1.1 transport (:mod:`temporal_lambda._transport`, or any httpx transport a test
passes), and the raw status, headers and body are handed back: interpreting them is
:mod:`temporal_lambda._response`'s job. The client drives the transport directly, without an
``httpx.AsyncClient``, whose cookie jar, redirect bookkeeping and URL merging would do work on
every call for nothing.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import botocore.credentials
import botocore.endpoint_provider
import botocore.session
import httpx

from temporal_lambda._closing import AsyncClosing
from temporal_lambda._sigv4 import SigV4Signer, session_region
from temporal_lambda._transport import (
    AiohttpTransport,
    HttpSettings,
    RawResponse,
    StreamedResponse,
    exchange,
    open_stream,
)

__all__ = ["HttpSettings", "LambdaClient", "RawResponse", "check_endpoint_url"]

_SERVICE = "lambda"
_URL_CACHE_SIZE = 1024
"""Most parsed request URLs a client keeps (one per function and qualifier called)."""


class _Call(Protocol):
    """What :meth:`LambdaClient.send` needs of a prepared call (``_request.PreparedCall``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def max_response_body(self) -> int: ...


class LambdaClient(AsyncClosing):
    """Send prepared Lambda calls, signed, over a shared connection pool.

    Region and endpoint are resolved when the client is built; credentials on the first
    :meth:`send`, off the event loop (the chain may reach SSO, a container endpoint or
    instance metadata).

    Args:
        region: AWS region; default: the botocore session's (``AWS_DEFAULT_REGION``, then
            the profile's ``region``), then ``AWS_REGION`` (which botocore itself ignores).
        endpoint_url: Base URL overriding the resolved endpoint, e.g. a local emulator.
        profile: Shared-config profile for region and credentials.
        credentials: ``botocore.credentials.Credentials``; default: the standard chain.
        use_fips: Use the FIPS endpoint.
        use_dualstack: Use the dual-stack (IPv6) endpoint.
        http: HTTP settings; default :class:`HttpSettings`.
        transport: Replaces the pooled transport (tests pass ``httpx.MockTransport``).

    Raises:
        ValueError: no region given and none configured, or ``endpoint_url`` carries
            user information (``user:password@``).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        credentials: botocore.credentials.Credentials | None = None,
        use_fips: bool = False,
        use_dualstack: bool = False,
        http: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = http if http is not None else HttpSettings()
        self._session = botocore.session.Session(profile=profile)
        resolved_region = session_region(self._session, region, "")
        if endpoint_url is not None:
            check_endpoint_url(endpoint_url)
        self._region: str = resolved_region
        self._partition = _partition_of(self._session, self._region)
        self._endpoint = _resolve_endpoint(
            self._session,
            region=self._region,
            endpoint_url=endpoint_url,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
        )
        self._credentials: Any = credentials
        self._signer: SigV4Signer | None = None
        self._transport: httpx.AsyncBaseTransport = (
            transport if transport is not None else AiohttpTransport(self._http)
        )
        self._closed = False
        self._urls: dict[str, httpx.URL] = {}
        self._default_headers = (
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),
            ("Connection", "keep-alive"),
            ("User-Agent", self._http.user_agent),
        )

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose`, until the next :meth:`send` opens a new pool."""
        return self._closed

    @property
    def region(self) -> str:
        """The region requests are signed for."""
        return self._region

    @property
    def partition(self) -> str:
        """The AWS partition of :attr:`region` (``aws``, ``aws-cn``, ``aws-us-gov``...)."""
        return self._partition

    @property
    def max_retry_after(self) -> float:
        """The longest ``Retry-After`` wait honoured (:attr:`HttpSettings.max_retry_after`)."""
        return self._http.max_retry_after

    def secrets(self) -> tuple[str, ...]:
        """Return the access keys, secret keys and session tokens recent signed calls used.

        Errors are scrubbed of them (:func:`temporal_lambda._redact.scrub_error`) before they
        leave the package: a server may echo a request's headers in its answer.
        """
        return () if self._signer is None else self._signer.secrets

    @property
    def endpoint(self) -> str:
        """The resolved base URL, e.g. ``https://lambda.us-east-1.amazonaws.com``."""
        return self._endpoint

    async def _get_signer(self) -> SigV4Signer:
        """Return the signer, resolving credentials through the standard chain the first time."""
        if self._signer is None:
            self._signer = await SigV4Signer.resolve(
                self._session, self._credentials, self._region, _SERVICE
            )
        return self._signer

    def _url(self, call: _Call) -> httpx.URL:
        """Return the parsed URL of ``call``, parsing each distinct one once.

        ``httpx.URL`` is immutable and parsing one checks every character; a worker calls a
        handful of functions, so their URLs repeat.
        """
        text = self._endpoint + call.path + (f"?{call.query}" if call.query else "")
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        return url

    async def send(self, call: _Call, *, read_timeout: float | None = None) -> RawResponse:
        """Sign and send ``call``, and read the whole answer.

        Args:
            call: The prepared request (``_request.PreparedCall``); ``path`` and ``query``
                are already percent-encoded and are sent byte for byte; its
                ``max_response_body`` bounds a successful answer's body.
            read_timeout: Seconds to wait for the answer, and for the whole exchange
                (headers and body) to complete; default
                :attr:`HttpSettings.default_read_timeout`.

        Returns:
            Status, lower-cased headers and body, whatever the status (an error answer's
            body cut to ``_spec.MAX_ERROR_RESPONSE`` bytes).

        Raises:
            LambdaResponseTooLargeError: a successful answer's body is larger than
                ``call.max_response_body`` (not retryable: the function may have run).
            LambdaTransportError: no credentials, or no complete HTTP answer within
                ``read_timeout``.
        """
        request, options = await self._signed(call, read_timeout)
        return await exchange(self._transport, request, **options)

    @asynccontextmanager
    async def stream(
        self, call: _Call, *, read_timeout: float | None = None
    ) -> AsyncIterator[StreamedResponse]:
        """Sign and send ``call``, and hand its answer over as it arrives.

        For ``InvokeWithResponseStream``: the body is read chunk by chunk in the block, at
        most ``call.max_response_body`` bytes of it, and the connection is closed if the
        block is left before the end.

        Args:
            call: The prepared request, as for :meth:`send`.
            read_timeout: Seconds for the whole block (headers, body and what the caller
                does with it; a stream may last as long as the function runs); default
                :attr:`HttpSettings.default_read_timeout`. The socket's own read timeout
                restarts on every chunk.

        Yields:
            Status, lower-cased headers, and the body: an error answer's in full (cut to
            ``_spec.MAX_ERROR_RESPONSE`` bytes), a success's as chunks.

        Raises:
            LambdaResponseTooLargeError: the body is larger than ``call.max_response_body``.
            LambdaTransportError: no credentials, the connection failed, or the deadline
                passed.
        """
        request, options = await self._signed(call, read_timeout)
        async with open_stream(self._transport, request, **options) as response:
            yield response

    async def _signed(
        self, call: _Call, read_timeout: float | None
    ) -> tuple[httpx.Request, dict[str, Any]]:
        """Build and sign the request of ``call``; return it and how to read its answer.

        The second item holds the ``limit``, ``deadline``, ``target`` and ``secrets`` that
        ``exchange`` and ``open_stream`` take.
        """
        signer = await self._get_signer()
        self._closed = False
        read = read_timeout if read_timeout is not None else self._http.default_read_timeout
        timeout = {
            "connect": self._http.connect_timeout,
            "read": read,
            "pool": self._http.pool_timeout,
        }
        request = httpx.Request(
            call.method,
            self._url(call),
            headers=[*self._default_headers, *call.headers.items()],
            content=call.body,
            extensions={"timeout": timeout},
        )
        signer.sign(request, await signer.frozen())
        return request, {
            "limit": call.max_response_body,
            "deadline": read,
            "target": f"{call.method} {self._endpoint}{call.path}",
            "secrets": signer.secrets,
        }

    async def aclose(self) -> None:
        """Close the pooled connections; a later :meth:`send` opens a new pool."""
        self._closed = True
        await self._transport.aclose()


def _resolve_endpoint(
    session: botocore.session.Session,
    *,
    region: str,
    endpoint_url: str | None,
    use_fips: bool,
    use_dualstack: bool,
) -> str:
    """Resolve the Lambda base URL with botocore's endpoint rule set and partition data."""
    loader = session.get_component("data_loader")
    provider = botocore.endpoint_provider.EndpointProvider(
        ruleset_data=loader.load_service_model(_SERVICE, "endpoint-rule-set-1"),
        partition_data=loader.load_data("partitions"),
    )
    params: dict[str, Any] = {
        "Region": region,
        "UseFIPS": use_fips,
        "UseDualStack": use_dualstack,
    }
    if endpoint_url is not None:
        params["Endpoint"] = endpoint_url
    url: str = provider.resolve_endpoint(**params).url
    return url.rstrip("/")


def check_endpoint_url(endpoint_url: str, service: str = "Lambda") -> None:
    """Refuse an endpoint URL carrying user information (``https://user:pass@host``).

    The transport cannot send such a URL (every call would fail), and AWS takes no
    credentials in the URL. The message never repeats the URL, which holds a password.

    Args:
        endpoint_url: The URL given.
        service: The service named in the message (``Lambda``, ``S3``).

    Raises:
        ValueError: the URL is not one, or carries user information.
    """
    try:
        parts = urllib.parse.urlsplit(endpoint_url)
    except ValueError:
        raise ValueError("endpoint_url is not a valid URL") from None
    if "@" in parts.netloc:
        raise ValueError(
            "endpoint_url must not contain user information (user:password@host); "
            f"{service} calls are signed with the AWS credentials (credentials= or the standard "
            "chain), not with URL credentials"
        )


def _partition_of(session: botocore.session.Session, region: str) -> str:
    """Return the AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``...) of ``region``.

    Uses botocore's partition data and the same matching its endpoint rules use.
    """
    loader = session.get_component("data_loader")
    library = botocore.endpoint_provider.RuleSetStandardLibrary(loader.load_data("partitions"))
    partition: dict[str, Any] = library.aws_partition(region)
    name: str = partition["name"]
    return name
