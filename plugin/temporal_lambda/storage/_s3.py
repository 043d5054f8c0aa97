"""S3 for Temporal's S3 storage driver, over the plugin's own signed transport.

:class:`S3Client` is an ``S3StorageDriverClient`` (``temporalio.contrib.aws.s3driver``) built
from the same parts as :class:`~temporal_lambda.LambdaClient`: botocore for credentials (the
standard chain, refreshed off the event loop), for the endpoint (the ``s3`` endpoint rule set
and partition data: every partition, FIPS, dual-stack, access point ARNs, a custom
``endpoint_url`` with path-style addressing), and for SigV4 (``S3SigV4Auth``, which signs the
body's sha256 as ``x-amz-content-sha256``); the aiohttp-backed transport with TCP keepalive
for the connections. No aioboto3 or aiobotocore.

:class:`S3Driver` is the SDK's ``S3StorageDriver`` (its key layout and claims, so workers in
other languages read the same references) that raises this package's
:class:`~temporal_lambda.storage.StorageError` instead of the SDK's untyped ``RuntimeError``.

Service answers become errors in one place, :func:`_error_for`::

    404 NoSuchKey                               Lambda.ExternalStorage.NotFound
    404 NoSuchBucket, 301/400 wrong region      Lambda.ExternalStorage.NoSuchBucket
    403                                         Lambda.ExternalStorage.AccessDenied
    5xx, SlowDown, no connection                Lambda.ExternalStorage.Unavailable
    anything else                               Lambda.ExternalStorage.Error

and a GetObject body over :attr:`S3Client.max_object_bytes` is ``Lambda.ExternalStorage.Error``
(not retried). Every message is scrubbed of the credentials the request was signed with.

Idempotent requests (all three are: keys are content hashes) that fail with a 5xx or no
connection are tried again, :attr:`S3Settings.attempts` times in all, before the error is
raised: Temporal retries a failed workflow task or activity too, but only after its own
backoff, and an activity attempt retried means another Lambda call.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.auth
import botocore.credentials
import botocore.endpoint_provider
import botocore.session
import httpx
from temporalio.api.common.v1 import Payload
from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from temporal_lambda._client import check_endpoint_url
from temporal_lambda._closing import AsyncClosing
from temporal_lambda._redact import scrub
from temporal_lambda._sigv4 import add_signature, may_refresh, session_region
from temporal_lambda._transport import AiohttpTransport, BodyTooLarge, HttpSettings, read_capped
from temporal_lambda.storage._errors import (
    STORAGE_ACCESS_DENIED,
    STORAGE_ERROR,
    STORAGE_NO_SUCH_BUCKET,
    STORAGE_NOT_FOUND,
    STORAGE_UNAVAILABLE,
    StorageError,
)

__all__ = ["S3Client", "S3Driver", "S3Settings"]

_SERVICE = "s3"
_ERROR_BODY_LIMIT = 64 * 1024
"""Read at most this much of an error document for its code and message (and of the empty
body of a PUT or HEAD answer)."""
DEFAULT_MAX_OBJECT_BYTES = 50 * 1024 * 1024
"""The largest object ``get_object`` reads when no driver or setting says otherwise: the SDK
``S3StorageDriver``'s default ``max_payload_size`` (an object is one serialised payload)."""
_CONTENT_KEY = re.compile(r"/d/sha256/(?P<digest>[0-9a-f]{64})")
"""The end of a content-addressed key of the SDK driver: the sha256 of the object's bytes."""
_CHECKSUM_HEADER = "x-amz-checksum-sha256"
_WRONG_REGION_CODES = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
_RETRYABLE_403 = frozenset(
    {"ExpiredToken", "TokenRefreshRequired", "RequestTimeTooSkewed", "RequestExpired"}
)
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}
)


def _default_http() -> HttpSettings:
    return HttpSettings(default_read_timeout=60.0)


