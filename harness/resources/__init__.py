"""The servers connlab counts, one package per kind (``postgres``, ``redis``).

``harness.resources.limits`` is what a plan may say about each (read by ``harness.plan``: light, no driver);
``harness.resources.registry`` the full entries the stages loop over (servers, collectors, faults);
``harness.resources.base`` their faces. This package's own module imports none of them, so importing one part
does not bring the rest.
"""
