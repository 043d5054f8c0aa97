"""Idempotency keys: stable per logical call, identical on every attempt."""

from __future__ import annotations

import base64
import hashlib

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

    Args:
        namespace: The workflow's namespace.
        endpoint: The endpoint URL the client resolved.
        region: The region requests are signed for.
        function: The function name or ARN, without qualifier.
        tenant_id: The request's tenant id, if any.
        key: The idempotency key the function sees.

    Returns:
        ``"tls1-"`` followed by the unpadded URL-safe base64 of a SHA-256 digest (48
        characters).
    """
    fields = (namespace, endpoint, region, function, tenant_id or "", str(tenant_id is not None))
    material = "\x1f".join((*fields, key)).encode()
    digest = hashlib.sha256(material).digest()
    return RECORD_KEY_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
