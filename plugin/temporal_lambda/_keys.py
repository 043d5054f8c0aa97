"""Idempotency keys: stable per logical call, identical on every attempt."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

KEY_PREFIX = "tl-"


def derive_idempotency_key(namespace: str, workflow_id: str, run_id: str, activity_id: str) -> str:
    """Derive the idempotency key of one activity (one logical Lambda call).

    The key depends only on what Temporal keeps the same across retries of the activity,
    so every attempt carries the same key. It is 46 characters of ``[A-Za-z0-9_-]``, which
    fits Powertools' ``event_key_jmespath`` and ``X-Amz-Durable-Execution-Name``.

    Args:
        namespace: The workflow's namespace.
        workflow_id: The workflow id.
        run_id: The workflow run id.
        activity_id: The activity id within the run.

    Returns:
        ``"tl-"`` followed by the unpadded URL-safe base64 of a SHA-256 digest.
    """
    material = "\x1f".join((namespace, workflow_id, run_id, activity_id)).encode()
    digest = hashlib.sha256(material).digest()
    return KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


RECORD_KEY_PREFIX = "tls1-"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` spelled one way, so that two spellings of one URL are one scope.

    Scheme and host are lower-cased (RFC 3986: they are case-insensitive), the scheme's
    default port (80 for ``http``, 443 for ``https``) and a trailing ``/`` are dropped:
    ``HTTP://LocalHost:80/`` and ``http://localhost`` name the same server. The path's case
    is kept (paths are case-sensitive). A URL that cannot be parsed is returned as it is.

    Args:
        endpoint: The endpoint URL the client resolved.

    Returns:
        The canonical URL.
    """
    try:
        parts = urllib.parse.urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return endpoint
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal: urlsplit dropped its brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return urllib.parse.urlunsplit(
        (scheme, host, parts.path.rstrip("/"), parts.query, parts.fragment)
    )


def scoped_record_key(
    *,
    namespace: str,
    endpoint: str,
    region: str,
    function: str,
    tenant_id: str | None,
    key: str,
) -> str:
    """Return the key of an idempotency record: ``key`` within the scope it was used in.

    The same caller-chosen key used from another namespace, against another endpoint or
    region, for another function (or another account's, named by ARN) or for another
    tenant names another record. Credentials are not part of the scope: their access key
    id changes with every rotation of temporary credentials, and a rotation must not
    call a function again.

    The endpoint is canonicalised here (:func:`canonical_endpoint`) and the caller passes
    the function as its scope (:func:`temporal_lambda._request.function_scope`), so two
    spellings of one endpoint or of one function (full and partial ARN) are one scope.
    Canonical spellings (a resolved AWS endpoint, a bare name) give the same key as before
    the canonicalisation, so records written then are found.

    Args:
        namespace: The workflow's namespace.
        endpoint: The endpoint URL the client resolved.
        region: The region requests are signed for.
        function: The function's scope: ``account:name``, or the bare name.
        tenant_id: The request's tenant id, if any.
        key: The idempotency key the function sees.

    Returns:
        ``"tls1-"`` followed by the unpadded URL-safe base64 of a SHA-256 digest (48
        characters).
    """
    fields = (
        namespace,
        canonical_endpoint(endpoint),
        region,
        function,
        tenant_id or "",
        str(tenant_id is not None),
    )
    material = "\x1f".join((*fields, key)).encode()
    digest = hashlib.sha256(material).digest()
    return RECORD_KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
