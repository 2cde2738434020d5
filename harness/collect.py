"""Collection: what every server's collector shares (the sampling thread), and the jobs' own errors.

Each server kind counts its connections by two methods, in its own package (``harness.resources.<name>``):
exact, a replay of the server's own log (``log.py``), and sampled, a ``Sampler`` over the harness's admin
connection (``sampler.py``). The harness's own connections are named ``connlab-*`` and never counted
(``harness.ground.marks``). The collectors import no backend: a sampler takes the admin connection it is given,
and the replays read the logs' files (tests/test_layers.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.observation import Change, ErrorTally, Peaks

SAMPLE_INTERVAL_S = 0.05

JOB_ERROR = re.compile(r"connlab-job-failed pid=\d+ job=\S+ (\S+): (.*)$")


def job_errors(run_dir: Path) -> tuple[ErrorTally, ...]:
    """Errors raised inside jobs, from the ``connlab-job-failed`` lines the workers log (stacks/CONTRACT.md)."""
    counts: Counter[tuple[str, str]] = Counter()
    for log in sorted(run_dir.glob("worker.*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = JOB_ERROR.search(line)
            if match:
                counts[(match.group(1), re.sub(r"\d+(\.\d+)?", "N", match.group(2).strip())[:200])] += 1
    return tuple(ErrorTally(error_class=cls, message=msg, count=n, first_s=None, source="worker")
                 for (cls, msg), n in counts.most_common())


@dataclass(kw_only=True)
class Sampler:
    """A thread that calls ``_sample()`` every ``SAMPLE_INTERVAL_S`` and keeps the peaks."""

    name: str
    peak_total: int = 0
    peak_by_group: Counter[str] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    samples: int = 0
    error: str | None = None
    #: the last sample's counts per group (the live view reads it)
    latest: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.name}", daemon=True)

    def _sample(self) -> Counter[str]:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = self._sample()
            except Exception as exc:  # noqa: BLE001 - a sampler must outlive a busy or restarting server
                self.error = f"{type(exc).__name__}: {exc}"
            else:
                now = time.time()
                total = sum(counts.values())
                self.peak_total = max(self.peak_total, total)
                for group, n in counts.items():
                    self.peak_by_group[group] = max(self.peak_by_group[group], n)
                # every group seen so far, 0 when it is gone from this sample
                self.changes += [(now, group, counts.get(group, 0)) for group in sorted(self.peak_by_group)]
                self.latest = counts
                self.samples += 1
            self._stop.wait(SAMPLE_INTERVAL_S)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Peaks:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close()
        return Peaks(total=self.peak_total, by_group=dict(self.peak_by_group), changes=tuple(self.changes))

    def _close(self) -> None:
        """Close the sampler's connection."""
