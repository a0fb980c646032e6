"""The station's 24/7 recorder: fragmented MP4 segments per camera, an index, tiers, a budget.

Layout, under the station's recordings folder `root` (beside the clips of `storage`)::

    <root>/<camera>/.rec/<YYYYMMDD>/<YYYYMMDDTHHMMSS.mmmZ>.mp4    a segment (UTC start)
    <root>/<camera>/.rec/<YYYYMMDD>/motion.log                    motion intervals, JSON lines
    <root>/.index.sqlite3                                          the index (WAL)

The hidden ``.rec`` folder is invisible to clip browsing and clip retention. Segments are written
by stream copy from the packets the camera's `PacketRing` already holds (no decode), as
fragmented MP4 with fragments of at most `FRAGMENT_SECONDS` written to the file as soon as they
are complete and `fdatasync`ed every `FSYNC_SECONDS`: a `kill -9` or a power cut loses at most the
fragment being built and the last unsynced seconds; every complete fragment before stays playable.
A segment ends at the first key frame after `SEGMENT_SECONDS`, at a reconnect (a new stream), at a
pause of more than `GAP_SECONDS` in the packets (recorded as a gap), and when recording is
disarmed (``motion`` mode after the post-roll).

The index (`ArchiveIndex`, SQLite) has per segment: camera, path, start, end (UTC epoch seconds),
bytes, key-frame offsets (seconds from the start, float32) and whether it is complete; and the
motion intervals. It is a cache of the files: when it is missing or damaged, `Archive.start`
rebuilds it from the segments (demuxed) and the motion logs on a thread beside the writer. At
start `Archive.recover` first completes the rows of segments that were open when the process died
(their files cut back to the last complete fragment).

`WRITERS` writer threads per station (`Archive`), each with its share of the cameras, drain the
cameras' queues each `DRAIN_SECONDS`: sixty cameras cost four threads and a few wake-ups a second,
not a thread each or a wake-up per packet. The reader thread only appends a `BufferedPacket` to a
deque while the camera is armed (`CameraArchive.feed`); a queue the writers cannot keep up with
is dropped past `MAX_QUEUED` packets (memory first; the index shows the gap).

Modes (`CameraArchive.mode`): ``continuous`` is always armed; ``motion`` is armed from the
pre-event seconds before motion (taken from the ring) until `post_roll` after it, and while a mark
runs; ``events`` never (clips only, written by `Recorder.record`).

Keeping (`Archive.sweep`, `RetentionPolicy`): a segment's tier is the highest it overlaps:
evidence (a mark or clip marked as evidence: never deleted), marked (a mark: `marked_days`), motion
(`motion_days`) or continuous (`continuous_days`). When free space falls below `min_free_bytes`,
the oldest unprotected segments are deleted first, continuous before motion before marked, however
young. Deleting and marking are serialised by `storage.evidence_lock`.

Marks (`CameraArchive.mark`): what `anninh.record` makes with 24/7 or motion recording, a range
with its reason and trigger, as a sidecar of ``kind`` "mark" (see `storage`), instead of a clip.

`cut` writes one MP4 of any time range by stream copy across segments, starting at the key frame
at or before the start, and names the gaps; packets still only in the pre-event buffer are added.
`save_range` and `cut_evidence` join a range that is on disk byte for byte instead (`fmp4`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import queue
import shutil
import sqlite3
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from . import fmp4
from .recorder import BufferedPacket, ClipHandle, ClipInfo, PacketRing, mux_buffered
from .sidecar import CameraMetadata, Sidecar, Trigger, TriggerCall, VideoFacts, utc_iso
from .storage import (
    MARK_KIND,
    SIDECAR_SUFFIX,
    Problem,
    RecordingError,
    Reservation,
    as_recording_error,
    discard,
    evidence_lock,
    find_clips,
    reserve,
    sidecar_bytes,
    write_json_atomic,
)

_LOGGER = logging.getLogger(__name__)

REC_FOLDER = ".rec"
INDEX_NAME = ".index.sqlite3"
MOTION_LOG = "motion.log"
SEGMENT_SECONDS = 60.0
FRAGMENT_SECONDS = 1.0
FSYNC_SECONDS = 2.0
DRAIN_SECONDS = 0.25
WRITERS = 4  # writer threads of a station: muxing waits for the interpreter lock at each packet,
# and with 120 reader threads one writer got too little of it to keep up with 60 cameras
MAX_QUEUED = 1500  # packets (a minute at 25 fps): past that a camera's queue is dropped, a gap
GAP_SECONDS = 3.0  # a pause in packets this long ends the segment: the index shows a gap
MOTION_POST_ROLL = 10.0
SPACE_CHECK_SECONDS = 10.0
RETRY_SECONDS = 30.0  # after a write error (a full disk) before a camera tries again
MOTION_MARGIN = 5.0  # s around motion that the motion tier keeps
_TIME_BASE = Fraction(1, 90000)  # of cut output
_NAME_FORMAT = "%Y%m%dT%H%M%S"


class RecordingMode(StrEnum):
    """What a camera records on its own."""

    CONTINUOUS = "continuous"
    MOTION = "motion"
    EVENTS = "events"


class Tier(StrEnum):
    """Why a segment is kept (lowest first)."""

    CONTINUOUS = "continuous"
    MOTION = "motion"
    MARKED = "marked"
    EVIDENCE = "evidence"


_TIER_RANK = {tier: rank for rank, tier in enumerate(Tier)}


# ---------------------------------------------------------------------------------- names
def segment_name(start: float) -> str:
    """The file name of a segment starting at `start` (UTC epoch seconds)."""
    moment = datetime.fromtimestamp(start, UTC)
    return f"{moment.strftime(_NAME_FORMAT)}.{moment.microsecond // 1000:03d}Z.mp4"


def parse_segment_name(name: str) -> float | None:
    """The start (epoch seconds) a segment's file name says; None if it is not one."""
    try:
        stamp, millis = name.removesuffix("Z.mp4").split(".")
        moment = datetime.strptime(stamp, _NAME_FORMAT).replace(tzinfo=UTC)
        return moment.timestamp() + int(millis) / 1000
    except ValueError:
        return None


def day_folder(start: float) -> str:
    """The UTC day folder of a moment."""
    return datetime.fromtimestamp(start, UTC).strftime("%Y%m%d")


# ---------------------------------------------------------------------------------- index
@dataclass(frozen=True, slots=True)
class SegmentRow:
    """A segment in the index."""

    camera: str
    path: str  # relative to the root
    start: float
    end: float
    bytes: int
    keyframes: tuple[float, ...]  # seconds from start
    complete: bool


