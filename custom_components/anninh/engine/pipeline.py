"""One camera's analysis: a `StreamReader` feeding a `MotionDetector`, plus the last-motion picture.

Runs entirely on the reader's thread. It reports to its owner only what an owner needs to show:
motion turning on or off, and while motion lasts at most one update a second (score and boxes),
so 60 cameras at 5 analysed frames a second do not flood the caller's event loop.

The last-motion picture changes once per motion event: it is the frame in which the event was
detected (what the duty officer wants to see first: what set the camera off). During one unbroken
event it is renewed at most every `LONG_EVENT_REFRESH` seconds, with the frame of the most motion
(highest score) since the last picture, so a camera watching a busy road keeps a recent picture
without writing a new one every second.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from PIL import ImageDraw

from .motion import MotionConfig, MotionDetector, MotionResult
from .source import StreamSource
from .stream import StreamHealth, StreamReader

MOTION_UPDATE_INTERVAL = 1.0  # s between score/box updates while motion lasts
LONG_EVENT_REFRESH = (
    300.0  # s: the picture of one unbroken motion event is renewed at most this often
)


@dataclass(frozen=True, slots=True)
class MotionEvent:
    """What the owner is told: the detector's result and when it was seen (wall clock)."""

    motion: bool
    score: float
    boxes: list[tuple[int, int, int, int]]
    lighting_change: bool
    at: float


@dataclass(frozen=True, slots=True)
class _Snapshot:
    frame: av.VideoFrame
    boxes: list[tuple[int, int, int, int]]
    at: float
    score: float


class CameraPipeline:
    """Reads `source`, detects motion, keeps the last motion picture; see the module docstring."""

    def __init__(
        self,
        source: StreamSource,
        *,
        name: str,
        motion: MotionConfig,
        on_health: Callable[[StreamHealth], None],
        on_motion: Callable[[MotionEvent], None],
        analysis_fps: float = 5.0,
        **reader_options: Any,
    ) -> None:
        self.detector = MotionDetector(motion)
        self.motion_enabled = True
        self._on_motion = on_motion
        self._last = MotionResult(motion=False, score=0.0, boxes=[], lighting_change=False)
        self._published_at = 0.0
        self._snapshot: _Snapshot | None = None  # the picture shown (see the module docstring)
        self._candidate: _Snapshot | None = None  # the most motion since that picture
        self._event_pictured = False  # the running event has its picture
        self._pictured_at = 0.0  # when the picture last changed (wall clock)
        self._jpeg: tuple[_Snapshot, bytes] | None = None
        self._sensitivity: int | None = None
        self.reader = StreamReader(
            source,
            name=name,
            on_health=on_health,
            on_analysis_frame=self._analyse,
            quiet=self._quiet,
            analysis_fps=analysis_fps,
            **reader_options,
        )

    def start(self) -> None:
        """Start reading on the reader's own thread."""
        self.reader.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop reading (blocking: call from a worker thread)."""
        return self.reader.stop(timeout)

    def set_sensitivity(self, sensitivity: int) -> None:
        """Takes effect on the next analysed frame, on the reader thread."""
        self._sensitivity = sensitivity

    def set_motion_enabled(self, enabled: bool) -> None:
        """Turn analysis on or off; off reports motion cleared and forgets the background."""
        self.motion_enabled = enabled

    @property
    def motion(self) -> MotionResult:
        """The latest detector result."""
        return self._last

    @property
    def last_motion_at(self) -> float | None:
        """Wall-clock time of the last-motion picture, if any (changes once per event)."""
        snapshot = self._snapshot
        return snapshot.at if snapshot else None

    def _quiet(self) -> bool:
        last = self._last
        return not self.motion_enabled or (not last.motion and not last.boxes)

    def _analyse(self, luma: np.ndarray, timestamp: float, wallclock: float) -> None:
        if self._sensitivity is not None:
            self.detector.set_sensitivity(self._sensitivity)
            self._sensitivity = None
        if not self.motion_enabled:
            if self._last.motion or self._last.boxes:
                self.detector.reset()
                self._last = MotionResult(motion=False, score=0.0, boxes=[], lighting_change=False)
                self._event_pictured, self._candidate = False, None
                self._publish(self._last, wallclock)
            return
        result = self.detector.process(luma, timestamp)
        previous, self._last = self._last, result
        if not result.motion:
            self._event_pictured, self._candidate = False, None
        elif result.boxes:
            self._picture(result, wallclock)
        if result.motion != previous.motion or (
            result.motion and wallclock - self._published_at >= MOTION_UPDATE_INTERVAL
        ):
            self._publish(result, wallclock)

    def _picture(self, result: MotionResult, wallclock: float) -> None:
        """Keep the event's first picture; renew it during a long event (module docstring)."""
        frame = self.reader.latest_frame()
        if frame is None:
            return
        shot = _Snapshot(frame, list(result.boxes), wallclock, result.score)
        if not self._event_pictured:
            self._snapshot, self._candidate, self._event_pictured = shot, None, True
            self._pictured_at = wallclock
            return
        if self._candidate is None or shot.score >= self._candidate.score:
            self._candidate = shot
        if wallclock - self._pictured_at >= LONG_EVENT_REFRESH:
            self._snapshot, self._candidate = self._candidate, None
            self._pictured_at = wallclock

    def _publish(self, result: MotionResult, wallclock: float) -> None:
        self._published_at = wallclock
        self._on_motion(
            MotionEvent(
                motion=result.motion,
                score=result.score,
                boxes=list(result.boxes),
                lighting_change=result.lighting_change,
                at=wallclock,
            )
        )

    def last_motion_jpeg(self, quality: int = 80) -> bytes | None:
        """The last picture with motion, boxes drawn, as JPEG (encoded now: call off the loop)."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        cached = self._jpeg
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        image = snapshot.frame.to_image()  # type: ignore[no-untyped-call]
        draw = ImageDraw.Draw(image)
        width = max(2, image.width // 320)
        for x, y, w, h in snapshot.boxes:
            draw.rectangle((x, y, x + w - 1, y + h - 1), outline=(255, 32, 32), width=width)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        self._jpeg = (snapshot, buffer.getvalue())
        return self._jpeg[1]
