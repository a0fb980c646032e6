"""Recording with a pre-event buffer: a ring of encoded packets per camera, clips by stream copy.

Wiring (one `Recorder` per camera, fed by the camera's *main* stream reader)::

    recorder = Recorder(root, "nga_ba_cho", metadata=CameraMetadata(...), tz=tz, pre_event=10,
                        on_clip_finished=..., on_clip_failed=...)
    reader = StreamReader(source, on_packet=recorder.on_packet, ...)
    handle = recorder.record(30, trigger=Trigger("bell", "binary_sensor.chuong"), reason="...")
    handle.clip_id, handle.path          # known at once
    handle.wait(60)                      # -> [ClipInfo, ...] once written (tests, scripts)

`PacketRing` (the pre-event buffer) keeps copies of the encoded packets (no decoding, no
re-encoding) from key frame to key frame, so that it always starts on a key frame and covers at
least `pre_event` seconds (0-60, settable at runtime): whole GOPs are dropped from the front once
the next GOP alone still covers `pre_event`, or when the buffer exceeds `max_bytes` (a hard cap:
if a single GOP is larger, it is dropped and buffering restarts at the next key frame).
`stats()` gives the buffered seconds and bytes. Times are arrival times (`clock`, monotonic).

Packets are normalised on arrival: timestamps a camera leaves out are filled in, duplicates and
small steps back are nudged forward by one tick, and a jump back or a jump forward of more than
10 s on the same stream (a looping file, a camera's clock reset) is rebased so timestamps keep
rising. A *new stream object* (the reader reconnected) starts a new segment: its codec parameters
(extradata, size, time base) are captured from `packet.stream` on its first packet, into a small
template stream that does not depend on the reader's container staying open.

`Recorder.record(duration, pre_event, trigger, reason, case_number, metadata)`, callable from any
thread, starts a clip at the latest buffered key frame at or before ``now - pre_event`` (the
oldest one if the buffer is shorter) and ends it at the first packet that arrives
``duration`` seconds after the call: the clip covers about ``pre_event + duration`` seconds, like
Home Assistant's `camera.record` (`duration` + `lookback`). It reserves the clip's file name at
once (a little file I/O: call it off the event loop) and raises `RecordingError`
(`not_writable`, `disk_full`) if that fails. While a clip of the camera is running, another call
*extends* it (the end becomes the later of both; the call is listed in the sidecar's
``triggers``) and returns the same `ClipHandle`. A clip ends when a packet arrives after its end,
when no packet arrives for `end_grace` seconds after its end (camera down), on `stop()`, and at a
discontinuity: when the stream reconnects mid-clip the file ends cleanly at the last packet
before the break and a new part continues from the new stream's first key frame, until the same
end; each part is a complete MP4 with its own sidecar (``part``, ``previous_clip_id``,
``next_clip_id``), and `ClipHandle.clip_ids` lists them all.

Threads: `on_packet` runs on the reader thread and only copies the packet into the ring and, if a
clip is running, into that clip's queue; muxing, hashing and fsync happen on a writer thread per
running clip. Callbacks run on that writer thread: `on_clip_started(ClipRef)` when a part's file
is opened, `on_clip_finished(ClipInfo)` when a part is committed, `on_clip_failed(ClipRef,
Problem)` when a part fails (its temporary file is removed, nothing else is touched).

Files are written as `storage` describes: temporary name, fsync, rename, then the JSON sidecar.
Sidecar fields: ``format``, ``kind`` (video/snapshot), ``clip_id``, ``recording_id``, ``part``,
``previous_clip_id``, ``next_clip_id``, ``segments`` (the clip ids of this recording known when the
sidecar was written, in order), ``camera`` (display name), ``camera_id`` (slug),
``donor_household``, ``address``, ``latitude``, ``longitude``, ``start``, ``end`` (UTC ISO 8601,
first frame to end of last frame), ``duration``, ``trigger`` ({kind, source}), ``triggers`` (every
call, with extensions), ``reason``, ``case_number``, ``video`` ({codec, width, height, frames,
key_frames}), ``evidence`` (null until marked), ``file``, ``size``, ``sha256`` (of the media file).

`save_snapshot` stores a JPEG (made by the caller) with the same layout and sidecar.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
import time
import uuid
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import av.error

from .sidecar import CameraMetadata, Sidecar, Trigger, TriggerCall, VideoFacts
from .storage import (
    Problem,
    RecordingError,
    Reservation,
    as_recording_error,
    commit,
    discard,
    reserve,
)
from .timeline import RisingClock

__all__ = [
    "MAX_PRE_EVENT",
    "BufferedPacket",
    "CameraMetadata",
    "ClipHandle",
    "ClipInfo",
    "ClipRef",
    "PacketRing",
    "Problem",
    "Recorder",
    "RecordingError",
    "RingStats",
    "Trigger",
    "save_snapshot",
]

_LOGGER = logging.getLogger(__name__)

MAX_PRE_EVENT = 60.0
DEFAULT_MAX_BYTES = 40 * 1024 * 1024  # 60 s at ~5 Mbit/s
REBASE_JUMP = 10.0  # s: a forward jump this large on the same stream is rebased
_SEGMENTS_KEPT = 8  # stream segments (connections) remembered for buffered packets and writers
_STOP = object()


# ---------------------------------------------------------------------------------- data types
@dataclass(frozen=True, slots=True)
class RingStats:
    """What the pre-event buffer holds right now."""

    seconds: float
    bytes: int
    packets: int
    gops: int
    pre_event: float


@dataclass(frozen=True, slots=True)
class ClipRef:
    """A clip part being written (or that failed)."""

    clip_id: str
    camera: str
    path: Path
    recording_id: str
    part: int


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """A committed clip part: where it is and what its sidecar says."""

    clip_id: str
    camera: str
    path: Path
    sidecar_path: Path
    recording_id: str
    part: int
    start: datetime
    end: datetime
    sidecar: Sidecar

    @property
    def sha256(self) -> str:
        """The file's SHA-256, as its sidecar records it."""
        return self.sidecar.sha256

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last."""
        return (self.end - self.start).total_seconds()


# ---------------------------------------------------------------------------------- the ring
class _Segment:
    """One connection's stream: codec parameters and timestamp normalisation state."""

    __slots__ = (
        "clock",
        "codec",
        "height",
        "holder",
        "number",
        "step",
        "stream",
        "template",
        "time_base",
        "width",
    )

    def __init__(self, number: int, stream: Any) -> None:
        self.number = number
        self.stream = stream  # identity only: never used after its container closes
        ctx = stream.codec_context
        self.codec: str = ctx.name if ctx is not None else "?"
        self.width: int = int(getattr(ctx, "width", 0) or 0)
        self.height: int = int(getattr(ctx, "height", 0) or 0)
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or 15
        self.step = max(1, round(1 / (float(rate) * self.time_base)))
        # Decode times rise strictly; a step back of a frame or more is a loop or a reset.
        self.clock = RisingClock(
            self.step, jump=round(REBASE_JUMP / self.time_base), reorder=self.step - 1, strict=True
        )
        # An output stream in a throw-away in-memory container holds a copy of the codec
        # parameters; clips are created from it with add_stream_from_template.
        self.template: Any = None
        self.holder: Any = None
        try:
            self.holder = av.open(io.BytesIO(), mode="w", format="mp4")
            self.template = self.holder.add_stream_from_template(stream, opaque=True)
        except (ValueError, av.error.FFmpegError) as err:
            _LOGGER.warning("Stream codec %s cannot be recorded to MP4: %s", self.codec, err)

    def normalise(self, packet: av.Packet) -> tuple[int, int, int] | None:
        """(pts, dts, duration) on a timeline that only rises; None to drop the packet."""
        raw_dts = packet.dts if packet.dts is not None else packet.pts
        duration = packet.duration or self.step
        if raw_dts is None and self.clock.last is None:
            return None  # no timestamp yet on this connection (ffmpeg's RTSP first packet)
        dts = self.clock.map(raw_dts, elapsed=duration)
        if raw_dts is None:
            return dts, dts, duration
        pts = (packet.pts if packet.pts is not None else raw_dts) + dts - raw_dts
        return max(pts, dts), dts, duration