@dataclass(frozen=True, slots=True)
class Interval:
    """A span of time, UTC epoch seconds."""

    start: float
    end: float

    def overlaps(self, start: float, end: float) -> bool:
        """Whether it shares time with [start, end)."""
        return self.start < end and start < self.end


@dataclass(frozen=True, slots=True)
class Timeline:
    """What exists of one camera in [start, end): video, gaps between, motion."""

    start: float
    end: float
    segments: list[SegmentRow]
    gaps: list[Interval]
    motion: list[Interval]

    def as_dict(self) -> dict[str, Any]:
        """For the HTTP API (times as epoch seconds)."""
        return {
            "start": self.start,
            "end": self.end,
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "bytes": s.bytes}
                for s in self.segments
            ],
            "gaps": [[round(g.start, 3), round(g.end, 3)] for g in self.gaps],
            "motion": [[round(m.start, 3), round(m.end, 3)] for m in self.motion],
        }


def find_gaps(
    spans: Iterable[tuple[float, float]], start: float, end: float, tolerance: float = 1.5
) -> list[Interval]:
    """The parts of [start, end) no span covers (pauses up to `tolerance` s are no gap)."""
    gaps: list[Interval] = []
    cursor = start
    for lo, hi in sorted(spans):
        if lo - cursor > tolerance:
            gaps.append(Interval(cursor, min(lo, end)))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if end - cursor > tolerance:
        gaps.append(Interval(cursor, end))
    return gaps


class ArchiveIndex:
    """The SQLite index of one recordings folder (a connection per thread)."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS segments (
            path TEXT PRIMARY KEY, camera TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
            bytes INTEGER NOT NULL, keyframes BLOB NOT NULL, complete INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS segments_by_time ON segments (camera, start);
        CREATE TABLE IF NOT EXISTS motion (
            camera TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL);
        CREATE INDEX IF NOT EXISTS motion_by_time ON motion (camera, start);
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / INDEX_NAME
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []  # every thread's, for `close_all`
        self.lock = threading.RLock()  # writes (SQLite serialises them too; this avoids BUSY)
        self.missing = not self.path.exists()  # to be rebuilt from the files (`rebuild`)
        try:
            self._db().executescript(self.SCHEMA)
        except sqlite3.DatabaseError as err:  # damaged: set it aside, start a new one
            _LOGGER.error("Archive index %s is damaged (%s): rebuilding it", self.path, err)
            self.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{self.path}{suffix}").replace(f"{self.path}{suffix}.damaged")
            self.missing = True
            self._db().executescript(self.SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self.lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
            with self.lock:
                self._connections.remove(db)

    def close_all(self) -> None:
        """Close every thread's connection (when the station stops); used again, it reopens."""
        with self.lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for db in connections:
            db.close()

    # -- writes --------------------------------------------------------------------------
    def put_segment(self, row: SegmentRow) -> None:
        """Insert or update a segment."""
        keyframes = array("f", row.keyframes).tobytes()
        with self.lock:
            self._db().execute(
                "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.path, row.camera, row.start, row.end, row.bytes, keyframes, row.complete),
            )

    def put_segments(self, rows: Iterable[SegmentRow]) -> None:
        """Several at once (one transaction)."""
        with self.lock:
            db = self._db()
            db.execute("BEGIN")
            try:
                for row in rows:
                    self.put_segment(row)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def delete_segment(self, path: str) -> None:
        """Forget a segment (its file is gone)."""
        with self.lock:
            self._db().execute("DELETE FROM segments WHERE path = ?", (path,))

    def add_motion(self, camera: str, start: float, end: float) -> None:
        """Record a motion interval."""
        with self.lock:
            self._db().execute("INSERT INTO motion VALUES (?, ?, ?)", (camera, start, end))

    def forget_motion_before(self, camera: str, before: float) -> None:
        """Drop motion intervals that ended before `before` (their video is gone)."""
        with self.lock:
            self._db().execute("DELETE FROM motion WHERE camera = ? AND end < ?", (camera, before))

    # -- reads ---------------------------------------------------------------------------
    @staticmethod
    def _row(values: tuple[Any, ...]) -> SegmentRow:
        path, camera, start, end, size, keyframes, complete = values
        frames = array("f")
        frames.frombytes(keyframes)
        return SegmentRow(camera, path, start, end, size, tuple(frames), bool(complete))

    def segments(
        self, camera: str | None = None, start: float = -math.inf, end: float = math.inf
    ) -> list[SegmentRow]:
        """Segments (of a camera, or all) that overlap [start, end), oldest first."""
        query = "SELECT * FROM segments WHERE end > ? AND start < ?"
        args: list[Any] = [start, end]
        if camera is not None:
            query += " AND camera = ?"
            args.append(camera)
        rows = self._db().execute(query + " ORDER BY start", args).fetchall()
        return [self._row(values) for values in rows]

    def open_segments(self) -> list[SegmentRow]:
        """Segments not completed (being written, or left by a crash)."""
        rows = self._db().execute("SELECT * FROM segments WHERE complete = 0").fetchall()
        return [self._row(values) for values in rows]

    def motion(
        self, camera: str, start: float = -math.inf, end: float = math.inf
    ) -> list[Interval]:
        """Motion intervals of a camera overlapping [start, end), oldest first."""
        rows = (
            self._db()
            .execute(
                "SELECT start, end FROM motion WHERE camera = ? AND end > ? AND start < ?"
                " ORDER BY start",
                (camera, start, end),
            )
            .fetchall()
        )
        return [Interval(lo, hi) for lo, hi in rows]

    def days(self, camera: str, tz: Any) -> list[str]:
        """Local days (YYYY-MM-DD in `tz`) with video of a camera, newest first."""
        rows = (
            self._db()
            .execute("SELECT start, end FROM segments WHERE camera = ?", (camera,))
            .fetchall()
        )
        found = {
            datetime.fromtimestamp(moment, tz).strftime("%Y-%m-%d")
            for row in rows
            for moment in row
        }
        return sorted(found, reverse=True)

    def extent(self, camera: str) -> tuple[float, float] | None:
        """The oldest start and newest end of a camera's video."""
        lo, hi = (
            self._db()
            .execute("SELECT MIN(start), MAX(end) FROM segments WHERE camera = ?", (camera,))
            .fetchone()
        )
        return None if lo is None else (lo, hi)

    def timeline(self, camera: str, start: float, end: float) -> Timeline:
        """Segments, gaps and motion of a camera in [start, end)."""
        segments = self.segments(camera, start, end)
        return Timeline(
            start,
            end,
            segments,
            find_gaps(((s.start, s.end) for s in segments), start, end),
            self.motion(camera, start, end),
        )

    # -- from the files alone --------------------------------------------------------------
    def rebuild(self) -> int:
        """Add what the segment files and motion logs hold; the segments added.

        Rows already there (written by the recorder meanwhile) are kept: this runs beside it.
        """
        added = 0
        for camera, day in _day_folders(self.root):
            rows = [
                row
                for path in sorted(day.glob("*.mp4"))
                if parse_segment_name(path.name) is not None and not path.is_symlink()
                if (row := scan_segment(self.root, camera, path)) is not None
            ]
            with self.lock:
                db = self._db()
                with db:
                    for row in rows:
                        added += db.execute(
                            "INSERT OR IGNORE INTO segments VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (
                                row.path,
                                row.camera,
                                row.start,
                                row.end,
                                row.bytes,
                                array("f", row.keyframes).tobytes(),
                                True,
                            ),
                        ).rowcount
                    db.executemany(
                        "INSERT INTO motion SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
                        " motion WHERE camera = ? AND start = ? AND end = ?)",
                        [(camera, lo, hi) * 2 for lo, hi in _read_motion_log(day / MOTION_LOG)],
                    )
        self.missing = False
        if added:
            _LOGGER.info("Archive index of %s rebuilt: %d segments", self.root, added)
        return added


