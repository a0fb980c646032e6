"""A camera shared by a household's own Home Assistant: masked at home, pushed to the station.

At the resident's HA, `ShareStreamer` reads the household's camera (its RTSP/HTTP stream, or its
snapshots a few times a second), burns the privacy masks into the pixels (luma to black, chroma to
grey) and only then encodes (H.264, libx264, zero latency, at most 1280x720) and muxes MPEG-TS:
no unmasked pixel is ever encoded, so none can leave the house. `on_chunk(bytes)` gets the muxed
bytes on the streamer's thread (the HA layer sends them over its WebSocket to the station);
`on_chunk(b"")` marks the end of a stream (paused, outside the schedule, source lost). The thread
runs only while `active`; `set_active(False)` stops the next frame from being encoded at once.

At the station, `PushFeed` holds the bytes one share pushes. `StreamSource.parse("anninh-share:ID")`
opens it as an MPEG-TS input, so a shared camera is read by the same `StreamReader` as a donated
one (motion, 24/7 recording, live view, evidence). The end of a pushed stream is the end of the
input: the reader says so and opens the next stream when bytes come again.

Secrets: `new_secret()` (256 bits) and `new_invitation_code()` (120 bits, typed by a person,
one-time, short-lived, rate-limited) are kept at the station only as `digest()`, compared with
`matches()` (constant time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from .motion import rasterise
from .source import SourceKind, StreamOpenError, StreamProblem, StreamSource
from .stream import Backoff

_LOGGER = logging.getLogger(__name__)

FEED_LIMIT = 8 * 1024 * 1024  # bytes buffered per share before new chunks are dropped
_TS_CLOCK = 90_000

type Polygon = Sequence[tuple[float, float]]


# -- secrets ------------------------------------------------------------------------------------
def new_secret() -> str:
    """A share's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_invitation_code() -> str:
    """An invitation code a person can type: 24 base32 letters (120 bits) in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_code(code: str) -> str:
    """A typed code without spaces, dashes or case (base32 has no 0/1/8: read them as O/I/B)."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return cleaned.translate(str.maketrans("018", "OIB"))


def digest(secret: str) -> str:
    """What the station keeps of a secret or code."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, kept_digest: str) -> bool:
    """Whether `secret` is the one `kept_digest` was made from (constant time)."""
    return hmac.compare_digest(digest(secret), kept_digest)


def fingerprint(station_key: str) -> str:
    """A station's fingerprint, shown with its invitations and checked by the household's HA."""
    raw = hashlib.sha256(("anninh-station:" + station_key).encode()).hexdigest()[:16].upper()
    return " ".join(raw[i : i + 4] for i in range(0, 16, 4))


# -- masks --------------------------------------------------------------------------------------
def mask_planes(
    polygons: Sequence[Polygon], width: int, height: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
    """Pixels to blank in a yuv420p picture: (luma, chroma) masks, or None without polygons.

    A chroma sample is blanked when any of the four luma pixels it covers is: a mask's edge never
    keeps the colour of a pixel inside it.
    """
    if not polygons:
        return None
    luma = rasterise([list(p) for p in polygons], height, width)
    chroma = np.asarray(luma.reshape(height // 2, 2, width // 2, 2).any(axis=(1, 3)), np.bool_)
    return luma, chroma


def burn_masks(
    picture: npt.NDArray[np.uint8],
    masks: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
) -> None:
    """Blank the masked pixels of a yuv420p picture (`VideoFrame.to_ndarray()` layout), in place."""
    luma, chroma = masks
    height, width = luma.shape
    picture[:height][luma] = 16  # black in limited range
    u = picture[height : height + height // 4].reshape(height // 2, width // 2)
    v = picture[height + height // 4 :].reshape(height // 2, width // 2)
    u[chroma] = 128
    v[chroma] = 128


def fitted_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The picture size sent: the camera's, scaled down to fit, even in both directions."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


# -- the household's side -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShareQuality:
    """What the household sends: the picture's largest size, its rate and bit rate."""

    max_width: int = 1280
    max_height: int = 720
    fps: int = 10
    kbit_per_s: int = 1200
    keyframe_seconds: float = 2.0
    snapshot_fps: float = 2.0


@dataclass(slots=True)
class StreamerStats:
    """Counters read by the HA layer (diagnostics, audit)."""

    frames_sent: int = 0
    bytes_sent: int = 0
    streams: int = 0
    size: tuple[int, int] | None = None
    problem: str | None = None


class _ChunkWriter:
    """The muxer's file: every write goes straight to `on_chunk`."""

    def __init__(self, on_chunk: Callable[[bytes], None], stats: StreamerStats) -> None:
        self._on_chunk = on_chunk
        self._stats = stats

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        self._stats.bytes_sent += len(chunk)
        self._on_chunk(chunk)
        return len(chunk)


