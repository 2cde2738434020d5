"""The ground floor: what the stack, the load and the collectors stand on, standing on nothing of theirs.

* ``process``: a process the harness owns (``Service``: a process group of its own, named readiness with a
  timeout, SIGTERM then SIGKILL), every group it started (``sweep()`` ends what is left), free loopback ports;
* ``registry``: the run registry on disk, what each run started, so that what a run that died left is ended;
* ``reaper``: the small process that ends a run's stack the moment the run dies;
* ``lifetime``: one run's begin and end around those (``run_lifetime``), for ``harness.pipeline`` and the demo;
* ``marks``: how the harness marks its own presence on the servers (its connections' names, its kill markers),
  shared by the stack that leaves the marks and the collectors that read them.

Nothing here imports a module above it (tests/test_layers.py): only ``harness.errors``, ``harness.privilege``
and ``harness.signals`` beside the standard library. This file imports nothing: the reaper runs with ``-S``.
"""
