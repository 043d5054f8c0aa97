"""Large payloads: Temporal's external storage, with S3 or local-file drivers.

Temporal refuses a payload over 2 MB; Lambda takes requests and answers of up to 6 MB. With
``temporalio.converter.ExternalStorage`` on the client's data converter, a payload over a
threshold is written to a storage driver and the history holds only a reference (a few
hundred bytes). The plugin installs it::

    from temporal_lambda.storage import s3_storage

    plugin = LambdaPlugin(region="eu-west-1",
                          external_storage=s3_storage("my-payloads", region="eu-west-1"))
    client = await Client.connect("localhost:7233", plugins=[plugin])   # not Worker(plugins=)
    worker = Worker(client, task_queue="lambda", workflows=[OrderWorkflow])

External storage lives on the client's data converter, which the client, its workers and
replayers share; so the plugin that carries it must be given to ``Client.connect`` (or
``Client(...)``). A worker built with such a plugin in ``Worker(plugins=[...])`` only is
refused with ``ValueError``: its payloads would silently stay inline and fail at 2 MB.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import botocore.credentials
from temporalio.client import Client
from temporalio.converter import DataConverter, ExternalStorage

from temporal_lambda.storage._errors import (
    STORAGE_ACCESS_DENIED,
    STORAGE_ERROR,
    STORAGE_NO_SUCH_BUCKET,
    STORAGE_NOT_FOUND,
    STORAGE_UNAVAILABLE,
    StorageError,
)
from temporal_lambda.storage._local import LOCAL_DRIVER_NAME, LocalStorageDriver
from temporal_lambda.storage._s3 import S3Client, S3Driver, S3Settings

__all__ = [
    "DEFAULT_PAYLOAD_SIZE_THRESHOLD",
    "LOCAL_DRIVER_NAME",
    "STORAGE_ACCESS_DENIED",
    "STORAGE_ERROR",
    "STORAGE_NOT_FOUND",
    "STORAGE_NO_SUCH_BUCKET",
    "STORAGE_UNAVAILABLE",
    "LocalStorageDriver",
    "S3Client",
    "S3Driver",
    "S3Settings",
    "StorageError",
    "close_drivers",
    "install_external_storage",
    "local_storage",
    "require_on_client",
    "s3_storage",
]

DEFAULT_PAYLOAD_SIZE_THRESHOLD = 256 * 1024
"""Payloads of at least this many bytes (256 KiB) go to external storage.

Below the SDK's 512 KiB payload warning, so no stored-inline payload ever warns; far below
the 2 MB limit, so several large arguments in one workflow task still fit the server's 4 MB
gRPC message; and above what most Lambda events and answers weigh, so the common call costs
no storage round trip.
"""


def local_storage(
    root: str | os.PathLike[str],
    *,
    payload_size_threshold: int = DEFAULT_PAYLOAD_SIZE_THRESHOLD,
    driver_name: str = LOCAL_DRIVER_NAME,
) -> ExternalStorage:
    """Return external storage in local files under ``root`` (one host).

    Args:
        root: The directory (created ``0700``); see :class:`LocalStorageDriver` for its
            layout and clean-up.
        payload_size_threshold: Smallest payload (bytes) stored outside the history.
        driver_name: Name recorded in each reference.

    Returns:
        The ``ExternalStorage`` to pass as ``LambdaPlugin(external_storage=...)``.
    """
    return ExternalStorage(
        drivers=[LocalStorageDriver(root, driver_name=driver_name)],
        payload_size_threshold=payload_size_threshold,
    )


def s3_storage(
    bucket: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    credentials: botocore.credentials.Credentials | None = None,
    use_fips: bool = False,
    use_dualstack: bool = False,
    force_path_style: bool | None = None,
    settings: S3Settings | None = None,
    payload_size_threshold: int = DEFAULT_PAYLOAD_SIZE_THRESHOLD,
    driver_name: str = "aws.s3driver",
) -> ExternalStorage:
    """Return external storage in an S3 bucket, through this package's own S3 client.

    Args:
        bucket: Bucket name or access point ARN.
        region: The bucket's region; default from the profile or environment.
        endpoint_url: A custom endpoint (S3-compatible server, VPC endpoint).
        profile: Shared-config profile for region and credentials.
        credentials: botocore credentials; default the standard chain.
        use_fips: Use the FIPS endpoint.
        use_dualstack: Use the dual-stack endpoint.
        force_path_style: Path-style addressing; default on with ``endpoint_url``.
        settings: Timeouts, retries, connections.
        payload_size_threshold: Smallest payload (bytes) stored outside the history.
        driver_name: Name recorded in each reference (the SDK driver's by default).

    Returns:
        The ``ExternalStorage`` to pass as ``LambdaPlugin(external_storage=...)``.
    """
    client = S3Client(
        region=region,
        endpoint_url=endpoint_url,
        profile=profile,
        credentials=credentials,
        use_fips=use_fips,
        use_dualstack=use_dualstack,
        force_path_style=force_path_style,
        settings=settings,
    )
    client.target(bucket)  # a bad bucket name or option fails here, not at the first payload
    return ExternalStorage(
        drivers=[S3Driver(client, bucket, driver_name=driver_name)],
        payload_size_threshold=payload_size_threshold,
    )


def install_external_storage(
    converter: DataConverter | None, storage: ExternalStorage
) -> DataConverter:
    """Return ``converter`` (default: the SDK's) with ``storage`` as its external storage.

    Raises:
        ValueError: the converter already has other external storage.
    """
    base = converter if converter is not None else DataConverter.default
    if base.external_storage is not None and base.external_storage is not storage:
        raise ValueError(
            "the client's data converter already has external storage; configure it in "
            "one place: LambdaPlugin(external_storage=...) or the DataConverter"
        )
    return dataclasses.replace(base, external_storage=storage)


def require_on_client(client: Client, storage: ExternalStorage) -> None:
    """Refuse a worker whose client does not carry ``storage`` (the plugin reached only it).

    Raises:
        ValueError: ``storage`` is not the external storage of the client's data converter.
    """
    active = client.config(active_config=True)["data_converter"].external_storage
    if active is not storage:
        raise ValueError(
            "LambdaPlugin(external_storage=...) must be passed to Client.connect(plugins=[...]) "
            "(or Client(plugins=[...])), not only to Worker(plugins=[...]): external storage "
            "lives on the client's data converter, which a worker plugin cannot change, and "
            "without it payloads over 2 MB fail"
        )


async def close_drivers(storage: ExternalStorage | None) -> None:
    """Close the connections of every driver of ``storage`` that holds some."""
    if storage is None:
        return
    for driver in storage.drivers:
        aclose: Any = getattr(driver, "aclose", None)
        if aclose is not None:
            await aclose()
