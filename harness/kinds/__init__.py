"""Process kinds and the pools they open: each formula in one place, for ``connlab predict`` and ``connlab check``.

One module per kind (``sidekiq``, ``resque``, ``rq``, ``dramatiq``, and ``cache`` for the cache pools that web
and job processes share), each a set of pure functions of a kind's settings that return a ``Demand``: the
connections one process holds on one resource, expected and at worst, with the formula and its numbers. The
measurements behind each formula are in its function's docstring. ``harness.predict`` calls them with a
scenario's figures, ``harness.check`` with an app's own files' figures; neither writes a formula again.
"""

from __future__ import annotations

from harness.kinds.demand import Demand

__all__ = ["Demand"]
