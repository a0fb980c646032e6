"""Live view over WebRTC without go2rtc: a camera's H.264 relayed, or re-encoded while watched.

`LiveRelay(name, loop, ring=...)` is one camera's live view. Its `on_packet(packet)` takes the
main stream's packets on the reader thread: it stamps each on a 90 kHz clock that only rises
(continuous across file loops and reconnects) and watches for frame reordering (B-frames). The
GOP a new viewer starts with comes from the recorder's pre-event buffer (`PacketRing`), the one
place the main stream's recent packets are kept; the recorder calls `on_packet` under the ring's
lock, right after buffering the packet, so a viewer that joins gets every packet exactly once.
Without a ring (a relay on its own) the relay keeps one of its own. An unwatched camera costs
next to nothing: nothing is converted or decoded.

Each viewer session is served one of two ways, chosen when it opens:

* **relay**: H.264 without B-frames goes out as it is. Packets are copied as Annex B (MP4 files
  and some cameras give AVCC length-prefixed NAL units; key frames without in-band SPS/PPS get the
  stream's parameter sets), handed to the event loop (one `call_soon_threadsafe` per packet) and
  fanned out. The answer names the stream's own profile (`profile-level-id` from its SPS), on a
  payload type the browser offered for that profile.
* **transcode**: what browsers do not play smoothly or at all as it is — H.264 with B-frames
  (WebRTC has no decode timestamps: Chromium shows such a stream as a slideshow), H.265, MJPEG —
  is decoded and encoded once per camera as constrained-baseline H.264 (libx264, zero latency,
  no B-frames) on a thread of its own that runs only while such a viewer is connected, and fanned
  out to every such viewer. If B-frames first show up while a relayed session runs, that session
  moves to the transcoder (at its next key frame).

`await relay.answer(offer_sdp, session_id)` returns the SDP answer of a new viewer session: an
`RTCPeerConnection` with no ICE servers at all (aiortc's default is a public STUN server; host
candidates only: the browser is on the station's LAN), H.264 only. aiortc applies codec
preferences inside `setRemoteDescription`, so the offer is narrowed to the one H.264 payload type
chosen before it is applied. Candidates are gathered before the answer is returned, so the answer
is complete; browser candidates may arrive at any time, even before the answer (they are kept
until the offer has been applied). A viewer starts from the latest key frame: a relayed GOP is
sent at once, restamped one tick apart, and a transcoder encodes its first picture as a key frame,
so the browser shows the live picture straight away (with `preview=`, a picture the camera's
reader decoded a moment ago goes first, while the transcoder decodes the GOP: a camera's may
last ten seconds). Each viewer has a bounded queue; a viewer
that falls behind skips to the next key frame. At most `max_sessions` viewers per camera
(`LiveError("too_many_viewers")`); a session that does not connect within `CONNECT_TIMEOUT` or
whose connection fails is closed. `close_session(id)` and `close()` (all) end sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import H264Profile, candidate_from_sdp, parse_h264_profile_level_id

from .recorder import BufferedPacket, PacketRing
from .timeline import RisingClock

_LOGGER = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)
MAX_SESSIONS = 4
QUEUE_PACKETS = 300  # per viewer; beyond this the viewer skips to the next key frame
CONNECT_TIMEOUT = 30.0
TRANSCODE_QUEUE_PACKETS = 150  # packets waiting for the transcoder; beyond: skip to a key frame
TRANSCODE_KEY_INTERVAL = 2.0  # s between key frames of the re-encoded stream
BASELINE = "42e01f"  # constrained baseline, level 3.1: what every WebRTC browser takes
_START_CODE = b"\x00\x00\x00\x01"
_REORDER_FRAMES = 4  # a step back of more frames than this (a loop, a reset) rebases the clock
_JUMP_FORWARD = 10 * VIDEO_CLOCK
_REORDER_WINDOW = 1.0  # s: a packet this much earlier than the one before is a reordered frame


class LiveMode(StrEnum):
    """How a viewer session gets its video."""

    RELAY = "relay"
    TRANSCODE = "transcode"


class LiveError(Exception):
    """A viewer session could not be set up; `reason` is a short key (for translations)."""

    def __init__(self, reason: str, message: str) -> None:
        """`reason`: not_streaming, unsupported_codec, too_many_viewers, no_h264_in_offer,
        closed, negotiation_failed."""
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LivePacket:
    """One access unit in Annex B, stamped on the relay's 90 kHz clock."""

    data: bytes
    key: bool
    ticks: int


