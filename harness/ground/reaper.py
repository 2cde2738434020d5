"""The reaper: ends a run's stack the moment the run dies, as testcontainers' Ryuk does.

    python -m harness.ground.reaper RECORD

Each run starts one (``harness.ground.lifetime``: every ``harness.pipeline.execute``, or the demo's steps
together), in a session of its own (Ctrl-C to the harness's terminal does not reach it), for its record in the
run registry. It waits for the record's owner to die (a pidfd wakes it at once; without one it looks every
``POLL_S``), then sweeps the record (``registry.sweep_claimed``) and exits. It exits at once, sweeping nothing,
when the record goes away: the harness ended its run itself, or another sweeper took the record. Standard
library only; it sleeps in ``poll`` until something happens.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from pathlib import Path

from harness.ground import registry

POLL_S = 0.2


def _owner_died(record: Path, pid: int, start: int) -> bool:
    """Wait until the owner dies (True) or the record is gone (False)."""
    pidfd = -1
    with contextlib.suppress(OSError, AttributeError):  # no pidfd (old kernel, a sandbox): look every POLL_S
        pidfd = os.pidfd_open(pid)
    if pidfd == -1 and not registry.alive(pid, start):
        return record.exists()
    try:
        poller = select.poll()
        if pidfd != -1:
            poller.register(pidfd, select.POLLIN)
        # the pidfd was opened for whatever holds ``pid`` now: check it is still the owner
        while registry.alive(pid, start):
            if not record.exists():
                return False
            if pidfd != -1:
                if poller.poll(POLL_S * 1000):
                    break
            else:
                time.sleep(POLL_S)
    finally:
        if pidfd != -1:
            os.close(pidfd)
    return record.exists()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.ground.reaper RECORD", file=sys.stderr)
        return 2
    record = Path(argv[0])
    data = registry.read_record(record)
    try:
        pid, start = registry.owner_of(data or {})
    except (AttributeError, TypeError, ValueError):
        return 0
    if pid <= 0:
        return 0
    if _owner_died(record, pid, start):
        claimed = registry.claim(record)
        if claimed is not None:
            registry.sweep_claimed(claimed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