class BufferedPacket(NamedTuple):
    """A buffered packet: a copy of the payload plus normalised timestamps (as handed out)."""

    data: bytes
    pts: int
    dts: int
    duration: int
    key: bool
    mono: float
    segment: int  # `_Segment.number`


class _Gop:
    """One GOP's packets, stored by column: a handful of objects per GOP, not one per packet.

    Sixty cameras' pre-event buffers hold tens of thousands of packets; as objects they would
    all reach the garbage collector's oldest generation and be walked by each of its full
    collections of HA's heap (and trigger more of them). Payloads are bytes, which it never walks.
    """

    __slots__ = ("datas", "dts", "durations", "keys", "monos", "nbytes", "pts", "segment", "start")

    def __init__(self, first: BufferedPacket) -> None:
        self.segment = first.segment
        self.start = first.mono
        self.datas: list[bytes] = []
        self.pts = array("q")
        self.dts = array("q")
        self.durations = array("q")
        self.keys = bytearray()
        self.monos = array("d")
        self.nbytes = 0
        self.append(first)

    def append(self, pkt: BufferedPacket) -> None:
        """Add a packet (reader thread); `monos` last: its length is the GOP's."""
        self.datas.append(pkt.data)
        self.pts.append(pkt.pts)
        self.dts.append(pkt.dts)
        self.durations.append(pkt.duration)
        self.keys.append(pkt.key)
        self.nbytes += len(pkt.data)
        self.monos.append(pkt.mono)

    def __len__(self) -> int:
        return len(self.monos)

    def packet(self, index: int) -> BufferedPacket:
        """One packet, as a `BufferedPacket`."""
        return BufferedPacket(
            self.datas[index],
            self.pts[index],
            self.dts[index],
            self.durations[index],
            bool(self.keys[index]),
            self.monos[index],
            self.segment,
        )

    def packets(self) -> list[BufferedPacket]:
        """All its packets so far (safe while the reader appends)."""
        return [self.packet(index) for index in range(len(self))]