def _day_folders(root: Path) -> Iterator[tuple[str, Path]]:
    """(camera, day folder) of every camera's 24/7 recording."""
    for camera_dir in sorted(root.iterdir()) if root.is_dir() else []:
        rec = camera_dir / REC_FOLDER
        if camera_dir.name.startswith(".") or not rec.is_dir() or camera_dir.is_symlink():
            continue
        for day in sorted(rec.iterdir()):
            if day.is_dir() and not day.is_symlink():
                yield camera_dir.name, day


def _read_motion_log(path: Path) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                item = json.loads(line)
                spans.append((float(item["s"]), float(item["e"])))
    return spans


def trim_to_fragments(path: Path) -> int:
    """Cut a fragmented MP4 back to its last complete fragment (after a crash); its size.

    Walks the top-level boxes; a box running past the end of the file, or a ``moof`` without
    its ``mdat``, is cut off.
    """
    size = path.stat().st_size
    good = 0
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= size:
            handle.seek(offset)
            header = handle.read(16)
            length = int.from_bytes(header[:4], "big")
            kind = header[4:8]
            if length == 1 and len(header) >= 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - offset
            if length < 8 or offset + length > size:
                break
            offset += length
            if kind != b"moof":  # a fragment counts once its mdat is whole
                good = offset
    if good < size:
        with path.open("r+b") as handle:
            handle.truncate(good)
    return good


def scan_segment(root: Path, camera: str, path: Path) -> SegmentRow | None:
    """A segment's row from its file (demuxed): start from its name, end and key frames."""
    start = parse_segment_name(path.name)
    if start is None:
        return None
    keyframes: list[float] = []
    last = 0.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = stream.time_base or Fraction(1, 90000)
            first: int | None = None
            for packet in container.demux(stream):
                if packet.dts is None or packet.size == 0:
                    continue
                if first is None:
                    first = packet.dts
                offset = float((packet.dts - first) * tb)
                if packet.is_keyframe:
                    keyframes.append(offset)
                last = max(last, offset + float((packet.duration or 0) * tb))
    except (OSError, av.error.FFmpegError, IndexError) as err:
        _LOGGER.warning("Segment %s cannot be read: %s", path, err)
        return None
    if not keyframes:
        return None
    return SegmentRow(
        camera,
        path.relative_to(root).as_posix(),
        start,
        start + last,
        path.stat().st_size,
        tuple(keyframes),
        True,
    )


# ---------------------------------------------------------------------------------- writing
class _SegmentFile:
    """One segment being written (writer thread only)."""

    def __init__(
        self, root: Path, camera: str, first: BufferedPacket, start: float, ring: PacketRing
    ):
        self.seg = ring.segment(first)
        if self.seg.template is None:
            raise ValueError(f"codec {self.seg.codec} cannot be recorded")
        folder = root / camera / REC_FOLDER / day_folder(start)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / segment_name(start)
        self.relative = self.path.relative_to(root).as_posix()
        self.camera = camera
        self.start = start
        self.first_mono = first.mono
        self.last_mono = first.mono
        self.base = min(first.pts, first.dts)
        self.first_dts = first.dts
        self.keyframes: list[float] = []
        self.end_ts = 0
        self.synced_at = first.mono
        # The name is taken exclusively; FFmpeg writes the file itself (no Python per write),
        # and this descriptor of the same file is what `fdatasync` and the size go through.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self.container: Any = av.open(
                str(self.path),
                mode="w",
                format="mp4",
                options={
                    "movflags": "frag_keyframe+empty_moov+default_base_moof",
                    "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)),
                    "flush_packets": "1",
                },
            )
            self.stream = self.container.add_stream_from_template(self.seg.template, opaque=True)
            self.stream.time_base = self.seg.time_base
        except BaseException:
            self.abort()
            self.path.unlink(missing_ok=True)
            raise

    @property
    def seconds(self) -> float:
        return float(self.end_ts * self.seg.time_base)

    @property
    def size(self) -> int:
        """Bytes in the file now."""
        return os.fstat(self.fd).st_size if self.fd >= 0 else self.path.stat().st_size

    def row(self, complete: bool) -> SegmentRow:
        return SegmentRow(
            self.camera,
            self.relative,
            self.start,
            self.start + self.seconds,
            self.size,
            tuple(self.keyframes),
            complete,
        )

    def mux(self, pkt: BufferedPacket) -> None:
        if pkt.key:
            self.keyframes.append(float((pkt.dts - self.first_dts) * self.seg.time_base))
        self.end_ts = max(
            self.end_ts,
            mux_buffered(self.container, self.stream, pkt, self.base, self.seg.time_base),
        )
        self.last_mono = pkt.mono

    def sync(self, now_mono: float) -> None:
        os.fdatasync(self.fd)
        self.synced_at = now_mono

    def close(self) -> None:
        try:
            self.container.close()
            os.fdatasync(self.fd)
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def abort(self) -> None:
        """After a write error: keep what is complete, drop the rest."""
        with contextlib.suppress(Exception):
            self.container.close()
        with contextlib.suppress(OSError):
            self._close_fd()
        with contextlib.suppress(OSError):
            trim_to_fragments(self.path)


