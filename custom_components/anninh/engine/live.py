"""Live view over WebRTC without re-encoding: the camera's own H.264 packets, relayed with aiortc.

`LiveRelay(name, loop)` is one camera's relay. Its `on_packet(packet)` is a reader packet listener
(`StreamReader.add_packet_listener`; reader thread): it stamps each H.264 packet on a 90 kHz clock
that only rises (continuous across file loops and reconnects) and keeps the current GOP as packet
references (at most `GOP_CACHE_BYTES`; no copy). Only while viewers are connected is a packet
copied as Annex B (MP4 files and some cameras give AVCC length-prefixed NAL units; key frames
without in-band SPS/PPS get the stream's parameter sets prepended, so a browser can start on any
key frame) and handed to the event loop (one `call_soon_threadsafe` per packet and camera, then
fanned out to the viewers): an unwatched camera costs next to nothing.

`await relay.answer(offer_sdp, session_id)` returns the SDP answer of a new viewer session: an
`RTCPeerConnection` with no ICE servers at all (aiortc's default is a public STUN server; host
candidates only, the browser is on the station's LAN), H.264 only, whose track (`PacketTrack`)
returns `av.Packet`s that aiortc's H.264 packetizer sends as they are. Candidates are gathered
before the answer is returned, so the answer is complete; late browser candidates are accepted
with `add_candidate`. A viewer starts from the latest key frame: the GOP so far is sent at once,
restamped one tick apart up to its last packet, so the browser decodes through it and shows the
live picture straight away instead of waiting for the next key frame. Each viewer has a bounded
queue; a viewer that falls behind skips to the next key frame. At most `max_sessions` viewers per
camera (`LiveError("too_many_viewers")`); a session that does not connect within `CONNECT_TIMEOUT`
or whose connection fails is closed. `close_session(id)` and `close()` (all) end sessions.

Only H.264 can be relayed this way: `is_relayable(codec)` tells the entity whether to offer WebRTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

_LOGGER = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)
MAX_SESSIONS = 4
QUEUE_PACKETS = 300  # per viewer; beyond this the viewer skips to the next key frame
GOP_CACHE_BYTES = 8 * 1024 * 1024
CONNECT_TIMEOUT = 30.0
_START_CODE = b"\x00\x00\x00\x01"
_REORDER_FRAMES = 4  # a step back of more frames than this (a loop, a reset) rebases
_JUMP_FORWARD = 10 * VIDEO_CLOCK


def is_relayable(codec: str | None) -> bool:
    """Whether a stream of this codec (FFmpeg name) can be relayed to browsers as it is."""
    return codec == "h264"


class LiveError(Exception):
    """A viewer session could not be set up; `reason` is a short key (for translations)."""

    def __init__(self, reason: str, message: str) -> None:
        """`reason`: too_many_viewers, not_h264, no_h264_in_offer, closed, negotiation_failed."""
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

    def convert(self, data: bytes, key: bool) -> bytes:
        if self.length_size:
            out: list[bytes] = []
            pos, size = 0, self.length_size
            while pos + size <= len(data):
                length = int.from_bytes(data[pos : pos + size], "big")
                out.append(_START_CODE + data[pos + size : pos + size + length])
                pos += size + length
            data = b"".join(out)
        if key and self.parameter_sets and 7 not in _annexb_nal_types(data):
            data = self.parameter_sets + data
        return data


class _Clock:
    """Maps packet times to 90 kHz ticks that only rise, across loops and reconnects."""

    def __init__(self) -> None:
        self.offset: int | None = None
        self.last: int | None = None
        self.last_mono = 0.0
        self.step = VIDEO_CLOCK // 15

    def map(self, packet: av.Packet, new_stream: bool) -> int:
        now = time.monotonic()
        raw = packet.pts if packet.pts is not None else packet.dts
        time_base = packet.time_base
        if self.last is None:
            value = 0 if raw is None or not time_base else None
        elif raw is None or not time_base:
            value = self.last + max(1, round((now - self.last_mono) * VIDEO_CLOCK))
            self.offset = None
        else:
            value = None
        if value is None:
            ticks = round(raw * float(time_base) * VIDEO_CLOCK)  # type: ignore[operator]
            if self.offset is not None and self.last is not None and not new_stream:
                candidate = ticks + self.offset
                # Back by more than a few frames (B-frame reordering) is a loop or a reset.
                if (
                    self.last - _REORDER_FRAMES * self.step
                    <= candidate
                    <= self.last + _JUMP_FORWARD
                ):
                    if candidate > self.last:
                        self.step = min(max(candidate - self.last, 1), VIDEO_CLOCK)
                    value = candidate
            if value is None:
                base = -ticks if self.last is None else self.last + self.step - ticks
                self.offset = base
                value = ticks + base
        self.last = value if self.last is None else max(self.last, value)
        self.last_mono = now
        return value


class PacketTrack(MediaStreamTrack):
    """A video track whose `recv()` returns the camera's H.264 packets (90 kHz pts)."""

    kind = "video"

    def __init__(self, relay: LiveRelay, max_packets: int = QUEUE_PACKETS) -> None:
        """Nothing is queued until aiortc first asks for a packet (the peer is connected)."""
        super().__init__()
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
                self._waiting_key = True
                return
        self._waiting_key = False
        self._queue.put_nowait(item)

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
    ) -> None:
        """Attach `on_packet` to the main stream's reader."""
        self.name = name
        self.max_sessions = max_sessions
        self.connect_timeout = connect_timeout
        self._loop = loop
        self._lock = threading.Lock()
        self._stream: Any = None
        self._format: _H264Format | None = None
        self._clock = _Clock()
        # The current GOP as the reader gave it (packet references: no copy, no conversion),
        # so a viewer can start at once; converted only when someone watches.
        self._gop: list[tuple[av.Packet, bool, int]] | None = None
        self._gop_bytes = 0
        self._tracks: tuple[PacketTrack, ...] = ()  # attached tracks (event loop writes)
        self._sessions: dict[str, _Session] = {}
        self._pending = 0
        self._closed = False
        self.codec: str | None = None

    # ------------------------------------------------------------------ reader thread side
    def on_packet(self, packet: av.Packet) -> None:
        """Reader packet listener (reader thread): copy, convert, keep the GOP, forward."""
        try:
            item = self._convert(packet)
        except Exception:  # never break the reader (and the recorder behind it)
            _LOGGER.exception("Camera %s: live relay could not take a packet", self.name)
            return
        if item is not None:
            with contextlib.suppress(RuntimeError):  # event loop closed
                self._loop.call_soon_threadsafe(self._fan_out, item)

    def _convert(self, packet: av.Packet) -> LivePacket | None:
        stream = packet.stream
        with self._lock:
            new_stream = stream is not self._stream
            if new_stream:
                self._stream = stream
                ctx = stream.codec_context
                self.codec = ctx.name
                self._format = _H264Format(ctx.extradata) if is_relayable(ctx.name) else None
                self._gop, self._gop_bytes = None, 0
            if self._format is None or packet.size == 0:
                return None
            key = bool(packet.is_keyframe)
            ticks = self._clock.map(packet, new_stream)
            if key:
                self._gop, self._gop_bytes = [(packet, key, ticks)], packet.size
            elif self._gop is not None:
                self._gop.append((packet, key, ticks))
                self._gop_bytes += packet.size
                if self._gop_bytes > GOP_CACHE_BYTES:
                    self._gop, self._gop_bytes = None, 0
            if not self._tracks:
                return None  # nobody watching: no copy, no conversion
            return LivePacket(self._format.convert(bytes(packet), key), key, ticks)

    # ------------------------------------------------------------------ event loop side
    def _fan_out(self, item: LivePacket) -> None:
        for track in self._tracks:
            track.push(item)

    def _attach(self, track: PacketTrack) -> None:
        # Under the lock, so that every packet after the GOP taken here reaches the track (its
        # fan-out runs on this loop after this call): no gap between backlog and live packets.
        with self._lock:
            fmt, gop = self._format, list(self._gop or ())
            self._tracks = (*self._tracks, track)
        if fmt is not None:
            track.start_from(
                [LivePacket(fmt.convert(bytes(p), key), key, ticks) for p, key, ticks in gop]
            )

    def _detach(self, track: PacketTrack) -> None:
        self._tracks = tuple(t for t in self._tracks if t is not track)

    @property
    def session_count(self) -> int:
        """Viewer sessions open or being negotiated."""
        return len(self._sessions) + self._pending

    def session_ids(self) -> list[str]:
        """Ids of the open sessions."""
        return list(self._sessions)

    async def answer(self, offer_sdp: str, session_id: str | None = None) -> str:
        """Open a viewer session for a browser's offer and return the complete SDP answer."""
        if self._closed:
            raise LiveError("closed", f"Live view of {self.name} has stopped")
        if not is_relayable(self.codec):
            raise LiveError("not_h264", f"{self.name} does not stream H.264 ({self.codec})")
        if self.session_count >= self.max_sessions:
            raise LiveError(
                "too_many_viewers",
                f"{self.name} already has {self.max_sessions} live viewers",
            )
        session_id = session_id or uuid.uuid4().hex
        self._pending += 1
        pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        track = PacketTrack(self)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            transceivers = [t for t in pc.getTransceivers() if t.kind == "video"]
            if not transceivers:
                raise LiveError("negotiation_failed", "The offer has no video")
            h264 = [
                codec
                for codec in RTCRtpSender.getCapabilities("video").codecs
                if codec.mimeType.lower() == "video/h264"
            ]
            transceiver = transceivers[0]
            transceiver.setCodecPreferences(h264)
            pc.addTrack(track)
            answer = await pc.createAnswer()
            if answer is None or "H264/90000" not in answer.sdp.upper():
                raise LiveError("no_h264_in_offer", "The browser does not offer H.264")
            await pc.setLocalDescription(answer)
        except LiveError:
            self._pending -= 1
            await pc.close()
            raise
        except Exception as err:
            self._pending -= 1
            await pc.close()
            raise LiveError("negotiation_failed", f"WebRTC negotiation failed: {err}") from err
        self._pending -= 1
        if self._closed:
            await pc.close()
            raise LiveError("closed", f"Live view of {self.name} has stopped")
        session = _Session(pc, track)
        self._sessions[session_id] = session
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

        local = pc.localDescription
        _LOGGER.debug("Camera %s: live session %s answered", self.name, session_id)
        return str(local.sdp)

    def _connect_timed_out(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and session.pc.connectionState != "connected":
            _LOGGER.debug("Camera %s: live session %s never connected", self.name, session_id)
            self._loop.create_task(self.close_session(session_id))

    async def add_candidate(
        self,
        session_id: str,
        candidate: str,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """A late (trickled) browser candidate; unknown sessions and bad candidates are ignored."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        text = candidate.strip()
        text = text.removeprefix("a=").removeprefix("candidate:")
        if not text:  # end of candidates
            return
        try:
            ice = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError):
            _LOGGER.debug("Camera %s: ignored candidate %r", self.name, candidate)
            return
        ice.sdpMid = sdp_mid
        ice.sdpMLineIndex = sdp_mline_index if sdp_mline_index is not None or sdp_mid else 0
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
        """For diagnostics."""
        return {
            "codec": self.codec,
            "viewers": len(self._sessions),
            "packets_sent": [s.track.sent for s in self._sessions.values()],
            "skips": [s.track.skips for s in self._sessions.values()],
        }
