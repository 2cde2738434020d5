"""``harness.phases``: seconds per phase, closed by marks, by a clock the test gives."""

from __future__ import annotations

from harness.phases import Phases


def test_each_mark_closes_the_phase_since_the_last_and_a_repeated_name_adds_up() -> None:
    ticks = iter([10.0, 10.5, 13.25, 13.5, 20.0])
    phases = Phases(clock=lambda: next(ticks))
    for name in ("stack_up", "traffic", "load_stop", "load_stop"):
        phases.mark(name)
    assert phases.seconds == {"stack_up": 0.5, "traffic": 2.75, "load_stop": 6.75}  # 0.25 + 6.5
    assert list(phases.seconds) == ["stack_up", "traffic", "load_stop"]