def _annexb_nal_types(data: bytes) -> set[int]:
    types: set[int] = set()
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.add(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


def _sps_profile_level_id(annexb: bytes) -> str | None:
    """`profile-level-id` (profile_idc, constraint flags, level_idc) of the first SPS, as hex."""
    start = annexb.find(b"\x00\x00\x01")
    while start != -1 and start + 6 < len(annexb):
        if annexb[start + 3] & 0x1F == 7:
            return annexb[start + 4 : start + 7].hex()
        start = annexb.find(b"\x00\x00\x01", start + 3)
    return None


class _H264Format:
    """Turns one stream's packets into Annex B access units that a decoder can start on."""

    def __init__(self, extradata: bytes | None) -> None:
        self.length_size = 0  # 0: already Annex B
        self.parameter_sets = b""
        if extradata and extradata[0] == 1 and len(extradata) >= 7:  # avcC
            self.length_size = (extradata[4] & 0x03) + 1
            nals: list[bytes] = []
            pos = 5
            for count_mask in (0x1F, 0xFF):
                if pos >= len(extradata):
                    break
                count = extradata[pos] & count_mask
                pos += 1
                for _ in range(count):
                    size = int.from_bytes(extradata[pos : pos + 2], "big")
                    nals.append(extradata[pos + 2 : pos + 2 + size])
                    pos += 2 + size
            self.parameter_sets = b"".join(_START_CODE + nal for nal in nals)
        elif extradata:
            self.parameter_sets = bytes(extradata)
        self.profile_level_id = _sps_profile_level_id(self.parameter_sets)

    def convert(self, data: bytes, key: bool) -> bytes:
        if self.length_size:
            out: list[bytes] = []
            pos, size = 0, self.length_size
            while pos + size <= len(data):
                length = int.from_bytes(data[pos : pos + size], "big")
                out.append(_START_CODE + data[pos + size : pos + size + length])
                pos += size + length
            data = b"".join(out)
        if key:
            if self.profile_level_id is None:  # parameter sets only in-band
                self.profile_level_id = _sps_profile_level_id(data)
            if self.parameter_sets and 7 not in _annexb_nal_types(data):
                data = self.parameter_sets + data
        return data


# -- SDP ------------------------------------------------------------------------------------------
_PAYLOAD_LINE = re.compile(r"^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ \s]")
_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/")
_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")


def _h264_profile(profile_level_id: str) -> H264Profile | None:
    with contextlib.suppress(ValueError):
        return parse_h264_profile_level_id(profile_level_id)[0]
    return None


def _fmtp_parameters(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(";") if "=" in item)
    return {key.strip().lower(): value.strip() for key, value in pairs}


_MDNS_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ \S+\.local \d+ .*(?:\r?\n|$)", re.M)


def is_mdns_candidate(candidate: str) -> bool:
    """A candidate whose address is a browser's mDNS name (``<uuid>.local``)."""
    fields = candidate.removeprefix("a=").removeprefix("candidate:").split()
    return len(fields) > 4 and fields[4].endswith(".local")


def without_mdns_candidates(sdp: str) -> str:
    """The SDP without mDNS candidates.

    Browsers hide their addresses behind ``<uuid>.local`` names; aioice would resolve each by
    multicast DNS, off loopback, and take a second doing it. The browser checks our host
    candidates anyway, and ICE learns its address from those checks (peer reflexive).
    """
    return _MDNS_CANDIDATE.sub("", sdp)


def narrow_offer(offer_sdp: str, profile_level_id: str) -> tuple[str, int] | None:
    """The offer with its video reduced to one H.264 payload type for `profile_level_id`.

    That payload type is the browser's own for the stream's profile (packetization mode 1) and is
    relabelled constrained baseline, the only H.264 that aiortc itself lists, so aiortc accepts it
    whatever the stream's profile; `answer_profile` puts the real profile back into the answer.
    None when the browser offers no H.264 of that profile.
    """
    wanted = _h264_profile(profile_level_id)
    lines = offer_sdp.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("m=video")), None)
    if wanted is None or start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    names: dict[int, str] = {}
    parameters: dict[int, dict[str, str]] = {}
    for line in lines[start + 1 : end]:
        if match := _RTPMAP.match(line):
            names[int(match[1])] = match[2].lower()
        elif match := _FMTP.match(line):
            parameters[int(match[1])] = _fmtp_parameters(match[2])
    choices = [
        payload_type
        for payload_type, name in names.items()
        if name == "h264"
        and parameters.get(payload_type, {}).get("packetization-mode") == "1"
        and _h264_profile(parameters[payload_type].get("profile-level-id", BASELINE)) == wanted
    ]
    if not choices:
        return None
    choices.sort(key=lambda pt: parameters[pt].get("level-asymmetry-allowed") != "1")
    chosen = choices[0]
    media = lines[start].split()
    section = [" ".join([*media[:3], str(chosen)])]
    for line in lines[start + 1 : end]:
        match = _PAYLOAD_LINE.match(line + " ")
        if match and int(match[1]) != chosen:
            continue
        if line.startswith(f"a=fmtp:{chosen} "):
            fmtp = {**parameters[chosen], "profile-level-id": BASELINE}
            section.append(f"a=fmtp:{chosen} " + ";".join(f"{k}={v}" for k, v in fmtp.items()))
        else:
            section.append(line)
    narrowed = [*lines[:start], *section, *lines[end:]]
    return "\r\n".join(narrowed) + "\r\n", chosen


