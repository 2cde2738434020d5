"""Moved to the ground floor: ``harness.ground.process``. This name is kept for scripts that patch the class
through it (tests/test_e2e_python.py's ``harness.stack.process.Service.stop``): the names are the same objects."""

from __future__ import annotations

from harness.ground.process import (
    LIVE_GROUPS,
    Readiness,
    Service,
    forget_group,
    free_port,
    http_ready,
    kill_group,
    log_line_ready,
    register_group,
    sweep,
    tail,
)

__all__ = ["LIVE_GROUPS", "Readiness", "Service", "forget_group", "free_port", "http_ready", "kill_group",
           "log_line_ready", "register_group", "sweep", "tail"]
