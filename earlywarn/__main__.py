"""``python -m earlywarn``: the same as the ``earlywarn`` command."""

import sys

from earlywarn.cli import main

sys.exit(main())