def answer_profile(answer_sdp: str, payload_type: int, profile_level_id: str) -> str:
    """The answer with `profile_level_id` as the profile of what is sent on `payload_type`."""
    return re.sub(
        rf"^(a=fmtp:{payload_type} .*profile-level-id=)[0-9a-fA-F]{{6}}",
        lambda match: match[1] + profile_level_id,
        answer_sdp,
        flags=re.MULTILINE,
    )


def baseline_profile(width: int, height: int, fps: float) -> str:
    """Constrained-baseline `profile-level-id` whose level covers a picture size and rate."""
    macroblocks = ((width + 15) // 16) * ((height + 15) // 16) * max(fps, 1.0)
    for level, limit in ((31, 108_000), (40, 245_760), (42, 522_240), (51, 983_040)):
        if macroblocks <= limit:
            return f"42e0{level:02x}"
    return "42e034"


# -- timing ---------------------------------------------------------------------------------------
class _ReorderWatch:
    """Sees B-frames: in decode order, a frame shown shortly before the one decoded before it.

    A loop or a reset also steps back, but to a key frame, or by far more than a few frames.
    """

    def __init__(self) -> None:
        self.last: float | None = None
        self.frame = _REORDER_WINDOW  # the shortest step forward seen: one frame

    def reordered(self, packet: av.Packet, new_stream: bool) -> bool:
        if new_stream:
            self.last = None
        if packet.pts is None or not packet.time_base:
            return False
        now = float(packet.pts * packet.time_base)
        last, self.last = self.last, now
        if last is None:
            return False
        if now > last:
            self.frame = min(self.frame, now - last)
            return False
        back = last - now
        window = min(_REORDER_WINDOW, (_REORDER_FRAMES + 0.5) * self.frame)
        return not packet.is_keyframe and 0.0 < back < window


# -- re-encoding ----------------------------------------------------------------------------------
class _Transcoder:
    """Decodes a camera's packets and encodes constrained-baseline H.264, on a thread of its own.

    `emit(packet)` is called on that thread with every encoded access unit (Annex B, SPS/PPS with
    every key frame). Started with the current GOP, it decodes through it and encodes only its
    latest picture, as a key frame, so the first picture is the live one. Whenever it is behind
    (more than `_catch_up` packets waiting) it decodes without encoding until it has caught up:
    a camera's key frame may be ten seconds away, so dropping to it is the last resort.
    """

    def __init__(self, name: str, emit: Callable[[LivePacket], None], fps: float) -> None:
        self.name = name
        self._emit = emit
        self._fps = fps if 1.0 <= fps <= 120.0 else 25.0
        self._catch_up = max(2, round(self._fps / 2))  # packets waiting: half a second
        self._cond = threading.Condition()
        self._items: deque[tuple[av.Packet, Any, bool, int, bool]] = deque()
        self._limit = TRANSCODE_QUEUE_PACKETS
        self._running = False
        self._resync = False
        self._key_wanted = True
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.cpu_seconds = 0.0
        self.profile_level_id: str | None = None
        self._preview: av.VideoFrame | None = None
        self._preview_ticks = 0

    def start(
        self,
        backlog: list[BufferedPacket],
        stream: Any,
        now_ticks: int,
        preview: av.VideoFrame | None = None,
    ) -> None:
        """Begin with `backlog` (the current GOP, from the ring; only its last picture is shown).

        Its packets (of `stream`) are stamped one frame apart up to `now_ticks`, the relay clock's
        latest. `preview`, a picture the camera's reader decoded a moment ago, is sent first: a
        viewer need not wait while a long GOP is decoded (a camera's may last ten seconds).
        """
        step = round(VIDEO_CLOCK / self._fps)
        self._preview = preview
        self._preview_ticks = now_ticks - step
        with self._cond:
            for index, item in enumerate(backlog):
                packet = av.Packet(item.data)
                packet.pts = item.pts
                ticks = now_ticks - (len(backlog) - 1 - index) * step
                self._items.append((packet, stream, item.key, ticks, False))
            self._limit = len(self._items) + TRANSCODE_QUEUE_PACKETS  # a GOP is not a lag
            self._running = True
        self._thread = threading.Thread(
            target=self._run, name=f"anninh-live-{self.name}", daemon=True
        )
        self._thread.start()

    def put(self, packet: av.Packet, stream: Any, key: bool, ticks: int) -> None:
        """Queue a packet (reader thread); when far behind, drop to the next key frame."""
        with self._cond:
            if not self._running:
                return
            if len(self._items) >= self._limit:  # decoding cannot keep up either
                self._items.clear()
                self._resync = True
            if self._resync:
                if not key:
                    return
                self._resync = False
                self._key_wanted = True
            self._items.append((packet, stream, key, ticks, True))
            self._cond.notify()

    def request_key_frame(self) -> None:
        """The next picture is encoded as a key frame (a new or a lagging viewer)."""
        self._key_wanted = True

    def stop(self) -> None:
        """End the thread (it finishes the picture in hand); no join, callable on the loop."""
        with self._cond:
            self._running = False
            self._items.clear()
            self._cond.notify()

    def _next(self) -> tuple[av.Packet, Any, bool, int, bool] | None:
        """The next packet, and whether its picture is encoded (not while catching up)."""
        with self._cond:
            while self._running and not self._items:
                self._cond.wait()
            if not self._running:
                return None
            packet, stream, key, ticks, live = self._items.popleft()
            waiting = len(self._items)
            if waiting < TRANSCODE_QUEUE_PACKETS:
                self._limit = TRANSCODE_QUEUE_PACKETS
            show = waiting <= self._catch_up and (live or not waiting)
            return packet, stream, key, ticks, show

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:
            _LOGGER.exception("Camera %s: live re-encoding stopped", self.name)
        finally:
            with self._cond:
                self._running = False

    def _loop(self) -> None:
        current: Any = None
        decoder: Any = None
        encoder: Any = None
        ticks_of: dict[int, int] = {}
        last_ticks = -1
        step = round(VIDEO_CLOCK / self._fps)
        if (preview := self._preview) is not None:
            self._preview = None
            # A copy: the reader's frame is shared (snapshots), and encoding stamps its pts.
            copy = av.VideoFrame.from_ndarray(preview.to_ndarray(format="yuv420p"), "yuv420p")
            last_ticks = self._preview_ticks  # just before the GOP's last picture
            encoder = self._encode(encoder, copy, last_ticks)
        while (item := self._next()) is not None:
            packet, stream, _key, ticks, show = item
            if stream is not current:
                current = stream
                source = stream.codec_context
                decoder = av.CodecContext.create(source.name, "r")
                if source.extradata:
                    decoder.extradata = source.extradata
                ticks_of.clear()
            if packet.pts is not None:
                if len(ticks_of) > 256:
                    ticks_of.clear()
                ticks_of[packet.pts] = ticks
            try:
                decoder.skip_frame = "DEFAULT" if show else "NONREF"  # catching up: half the work
                frames = decoder.decode(packet)
            except av.FFmpegError as err:
                _LOGGER.debug("Camera %s: live decoding error: %s", self.name, err)
                continue
            for frame in frames:
                at = ticks_of.pop(frame.pts, None) if frame.pts is not None else None
                at = max(at if at is not None else last_ticks + step, last_ticks + 1)
                last_ticks = at
                if not show:
                    continue
                encoder = self._encode(encoder, frame, at)
                self.cpu_seconds = time.thread_time()  # the thread's own CPU time

    def _encode(self, encoder: Any, frame: av.VideoFrame, ticks: int) -> Any:
        width, height = frame.width & ~1, frame.height & ~1
        if frame.format.name != "yuv420p" or (width, height) != (frame.width, frame.height):
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        if encoder is None or (encoder.width, encoder.height) != (width, height):
            encoder = self._encoder(width, height)
            self._key_wanted = True
        frame.pts = ticks
        frame.time_base = VIDEO_TIME_BASE
        key, self._key_wanted = self._key_wanted, False
        frame.pict_type = av.video.frame.PictureType.I if key else av.video.frame.PictureType.NONE
        for packet in encoder.encode(frame):
            self.frames += 1
            self._emit(LivePacket(bytes(packet), bool(packet.is_keyframe), ticks))
        return encoder

    def _encoder(self, width: int, height: int) -> Any:
        self.profile_level_id = baseline_profile(width, height, self._fps)
        level = int(self.profile_level_id[4:], 16)
        key_interval = max(1, round(self._fps * TRANSCODE_KEY_INTERVAL))
        maxrate = 4_000_000 if width * height > 1280 * 720 else 2_500_000
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = VIDEO_TIME_BASE
        encoder.framerate = Fraction(round(self._fps * 1000), 1000)
        encoder.profile = "Baseline"  # x264's baseline is constrained baseline
        encoder.thread_count = 1
        encoder.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "crf": "23",
            "maxrate": str(maxrate),
            "bufsize": str(maxrate),
            "level": f"{level / 10:.1f}",
            "x264-params": (
                f"keyint={key_interval}:min-keyint={key_interval}:scenecut=0:repeat-headers=1"
            ),
        }
        return encoder


