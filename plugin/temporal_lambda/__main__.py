"""``python -m temporal_lambda``: the ``temporal-lambda`` command line."""

import sys

from temporal_lambda.cli import main

sys.exit(main())
