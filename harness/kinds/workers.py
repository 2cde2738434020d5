"""Which job worker kind a plan's worker tier is, by name, and the setting the sample apps run it with.

    app      threaded    forking (a process per job)
    rails    sidekiq     resque   (the Resque-style worker, lib/connlab_resque.rb)
    python   dramatiq    rq

The name is the kind's module in ``harness.kinds`` and the sample app's ``CONNLAB_JOBS`` (stacks/CONTRACT.md):
the job library the web enqueues to and the worker runs. Each server's demand module asks here which kind's
formula applies, so the choice is written once.
"""

from __future__ import annotations

__all__ = ["KINDS", "worker_kind"]

#: (app, forking) -> the worker kind's name
KINDS: dict[tuple[str, bool], str] = {
    ("rails", False): "sidekiq", ("rails", True): "resque",
    ("python", False): "dramatiq", ("python", True): "rq",
}


def worker_kind(*, app: str, forking: bool) -> str:
    """The worker kind of an ``app``'s worker tier (module docstring)."""
    return KINDS[(app, forking)]
