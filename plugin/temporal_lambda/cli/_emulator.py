"""``temporal-lambda emulator``: LocalLambda from the command line.

One entry point with ``python -m temporal_lambda.testing``: the arguments are handed to that
module's ``main`` unchanged, so both commands take the same options and print the same help.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["run_emulator"]


def run_emulator(argv: Sequence[str]) -> int:
    """Run LocalLambda with ``argv`` (the options of ``python -m temporal_lambda.testing``).

    Returns:
        0 once the emulator stopped on SIGINT or SIGTERM.
    """
    from temporal_lambda.testing import __main__ as emulator

    emulator.main(list(argv))
    return 0