class PacketRing:
    """The pre-event buffer of one camera; see the module docstring.

    `add` is called from the reader thread; the other methods from any thread. `lock` guards
    everything (a re-entrant lock the `Recorder` also takes).
    """

    def __init__(
        self,
        pre_event: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self.max_bytes = max_bytes
        self._clock = clock
        self._pre_event = 0.0
        self.pre_event = pre_event
        self._gops: deque[_Gop] = deque()
        self._oldest: BufferedPacket | None = None  # first packet of the first GOP, for stats()
        self._newest: BufferedPacket | None = None
        self._bytes = 0
        self._packets = 0
        self._segment: _Segment | None = None
        self._segments: dict[int, _Segment] = {}  # the last few, by number

    @property
    def pre_event(self) -> float:
        """Seconds the buffer covers at least (0-60)."""
        return self._pre_event

    @pre_event.setter
    def pre_event(self, seconds: float) -> None:
        self._pre_event = min(MAX_PRE_EVENT, max(0.0, float(seconds)))

    def add(self, packet: av.Packet) -> BufferedPacket | None:
        """Normalise and buffer one demuxed packet; returns it (None if unusable)."""
        now = self._clock()
        with self.lock:
            stream = packet.stream
            seg = self._segment
            if seg is None or seg.stream is not stream:
                seg = self._segment = _Segment(seg.number + 1 if seg else 1, stream)
                self._segments[seg.number] = seg
                self._segments.pop(seg.number - _SEGMENTS_KEPT, None)
            stamps = seg.normalise(packet)
            if stamps is None or packet.size == 0:
                return None
            pkt = BufferedPacket(bytes(packet), *stamps, bool(packet.is_keyframe), now, seg.number)
            self._append(pkt)
            return pkt

    def _append(self, pkt: BufferedPacket) -> None:
        gops = self._gops
        if pkt.key:
            gops.append(_Gop(pkt))
        elif gops and gops[-1].segment == pkt.segment:
            gops[-1].append(pkt)
        else:
            return  # no key frame of this segment yet: not decodable from the buffer
        self._bytes += len(pkt.data)
        self._packets += 1
        self._newest = pkt
        if self._oldest is None:
            self._oldest = gops[0].packet(0)
        horizon = pkt.mono - self._pre_event
        while len(gops) >= 2 and (gops[1].start <= horizon or self._bytes > self.max_bytes):
            self._drop_first()
        if self._bytes > self.max_bytes:  # one GOP above the cap: restart at the next key frame
            self._drop_first()

    def _drop_first(self) -> None:
        gop = self._gops.popleft()
        self._bytes -= gop.nbytes
        self._packets -= len(gop)
        self._oldest = self._gops[0].packet(0) if self._gops else None

    def segment(self, pkt: BufferedPacket) -> _Segment:
        """The stream segment a buffered packet belongs to (kept for `_SEGMENTS_KEPT` more)."""
        return self._segments[pkt.segment]

    def current_gop(self) -> list[BufferedPacket]:
        """The packets from the latest key frame (empty before the first one)."""
        with self.lock:
            return self._gops[-1].packets() if self._gops else []

    def packets_from(self, mono: float) -> list[BufferedPacket]:
        """Buffered packets from the latest key frame at or before `mono` (else the oldest)."""
        with self.lock:
            gops = list(self._gops)
        if not gops:
            return []
        chosen = 0
        for index, gop in enumerate(gops):
            if gop.start <= mono:
                chosen = index
        return [pkt for gop in gops[chosen:] for pkt in gop.packets()]

    def stats(self) -> RingStats:
        """Buffered seconds (first key frame to newest packet) and payload bytes.

        Without the lock (sensors read it on the event loop while the reader appends): each
        figure is current, together they may be one packet apart.
        """
        first, last = self._oldest, self._newest
        if first is None or last is None:
            return RingStats(0.0, 0, 0, 0, self._pre_event)
        seg = self._segments.get(last.segment)
        tail = float(last.duration * seg.time_base) if seg else 0.0
        return RingStats(
            seconds=max(0.0, last.mono - first.mono + tail),
            bytes=self._bytes,
            packets=self._packets,
            gops=len(self._gops),
            pre_event=self._pre_event,
        )

    def clear(self) -> None:
        """Forget everything buffered."""
        with self.lock:
            self._gops.clear()
            self._bytes = self._packets = 0
            self._oldest = self._newest = None


# ---------------------------------------------------------------------------------- recording
class ClipHandle:
    """One recording request (and the calls that extended it): its parts and outcome.

    `clip_id` and `path` name the first part at once; later parts (after a reconnect) are added to
    `clip_ids`/`paths`. `wait()` blocks until the recording has ended.
    """

    def __init__(self, recording_id: str, camera: str, first: Reservation, end: float) -> None:
        self.recording_id = recording_id
        self.camera = camera
        self.clip_id = first.clip_id
        self.path = first.path
        self.end_mono = end
        self.calls = 1
        self.infos: list[ClipInfo] = []
        self.failures: list[tuple[ClipRef, Problem]] = []
        self._clip_ids = [first.clip_id]
        self._paths = [first.path]
        self._done = threading.Event()

    @property
    def clip_ids(self) -> list[str]:
        """Ids of all parts so far, in order."""
        return list(self._clip_ids)

    @property
    def paths(self) -> list[Path]:
        """Final paths of all parts so far, in order."""
        return list(self._paths)

    @property
    def done(self) -> bool:
        """True once the recording has ended (written or failed)."""
        return self._done.is_set()

    @property
    def error(self) -> RecordingError | None:
        """The first failure, if any part failed."""
        if not self.failures:
            return None
        ref, problem = self.failures[0]
        return RecordingError(problem, ref.clip_id, ref.path)

    def wait(self, timeout: float | None = None) -> list[ClipInfo]:
        """Block until done; the committed parts. Raises `TimeoutError`, or `RecordingError`
        when no part could be written."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"recording {self.clip_id} still running")
        error = self.error
        if error is not None and not self.infos:
            raise error
        return list(self.infos)

    def _add_part(self, reservation: Reservation) -> None:
        self._clip_ids.append(reservation.clip_id)
        self._paths.append(reservation.path)


@dataclass(slots=True)
class _Job:
    handle: ClipHandle
    first: Reservation
    backlog: list[BufferedPacket]
    trigger: Trigger
    reason: str
    case_number: str | None
    metadata: CameraMetadata
    calls: list[TriggerCall]
    queue: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    closing: bool = False


class Recorder:
    """Pre-event buffer and clip writer of one camera; see the module docstring."""

    def __init__(
        self,
        root: Path,
        camera: str,
        *,
        metadata: CameraMetadata | None = None,
        tz: tzinfo | None = None,
        pre_event: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        end_grace: float = 3.0,
        on_clip_started: Callable[[ClipRef], None] | None = None,
        on_clip_finished: Callable[[ClipInfo], None] | None = None,
        on_clip_failed: Callable[[ClipRef, Problem], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.camera = camera
        self.metadata = metadata or CameraMetadata(name=camera)
        self.tz = tz
        self.end_grace = end_grace
        self.on_clip_started = on_clip_started
        self.on_clip_finished = on_clip_finished
        self.on_clip_failed = on_clip_failed
        self._clock = clock
        self._wallclock = wallclock
        self.ring = PacketRing(pre_event, max_bytes, clock)
        self.then: Callable[[av.Packet], None] | None = None  # after each buffered packet
        self.archive_feed: Callable[[BufferedPacket], None] | None = None  # the 24/7 recorder
        self._job: _Job | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # ---------------------------------------------------------------------------- public API
    @property
    def pre_event(self) -> float:
        """The buffer's pre-event seconds (and the default of `record`)."""
        return self.ring.pre_event

    @pre_event.setter
    def pre_event(self, seconds: float) -> None:
        self.ring.pre_event = seconds

    def stats(self) -> RingStats:
        """The pre-event buffer's seconds and bytes."""
        return self.ring.stats()

    @property
    def active(self) -> ClipHandle | None:
        """The running recording, if any."""
        job = self._job
        return job.handle if job is not None and not job.closing else None

    def on_packet(self, packet: av.Packet) -> None:
        """The reader's `on_packet` hook (reader thread): buffer and forward to a running clip.

        Then `then` (the live view) is called with the packet, under the buffer's lock.
        """
        with self.ring.lock:
            pkt = self.ring.add(packet)
            job = self._job
            if pkt is not None:
                if job is not None and not job.closing:
                    job.queue.put(pkt)
                if self.archive_feed is not None:
                    self.archive_feed(pkt)
            if self.then is not None:
                self.then(packet)

    def record(
        self,
        duration: float = 30.0,
        pre_event: float | None = None,
        trigger: Trigger | None = None,
        reason: str = "",
        case_number: str | None = None,
        metadata: CameraMetadata | None = None,
    ) -> ClipHandle:
        """Start a clip (or extend the running one); see the module docstring.

        `pre_event` defaults to the buffer's and is capped by what is buffered. Any thread.
        Raises `RecordingError` if the clip's file cannot be created, `RuntimeError` after stop().
        """
        trigger = trigger or Trigger()
        now_mono, now_wall = self._clock(), self._wallclock()
        end = now_mono + max(0.0, float(duration))
        call = TriggerCall(datetime.fromtimestamp(now_wall, UTC), trigger, reason, case_number)
        lookback = self.ring.pre_event if pre_event is None else pre_event
        lookback = min(MAX_PRE_EVENT, max(0.0, float(lookback)))
        with self.ring.lock:
            if self._stopped:
                raise RuntimeError("recorder stopped")
            if (handle := self._extend(end, call)) is not None:
                return handle
            backlog = self.ring.packets_from(now_mono - lookback)
        start_mono = backlog[0].mono if backlog else now_mono
        start = datetime.fromtimestamp(now_wall - (now_mono - start_mono), UTC)
        # File I/O outside the lock: the reader thread must not wait on the disk.
        first = reserve(self.root, self.camera, start, trigger.kind, ".mp4", self.tz)
        with self.ring.lock:
            if self._stopped:
                discard(first)
                raise RuntimeError("recorder stopped")
            if (handle := self._extend(end, call)) is not None:  # another call won the race
                discard(first)
                return handle
            backlog = self.ring.packets_from(now_mono - lookback)
            recording_id = uuid.uuid4().hex[:12]
            handle = ClipHandle(recording_id, self.camera, first, end)
            job = _Job(
                handle=handle,
                first=first,
                backlog=backlog,
                trigger=trigger,
                reason=reason,
                case_number=case_number,
                metadata=metadata or self.metadata,
                calls=[call],
            )
            self._job = job
            thread = threading.Thread(
                target=self._write, args=(job,), name=f"anninh-rec {self.camera}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()
        return handle

    def _extend(self, end: float, call: TriggerCall) -> ClipHandle | None:
        job = self._job
        if job is None or job.closing:
            return None
        job.handle.end_mono = max(job.handle.end_mono, end)
        job.handle.calls += 1
        job.calls.append(call)
        if not job.case_number and call.case_number:
            job.case_number = call.case_number
        return job.handle

    def snapshot(
        self,
        jpeg: bytes,
        trigger: Trigger | None = None,
        reason: str = "",
        case_number: str | None = None,
        metadata: CameraMetadata | None = None,
        at: datetime | None = None,
    ) -> ClipInfo:
        """Store a JPEG of this camera; see `save_snapshot`."""
        return save_snapshot(
            self.root,
            self.camera,
            jpeg,
            trigger=trigger,
            reason=reason,
            case_number=case_number,
            metadata=metadata or self.metadata,
            tz=self.tz,
            at=at,
        )

    def finish(self) -> None:
        """End the running clip now (it is committed as usual)."""
        with self.ring.lock:
            job = self._job
            if job is not None:
                job.handle.end_mono = min(job.handle.end_mono, self._clock())
                job.queue.put(_STOP)

    def stop(self, timeout: float = 30.0) -> bool:
        """End the running clip, wait for writers; True if all finished within `timeout`."""
        with self.ring.lock:
            self._stopped = True
        self.finish()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    # ---------------------------------------------------------------------------- writer
    def wall(self, mono: float) -> float:
        """The wall-clock time (epoch s) of a moment on the recorder's monotonic clock."""
        return self._wallclock() - (self._clock() - mono)

    def _write(self, job: _Job) -> None:
        part: _Part | None = None
        reservation: Reservation | None = job.first
        previous: str | None = None
        pending = deque(job.backlog)
        job.backlog = []
        handle = job.handle
        try:
            while True:
                if pending:
                    item: Any = pending.popleft()
                else:
                    try:
                        item = job.queue.get(timeout=0.25)
                    except queue.Empty:
                        item = None
                with self.ring.lock:
                    if (
                        item is _STOP
                        or (item is None and self._clock() >= handle.end_mono + self.end_grace)
                        or (isinstance(item, BufferedPacket) and item.mono >= handle.end_mono)
                    ):
                        job.closing = True
                    if job.closing:
                        self._job = None if self._job is job else self._job
                        break
                if not isinstance(item, BufferedPacket):
                    continue
                if part is not None and item.segment != part.seg.number:
                    # Discontinuity: end this part, continue in a new one.
                    if not item.key:
                        continue
                    nxt = self._reserve_part(job, item, part)
                    if nxt is None:
                        part = None
                        break
                    self._close_part(job, part, next_clip_id=nxt.clip_id)
                    previous, part, reservation = part.reservation.clip_id, None, nxt
                if part is None:
                    if not item.key:
                        continue
                    if reservation is None:
                        break
                    part = self._open_part(job, reservation, item, previous)
                    reservation = None
                    if part is None:
                        break
                if not self._mux(job, part, item):
                    part = None
                    break
            if part is not None:
                self._close_part(job, part, next_clip_id=None)
            elif reservation is not None:
                discard(reservation)
                if not handle.infos and not handle.failures:
                    self._fail(job, reservation, len(handle.clip_ids), Problem.NO_VIDEO)
        except Exception:  # a bug: never leave a temp file or a hanging waiter
            _LOGGER.exception("Camera %s: recording crashed", self.camera)
            if part is not None:
                part.abort()
                self._fail(job, part.reservation, part.number, Problem.WRITE_ERROR)
        finally:
            with self.ring.lock:
                job.closing = True
                if self._job is job:
                    self._job = None
            handle._done.set()

    def _reserve_part(self, job: _Job, first: BufferedPacket, part: _Part) -> Reservation | None:
        start = datetime.fromtimestamp(self.wall(first.mono), UTC)
        try:
            nxt = reserve(self.root, self.camera, start, job.trigger.kind, ".mp4", self.tz)
        except RecordingError as err:
            self._close_part(job, part, next_clip_id=None)
            self._fail(job, None, part.number + 1, err.problem)
            return None
        job.handle._add_part(nxt)
        return nxt

    def _open_part(
        self, job: _Job, reservation: Reservation, first: BufferedPacket, previous: str | None
    ) -> _Part | None:
        number = job.handle.clip_ids.index(reservation.clip_id) + 1
        seg = self.ring.segment(first)
        if seg.template is None:
            discard(reservation)
            self._fail(job, reservation, number, Problem.UNSUPPORTED_CODEC)
            return None
        try:
            part = _Part(reservation, seg, first, number, previous, self.wall(first.mono))
        except (OSError, av.error.FFmpegError) as err:
            discard(reservation)
            self._fail(job, reservation, number, _problem(err))
            return None
        ref = ClipRef(
            reservation.clip_id, self.camera, reservation.path, job.handle.recording_id, number
        )
        if self.on_clip_started is not None:
            self.on_clip_started(ref)
        return part

    def _mux(self, job: _Job, part: _Part, pkt: BufferedPacket) -> bool:
        try:
            part.mux(pkt)
        except (OSError, av.error.FFmpegError) as err:
            part.abort()
            self._fail(job, part.reservation, part.number, _problem(err))
            return False
        return True

    def _close_part(self, job: _Job, part: _Part, next_clip_id: str | None) -> None:
        try:
            part.close()
        except (OSError, av.error.FFmpegError) as err:
            part.abort()
            self._fail(job, part.reservation, part.number, _problem(err))
            return
        start = datetime.fromtimestamp(part.start_wall, UTC)
        end = datetime.fromtimestamp(part.start_wall + part.seconds, UTC)
        handle = job.handle
        with self.ring.lock:
            calls = tuple(c.as_dict() for c in job.calls)
            case_number = job.case_number
        sidecar = Sidecar(
            kind="video",
            clip_id=part.reservation.clip_id,
            recording_id=handle.recording_id,
            part=part.number,
            previous_clip_id=part.previous,
            next_clip_id=next_clip_id,
            segments=tuple(handle.clip_ids),
            metadata=job.metadata,
            camera_id=self.camera,
            start=start,
            end=end,
            trigger=job.trigger,
            triggers=calls,
            reason=job.reason,
            case_number=case_number,
            video=VideoFacts(
                codec=part.seg.codec,
                width=part.seg.width,
                height=part.seg.height,
                frames=part.frames,
                key_frames=part.key_frames,
            ),
        )
        try:
            sidecar = commit(part.reservation, sidecar)
        except RecordingError as err:
            self._fail(job, part.reservation, part.number, err.problem)
            return
        info = ClipInfo(
            clip_id=part.reservation.clip_id,
            camera=self.camera,
            path=part.reservation.path,
            sidecar_path=part.reservation.sidecar,
            recording_id=handle.recording_id,
            part=part.number,
            start=start,
            end=end,
            sidecar=sidecar,
        )
        handle.infos.append(info)
        if self.on_clip_finished is not None:
            self.on_clip_finished(info)

    def _fail(
        self, job: _Job, reservation: Reservation | None, number: int, problem: Problem
    ) -> None:
        clip_id = reservation.clip_id if reservation else ""
        path = reservation.path if reservation else self.root
        ref = ClipRef(clip_id, self.camera, path, job.handle.recording_id, number)
        job.handle.failures.append((ref, problem))
        _LOGGER.warning("Camera %s: clip %s failed: %s", self.camera, clip_id, problem)
        if self.on_clip_failed is not None:
            self.on_clip_failed(ref, problem)


def _problem(err: Exception) -> Problem:
    if isinstance(err, OSError) and err.errno is not None:
        return as_recording_error(err).problem
    return Problem.WRITE_ERROR


def mux_buffered(
    container: Any, stream: Any, pkt: BufferedPacket, base: int, time_base: Fraction
) -> int:
    """Mux a buffered packet with its timestamps moved back by `base`; its end timestamp."""
    packet = av.Packet(pkt.data)
    packet.pts = pkt.pts - base
    packet.dts = pkt.dts - base
    packet.duration = pkt.duration
    packet.time_base = time_base
    packet.is_keyframe = pkt.key
    packet.stream = stream
    container.mux(packet)
    return packet.pts + pkt.duration


class _Part:
    """One MP4 being written by stream copy (writer thread only)."""

    def __init__(
        self,
        reservation: Reservation,
        seg: _Segment,
        first: BufferedPacket,
        number: int,
        previous: str | None,
        start_wall: float,
    ) -> None:
        self.reservation = reservation
        self.seg = seg
        self.number = number
        self.previous = previous
        self.start_wall = start_wall
        self.base = min(first.pts, first.dts)
        self.frames = 0
        self.key_frames = 0
        self.end_ts = 0
        self._closed = False
        self.container: Any = av.open(str(reservation.temp), mode="w", format="mp4")
        try:
            self.stream = self.container.add_stream_from_template(self.seg.template, opaque=True)
            self.stream.time_base = self.seg.time_base
        except BaseException:
            self.abort()
            raise

    @property
    def seconds(self) -> float:
        return float((self.end_ts) * self.seg.time_base)

    def mux(self, pkt: BufferedPacket) -> None:
        end = mux_buffered(self.container, self.stream, pkt, self.base, self.seg.time_base)
        self.frames += 1
        self.key_frames += pkt.key
        self.end_ts = max(self.end_ts, end)

    def close(self) -> None:
        self._closed = True
        self.container.close()

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self.container.close()
        discard(self.reservation)


# ---------------------------------------------------------------------------------- snapshots
def save_snapshot(
    root: Path,
    camera: str,
    jpeg: bytes,
    *,
    trigger: Trigger | None = None,
    reason: str = "",
    case_number: str | None = None,
    metadata: CameraMetadata | None = None,
    tz: tzinfo | None = None,
    at: datetime | None = None,
) -> ClipInfo:
    """Store a JPEG as ``<root>/<camera>/<day>/<HHMMSS>_<trigger>.jpg`` plus its sidecar.

    Same atomic write and sidecar as clips (``kind`` "snapshot", start = end = `at`, default now).
    Blocking; raises `RecordingError`.
    """
    trigger = trigger or Trigger()
    moment = at or datetime.now(UTC)
    reservation = reserve(Path(root), camera, moment, trigger.kind, ".jpg", tz)
    try:
        with reservation.temp.open("wb") as handle:
            handle.write(jpeg)
    except OSError as err:
        discard(reservation)
        raise as_recording_error(err, reservation.path) from err
    meta = metadata or CameraMetadata(name=camera)
    sidecar = commit(
        reservation,
        Sidecar(
            kind="snapshot",
            clip_id=reservation.clip_id,
            segments=(reservation.clip_id,),
            metadata=meta,
            camera_id=camera,
            start=moment,
            end=moment,
            trigger=trigger,
            triggers=(TriggerCall(moment, trigger, reason, case_number).as_dict(),),
            reason=reason,
            case_number=case_number,
        ),
    )
    return ClipInfo(
        clip_id=reservation.clip_id,
        camera=camera,
        path=reservation.path,
        sidecar_path=reservation.sidecar,
        recording_id="",
        part=1,
        start=moment.astimezone(UTC),
        end=moment.astimezone(UTC),
        sidecar=sidecar,
    )
