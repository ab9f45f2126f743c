"""`python -m cosim`: the same as the `cosim` console script."""

import sys

from cosim.cli import main

sys.exit(main())
