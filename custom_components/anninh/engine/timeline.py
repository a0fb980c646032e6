"""One stream clock for the whole engine: timestamps that only rise, whatever the camera sends.

Cameras and files give timestamps that go back (a file that loops, a camera that reboots or
resets its clock), jump ahead, repeat, or are missing (FFmpeg's RTSP reader leaves the first
packet's out). The reader's analysis timeline, a recording's segment and the live view's RTP
clock all need times that keep rising; `RisingClock` is that mapping, in integer ticks of the
caller's choice (the stream's time base, microseconds, 90 kHz).
"""

from __future__ import annotations


class RisingClock:
    """Maps one stream's timestamps (integer ticks) onto a timeline that only rises.

    * A step back of more than `reorder` ticks, or a jump forward of more than `jump` ticks, is a
      loop or a reset: the timeline continues one `step` after its last value.
    * A step back within `reorder` is frame reordering (B-frames shown before the frame decoded
      before them): kept as it is, unless `strict`, which nudges every value one tick past the
      last (decode timestamps must rise strictly).
    * A missing timestamp continues `elapsed` ticks (the caller's measure: wall-clock time, the
      packet's duration; one `step` if None) after the last value (the very first one is 0), and
      the next timestamp given is re-anchored one step after it.
    * `rebase()` (a new stream: a reconnect, a file reopened) re-anchors the next timestamp one
      `step` after the last value.

    `last` is the highest value given so far (None before the first).
    """

    __slots__ = ("jump", "last", "offset", "reorder", "step", "strict")

    def __init__(self, step: int, *, jump: int, reorder: int = 0, strict: bool = False) -> None:
        """`step`: one frame in ticks; `jump`: the largest forward step taken as it is."""
        self.step = max(1, step)
        self.jump = jump
        self.reorder = reorder
        self.strict = strict
        self.offset: int | None = None
        self.last: int | None = None

    def rebase(self) -> None:
        """The next timestamp starts a new stream: continue one step after the last value."""
        self.offset = None

    def map(self, raw: int | None, elapsed: int | None = None) -> int:
        """`raw` on the rising timeline."""
        last = self.last
        if raw is None:
            self.offset = None
            value = 0 if last is None else last + max(1, self.step if elapsed is None else elapsed)
        else:
            offset = self.offset
            if offset is None or (
                last is not None and not last - self.reorder <= raw + offset <= last + self.jump
            ):
                offset = self.offset = 0 if last is None else last + self.step - raw
            value = raw + offset
            if self.strict and last is not None and value <= last:
                value = last + 1
        self.last = value if last is None else max(last, value)
        return value
