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
