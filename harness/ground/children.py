"""Ending one child process this process started: SIGTERM, a grace period, then SIGKILL, and reaped either way.

The reaper (``harness.ground.registry.end_run``) and a dockerd the run started (``harness.stack.engine``) end
this way; a process group the stack started ends through ``harness.ground.process.Group.stop`` instead.
"""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_child"]


def stop_child(child: subprocess.Popen[Any], *, grace_s: float) -> None:
    """Terminate ``child``, wait up to ``grace_s`` for it, then kill it; it is reaped before this returns."""
    child.terminate()
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
