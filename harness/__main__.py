"""``python -m harness`` is ``connlab``."""

import sys

from harness.cli import main

sys.exit(main())
