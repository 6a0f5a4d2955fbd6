"""``python -m cj_worker.cli``: the same as the ``cj-worker`` console script."""

import sys

from cj_worker.cli import main

sys.exit(main())
