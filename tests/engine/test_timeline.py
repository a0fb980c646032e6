"""The engine's one stream clock: timestamps that only rise, whatever the camera sends."""

from __future__ import annotations

import pytest

from custom_components.anninh.engine.timeline import RisingClock

STEP = 100  # one frame
JUMP = 10_000


def _run(clock: RisingClock, raws: list[int | None]) -> list[int]:
    return [clock.map(raw, elapsed=STEP // 2) for raw in raws]


@pytest.mark.parametrize(
    ("raws", "expected"),
    [
        ([0, 100, 200], [0, 100, 200]),  # as they are
        ([500, 600, 0, 100], [500, 600, 700, 800]),  # a loop: one step after the last
        ([0, 100, 90_000, 90_100], [0, 100, 200, 300]),  # a jump ahead is a reset
        ([None, 100, 200], [0, 100, 200]),  # the first packet without a time
        ([0, 100, None, 300], [0, 100, 150, 250]),  # missing: elapsed ticks, then re-anchored
        ([0, 100, 100, 200], [0, 100, 100, 200]),  # a duplicate, not strict: kept
    ],
)
def test_rising_clock(raws: list[int | None], expected: list[int]) -> None:
    """Loops, resets and missing timestamps continue the timeline instead of going back."""
    assert _run(RisingClock(STEP, jump=JUMP), raws) == expected


def test_reordering_is_kept_within_its_window() -> None:
    """B-frames step back by a few frames: kept (presentation times), a loop is not."""
    clock = RisingClock(STEP, jump=JUMP, reorder=4 * STEP)
    assert _run(clock, [0, 300, 100, 200, 600, 400, 500]) == [0, 300, 100, 200, 600, 400, 500]
    assert clock.last == 600
    assert clock.map(0) == 700  # back to the start: a loop


def test_strict_rises_by_a_tick_and_rebase_continues() -> None:
    """Decode times rise strictly; a new stream continues one step after the last value."""
    clock = RisingClock(STEP, jump=JUMP, reorder=STEP - 1, strict=True)
    assert _run(clock, [0, 100, 100, 150]) == [0, 100, 101, 150]
    clock.rebase()
    assert clock.map(40) == 250  # a reconnect: the camera's clock starts anew
    assert clock.map(140) == 350