class _Encoder:
    """One MPEG-TS stream of masked H.264, started at the first picture's size."""

    def __init__(
        self,
        size: tuple[int, int],
        quality: ShareQuality,
        masks: Sequence[Polygon],
        writer: _ChunkWriter,
    ) -> None:
        self.size = size
        width, height = size
        self._container: Any = av.open(
            writer, mode="w", format="mpegts", options={"flush_packets": "1"}
        )
        stream: Any = self._container.add_stream("libx264", rate=quality.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, _TS_CLOCK)
        stream.bit_rate = quality.kbit_per_s * 1000
        gop = max(1, round(quality.fps * quality.keyframe_seconds))
        stream.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:"
                f"vbv-maxrate={quality.kbit_per_s}:vbv-bufsize={quality.kbit_per_s}"
            ),
        }
        stream.thread_count = 1
        self._stream = stream
        self._masks = mask_planes(masks, width, height)
        self._start: float | None = None
        self._last_pts = -1

    def encode(self, frame: av.VideoFrame, now: float) -> None:
        width, height = self.size
        yuv = frame.reformat(width=width, height=height, format="yuv420p")
        picture = np.asarray(yuv.to_ndarray(), np.uint8)
        if self._masks is not None:
            burn_masks(picture, self._masks)
        masked = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        if self._start is None:
            self._start = now
        pts = max(self._last_pts + 1, round((now - self._start) * _TS_CLOCK))
        self._last_pts = pts
        masked.pts, masked.time_base = pts, Fraction(1, _TS_CLOCK)
        for packet in self._stream.encode(masked):
            self._container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


