"""The last-motion picture: once per motion event, renewed slowly during a long one."""

from __future__ import annotations

from typing import Any

import numpy as np

from custom_components.anninh.engine import pipeline
from custom_components.anninh.engine.motion import MotionConfig, MotionResult
from custom_components.anninh.engine.pipeline import CameraPipeline
from custom_components.anninh.engine.source import StreamSource

LUMA = np.zeros((90, 160), np.uint8)


def _pipeline(results: list[MotionResult], published: list[Any]) -> CameraPipeline:
    camera = CameraPipeline(
        StreamSource.parse("/nonexistent.mp4"),
        name="test",
        motion=MotionConfig(),
        on_health=lambda _health: None,
        on_motion=published.append,
    )
    feed = iter(results)
    camera.detector.process = lambda _luma, _ts: next(feed)  # type: ignore[method-assign]
    frames = iter(range(10_000))
    camera.reader.latest_frame = lambda: next(frames)  # type: ignore[assignment,method-assign,return-value]
    return camera


def _result(motion: bool, score: float = 0.0) -> MotionResult:
    boxes = [(0, 0, 10, 10)] if score else []
    return MotionResult(motion=motion, score=score, boxes=boxes, lighting_change=False)


def test_one_picture_per_event_and_a_slow_refresh() -> None:
    """Event start: the picture of that frame; a long event: at most one new one per refresh."""
    quiet, start = _result(False), _result(True, 0.05)
    # 0-1 s quiet, then motion for 700 s at 5 frames a second with the score peaking once
    # per minute, then quiet, then a second event.
    results = [quiet] * 5 + [start]
    results += [_result(True, 0.2 if i % 300 == 150 else 0.1) for i in range(3500)]
    results += [quiet] * 30 + [_result(True, 0.07)] + [_result(True, 0.1)] * 10
    published: list[Any] = []
    camera = _pipeline(results, published)
    pictures: list[tuple[float, float, float]] = []
    for index in range(len(results)):
        wallclock = 1000.0 + index / 5
        camera._analyse(LUMA, index / 5, wallclock)
        at = camera.last_motion_at
        if at is not None and (not pictures or pictures[-1][0] != at):
            shot = camera._snapshot
            assert shot is not None
            pictures.append((at, wallclock, shot.score))

    refresh = pipeline.LONG_EVENT_REFRESH
    first_at = 1000.0 + 5 / 5
    assert pictures[0] == (first_at, first_at, 0.05)  # the frame that raised the event, at once
    renewals = [p for p in pictures[1:] if p[1] < 1000.0 + 3506 / 5]
    assert len(renewals) == int(700 // refresh)  # two in 700 s with a 300 s refresh
    for at, shown, score in renewals:
        assert shown - at < refresh
        assert score == 0.2  # the frame with the most motion since the last picture
    snapshot = camera._snapshot
    assert snapshot is not None
    assert snapshot.score == 0.07  # the second event's first frame, not its later ones
    assert len(pictures) == 1 + len(renewals) + 1
    # The owner still hears of the motion at most once a second.
    assert len(published) < len(results) / 5 + 10