# -- viewers --------------------------------------------------------------------------------------
class PacketTrack(MediaStreamTrack):
    """A video track whose `recv()` returns H.264 packets (90 kHz pts) for aiortc to send."""

    kind = "video"

    def __init__(
        self, relay: LiveRelay, mode: LiveMode = LiveMode.RELAY, max_packets: int = QUEUE_PACKETS
    ) -> None:
        """Nothing is queued until aiortc first asks for a packet (the peer is connected)."""
        super().__init__()
        self.mode = mode
        self._relay = relay
        self._queue: asyncio.Queue[LivePacket | None] = asyncio.Queue(max_packets)
        self._attached = False
        self._waiting_key = True
        self.sent = 0
        self.skips = 0

    def push(self, item: LivePacket) -> None:
        """Queue a packet (event loop); a full queue drops to the next key frame."""
        if self.readyState != "live":
            return
        if self._waiting_key and not item.key:
            return
        if self._queue.full():
            self.skips += 1
            while not self._queue.empty():
                self._queue.get_nowait()
            if not item.key:
                self.wait_for_key_frame()
                return
        self._waiting_key = False
        self._queue.put_nowait(item)

    def wait_for_key_frame(self) -> None:
        """Take nothing until the next key frame (asking the transcoder for one)."""
        self._waiting_key = True
        if self.mode is LiveMode.TRANSCODE:
            self._relay.request_key_frame()

    def start_from(self, backlog: list[LivePacket]) -> None:
        """Begin with the GOP so far, restamped one tick apart so it is shown without delay."""
        count = len(backlog)
        for index, item in enumerate(backlog[-self._queue.maxsize :]):
            ticks = backlog[-1].ticks - (min(count, self._queue.maxsize) - 1 - index)
            self.push(LivePacket(item.data, item.key, ticks))

    async def recv(self) -> av.Packet:
        """The next packet, for aiortc's RTP sender."""
        if not self._attached:
            self._attached = True
            self._relay._attach(self)
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        packet = av.Packet(item.data)
        packet.pts = packet.dts = item.ticks
        packet.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return packet

    def stop(self) -> None:
        """End the track; a pending `recv` returns with MediaStreamError."""
        if self.readyState == "live":
            with contextlib.suppress(asyncio.QueueFull):
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._queue.put_nowait(None)
        super().stop()
        self._relay._detach(self)