class ShareStreamer:
    """The household's camera, masked, encoded and handed out as MPEG-TS, while active."""

    def __init__(
        self,
        name: str,
        on_chunk: Callable[[bytes], None],
        *,
        source: StreamSource | None = None,
        snapshot: Callable[[], bytes | None] | None = None,
        masks: Sequence[Polygon] = (),
        quality: ShareQuality | None = None,
    ) -> None:
        """`source` is read when given, else `snapshot()` (JPEG bytes) is polled."""
        if source is None and snapshot is None:
            raise ValueError("a share needs a stream or snapshots")
        self.name = name
        self.source = source
        self.snapshot = snapshot
        self.quality = quality or ShareQuality()
        self.stats = StreamerStats()
        self._masks: tuple[Polygon, ...] = tuple(masks)
        self._on_chunk = on_chunk
        self._active = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._restart = False
        self._thread: threading.Thread | None = None
        self.backoff = Backoff()

    @property
    def active(self) -> bool:
        """Whether pictures are being sent."""
        return self._active.is_set()

    def start(self) -> None:
        """Start the thread (it sends nothing until `set_active(True)`)."""
        self._thread = threading.Thread(target=self._run, name=f"anninh-share-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """End the thread; False if it did not end within `timeout`."""
        self._stop.set()
        self._active.clear()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def set_active(self, active: bool) -> None:
        """Send pictures, or stop before the next one is encoded."""
        if active:
            self._active.set()
        else:
            self._active.clear()
        self._wake.set()

    def set_masks(self, masks: Sequence[Polygon]) -> None:
        """New masks: the stream starts again with them from its next picture."""
        self._masks = tuple(masks)
        self._restart = True

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self._active.wait(0.5):
                continue
            try:
                problem = self._stream_once()
            except Exception:  # a bug: say so, keep the household's HA running
                _LOGGER.exception("Share %s: streamer error (a bug)", self.name)
                problem = StreamProblem.DECODE_ERROR
            self.stats.problem = problem.value if problem else None
            if problem is None:
                failures = 0
                continue
            failures += 1
            self._wake.clear()
            self._wake.wait(self.backoff.delay(failures))

    def _frames(self) -> Any:
        """Decoded pictures from the camera, as they come (stream) or polled (snapshots)."""
        if self.source is not None:
            is_file = self.source.kind is SourceKind.FILE
            while True:  # a file (the demo's, tests') plays at its own rate, looped
                container = self.source.open(10.0, 10.0)
                try:
                    stream = container.streams.video[0]
                    stream.codec_context.thread_count = 1
                    started = time.monotonic()
                    for frame in container.decode(stream):
                        if is_file and frame.time is not None:
                            self._stop.wait(max(0.0, started + frame.time - time.monotonic()))
                        yield frame
                finally:
                    container.close()
                if not is_file:
                    return
        assert self.snapshot is not None
        decoder: Any = av.CodecContext.create("mjpeg", "r")
        interval = 1.0 / self.quality.snapshot_fps
        while self._active.is_set():
            started = time.monotonic()
            jpeg = self.snapshot()
            if jpeg is None:
                raise StreamOpenError(StreamProblem.CANNOT_CONNECT, "no snapshot")
            yield from decoder.decode(av.Packet(jpeg))
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _stream_once(self) -> StreamProblem | None:
        """One stream: from the first picture until inactive, stopped or the source fails."""
        writer = _ChunkWriter(self._on_chunk, self.stats)
        encoder: _Encoder | None = None
        interval = 1.0 / self.quality.fps
        next_at = 0.0
        self._restart = False
        try:
            for frame in self._frames():
                if not self._active.is_set() or self._stop.is_set() or self._restart:
                    return None
                now = time.monotonic()
                if now < next_at:
                    continue
                next_at = max(now, next_at + interval) if next_at else now + interval
                if encoder is None:
                    q = self.quality
                    size = fitted_size(frame.width, frame.height, q.max_width, q.max_height)
                    encoder = _Encoder(size, q, self._masks, writer)
                    self.stats.size = size
                    self.stats.streams += 1
                encoder.encode(frame, now)
                self.stats.frames_sent += 1
            return StreamProblem.CANNOT_CONNECT
        except StreamOpenError as err:
            return err.problem
        except (av.FFmpegError, OSError) as err:
            _LOGGER.debug("Share %s: camera read failed: %r", self.name, err, exc_info=True)
            return StreamProblem.CANNOT_CONNECT
        finally:
            if encoder is not None:
                try:
                    encoder.close()
                except (av.FFmpegError, OSError):
                    _LOGGER.debug("Share %s: closing the encoder failed", self.name)
                self._on_chunk(b"")


# -- the station's side -------------------------------------------------------------------------
class PushFeed:
    """The bytes one share pushes, read as a file by the station's stream reader.

    `write` (any thread, never blocks) queues a chunk; `end()` marks the end of a stream; `read`
    (the reader's thread) waits for bytes up to its timeout. Beyond `limit` bytes queued, chunks
    are dropped (counted) and the rest of that stream with them, so the reader resynchronises on
    the next stream rather than decoding a torn one.
    """

    def __init__(self, limit: int = FEED_LIMIT) -> None:
        self.limit = limit
        self._chunks: deque[bytes | None] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._interrupted = False
        self._dropping = False
        self.bytes_in = 0
        self.dropped = 0

    def write(self, data: bytes) -> bool:
        """Queue a chunk; False when it was dropped."""
        with self._cond:
            if self._dropping or self._queued + len(data) > self.limit:
                self._dropping = True
                self.dropped += len(data)
                return False
            self._chunks.append(data)
            self._queued += len(data)
            self.bytes_in += len(data)
            self._cond.notify_all()
        return True

    def end(self) -> None:
        """The sender ended its stream (or went away): the reader sees the end of its input."""
        with self._cond:
            self._dropping = False
            if self._chunks and self._chunks[-1] is None:
                return
            self._chunks.append(None)
            self._cond.notify_all()

    def interrupt(self) -> None:
        """Make a blocked `read` return the end of input now, and every read until `resume`."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    def resume(self) -> None:
        """Undo `interrupt`; what was queued meanwhile is dropped."""
        with self._cond:
            self._interrupted = False
            self._chunks.clear()
            self._queued = 0

    def read(self, size: int, timeout: float) -> bytes:
        """Up to `size` bytes; b"" at the end of a stream, on timeout or when interrupted."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._chunks and not self._interrupted:
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._cond.wait(left)
            if self._interrupted:
                return b""
            head = self._chunks[0]
            if head is None:
                self._chunks.popleft()
                return b""
            if len(head) <= size:
                self._chunks.popleft()
                self._queued -= len(head)
                return head
            self._chunks[0] = head[size:]
            self._queued -= size
            return head[:size]


class _FeedFile:
    """The file-like object PyAV reads a `PushFeed` through."""

    def __init__(self, feed: PushFeed, timeout: float) -> None:
        self._feed = feed
        self._timeout = timeout

    def read(self, size: int) -> bytes:
        return self._feed.read(size, self._timeout)


_FEEDS: dict[str, PushFeed] = {}
_FEEDS_LOCK = threading.Lock()


def push_feed(share_id: str) -> PushFeed:
    """The feed of a share (made on first use; one per share in this process)."""
    with _FEEDS_LOCK:
        feed = _FEEDS.get(share_id)
        if feed is None:
            feed = _FEEDS[share_id] = PushFeed()
        return feed


def forget_feed(share_id: str) -> None:
    """Drop a share's feed (the shared camera was removed)."""
    with _FEEDS_LOCK:
        feed = _FEEDS.pop(share_id, None)
    if feed is not None:
        feed.interrupt()


def open_push(share_id: str, timeout: float, read_timeout: float) -> Any:
    """Open a share's feed as MPEG-TS; raises `StreamOpenError` when nothing comes in time."""
    feed = push_feed(share_id)
    try:
        return av.open(
            _FeedFile(feed, read_timeout),
            mode="r",
            format="mpegts",
            options={"analyzeduration": "500000", "probesize": "500000", "fflags": "nobuffer"},
            timeout=(timeout, read_timeout),
        )
    except (av.FFmpegError, OSError) as err:
        raise StreamOpenError(StreamProblem.CANNOT_CONNECT, type(err).__name__) from err
