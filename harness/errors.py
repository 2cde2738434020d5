"""connlab's exception tree.

Every error the harness raises on purpose is a ``ConnlabError``; the CLI is the
only place that turns them into exit codes (see ``harness.cli``)::

    ConnlabError (Exception)
    +-- PlanError            a scenario file or flag is wrong (all problems at once)
    +-- MissingDependency    Ruby, a gem, a wheel or a binary is not installed
    +-- StackError           a server did not start, or died during the run
    |   +-- StartTimeout     a server was not ready in time (names it, the wait, its last log lines)
    |   +-- ComponentDied    a server exited while the run was going on
    +-- LoadError_           the load generator (Locust) failed

    Interrupted (BaseException)  Ctrl-C or SIGTERM stopped the run

``Interrupted`` is raised by the signal handler wherever the main thread happens
to be, so, like ``KeyboardInterrupt``, it is no ``Exception``: a guard such as
``contextlib.suppress(Exception)`` around a read must not swallow a Ctrl-C.

``ExitCode`` names the process's exit codes, beside the tree they come from;
``harness.cli`` is still the only place that maps one to the other.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``connlab`` exits with (the README's table): one per outcome, 70 for a bug of connlab's own."""

    OK = 0
    VERDICT_FAILED = 1
    BAD_INPUT = 2
    MISSING_DEPENDENCY = 3
    STACK_FAILED = 4
    LOAD_FAILED = 5
    DOES_NOT_FIT = 6
    AT_RISK = 7
    INCOMPLETE = 8
    CRASHED = 70
    INTERRUPTED = 130
    TERMINATED = 143


class ConnlabError(Exception):
    """Base of every error connlab raises on purpose."""


class PlanError(ConnlabError):
    """A scenario is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class MissingDependency(ConnlabError):
    """Something the run needs is not installed; the message says what to install."""


class StackError(ConnlabError):
    """A server of the stack failed."""


class StartTimeout(StackError):
    """A server was not ready within its timeout."""

    def __init__(self, service: str, waited_s: float, strategy: str, last_lines: list[str]) -> None:
        self.service = service
        self.waited_s = waited_s
        tail = " | ".join(line.strip() for line in last_lines[-5:]) or "(no output)"
        super().__init__(
            f"{service} was not ready ({strategy}) after {waited_s:.1f} s; last log lines: {tail}"
        )


class ComponentDied(StackError):
    """A server exited on its own while the run was going on."""

    def __init__(self, service: str, returncode: int | None, last_lines: list[str]) -> None:
        self.service = service
        self.returncode = returncode
        tail = " | ".join(line.strip() for line in last_lines[-5:]) or "(no output)"
        super().__init__(f"{service} exited with status {returncode} during the run; last log lines: {tail}")


class LoadError_(ConnlabError):  # noqa: N801 - the trailing underscore avoids shadowing the builtin
    """Locust failed to run the traffic."""


class Interrupted(BaseException):
    """The run was stopped by a signal (Ctrl-C, SIGTERM); a ``BaseException``, as the module's docstring says."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"stopped by {signal_name}; the stack was torn down")