@dataclass
class S3Settings:
    """How :class:`S3Client` talks to S3."""

    http: HttpSettings = field(default_factory=_default_http)
    """Timeouts, pool and TCP keepalive; the read timeout defaults to 60 s (an object of a
    few MB, not a 15-minute Lambda call)."""
    attempts: int = 3
    """Tries of a request that fails with a 5xx or no connection (1 = no retry)."""
    backoff: float = 0.2
    """Seconds before the second try; doubled before each later one."""
    max_object_bytes: int | None = None
    """The largest object ``get_object`` reads (bytes); a larger answer is refused with
    ``Lambda.ExternalStorage.Error``, before it is read when its ``Content-Length`` says so.
    ``None``: the largest ``max_payload_size`` of the :class:`S3Driver` objects using the
    client, else :data:`DEFAULT_MAX_OBJECT_BYTES` (50 MiB)."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be >= 0, got {self.backoff}")
        if self.max_object_bytes is not None and self.max_object_bytes < 1:
            raise ValueError(f"max_object_bytes must be >= 1, got {self.max_object_bytes}")


@dataclass(frozen=True)
class _Target:
    """Where one bucket's requests go and how they are signed."""

    base: str
    signing_name: str
    signing_region: str


def _tag(body: bytes, name: str) -> str | None:
    """Return the text of the first ``<name>`` element of an S3 error document.

    A regular expression, not an XML parser: the document comes from the network and only
    two leaf elements are wanted.
    """
    match = re.search(rb"<" + name.encode() + rb">([^<]{0,1024})</", body[:_ERROR_BODY_LIMIT])
    return match.group(1).decode("utf-8", "replace") if match else None


def _error_for(
    operation: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    where: str,
    secrets: tuple[str, ...] = (),
) -> StorageError:
    """Translate an S3 error answer into a typed :class:`StorageError` (the one place).

    Whatever the answer's document says is scrubbed of ``secrets`` and of anything shaped
    like signing material (a proxy may echo the signed request's headers into it).
    """
    code = _scrubbed(_tag(body, "Code"), secrets)
    message = _scrubbed(_tag(body, "Message"), secrets) or ""
    request_id = _scrubbed(_tag(body, "RequestId") or headers.get("x-amz-request-id"), secrets)
    label = code or f"HTTP {status}"
    text = f"S3 {operation} {where}: {label}" + (f": {message}" if message else "")
    if code == "NoSuchKey" or (status == 404 and code is None and operation == "GetObject"):
        kind, retryable = STORAGE_NOT_FOUND, False
    elif code == "NoSuchBucket":
        kind, retryable = STORAGE_NO_SUCH_BUCKET, False
    elif code in _WRONG_REGION_CODES or status in (301, 307):
        region = headers.get("x-amz-bucket-region")
        text += f" (the bucket is in {region})" if region else " (the bucket is in another region)"
        kind, retryable = STORAGE_NO_SUCH_BUCKET, False
    elif status == 403:
        kind, retryable = STORAGE_ACCESS_DENIED, code in _RETRYABLE_403
    elif status >= 500 or code in _UNAVAILABLE_CODES:
        kind, retryable = STORAGE_UNAVAILABLE, True
    else:
        kind, retryable = STORAGE_ERROR, False
    if request_id:
        text += f" (request id {request_id})"
    return StorageError(
        text,
        error_type=kind,
        retryable=retryable,
        code=code,
        status_code=status,
        request_id=request_id,
    )


def _scrubbed(text: str | None, secrets: tuple[str, ...]) -> str | None:
    return None if text is None else scrub(text, secrets)


def _secrets_of(frozen: Any, request: httpx.Request) -> tuple[str, ...]:
    """Return what a request was signed with: access key, secret key, token, signature."""
    found = [
        getattr(frozen, "access_key", None),
        getattr(frozen, "secret_key", None),
        getattr(frozen, "token", None),
        request.headers.get("authorization"),
    ]
    return tuple(value for value in found if isinstance(value, str) and value)


def _content_checksum(key: str) -> str | None:
    """Return the ``x-amz-checksum-sha256`` (base64) a content-addressed key's bytes have."""
    match = _CONTENT_KEY.search(key)
    if match is None or match.end() != len(key):
        return None
    return base64.b64encode(bytes.fromhex(match["digest"])).decode("ascii")


