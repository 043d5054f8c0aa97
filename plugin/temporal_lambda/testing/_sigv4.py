"""SigV4 verification of received requests, by recomputing the signature with botocore."""

from __future__ import annotations

import datetime
import hmac
import re
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["SignatureError", "verify"]

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)\s*$"
)
_MAX_SKEW = datetime.timedelta(minutes=5)


@dataclass
class SignatureError(Exception):
    """The request is not signed the way Lambda's front door requires (answered with 403)."""

    code: str
    message: str


def verify(
    *,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "lambda",
) -> None:
    """Check a request's ``Authorization`` header against the expected SigV4 signature.

    Args:
        method: The HTTP method.
        url: Scheme, host, the raw (still percent-encoded) path, and the query string.
        headers: The received headers, names lower-cased.
        body: The received body.
        access_key: The only access key accepted.
        secret_key: Its secret.
        region: The region the credential scope must name.
        service: The service the credential scope must name.

    Raises:
        SignatureError: With the code and message AWS would answer.
    """
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    authorization = values.get("authorization", [None])[0]
    if authorization is None:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH_RE.match(authorization)
    if match is None:
        raise SignatureError(
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            f"parameters. Authorization={authorization}",
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureError(
            "IncompleteSignatureException",
            f"Credential should have 5 parts separated by '/'. Credential={match['credential']}",
        )
    key, date, scope_region, scope_service, _ = parts
    if key != access_key:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if scope_region != region or scope_service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{scope_region}'. "
            if scope_region != region
            else f"Credential should be scoped to correct service: '{service}'. ",
        )
    amz_date = values.get("x-amz-date", [None])[0]
    if amz_date is None:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.",
        ) from None
    now = datetime.datetime.now(datetime.UTC)
    if abs(now - signed_at) > _MAX_SKEW:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - _MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} "
            f"({now.strftime('%Y%m%dT%H%M%SZ')} - 5 min.)",
        )
    signed_names = match["signed"].split(";")
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed_names:
        for value in values.get(name, []):
            request.headers.add_header(name, value)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if date != amz_date[:8] or not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.",
        )