class CameraArchive:
    """One camera's 24/7 recording: see the module docstring. Created by `Archive.add_camera`."""

    def __init__(
        self,
        archive: Archive,
        camera: str,
        ring: PacketRing,
        mode: RecordingMode,
        wall: Callable[[float], float],
        post_roll: float,
    ) -> None:
        self.archive = archive
        self.camera = camera
        self.ring = ring
        self.mode = mode
        self.post_roll = post_roll
        self.wall = wall
        self.queue: deque[BufferedPacket] = deque()
        self._armed_until = math.inf if mode is RecordingMode.CONTINUOUS else -math.inf
        self._motion_since: float | None = None  # wall
        self._file: _SegmentFile | None = None
        self._last_queued = -math.inf  # mono of the newest packet queued
        self.problem: Problem | None = None
        self._retry_at = 0.0
        self.bytes_received = 0
        self._bytes_closed = 0  # of segments closed
        self.closed = False
        self.shard = 0  # the writer thread that drains it
        self.overflows = 0  # times the queue was dropped (reader thread)
        self._overflows_seen = 0
        self._mark: _Mark | None = None
        self.on_mark_finished: Callable[[ClipInfo], None] | None = None

    @property
    def bytes_written(self) -> int:
        """Bytes of video files written so far (for the write amplification figure)."""
        current = self._file
        return self._bytes_closed + (current.size if current is not None else 0)

    # -- reader thread (under the ring's lock) -----------------------------------------------
    def feed(self, pkt: BufferedPacket) -> None:
        """A packet the ring has just buffered."""
        self.bytes_received += len(pkt.data)
        if pkt.mono <= self._armed_until and not self.closed:
            if len(self.queue) >= MAX_QUEUED:  # the writer is far behind: memory comes first
                self.queue.clear()
                self.overflows += 1
            self.queue.append(pkt)
            self._last_queued = pkt.mono

    # -- any thread ------------------------------------------------------------------------
    def arm(self, until_mono: float, lookback: float) -> None:
        """Record (at least) until `until_mono`, from `lookback` s back if not recording yet."""
        with self.ring.lock:
            if self._armed_until < until_mono:
                backlog = self.ring.packets_from(self.archive.clock() - lookback)
                self.queue.extend(p for p in backlog if p.mono > self._last_queued)
                if backlog:
                    self._last_queued = max(self._last_queued, backlog[-1].mono)
                self._armed_until = until_mono

    @property
    def armed(self) -> bool:
        """Whether packets are being recorded."""
        return self._armed_until >= self.archive.clock()

    def motion(self, active: bool, now_mono: float | None = None) -> None:
        """The detector's news: motion started or ended (arms the ``motion`` mode)."""
        now_mono = self.archive.clock() if now_mono is None else now_mono
        wall = self.wall(now_mono)
        if active:
            if self._motion_since is None:
                self._motion_since = wall
            if self.mode is RecordingMode.MOTION:
                self.arm(math.inf, self.ring.pre_event)
        else:
            since, self._motion_since = self._motion_since, None
            if since is not None:
                self.archive.add_motion(self.camera, since, wall)
            if self.mode is RecordingMode.MOTION:
                with self.ring.lock:
                    self._armed_until = now_mono + self.post_roll

    def hold(self, until_mono: float, lookback: float) -> None:
        """A mark: keep recording until `until_mono` whatever the mode (not in ``events``)."""
        if self.mode is RecordingMode.MOTION:
            self.arm(until_mono, lookback)

    def mark(
        self,
        duration: float,
        lookback: float,
        trigger: Trigger,
        reason: str,
        case_number: str | None,
        metadata: CameraMetadata,
        tz: Any = None,
    ) -> ClipHandle:
        """Mark [now - lookback, now + duration] instead of writing a clip (blocking I/O).

        While a mark runs, another call extends it (same handle, the call listed in its
        ``triggers``), like `Recorder.record`. The mark's sidecar is written at once and again
        when it is extended or ends; `on_mark_finished` is called (writer thread) once it ends.
        Raises `RecordingError`.
        """
        now_mono = self.archive.clock()
        now_wall = self.wall(now_mono)
        call = TriggerCall(datetime.fromtimestamp(now_wall, UTC), trigger, reason, case_number)
        end_mono = now_mono + max(0.0, duration)
        with evidence_lock:  # never while a sweep deletes
            mark = self._mark
            if mark is not None and mark.end_mono > now_mono:
                mark.end_mono = max(mark.end_mono, end_mono)
                mark.handle.end_mono = mark.end_mono
                mark.handle.calls += 1
                mark.sidecar = dataclasses.replace(
                    mark.sidecar,
                    end=datetime.fromtimestamp(self.wall(mark.end_mono), UTC),
                    triggers=(*mark.sidecar.triggers, call.as_dict()),
                    case_number=mark.sidecar.case_number or case_number,
                )
                write_json_atomic(mark.reservation.sidecar, mark.sidecar.to_json())
            else:
                start = datetime.fromtimestamp(now_wall - lookback, UTC)
                reservation = reserve(
                    self.archive.root, self.camera, start, trigger.kind, SIDECAR_SUFFIX, tz
                )
                recording_id = os.urandom(6).hex()
                sidecar = Sidecar(
                    kind=MARK_KIND,
                    clip_id=reservation.clip_id,
                    recording_id=recording_id,
                    segments=(reservation.clip_id,),
                    metadata=metadata,
                    camera_id=self.camera,
                    start=start,
                    end=datetime.fromtimestamp(self.wall(end_mono), UTC),
                    trigger=trigger,
                    triggers=(call.as_dict(),),
                    reason=reason,
                    case_number=case_number,
                )
                try:
                    write_json_atomic(reservation.sidecar, sidecar.to_json())
                except RecordingError:
                    discard(reservation)
                    raise
                handle = ClipHandle(recording_id, self.camera, reservation, end_mono)
                mark = self._mark = _Mark(reservation, sidecar, handle, end_mono)
        self.hold(mark.end_mono, lookback)
        return mark.handle

    def _finish_mark(self, now_mono: float) -> None:
        mark = self._mark
        if mark is None or now_mono < mark.end_mono:
            return
        self._mark = None
        handle = mark.handle
        info = ClipInfo(
            clip_id=handle.clip_id,
            camera=self.camera,
            path=mark.reservation.sidecar,
            sidecar_path=mark.reservation.sidecar,
            recording_id=handle.recording_id,
            part=1,
            start=mark.sidecar.start,
            end=mark.sidecar.end,
            sidecar=mark.sidecar,
        )
        handle.infos.append(info)
        handle._done.set()
        if self.on_mark_finished is not None:
            self.on_mark_finished(info)

    def motion_now(self) -> Interval | None:
        """The motion going on now, if any (to the current moment)."""
        since = self._motion_since
        return None if since is None else Interval(since, self.archive.wallclock())

    # -- writer thread ------------------------------------------------------------------------
    def drain(self, now_mono: float) -> list[SegmentRow]:
        """Mux what is queued; the index rows that changed."""
        rows: list[SegmentRow] = []
        self._finish_mark(now_mono)
        if self.problem is not None and now_mono < self._retry_at:
            self.queue.clear()
            return rows
        if self.overflows != self._overflows_seen:  # packets were dropped: a gap
            self._overflows_seen = self.overflows
            _LOGGER.warning("Camera %s: 24/7 recording fell behind, a gap was left", self.camera)
            if self._file is not None:
                rows += self._close()
        while self.queue:
            pkt = self.queue.popleft()
            current = self._file
            if current is not None and (
                pkt.segment != current.seg.number
                or pkt.mono - current.last_mono > GAP_SECONDS
                or (pkt.key and pkt.mono - current.first_mono >= SEGMENT_SECONDS - 0.01)
            ):
                rows += self._close()
                current = None
            if current is None:
                if not pkt.key:
                    continue
                current = self._open(pkt)
                if current is None:
                    self.queue.clear()
                    return rows
            try:
                current.mux(pkt)
            except (OSError, av.error.FFmpegError) as err:
                self._failed(err, now_mono)
                return rows
        current = self._file
        if current is not None:
            idle = now_mono - current.last_mono
            if idle > GAP_SECONDS or (now_mono > self._armed_until and idle > DRAIN_SECONDS):
                rows += self._close()
            elif now_mono - current.synced_at >= FSYNC_SECONDS:
                try:
                    current.sync(now_mono)
                    self.archive.fsyncs += 1
                except OSError as err:
                    self._failed(err, now_mono)
                    return rows
                rows.append(current.row(complete=False))
        return rows

    def _open(self, pkt: BufferedPacket) -> _SegmentFile | None:
        try:
            self._file = _SegmentFile(
                self.archive.root, self.camera, pkt, self.wall(pkt.mono), self.ring
            )
        except ValueError as err:
            _LOGGER.warning("Camera %s: %s", self.camera, err)
            self._set_problem(Problem.UNSUPPORTED_CODEC)
            self._retry_at = self.archive.clock() + RETRY_SECONDS
            return None
        except (OSError, av.error.FFmpegError) as err:
            self._failed(err, self.archive.clock())
            return None
        self._set_problem(None)
        self.archive.write_index(self.archive.index.put_segment, self._file.row(complete=False))
        self.archive.files_opened += 1
        return self._file

    def _close(self) -> list[SegmentRow]:
        current, self._file = self._file, None
        assert current is not None
        try:
            current.close()
            self.archive.fsyncs += 1
        except (OSError, av.error.FFmpegError) as err:
            self._failed(err, self.archive.clock(), current)
            return []
        row = current.row(complete=True)
        self._bytes_closed += row.bytes
        return [row]

    def _failed(self, err: Exception, now_mono: float, current: _SegmentFile | None = None) -> None:
        current = current or self._file
        self._file = None
        if current is not None:  # keep its whole fragments, indexed as they are now
            current.abort()
            row = scan_segment(self.archive.root, self.camera, current.path)
            if row is not None:
                self._bytes_closed += row.bytes
                self.archive.write_index(self.archive.index.put_segment, row)
            else:
                with contextlib.suppress(OSError):
                    current.path.unlink()
                self.archive.write_index(self.archive.index.delete_segment, current.relative)
        problem = (
            as_recording_error(err).problem
            if isinstance(err, OSError) and err.errno is not None
            else Problem.WRITE_ERROR
        )
        _LOGGER.error("Camera %s: 24/7 recording stopped (%s)", self.camera, problem)
        self._set_problem(problem)
        self._retry_at = now_mono + RETRY_SECONDS
        self.queue.clear()
        if problem is Problem.DISK_FULL:
            self.archive.request_space()

    def _set_problem(self, problem: Problem | None) -> None:
        if problem != self.problem:
            self.problem = problem
            if self.archive.on_problem is not None:
                self.archive.on_problem(self.camera, problem)

    def finish(self) -> list[SegmentRow]:
        """Close the open segment (writer thread, at stop)."""
        return [] if self._file is None else self._close()