@dataclass(slots=True)
class _Session:
    pc: RTCPeerConnection
    track: PacketTrack
    applied: bool = False  # the offer is applied: candidates can go straight to ICE
    early: list[RTCIceCandidate] = field(default_factory=list)
    timeout: asyncio.TimerHandle | None = None


class LiveRelay:
    """One camera's WebRTC viewers; see the module docstring."""

    def __init__(
        self,
        name: str,
        loop: asyncio.AbstractEventLoop,
        *,
        max_sessions: int = MAX_SESSIONS,
        connect_timeout: float = CONNECT_TIMEOUT,
        ring: PacketRing | None = None,
        preview: Callable[[], av.VideoFrame | None] | None = None,
    ) -> None:
        """Feed `on_packet` the stream: from `ring`'s owner, or from the reader (no ring).

        `preview` gives a picture decoded a moment ago, if any: the first one re-encoding shows.
        """
        self.name = name
        self.max_sessions = max_sessions
        self.connect_timeout = connect_timeout
        self._loop = loop
        self._lock = threading.Lock()
        self._stream: Any = None
        self._format: _H264Format | None = None
        self._clock = RisingClock(VIDEO_CLOCK // 15, jump=_JUMP_FORWARD)
        self._clock_mono = 0.0
        self._reorder = _ReorderWatch()
        self._fps = 0.0
        self._size = (0, 0)
        # Where the current GOP is (converted or decoded only when someone joins).
        self._feeds_ring = ring is None
        self._ring = ring if ring is not None else PacketRing(pre_event=0.0)
        self._relayed: tuple[PacketTrack, ...] = ()  # attached tracks, by mode (lock held to
        self._transcoded: tuple[PacketTrack, ...] = ()  # write; the loop reads)
        self._transcoder: _Transcoder | None = None
        self._transcode_frames = 0
        self._transcode_cpu = 0.0
        self._sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.codec: str | None = None
        self.reorders = False  # B-frames seen: relaying would play as a slideshow
        self._preview = preview

    # ------------------------------------------------------------------ reader thread side
    def on_packet(self, packet: av.Packet) -> None:
        """Reader packet listener (reader thread): keep the GOP, feed whoever watches."""
        try:
            if self._feeds_ring:
                with self._ring.lock:
                    self._ring.add(packet)
                    self._take(packet)
            else:
                self._take(packet)
        except Exception:  # never break the reader (and the recorder behind it)
            _LOGGER.exception("Camera %s: live view could not take a packet", self.name)

    def _take(self, packet: av.Packet) -> None:
        stream = packet.stream
        with self._lock:
            new_stream = stream is not self._stream
            if new_stream:
                self._stream = stream
                ctx = stream.codec_context
                self.codec = ctx.name
                self._format = _H264Format(ctx.extradata) if ctx.name == "h264" else None
                self._fps = float(stream.average_rate or stream.guessed_rate or 0)
                step = round(VIDEO_CLOCK / (self._fps or 15.0))
                self._clock.step, self._clock.reorder = step, _REORDER_FRAMES * step
                self._clock.rebase()
                self._size = (getattr(ctx, "width", 0), getattr(ctx, "height", 0))
            if packet.size == 0:
                return
            key = bool(packet.is_keyframe)
            ticks = self._ticks(packet)
            found_reordering = self._reorder.reordered(packet, new_stream) and not self.reorders
            if found_reordering:
                self.reorders = True
            if self._transcoder is not None:
                self._transcoder.put(packet, stream, key, ticks)
            item = None
            if self._relayed and self._format is not None:
                item = LivePacket(self._format.convert(bytes(packet), key), key, ticks)
            elif key and self._format is not None and self._format.profile_level_id is None:
                self._format.convert(bytes(packet), key)  # learn the profile from in-band SPS
        with contextlib.suppress(RuntimeError):  # event loop closed
            if item is not None:
                self._loop.call_soon_threadsafe(self._deliver, self._relayed, item)
            if found_reordering:
                self._loop.call_soon_threadsafe(self._reordering_found)

    def _ticks(self, packet: av.Packet) -> int:
        """The packet's presentation time on the relay's 90 kHz clock (lock held)."""
        now = time.monotonic()
        raw = packet.pts if packet.pts is not None else packet.dts
        time_base = packet.time_base
        ticks = self._clock.map(
            round(raw * time_base * VIDEO_CLOCK) if raw is not None and time_base else None,
            elapsed=round((now - self._clock_mono) * VIDEO_CLOCK),
        )
        self._clock_mono = now
        return ticks

    def _from_transcoder(self, item: LivePacket) -> None:
        with contextlib.suppress(RuntimeError):  # event loop closed
            self._loop.call_soon_threadsafe(self._deliver_transcoded, item)

    # ------------------------------------------------------------------ event loop side
    @staticmethod
    def _deliver(tracks: tuple[PacketTrack, ...], item: LivePacket) -> None:
        # The tracks relayed when the packet was taken (none attached since: their GOP has it),
        # unless one has moved to the transcoder since.
        for track in tracks:
            if track.mode is LiveMode.RELAY:
                track.push(item)

    def _deliver_transcoded(self, item: LivePacket) -> None:
        for track in self._transcoded:
            track.push(item)

    def _reordering_found(self) -> None:
        _LOGGER.info(
            "Camera %s sends B-frames: its live view is re-encoded while someone watches",
            self.name,
        )
        with self._ring.lock, self._lock:  # the reader takes them in this order too
            moved, self._relayed = self._relayed, ()
            for track in moved:
                track.mode = LiveMode.TRANSCODE
            self._transcode_locked(moved)
        for track in moved:
            track.wait_for_key_frame()

    def _transcode_locked(self, tracks: tuple[PacketTrack, ...]) -> None:
        if not tracks:
            return
        self._transcoded = (*self._transcoded, *tracks)
        if self._transcoder is None:
            self._transcoder = _Transcoder(self.name, self._from_transcoder, self._fps)
            gop = self._ring.current_gop()
            stream = self._ring.segment(gop[0]).stream if gop else None
            preview = self._preview() if self._preview is not None else None
            self._transcoder.start(gop, stream, self._clock.last or 0, preview)
        else:
            self._transcoder.request_key_frame()

    def request_key_frame(self) -> None:
        """A transcoded viewer needs a key frame."""
        if self._transcoder is not None:
            self._transcoder.request_key_frame()

    def _attach(self, track: PacketTrack) -> None:
        # Under both locks, so that every packet after the GOP taken here reaches the track (its
        # delivery runs on this loop after this call, or through the transcoder's queue).
        with self._ring.lock, self._lock:
            if track.mode is LiveMode.TRANSCODE:
                self._transcode_locked((track,))
                return
            fmt, gop, now = self._format, self._ring.current_gop(), self._clock.last or 0
            self._relayed = (*self._relayed, track)
        if fmt is not None:
            track.start_from([LivePacket(fmt.convert(p.data, p.key), p.key, now) for p in gop])

    def _detach(self, track: PacketTrack) -> None:
        with self._lock:
            self._relayed = tuple(t for t in self._relayed if t is not track)
            self._transcoded = tuple(t for t in self._transcoded if t is not track)
            if not self._transcoded and self._transcoder is not None:
                self._transcoder.stop()
                self._transcode_frames += self._transcoder.frames
                self._transcode_cpu += self._transcoder.cpu_seconds
                self._transcoder = None

    @property
    def session_count(self) -> int:
        """Viewer sessions open or being negotiated."""
        return len(self._sessions)

    def session_ids(self) -> list[str]:
        """Ids of the open sessions."""
        return list(self._sessions)

    def _plan(self, offer_sdp: str) -> tuple[LiveMode, str, int, str]:
        """Relay or transcode; the narrowed offer, its payload type and the profile to answer."""
        fmt = self._format
        if fmt is not None and fmt.profile_level_id and not self.reorders:
            narrowed = narrow_offer(offer_sdp, fmt.profile_level_id)
            if narrowed is not None:
                return LiveMode.RELAY, *narrowed, fmt.profile_level_id
        try:
            av.Codec(self.codec or "", "r")
        except Exception as err:
            raise LiveError(
                "unsupported_codec", f"{self.name} streams {self.codec}, which cannot be decoded"
            ) from err
        narrowed = narrow_offer(offer_sdp, BASELINE)
        if narrowed is None:
            raise LiveError("no_h264_in_offer", "The browser does not offer H.264")
        width, height = self._size
        return LiveMode.TRANSCODE, *narrowed, baseline_profile(width, height, self._fps or 25.0)

    async def answer(self, offer_sdp: str, session_id: str | None = None) -> str:
        """Open a viewer session for a browser's offer and return the complete SDP answer."""
        if self._closed:
            raise LiveError("closed", f"Live view of {self.name} has stopped")
        if self.codec is None:
            raise LiveError("not_streaming", f"{self.name} has not streamed yet")
        if self.session_count >= self.max_sessions:
            raise LiveError(
                "too_many_viewers",
                f"{self.name} already has {self.max_sessions} live viewers",
            )
        mode, offer, payload_type, profile = self._plan(without_mdns_candidates(offer_sdp))
        session_id = session_id or uuid.uuid4().hex
        pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        session = _Session(pc, PacketTrack(self, mode))
        self._sessions[session_id] = session
        try:
            transceiver = pc.addTransceiver(session.track, direction="sendonly")
            transceiver.setCodecPreferences(
                [
                    codec
                    for codec in RTCRtpSender.getCapabilities("video").codecs
                    if codec.mimeType.lower() == "video/h264"
                    and codec.parameters.get("profile-level-id") == BASELINE
                ]
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            session.applied = True
            for candidate in session.early:
                await pc.addIceCandidate(candidate)
            answer = await pc.createAnswer()
            if answer is None:
                raise LiveError("negotiation_failed", "No answer")
            await pc.setLocalDescription(
                RTCSessionDescription(
                    sdp=answer_profile(answer.sdp, payload_type, profile), type="answer"
                )
            )
        except Exception as err:
            if self._sessions.get(session_id) is session:
                del self._sessions[session_id]
            await pc.close()
            if isinstance(err, LiveError):
                raise
            raise LiveError("negotiation_failed", f"WebRTC negotiation failed: {err}") from err
        if self._closed or self._sessions.get(session_id) is not session:
            await pc.close()
            raise LiveError("closed", f"Live view of {self.name} has stopped")
        session.timeout = self._loop.call_later(
            self.connect_timeout, self._connect_timed_out, session_id
        )

        @pc.on("connectionstatechange")
        async def _state_changed() -> None:
            state = pc.connectionState
            _LOGGER.debug("Camera %s: live session %s %s", self.name, session_id, state)
            if state == "connected" and session.timeout is not None:
                session.timeout.cancel()
                session.timeout = None
            elif state in ("failed", "closed"):
                await self.close_session(session_id)

        _LOGGER.debug("Camera %s: live session %s answered (%s)", self.name, session_id, mode)
        return str(pc.localDescription.sdp)

    def _connect_timed_out(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and session.pc.connectionState != "connected":
            _LOGGER.debug("Camera %s: live session %s never connected", self.name, session_id)
            task = self._loop.create_task(self.close_session(session_id))
            self._tasks.add(task)  # kept until done: the loop holds tasks only weakly
            task.add_done_callback(self._tasks.discard)

    async def add_candidate(
        self,
        session_id: str,
        candidate: str,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """A browser candidate, at any time (kept until the offer is applied).

        Unknown sessions and bad candidates are ignored."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        text = candidate.strip()
        text = text.removeprefix("a=").removeprefix("candidate:")
        if not text or is_mdns_candidate(
            text
        ):  # end of candidates; an mDNS name (without_mdns_candidates)
            return
        try:
            ice = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError):
            _LOGGER.debug("Camera %s: ignored candidate %r", self.name, candidate)
            return
        ice.sdpMid = sdp_mid
        ice.sdpMLineIndex = sdp_mline_index if sdp_mline_index is not None or sdp_mid else 0
        if not session.applied:
            session.early.append(ice)
            return
        with contextlib.suppress(Exception):
            await session.pc.addIceCandidate(ice)

    async def close_session(self, session_id: str) -> None:
        """End one viewer session (unknown ids are ignored)."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        if session.timeout is not None:
            session.timeout.cancel()
        session.track.stop()
        await session.pc.close()

    async def close(self) -> None:
        """End every session; no new ones after this."""
        self._closed = True
        await asyncio.gather(*(self.close_session(sid) for sid in list(self._sessions)))

    def stats(self) -> dict[str, Any]:
        """For diagnostics and benchmarks."""
        transcoder = self._transcoder
        return {
            "codec": self.codec,
            "profile": self._format.profile_level_id if self._format else None,
            "b_frames": self.reorders,
            "viewers": len(self._sessions),
            "modes": [s.track.mode.value for s in self._sessions.values()],
            "packets_sent": [s.track.sent for s in self._sessions.values()],
            "skips": [s.track.skips for s in self._sessions.values()],
            "transcoding": transcoder is not None,
            "transcoded_frames": self._transcode_frames + (transcoder.frames if transcoder else 0),
            "transcode_cpu_s": round(
                self._transcode_cpu + (transcoder.cpu_seconds if transcoder else 0.0), 3
            ),
        }