class S3Client(S3StorageDriverClient, AsyncClosing):
    """An ``S3StorageDriverClient`` over the plugin's signed aiohttp transport.

    Args:
        region: AWS region of the bucket; default from the profile, ``AWS_DEFAULT_REGION``
            or ``AWS_REGION``.
        endpoint_url: A custom S3 endpoint (MinIO, moto, a VPC endpoint).
        profile: Shared-config profile for region and credentials.
        credentials: botocore credentials; default the standard chain.
        use_fips: Use the FIPS endpoint.
        use_dualstack: Use the dual-stack (IPv6) endpoint.
        force_path_style: ``https://host/bucket/key`` rather than ``https://bucket.host/key``;
            default: path style with a custom ``endpoint_url``, virtual hosts otherwise.
        settings: Timeouts, retries and connection settings.
        transport: Replace the HTTP transport (tests).

    Raises:
        ValueError: no region given and none configured.
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
        force_path_style: bool | None = None,
        settings: S3Settings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings if settings is not None else S3Settings()
        self._session = botocore.session.Session(profile=profile)
        self._region: str = session_region(self._session, region, " for S3")
        loader = self._session.get_component("data_loader")
        self._provider = botocore.endpoint_provider.EndpointProvider(
            ruleset_data=loader.load_service_model(_SERVICE, "endpoint-rule-set-1"),
            partition_data=loader.load_data("partitions"),
        )
        self._endpoint_params: dict[str, Any] = {
            "Region": self._region,
            "UseFIPS": use_fips,
            "UseDualStack": use_dualstack,
            "ForcePathStyle": (
                endpoint_url is not None if force_path_style is None else force_path_style
            ),
        }
        if endpoint_url is not None:
            check_endpoint_url(endpoint_url, "S3")
            self._endpoint_params["Endpoint"] = endpoint_url
        self._targets: dict[str, _Target] = {}
        self._credentials: Any = credentials
        self._credentials_lock = asyncio.Lock()
        self._transport: httpx.AsyncBaseTransport = (
            transport if transport is not None else AiohttpTransport(self._settings.http)
        )
        self._driver_max_object: int | None = None

    @property
    def max_object_bytes(self) -> int:
        """The largest object :meth:`get_object` reads (see :attr:`S3Settings.max_object_bytes`)."""
        if self._settings.max_object_bytes is not None:
            return self._settings.max_object_bytes
        return self._driver_max_object or DEFAULT_MAX_OBJECT_BYTES

    def accept_objects_of(self, size: int) -> None:
        """Let :meth:`get_object` read objects of up to ``size`` bytes (a driver's maximum).

        Called by :class:`S3Driver` with its ``max_payload_size``; a client serving several
        drivers reads up to the largest of them.
        """
        self._driver_max_object = max(self._driver_max_object or 0, size)

    @property
    def region(self) -> str:
        """The region requests are signed for (an access point ARN may name another)."""
        return self._region

    def describe(self) -> Mapping[str, str]:
        """Return the region and endpoint, for the driver's error messages."""
        info = {"client_region": self._region}
        endpoint = self._endpoint_params.get("Endpoint")
        if endpoint:
            info["endpoint_url"] = str(endpoint)
        return info

    def target(self, bucket: str) -> _Target:
        """Resolve (once per bucket) the base URL and signing scope of ``bucket``.

        Raises:
            ValueError: the rule set rejects the bucket name or options, or the bucket needs
                a signature this client does not make (S3 Express, multi-region access
                points).
        """
        target = self._targets.get(bucket)
        if target is None:
            try:
                endpoint = self._provider.resolve_endpoint(Bucket=bucket, **self._endpoint_params)
            except Exception as exc:
                raise ValueError(
                    f"cannot resolve an S3 endpoint for bucket {bucket!r}: {exc}"
                ) from exc
            schemes = endpoint.properties.get("authSchemes", [{"name": "sigv4"}])
            scheme = next((s for s in schemes if s.get("name") == "sigv4"), None)
            if scheme is None:
                names = ", ".join(str(s.get("name")) for s in schemes)
                raise ValueError(f"bucket {bucket!r} needs a signature of type {names}")
            target = _Target(
                base=endpoint.url.rstrip("/"),
                signing_name=scheme.get("signingName", _SERVICE),
                signing_region=scheme.get("signingRegion", self._region),
            )
            self._targets[bucket] = target
        return target

    async def _frozen(self) -> Any:
        """Return frozen credentials, looking up the chain or refreshing off the event loop."""
        if self._credentials is None:
            async with self._credentials_lock:
                if self._credentials is None:
                    found = await asyncio.to_thread(self._session.get_credentials)
                    if found is None:
                        raise StorageError(
                            "no AWS credentials for S3 (standard chain: env, profile, SSO, "
                            "container, instance metadata)",
                            error_type=STORAGE_ACCESS_DENIED,
                            retryable=False,
                        )
                    self._credentials = found
        credentials = self._credentials
        if may_refresh(credentials):
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def _sign(self, request: httpx.Request, target: _Target, frozen: Any) -> None:
        add_signature(
            request, botocore.auth.S3SigV4Auth(frozen, target.signing_name, target.signing_region)
        )

    async def _request(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str,
        body: bytes = b"",
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[int, Mapping[str, str], bytes]:
        """Send one S3 request (tried again on 5xx / no connection) and return the answer.

        A successful GetObject body is read up to :attr:`max_object_bytes`; any other answer
        body up to 64 KiB. Every error is scrubbed of the credentials the request was signed
        with (a proxy or a misconfigured endpoint may echo the request's headers).
        """
        target = self.target(bucket)
        url = f"{target.base}/{urllib.parse.quote(key, safe='/~')}"
        where = f"[bucket={bucket}, key={key}]"
        http = self._settings.http
        timeout = {
            "connect": http.connect_timeout,
            "read": http.default_read_timeout,
            "pool": http.pool_timeout,
        }
        headers = [("User-Agent", http.user_agent), ("Accept-Encoding", "identity")]
        if method == "PUT":
            headers.append(("Content-Type", "application/octet-stream"))
        headers.extend(extra_headers)
        limit = self.max_object_bytes if method == "GET" else _ERROR_BODY_LIMIT
        delay = self._settings.backoff
        for attempt in range(1, self._settings.attempts + 1):
            request = httpx.Request(
                method, url, headers=headers, content=body, extensions={"timeout": timeout}
            )
            frozen = await self._frozen()
            self._sign(request, target, frozen)
            secrets = _secrets_of(frozen, request)
            error: StorageError
            try:
                response = await self._transport.handle_async_request(request)
                try:
                    data = (
                        b""  # a HEAD answer has no body; its Content-Length is the object's
                        if method == "HEAD"
                        else await read_capped(response, limit, error_limit=_ERROR_BODY_LIMIT)
                    )
                finally:
                    await response.aclose()
            except BodyTooLarge as exc:
                raise StorageError(
                    f"S3 {operation} {where}: the object is larger than the {limit} bytes a "
                    "stored payload may be ("
                    + (
                        f"Content-Length {exc.announced}, none read"
                        if exc.announced is not None
                        else f"reading stopped at {exc.size} bytes"
                    )
                    + "): not a payload this driver stored (wrong endpoint or bucket?); "
                    "raise S3Settings.max_object_bytes or the driver's max_payload_size if "
                    "it is one",
                    error_type=STORAGE_ERROR,
                    retryable=False,
                    status_code=response.status_code,
                ) from None
            except httpx.RequestError as exc:
                error = StorageError(
                    scrub(
                        f"S3 {operation} {where}: no answer from {target.base} "
                        f"({type(exc).__name__}: {exc})",
                        secrets,
                    ),
                    error_type=STORAGE_UNAVAILABLE,
                    retryable=True,
                )
            else:
                answer = {name.lower(): value for name, value in response.headers.items()}
                if response.status_code < 300 or (method == "HEAD" and response.status_code == 404):
                    return response.status_code, answer, data
                error = _error_for(operation, response.status_code, answer, data, where, secrets)
            if error.type != STORAGE_UNAVAILABLE or attempt == self._settings.attempts:
                raise error
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        """Upload ``data`` to ``bucket``/``key`` in one signed PUT, with its sha256 checksum.

        The ``x-amz-checksum-sha256`` header makes S3 check the bytes it received and keep
        the checksum with the object, where :meth:`object_exists` reads it back.

        Raises:
            StorageError: the service refused it or could not be reached.
        """
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        await self._request(
            "PutObject",
            "PUT",
            bucket,
            key,
            data,
            [("x-amz-sdk-checksum-algorithm", "SHA256"), (_CHECKSUM_HEADER, checksum)],
        )

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        """Tell whether ``bucket``/``key`` holds the right object (HEAD; 404 means no).

        The SDK driver stores a payload only when this says no, so for a content-addressed
        key (``.../d/sha256/<hex>``) "yes" also means "with those bytes": the HEAD asks for
        the object's checksum (``x-amz-checksum-mode: ENABLED``), and an object without the
        sha256 checksum :meth:`put_object` sends, or with another one (overwritten by
        other bytes, or written by a client that sends no sha256 checksum), counts as
        missing, so the driver writes it again (once: it then has the checksum).

        Without ``s3:ListBucket`` S3 answers 403 rather than 404 for a missing key, which
        is raised as ``Lambda.ExternalStorage.AccessDenied``.

        Raises:
            StorageError: any answer but 200 or 404.
        """
        expected = _content_checksum(key)
        status, headers, _body = await self._request(
            "HeadObject",
            "HEAD",
            bucket,
            key,
            extra_headers=[("x-amz-checksum-mode", "ENABLED")] if expected else (),
        )
        if status == 404:
            return False
        return expected is None or headers.get(_CHECKSUM_HEADER) == expected

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        """Download ``bucket``/``key`` whole, if it is at most :attr:`max_object_bytes`.

        Raises:
            StorageError: ``Lambda.ExternalStorage.NotFound`` for a missing key;
                ``Lambda.ExternalStorage.Error`` for an object larger than
                :attr:`max_object_bytes` (refused unread when its ``Content-Length`` says
                so); or any other refusal.
        """
        _status, _headers, body = await self._request("GetObject", "GET", bucket, key)
        return body

    async def aclose(self) -> None:
        """Close the pooled connections; a later request opens a new pool."""
        await self._transport.aclose()


def _unwrap(exc: RuntimeError) -> BaseException:
    """Return the typed error under the SDK driver's ``RuntimeError``, with its context."""
    cause = exc.__cause__
    if isinstance(cause, StorageError):
        return cause
    return exc


class S3Driver(S3StorageDriver):
    """The SDK's ``S3StorageDriver``, raising :class:`StorageError` for S3's refusals.

    Keys and claims are the SDK driver's own (``v0/ns/<ns>/wt/<type>/wi/<id>/ri/<run>/d/
    sha256/<hex>``, claim ``bucket``, ``key``, ``hash_algorithm``, ``hash_value``), so any
    worker with an ``aws.s3driver`` of the same name reads them.

    Args:
        client: The S3 client (usually :class:`S3Client`); closed with :meth:`aclose`.
        bucket: Bucket name, access point ARN, or a callable choosing one per payload.
        driver_name: The name recorded in each reference.
        max_payload_size: Largest serialised payload accepted (bytes); an
            :class:`S3Client` then reads objects of up to this size (and no larger).
    """

    def __init__(
        self,
        client: S3StorageDriverClient,
        bucket: str | Callable[[StorageDriverStoreContext, Payload], str],
        driver_name: str = "aws.s3driver",
        max_payload_size: int = 50 * 1024 * 1024,
    ) -> None:
        super().__init__(client, bucket, driver_name, max_payload_size)
        self.client = client
        if isinstance(client, S3Client):
            client.accept_objects_of(max_payload_size)

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Store each payload under its content-hash key (see the SDK driver)."""
        try:
            return await super().store(context, payloads)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """Read each claimed payload back and check its sha256 (see the SDK driver)."""
        try:
            return await super().retrieve(context, claims)
        except RuntimeError as exc:
            raise _unwrap(exc) from None

    async def aclose(self) -> None:
        """Close the client's connections, if it holds any."""
        if isinstance(self.client, AsyncClosing):
            await self.client.aclose()
