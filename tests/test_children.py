"""harness.ground.children.stop_child: a child that ends on SIGTERM is reaped; one that ignores it is killed after
the grace period."""

from __future__ import annotations

import signal
import subprocess
import sys

from harness.ground.children import stop_child


def test_a_child_that_ends_on_sigterm_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_child(child, grace_s=5)
    assert child.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
           "time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    stop_child(child, grace_s=0.3)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()
