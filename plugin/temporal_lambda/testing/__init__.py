"""A local, faithful emulator of the AWS Lambda Invoke API, for tests and demos.

``LocalLambda`` runs Python handlers behind the real wire protocol (paths, headers, status
codes, error documents, SigV4, limits; Invoke, InvokeWithResponseStream's event stream and
InvokeAsync), so clients built on botocore or httpx can be tested without AWS. It imports
neither temporalio nor the package's activity. The HTTP server needs the ``testing`` extra
(uvicorn); ``LocalLambda.app`` works without it through ``httpx.ASGITransport``.
``python -m temporal_lambda.testing`` (or ``temporal-lambda emulator``) runs it standalone.
"""

from ._context import Client, ClientContext, LambdaContext
from ._faults import Faults
from ._records import InvocationRecord, RequestRecord
from ._server import LocalLambda

__all__ = [
    "Client",
    "ClientContext",
    "Faults",
    "InvocationRecord",
    "LambdaContext",
    "LocalLambda",
    "RequestRecord",
]
