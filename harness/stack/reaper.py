"""The reaper's command, ``python -m harness.stack.reaper RECORD``: the name its process has always run under
(``ps`` shows it; tests/test_reaper.py finds the reaper by it). The reaper is ``harness.ground.reaper``; the run
registry starts it by this name (``harness.ground.registry.REAPER_COMMAND``)."""

from __future__ import annotations

import sys

from harness.ground.reaper import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