@dataclass(slots=True)
class _Mark:
    reservation: Reservation
    sidecar: Sidecar
    handle: ClipHandle
    end_mono: float


def protections_of(root: Path) -> list[Protection]:
    """The ranges marks and clips protect, from their sidecars (blocking)."""
    found: list[Protection] = []
    for entry in find_clips(root):
        sidecar = entry.sidecar
        if sidecar is None or (entry.kind != MARK_KIND and sidecar.evidence is None):
            continue
        found.append(
            Protection(
                entry.camera,
                sidecar.start.timestamp(),
                sidecar.end.timestamp(),
                sidecar.evidence is not None,
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days per tier (0: keep until the budget needs the space) and the free space to keep."""

    continuous_days: float = 7
    motion_days: float = 30
    marked_days: float = 90
    min_free_bytes: int = 10 * 1024**3

    def days(self, tier: Tier) -> float:
        """Days a tier keeps video (inf for evidence)."""
        return {
            Tier.CONTINUOUS: self.continuous_days,
            Tier.MOTION: self.motion_days,
            Tier.MARKED: self.marked_days,
        }.get(tier, math.inf) or math.inf


@dataclass(frozen=True, slots=True)
class Protection:
    """A range a mark or an evidence clip protects."""

    camera: str
    start: float
    end: float
    evidence: bool


@dataclass(slots=True)
class SweepResult:
    """What a sweep deleted and what the disk holds."""

    deleted: list[str] = field(default_factory=list)
    freed: int = 0
    forced: list[str] = field(default_factory=list)  # deleted by the budget before their days
    days_held: dict[str, float] = field(default_factory=dict)
    free_bytes: int = 0


class Archive:
    """The 24/7 recorder of one recordings folder; see the module docstring."""

    def __init__(
        self,
        root: Path,
        policy: RetentionPolicy | None = None,
        *,
        protections: Callable[[], list[Protection]] | None = None,
        on_problem: Callable[[str, Problem | None], None] | None = None,
        on_swept: Callable[[SweepResult], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.clock = clock
        self.wallclock = wallclock
        self.policy = policy or RetentionPolicy()
        self.protections = protections or list
        self.on_problem = on_problem
        self.on_swept = on_swept
        self.index = ArchiveIndex(self.root)
        self.cameras: dict[str, CameraArchive] = {}
        self.fsyncs = 0
        self.files_opened = 0
        self._removed: list[queue.SimpleQueue[CameraArchive]] = [
            queue.SimpleQueue() for _ in range(WRITERS)
        ]
        self._index_guard = threading.Lock()  # the index backlog, shared by the writers
        self._motion: queue.SimpleQueue[tuple[str, float, float]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._space_wanted = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_space_check = 0.0
        self._index_backlog: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._next_shard = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Recover segments a crash left open, start the writer thread, and rebuild a lost
        index beside it (recording does not wait for that)."""
        self.recover()
        self._threads = [
            threading.Thread(
                target=self._run, args=(shard,), name=f"anninh-archive-{shard}", daemon=True
            )
            for shard in range(WRITERS)
        ]
        for thread in self._threads:
            thread.start()
        if self.index.missing:
            threading.Thread(
                target=self._rebuild, name="anninh-archive-rebuild", daemon=True
            ).start()

    def _rebuild(self) -> None:
        try:
            self.index.rebuild()
        except Exception:  # a bug: recording goes on
            _LOGGER.exception("Archive index could not be rebuilt")
        finally:
            self.index.close()

    def recover(self) -> list[SegmentRow]:
        """Complete the index rows of segments left open (files cut to whole fragments)."""
        recovered: list[SegmentRow] = []
        for row in self.index.open_segments():
            path = self.root / row.path
            if not path.is_file():
                self.index.delete_segment(row.path)
                continue
            with contextlib.suppress(OSError):
                trim_to_fragments(path)
            scanned = scan_segment(self.root, row.camera, path)
            if scanned is None:
                self.index.delete_segment(row.path)
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            self.index.put_segment(scanned)
            recovered.append(scanned)
        if recovered:
            _LOGGER.info("Recovered %d segments left open by a crash", len(recovered))
        return recovered

    def stop(self, timeout: float = 10.0) -> bool:
        """Write what is queued, close every segment; True if done within `timeout`."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            return False
        self.index.close_all()
        return True

    def add_camera(
        self,
        camera: str,
        ring: PacketRing,
        mode: RecordingMode,
        wall: Callable[[float], float],
        post_roll: float = MOTION_POST_ROLL,
    ) -> CameraArchive:
        """Start recording a camera (its `feed` goes into the ring's listener)."""
        cam = CameraArchive(self, camera, ring, mode, wall, post_roll)
        cam.shard = self._next_shard
        self._next_shard = (self._next_shard + 1) % WRITERS
        old = self.cameras.get(camera)
        if old is not None:
            self.remove_camera(old)
        self.cameras[camera] = cam
        return cam

    def remove_camera(self, cam: CameraArchive) -> None:
        """Stop recording a camera: its queue is written and its segment closed."""
        cam.closed = True
        if self.cameras.get(cam.camera) is cam:
            del self.cameras[cam.camera]
        self._removed[cam.shard].put(cam)

    def add_motion(self, camera: str, start: float, end: float) -> None:
        """A motion interval (any thread): into the index and the day's motion log."""
        self._motion.put((camera, start, end))

    def request_space(self) -> None:
        """Run the budget sweep soon (the disk is full)."""
        self._space_wanted.set()

    # -- writer thread --------------------------------------------------------------------------
    def _run(self, shard: int) -> None:
        while True:
            stopping = self._stop.wait(DRAIN_SECONDS)
            try:
                self.drain(stopping, shard)
            except Exception:  # a bug: log it and keep recording the other cameras
                _LOGGER.exception("24/7 recorder: unexpected error")
            if stopping:
                break
        self.index.close()

    def drain(self, stopping: bool = False, shard: int | None = None) -> None:
        """One pass of a writer over its cameras (`shard`; all when None), every
        `DRAIN_SECONDS`; the first writer also does the index's, motion's and disk's chores."""
        now = self.clock()
        rows: list[SegmentRow] = []
        for cam in list(self.cameras.values()):
            if shard is None or cam.shard == shard:
                rows += cam.drain(now)
                if stopping:
                    rows += cam.finish()
        for number, removed in enumerate(self._removed):
            while (shard is None or number == shard) and not removed.empty():
                cam = removed.get()
                rows += cam.drain(now) + cam.finish()
        if rows:
            self.write_index(self.index.put_segments, rows)
        if shard not in (None, 0):
            return
        self._retry_index()
        while not self._motion.empty():
            camera, lo, hi = self._motion.get()
            self.write_index(self.index.add_motion, camera, lo, hi)
            self._log_motion(camera, lo, hi)
        if self._space_wanted.is_set() or now >= self._next_space_check:
            self._next_space_check = now + SPACE_CHECK_SECONDS
            self._space_wanted.clear()
            if self.free_bytes() < self.policy.min_free_bytes:
                self.sweep()

    def write_index(self, write: Callable[..., None], *args: Any) -> None:
        """Write to the index; on a full disk keep the write for the next pass (in order)."""
        with self._index_guard:
            if self._index_backlog:
                self._index_backlog.append((write, args))
                return
            try:
                write(*args)
            except sqlite3.OperationalError as err:
                _LOGGER.warning("Archive index not writable (%s): will retry", err)
                self._index_backlog.append((write, args))

    def _retry_index(self) -> None:
        with self._index_guard:
            backlog, self._index_backlog = self._index_backlog, []
        for write, args in backlog:
            self.write_index(write, *args)

    def _log_motion(self, camera: str, lo: float, hi: float) -> None:
        folder = self.root / camera / REC_FOLDER / day_folder(lo)
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / MOTION_LOG).open("a", encoding="utf-8") as log:
                log.write(json.dumps({"s": round(lo, 3), "e": round(hi, 3)}) + "\n")

    def free_bytes(self) -> int:
        """Free space on the recordings folder's disk."""
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return 0

    # -- keeping ---------------------------------------------------------------------------------
    def tier_of(
        self, row: SegmentRow, protections: list[Protection], motion: list[Interval]
    ) -> Tier:
        """The highest tier a segment overlaps."""
        tier = Tier.CONTINUOUS
        for p in protections:
            if p.camera == row.camera and p.start < row.end and row.start < p.end:
                if p.evidence:
                    return Tier.EVIDENCE
                tier = Tier.MARKED
        if tier is Tier.CONTINUOUS and any(
            m.overlaps(row.start - MOTION_MARGIN, row.end + MOTION_MARGIN) for m in motion
        ):
            tier = Tier.MOTION
        return tier

    def sweep(self, now: float | None = None) -> SweepResult:
        """Delete segments past their tier's days, then oldest-first to keep the free space."""
        now = self.wallclock() if now is None else now
        result = SweepResult()
        with evidence_lock:
            protections = self.protections()
            rows = [r for r in self.index.segments() if r.complete]
            motion = {cam: self.index.motion(cam) for cam in {r.camera for r in rows}}
            tiers = [(self.tier_of(r, protections, motion[r.camera]), r) for r in rows]
            keep: list[tuple[Tier, SegmentRow]] = []
            for tier, row in tiers:
                if now - row.end > self.policy.days(tier) * 86400:
                    self._delete(row, result)
                else:
                    keep.append((tier, row))
            need = self.policy.min_free_bytes - self.free_bytes()
            if need > 0:
                candidates = sorted(
                    (item for item in keep if item[0] is not Tier.EVIDENCE),
                    key=lambda item: (_TIER_RANK[item[0]], item[1].start),
                )
                gone: set[str] = set()
                for _tier, row in candidates:
                    if need <= 0:
                        break
                    size = self._delete(row, result)
                    need -= size
                    result.forced.append(row.path)
                    gone.add(row.path)
                keep = [item for item in keep if item[1].path not in gone]
            for cam in motion:
                extent = self.index.extent(cam)
                if extent is not None:
                    self.index.forget_motion_before(cam, extent[0])
            for _tier, row in keep:
                held = (now - row.start) / 86400
                result.days_held[row.camera] = max(result.days_held.get(row.camera, 0.0), held)
        result.free_bytes = self.free_bytes()
        if result.deleted:
            _LOGGER.info(
                "24/7 recorder: deleted %d segments (%d MB), %d for free space",
                len(result.deleted),
                result.freed // 1_000_000,
                len(result.forced),
            )
        if self.on_swept is not None:
            self.on_swept(result)
        return result

    def _delete(self, row: SegmentRow, result: SweepResult) -> int:
        path = self.root / row.path
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            size = 0
        except OSError as err:
            _LOGGER.warning("Segment %s could not be deleted: %s", row.path, err.strerror)
            return 0
        self.write_index(self.index.delete_segment, row.path)
        result.deleted.append(row.path)
        result.freed += size
        with contextlib.suppress(OSError):
            if not any(path.parent.glob("*.mp4")):
                shutil.rmtree(path.parent)
        return size


# ---------------------------------------------------------------------------------- cutting
@dataclass(frozen=True, slots=True)
class CutResult:
    """What `cut` wrote."""

    path: Path
    start: float  # of the first frame written (the key frame at or before the asked start)
    end: float
    frames: int
    gaps: list[Interval]
    codec: str
    width: int
    height: int


class NothingToCut(ValueError):
    """No video of the camera in the range."""


def _demux(root: Path, row: SegmentRow) -> Iterator[tuple[float, av.Packet, Any]]:
    """(wall time, packet, stream) of each packet of a segment, in decode order."""
    with av.open(str(root / row.path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        first: int | None = None
        for packet in container.demux(stream):
            if packet.dts is None or packet.size == 0:
                continue
            if first is None:
                first = packet.dts
            yield row.start + float((packet.dts - first) * tb), packet, stream


def cut(
    root: Path,
    index: ArchiveIndex,
    camera: str,
    start: float,
    end: float,
    dest: Path,
    ring: PacketRing | None = None,
    wall: Callable[[float], float] | None = None,
) -> CutResult:
    """Write the video of [start, end) to `dest` (an MP4) by stream copy; see the module docs.

    Raises `NothingToCut` when the camera has no video there, `OSError` when `dest` cannot be
    written (no partial file is left).
    """
    temp = dest.with_name(f".{dest.name}.tmp")
    writer = _CutWriter(temp)
    try:
        for row in index.segments(camera, start, end):
            gop: list[tuple[float, av.Packet, Any]] = []
            for t, packet, stream in _demux(root, row):
                if t >= end:
                    break
                if t < start:
                    if packet.is_keyframe:
                        gop = []
                    gop.append((t, packet, stream))
                    continue
                for item in gop:
                    writer.packet(*item)
                gop = []
                writer.packet(t, packet, stream)
        if ring is not None and wall is not None:
            # What is newer than the files: still in the muxer, or never written (events mode).
            written_to = writer.last_t
            for pkt in _from_key_before(ring, wall, start):
                t = wall(pkt.mono)
                if t >= end:
                    break
                if t > written_to + 1e-3:
                    writer.buffered(t, pkt, ring)
        if not writer.frames:
            raise NothingToCut(camera)
        writer.close()
        temp.replace(dest)
    except BaseException:
        writer.abort()
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return CutResult(
        dest,
        writer.first_t,
        writer.last_t,
        writer.frames,
        find_gaps(((lo, hi) for lo, hi in writer.spans), start, end),
        writer.codec,
        writer.width,
        writer.height,
    )


def _from_key_before(
    ring: PacketRing, wall: Callable[[float], float], start: float
) -> list[BufferedPacket]:
    """The ring's packets from its last key frame at or before the wall time `start`."""
    packets = ring.packets_from(-math.inf)
    first = 0
    for index, pkt in enumerate(packets):
        if pkt.key and wall(pkt.mono) <= start:
            first = index
    return packets[first:]


class _CutWriter:
    """Stream copy into one MP4 on a 90 kHz timeline set by each packet's wall time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.container: Any = None
        self.stream: Any = None
        self.frames = 0
        self.first_t = 0.0
        self.last_t = -math.inf
        self._last_dts = -1
        self.spans: list[list[float]] = []  # [first, last] of each run without a pause
        self.codec = ""
        self.width = self.height = 0

    def _open(self, template: Any, codec: str, width: int, height: int) -> None:
        self.container = av.open(str(self.path), mode="w", format="mp4")
        self.stream = self.container.add_stream_from_template(template, opaque=True)
        self.stream.time_base = _TIME_BASE
        self.codec, self.width, self.height = codec, width, height

    def _write(self, t: float, data: bytes, reorder: float, duration: float, key: bool) -> None:
        if self.frames == 0:
            self.first_t = t
        dts = max(self._last_dts + 1, round((t - self.first_t) / _TIME_BASE))
        packet = av.Packet(data)
        packet.dts = dts
        packet.pts = dts + max(0, round(reorder / _TIME_BASE))
        packet.duration = max(1, round(duration / _TIME_BASE))
        packet.time_base = _TIME_BASE
        packet.is_keyframe = key
        packet.stream = self.stream
        self.container.mux(packet)
        self._last_dts = dts
        self.frames += 1
        if self.spans and t <= self.spans[-1][1] + GAP_SECONDS / 2:
            self.spans[-1][1] = max(self.spans[-1][1], t + duration)
        else:
            self.spans.append([t, t + duration])
        self.last_t = max(self.last_t, t + duration)

    def packet(self, t: float, packet: av.Packet, stream: Any) -> None:
        if self.container is None:
            if not packet.is_keyframe:
                return
            ctx = stream.codec_context
            self._open(stream, ctx.name, ctx.width, ctx.height)
        tb = stream.time_base
        dts = packet.dts or 0
        reorder = float(((packet.pts or dts) - dts) * tb)
        self._write(
            t, bytes(packet), reorder, float((packet.duration or 0) * tb), packet.is_keyframe
        )

    def buffered(self, t: float, pkt: BufferedPacket, ring: PacketRing) -> None:
        seg = ring.segment(pkt)
        if self.container is None:
            if not pkt.key or seg.template is None:
                return
            self._open(seg.template, seg.codec, seg.width, seg.height)
        tb = seg.time_base
        self._write(t, pkt.data, float((pkt.pts - pkt.dts) * tb), float(pkt.duration * tb), pkt.key)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _joinable(
    root: Path, rows: list[SegmentRow], end: float, ring: PacketRing | None, start: float
) -> fmp4.Plan | None:
    """A byte-for-byte join of the range, when it is all on disk in compatible segments."""
    if not rows or (ring is not None and rows[-1].end < end - FRAGMENT_SECONDS):
        return None  # the newest seconds are only in the pre-event buffer: cut packets
    try:
        return fmp4.plan(((root / r.path, r.start) for r in rows), start, end)
    except fmp4.NotJoinable:
        return None


def save_range(
    root: Path,
    index: ArchiveIndex,
    camera: str,
    start: float,
    end: float,
    dest: Path,
    ring: PacketRing | None = None,
    wall: Callable[[float], float] | None = None,
) -> None:
    """The video of [start, end) as one MP4 at `dest` (joined when it can be, else `cut`)."""
    joined = _joinable(root, index.segments(camera, start, end), end, ring, start)
    if joined is None:
        cut(root, index, camera, start, end, dest, ring, wall)
        return
    temp = dest.with_name(f".{dest.name}.tmp")
    try:
        with temp.open("wb") as out:
            fmp4.write(joined, out)
        temp.replace(dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


type Sink = Callable[[bytes | memoryview], object]
type Producer = Callable[[Sink, Mapping[str, tuple[str, int]]], None]
type Member = tuple[str, Path | Producer]  # a name in the evidence ZIP: a file, or its writer


def cut_evidence(
    root: Path,
    index: ArchiveIndex,
    camera: str,
    start: float,
    end: float,
    workdir: Path,
    metadata: CameraMetadata,
    exporter: str,
    ring: PacketRing | None = None,
    wall: Callable[[float], float] | None = None,
    tz: Any = None,
) -> tuple[list[Member], dict[str, Any]]:
    """A range for an evidence ZIP: an MP4 and its sidecar (named like a clip, with ``"range"``
    as trigger), and the manifest's entry for it (asked range, cut range, gaps).

    When the range is on disk in segments that can be joined, the MP4 is written into the ZIP
    straight from the segments' bytes (`fmp4`); else it is cut packet by packet into `workdir`
    (`cut`), taking what only the pre-event buffer holds. Raises `NothingToCut` and `OSError`.
    """
    moment = datetime.fromtimestamp(start, UTC).astimezone(tz or UTC)
    stem = f"{camera}/{moment.strftime('%Y-%m-%d')}/{moment.strftime('%H%M%S')}_range"
    name = f"{stem}.mp4"
    rows = index.segments(camera, start, end)
    joined = _joinable(root, rows, end, ring, start)
    media: Path | Producer
    if joined is not None:
        plan = joined
        first, last, frames = plan.start, plan.end, plan.frames
        gaps_found = find_gaps(plan.spans(), start, end)
        codec, width, height = _video_facts(root / rows[0].path)

        def media(sink: Sink, _done: Mapping[str, tuple[str, int]]) -> None:
            fmp4.write(plan, sink)

    else:
        media = workdir / name
        media.parent.mkdir(parents=True, exist_ok=True)
        result = cut(root, index, camera, start, end, media, ring, wall)
        first, last, frames, gaps_found = result.start, result.end, result.frames, result.gaps
        codec, width, height = result.codec, result.width, result.height
    gaps = [
        {"start": _iso(g.start), "end": _iso(g.end), "seconds": round(g.end - g.start, 1)}
        for g in gaps_found
    ]
    requested = {"start": _iso(start), "end": _iso(end)}

    def sidecar(sink: Sink, done: Mapping[str, tuple[str, int]]) -> None:
        sha, size = done[name]
        record = Sidecar(
            kind="video",
            clip_id=stem,
            camera_id=camera,
            metadata=metadata,
            start=datetime.fromtimestamp(first, UTC),
            end=datetime.fromtimestamp(last, UTC),
            trigger=Trigger("range", exporter),
            segments=(stem,),
            video=VideoFacts(codec, width, height, frames, 0),
            file=name.rsplit("/", 1)[1],
            size=size,
            sha256=sha,
            extra={"requested": requested, "gaps": gaps},
        )
        sink(sidecar_bytes(record.to_json()))

    entry = {
        "camera": metadata.name or camera,
        "camera_id": camera,
        "requested": requested,
        "start": _iso(first),
        "end": _iso(last),
        "file": name,
        "gaps": gaps,
    }
    return [(name, media), (f"{stem}{SIDECAR_SUFFIX}", sidecar)], entry


def _video_facts(path: Path) -> tuple[str, int, int]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        name, width, height = ctx.name, ctx.width, ctx.height
    return name, width, height


def _iso(epoch: float) -> str:
    return utc_iso(datetime.fromtimestamp(epoch, UTC))


def hour_spans(timeline: Timeline, tz: Any) -> list[tuple[datetime, float, float]]:
    """Local hours of a timeline that have video: (hour start, seconds of video, of motion)."""
    hours: dict[datetime, list[float]] = {}
    for s in timeline.segments:
        cursor = max(s.start, timeline.start)
        stop = min(s.end, timeline.end)
        while cursor < stop:
            local = datetime.fromtimestamp(cursor, tz)
            hour = local.replace(minute=0, second=0, microsecond=0)
            nxt = min(stop, (hour + timedelta(hours=1)).timestamp())
            hours.setdefault(hour, [0.0, 0.0])[0] += nxt - cursor
            cursor = nxt
    for hour, figures in hours.items():
        lo, hi = hour.timestamp(), (hour + timedelta(hours=1)).timestamp()
        figures[1] = sum(max(0.0, min(m.end, hi) - max(m.start, lo)) for m in timeline.motion)
    return [(hour, video, motion) for hour, (video, motion) in sorted(hours.items())]


__all__ = [
    "Archive",
    "ArchiveIndex",
    "CameraArchive",
    "CutResult",
    "Interval",
    "NothingToCut",
    "Protection",
    "RecordingMode",
    "RetentionPolicy",
    "SegmentRow",
    "SweepResult",
    "Tier",
    "Timeline",
    "cut",
    "find_gaps",
    "hour_spans",
    "scan_segment",
    "trim_to_fragments",
]
