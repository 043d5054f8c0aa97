"""``temporal-lambda invoke``: read the options, run one test request, print what it gave."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from temporal_lambda.cli import _core
from temporal_lambda.cli._render import render_outcome, snippet

__all__ = ["add_arguments", "run", "settings_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the test request's options to ``parser``."""
    parser.add_argument("function", help="function name, partial ARN or ARN (name[:qualifier])")
    parser.add_argument(
        "--payload",
        metavar="JSON|@FILE|-",
        help="the event: JSON text, @path to a JSON file, or - to read stdin (default: none)",
    )
    parser.add_argument("--qualifier", help="version or alias")
    parser.add_argument(
        "--invocation-type",
        default="RequestResponse",
        help="RequestResponse (default), Event or DryRun",
    )
    parser.add_argument("--log-type", help="Tail for the last 4 KB of the log")
    parser.add_argument("--client-context", metavar="JSON", help="client context object")
    parser.add_argument("--tenant-id", help="X-Amz-Tenant-Id for tenant-isolation functions")
    parser.add_argument(
        "--invoke-async", action="store_true", help="use the deprecated InvokeAsync API"
    )
    parser.add_argument(
        "--idempotency-key",
        help="the key to send (default: a fresh one derived for this try)",
    )
    parser.add_argument("--region", help="AWS region (default: profile / AWS_REGION)")
    parser.add_argument("--profile", help="shared-config profile for region and credentials")
    parser.add_argument("--endpoint-url", help="endpoint override, e.g. a LocalLambda URL")
    parser.add_argument(
        "--read-timeout", type=float, default=905.0, help="seconds to wait for the answer"
    )
    parser.add_argument(
        "--show-request", action="store_true", help="print the request as sent (secrets redacted)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--snippet",
        action="store_true",
        help="print the invoke_lambda(...) call for these settings and the plugin line",
    )
    parser.add_argument(
        "--through-temporal",
        action="store_true",
        help="run the request as a one-activity workflow on Temporal and print its attempts",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="with --through-temporal: most attempts before the workflow fails (default 3)",
    )


def _read_payload(value: str | None, stdin: TextIO) -> Any:
    if value is None:
        return None
    if value == "-":
        text = stdin.read()
        label = "the payload read from stdin"
    elif value.startswith("@"):
        path = value[1:]
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise _core.LambdaValidationError(
                f"cannot read the payload file {path!r}: {exc.strerror}", field="payload"
            ) from None
        label = f"the payload file {path!r}"
    else:
        text = value
        label = "--payload"
    return _core.parse_json_option(text, field_name="payload", label=label)


def settings_from_args(args: argparse.Namespace, stdin: TextIO) -> _core.TrySettings:
    """Build the test request's settings from the parsed options.

    Raises:
        LambdaValidationError: the payload or the client context is not JSON, or the
            payload file cannot be read.
    """
    settings = _core.TrySettings(
        function_name=args.function,
        qualifier=args.qualifier,
        invocation_type=args.invocation_type,
        log_type=args.log_type,
        tenant_id=args.tenant_id,
        invoke_async=args.invoke_async,
        idempotency_key=args.idempotency_key,
    )
    settings.payload = _read_payload(args.payload, stdin)
    if args.client_context is not None:
        settings.client_context = _core.parse_json_option(
            args.client_context, field_name="client_context", label="--client-context"
        )
    return settings


def _print_snippet(args: argparse.Namespace, settings: _core.TrySettings, out: TextIO) -> None:
    print("\nPaste into your code:\n", file=out)
    print(
        snippet(settings, region=args.region, profile=args.profile, endpoint_url=args.endpoint_url),
        file=out,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``temporal-lambda invoke`` and return its exit code."""
    out = sys.stdout
    try:
        settings = settings_from_args(args, sys.stdin)
    except _core.LambdaValidationError as err:
        partial = _core.TrySettings(function_name=args.function, invoke_async=args.invoke_async)
        outcome = _core.refusal(partial, err)
        outcome.idempotency_key = None
        _emit(args, outcome, None, out)
        return outcome.exit_code
    if args.through_temporal:
        from temporal_lambda.cli._temporal import run_through_temporal

        return run_through_temporal(args, settings, out)
    try:
        outcome = asyncio.run(
            _core.try_request(
                settings,
                region=args.region,
                profile=args.profile,
                endpoint_url=args.endpoint_url,
                read_timeout=args.read_timeout,
            )
        )
    except ValueError as exc:  # no region configured
        print(f"temporal-lambda invoke: {exc}", file=sys.stderr)
        return 2
    _emit(args, outcome, settings, out)
    return outcome.exit_code


def _emit(
    args: argparse.Namespace,
    outcome: _core.Outcome,
    settings: _core.TrySettings | None,
    out: TextIO,
) -> None:
    if args.json:
        data = outcome.to_json()
        if args.snippet and settings is not None:
            data["snippet"] = snippet(
                settings, region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
            )
        print(json.dumps(data, indent=2, ensure_ascii=False), file=out)
        return
    print(render_outcome(outcome, show_request=args.show_request), file=out)
    if args.snippet and settings is not None:
        _print_snippet(args, settings, out)
