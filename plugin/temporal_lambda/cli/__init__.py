"""``temporal-lambda``: find an API, read its reference, try a request, paste it into a workflow.

Commands::

    temporal-lambda apis [SEARCH]          the APIs the plugin integrates
    temporal-lambda describe API           their reference, from botocore's service model
    temporal-lambda invoke FUNCTION ...    one test request, exactly as the activity sends it
    temporal-lambda emulator ...           LocalLambda (python -m temporal_lambda.testing)
    temporal-lambda console ...            the same flow in a local web page

Exit codes of ``invoke``: 0 success, 1 function error, 2 usage error, 3 refused input
(nothing sent), 4 service error, 5 no answer (transport).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="temporal-lambda",
        description="Try AWS Lambda requests exactly as the temporal-lambda activity sends them.",
        epilog="invoke exit codes: 0 success, 1 function error, 2 usage error, "
        "3 refused input (nothing sent), 4 service error, 5 no answer (transport)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    apis = sub.add_parser("apis", help="list the APIs this plugin integrates")
    apis.add_argument("search", nargs="?", help="only APIs matching this word")
    apis.add_argument("--json", action="store_true", help="print JSON")

    describe = sub.add_parser("describe", help="an API's reference, from botocore's model")
    describe.add_argument("api", help="an API name, e.g. Invoke")
    describe.add_argument("--json", action="store_true", help="print JSON")

    from temporal_lambda.cli import _invoke

    invoke = sub.add_parser(
        "invoke",
        help="one test request, as the activity sends it",
        epilog="exit codes: 0 success, 1 function error, 2 usage error, "
        "3 refused input (nothing sent), 4 service error, 5 no answer (transport)",
    )
    _invoke.add_arguments(invoke)

    sub.add_parser(
        "emulator",
        help="run LocalLambda (same as python -m temporal_lambda.testing)",
        add_help=False,
    )

    console = sub.add_parser("console", help="the test-request flow in a local web page")
    console.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    console.add_argument("--region", help="AWS region (default: profile / AWS_REGION)")
    console.add_argument("--profile", help="shared-config profile for region and credentials")
    console.add_argument("--endpoint-url", help="endpoint override, e.g. a LocalLambda URL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``temporal-lambda`` command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code (the console script passes it to ``sys.exit``).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "emulator":
        from temporal_lambda.cli._emulator import run_emulator

        return run_emulator(args_list[1:])
    args = _parser().parse_args(args_list)
    if args.command == "apis":
        from temporal_lambda.cli._apis import search
        from temporal_lambda.cli._render import render_apis

        found = search(args.search)
        if args.json:
            print(json.dumps([vars(a) | {"keywords": list(a.keywords)} for a in found], indent=2))
        else:
            print(render_apis(found))
        return 0 if found else 1
    if args.command == "describe":
        from temporal_lambda.cli._apis import describe
        from temporal_lambda.cli._render import render_reference

        try:
            ref = describe(args.api)
        except KeyError as exc:
            print(f"temporal-lambda describe: {exc.args[0]}", file=sys.stderr)
            return 2
        print(json.dumps(ref.to_json(), indent=2) if args.json else render_reference(ref))
        return 0
    if args.command == "invoke":
        from temporal_lambda.cli._invoke import run

        return run(args)
    from temporal_lambda.cli._console import run_console

    return run_console(args)
