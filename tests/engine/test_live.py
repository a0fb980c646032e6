"""The live relay's packet handling: Annex B conversion, its clock, and slow viewers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from custom_components.anninh.engine.live import (
    TRANSCODE_QUEUE_PACKETS,
    VIDEO_CLOCK,
    LiveError,
    LiveMode,
    LivePacket,
    LiveRelay,
    PacketTrack,
    _annexb_nal_types,
    _H264Format,
    _ReorderWatch,
    _Transcoder,
    answer_profile,
    baseline_profile,
    is_mdns_candidate,
    narrow_offer,
    without_mdns_candidates,
)
from custom_components.anninh.engine.recorder import PacketRing
from tests.media import make_h264_file, make_mjpeg_file


def _packets(path: Path) -> tuple[list[av.Packet], bytes]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    packets = [p for p in container.demux(stream) if p.size]
    return packets, bytes(stream.codec_context.extradata or b"")


def test_mp4_packets_become_decodable_annex_b(tmp_path: Path) -> None:
    """AVCC packets of an MP4 become Annex B; key frames carry SPS and PPS; a decoder agrees."""
    packets, extradata = _packets(make_h264_file(tmp_path / "a.mp4", seconds=1.0))
    assert extradata[0] == 1  # avcC
    fmt = _H264Format(extradata)
    data = [fmt.convert(bytes(p), bool(p.is_keyframe)) for p in packets]
    assert {7, 8, 5} <= _annexb_nal_types(data[0])  # SPS, PPS, IDR
    assert 7 not in _annexb_nal_types(data[1])
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for chunk in data for f in decoder.decode(av.Packet(chunk))]
    frames += decoder.decode(None)
    assert len(frames) == len(packets)
    assert frames[0].width == 320


def test_annex_b_passes_through() -> None:
    """RTSP cameras already send Annex B; parameter sets from the SDP are added to key frames."""
    sps_pps = b"\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x00\x01\x68\xce\x3c\x80"
    fmt = _H264Format(sps_pps)
    idr = b"\x00\x00\x00\x01\x65\x88\x84"
    assert fmt.convert(idr, True) == sps_pps + idr
    assert fmt.convert(idr, False) == idr
    assert _H264Format(None).convert(idr, True) == idr


def test_relay_clock_only_rises(tmp_path: Path) -> None:
    """Through loops and reconnects (a new stream), the relay's 90 kHz ticks rise at the rate."""
    relay = LiveRelay("cam", asyncio.new_event_loop())
    path = make_h264_file(tmp_path / "c.mp4", seconds=1.0, fps=15)
    ticks = []
    for _ in range(2):  # the file reopened: a new stream each time, as the reader loops it
        with av.open(str(path)) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    relay.on_packet(packet)
                    ticks.append(relay._clock.last)
    assert all(b > a for a, b in itertools.pairwise(ticks))
    assert abs((ticks[1] - ticks[0]) - VIDEO_CLOCK / 15) <= 1


async def test_slow_viewer_skips_to_next_key_frame() -> None:
    """A full queue is emptied and refilled from the next key frame, never mid-GOP."""
    relay = LiveRelay("cam", asyncio.get_running_loop())
    track = PacketTrack(relay, max_packets=3)
    track.push(LivePacket(b"p", key=False, ticks=1))  # nothing before a key frame
    for i, key in enumerate([True, False, False, False, False, True, False]):
        track.push(LivePacket(bytes([i]), key=key, ticks=10 + i))
    assert track.skips == 1
    got = [await track.recv() for _ in range(2)]
    assert [bytes(p) for p in got] == [bytes([5]), bytes([6])]
    assert got[0].time_base == Fraction(1, VIDEO_CLOCK)
    track.stop()
    with pytest.raises(Exception):  # noqa: B017 - aiortc's MediaStreamError
        await track.recv()


async def test_relay_refuses_before_streaming() -> None:
    """No session before the camera has streamed; closed relays refuse too."""
    relay = LiveRelay("cam", asyncio.get_running_loop())
    with pytest.raises(LiveError) as err:
        await relay.answer("v=0\r\n")
    assert err.value.reason == "not_streaming"
    await relay.close()
    with pytest.raises(LiveError) as err:
        await relay.answer("v=0\r\n")
    assert err.value.reason == "closed"


# A Chromium 156 offer (payload types, profiles and feedback as Chromium lists them).
CHROMIUM_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=recvonly",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 108 109 112 113",
        "a=mid:1",
        "a=recvonly",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=rtcp-fb:102 nack pli",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
        "a=rtpmap:104 H264/90000",
        "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        "a=rtpmap:105 H264/90000",
        "a=rtcp-fb:105 nack pli",
        "a=fmtp:105 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:108 H264/90000",
        "a=rtcp-fb:108 nack pli",
        "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
        "a=rtpmap:109 rtx/90000",
        "a=fmtp:109 apt=108",
        "a=rtpmap:112 H264/90000",
        "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
        "a=rtpmap:113 rtx/90000",
        "a=fmtp:113 apt=112",
        "",
    ]
)


@pytest.mark.parametrize(
    ("stream_profile", "payload_type"),
    [("4d4028", 108), ("640032", 112), ("42c01e", 105), ("42001e", 102)],
)
def test_offer_narrowed_to_the_streams_profile(stream_profile: str, payload_type: int) -> None:
    """Main goes out on the browser's Main payload type, High on High, baseline on baseline."""
    narrowed = narrow_offer(CHROMIUM_OFFER, stream_profile)
    assert narrowed is not None
    sdp, chosen = narrowed
    assert chosen == payload_type
    video = sdp[sdp.index("m=video") :]
    assert video.splitlines()[0] == f"m=video 9 UDP/TLS/RTP/SAVPF {payload_type}"
    payloads = {int(x.split(":")[1].split()[0]) for x in video.splitlines() if ":" in x[:9]}
    assert payloads <= {payload_type, 1}  # only the chosen one ("a=mid:1" aside)
    assert f"a=fmtp:{payload_type} level-asymmetry-allowed=1;packetization-mode=1;" in video
    assert "profile-level-id=42e01f" in video  # what aiortc itself accepts
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111" in sdp  # other sections untouched

    answer = f"m=video 9 X {chosen}\r\na=fmtp:{chosen} packetization-mode=1;profile-level-id=42e01f"
    assert answer_profile(answer, chosen, stream_profile).endswith(stream_profile)


def test_browser_mdns_candidates_are_left_out() -> None:
    """A browser's ``<uuid>.local`` candidates would be resolved by multicast DNS: dropped."""
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2122260223 6d7c1d0e-7a1b-4c2e-9d3f-0a1b2c3d4e5f.local 51234 typ host "
        "generation 0\r\n"
        "a=candidate:2 1 udp 2122260223 127.0.0.1 51235 typ host generation 0\r\n"
        "a=end-of-candidates\r\n"
    )
    cleaned = without_mdns_candidates(sdp)
    assert ".local" not in cleaned
    assert "127.0.0.1 51235 typ host" in cleaned
    assert cleaned.endswith("a=end-of-candidates\r\n")
    assert is_mdns_candidate("candidate:1 1 udp 1 abc.local 5 typ host")
    assert not is_mdns_candidate("candidate:2 1 udp 1 192.168.1.7 5 typ host")


def test_offer_without_that_profile_or_h264() -> None:
    """No payload type for the profile (or no H.264 at all): None."""
    assert narrow_offer(CHROMIUM_OFFER, "f40032") is None  # High 4:4:4 is not offered
    vp8_only = CHROMIUM_OFFER.replace("H264", "H265")
    assert narrow_offer(vp8_only, "42e01f") is None
    assert narrow_offer("v=0\r\n", "42e01f") is None


def test_baseline_level_covers_the_picture() -> None:
    """The level claimed for a re-encoded stream covers its size and rate."""
    assert baseline_profile(640, 360, 15) == "42e01f"
    assert baseline_profile(1280, 720, 30) == "42e01f"
    assert baseline_profile(1920, 1080, 25) == "42e028"
    assert baseline_profile(1920, 1080, 60) == "42e02a"


@pytest.mark.parametrize(("b_frames", "reordered"), [(0, False), (2, True)])
def test_b_frames_are_seen(tmp_path: Path, b_frames: int, reordered: bool) -> None:
    """Frames shown before the frame decoded just before them are B-frames; loops are not."""
    path = make_h264_file(tmp_path / "b.mp4", profile="main", b_frames=b_frames, seconds=1.0)
    packets, _ = _packets(path)
    watch = _ReorderWatch()
    seen = [watch.reordered(p, new_stream=i == 0) for i, p in enumerate(packets)]
    assert any(seen) is reordered
    # A loop (back to the start, a key frame) is not reordering, nor a reset far back.
    assert watch.reordered(packets[0], new_stream=False) is False
    assert watch.reordered(packets[-1], new_stream=False) is False  # forward again
    assert watch.reordered(packets[len(packets) // 2], new_stream=False) is False


def test_a_long_gop_is_shown_from_its_latest_picture(tmp_path: Path) -> None:
    """Joined late in a long GOP (more packets than the lag limit), the first picture is the
    GOP's latest, re-encoded as a key frame: not the next camera key frame, seconds away."""
    fps = 30
    path = make_h264_file(
        tmp_path / "long.mp4", fps=fps, seconds=8.0, gop=10 * fps, profile="main", b_frames=2
    )
    container = av.open(str(path))
    stream = container.streams.video[0]
    packets = [p for p in container.demux(stream) if p.size]
    assert len(packets) > TRANSCODE_QUEUE_PACKETS
    assert sum(p.is_keyframe for p in packets) == 1
    ring = PacketRing(pre_event=0.0)
    for packet in packets[:-10]:
        ring.add(packet)
    backlog = ring.current_gop()
    assert len(backlog) == len(packets) - 10  # the ring holds the whole GOP
    step = VIDEO_CLOCK // fps
    now = 1_000_000 * step
    shown: list[LivePacket] = []
    done = threading.Event()

    def emit(item: LivePacket) -> None:
        shown.append(item)
        done.set()

    transcoder = _Transcoder("cam", emit, fps)
    transcoder.start(backlog, stream, now)
    for index, packet in enumerate(packets[-10:], 1):  # live packets come while it decodes
        transcoder.put(packet, stream, bool(packet.is_keyframe), now + index * step)
    try:
        assert done.wait(10.0), "no picture"
    finally:
        transcoder.stop()
        container.close()
    assert shown[0].key
    # A picture of the last second, on the live clock (not the GOP's start, nor a clock of its own).
    assert now - fps * step <= shown[0].ticks <= now + 10 * step


def test_a_preview_goes_out_before_the_gop_is_decoded(tmp_path: Path) -> None:
    """Given a picture the reader decoded a moment ago, that picture is the first one sent (a
    key frame, just before the live clock), before the transcoder has decoded a long GOP."""
    fps = 30
    path = make_h264_file(
        tmp_path / "long.mp4", fps=fps, seconds=6.0, gop=10 * fps, profile="main", b_frames=2
    )
    container = av.open(str(path))
    stream = container.streams.video[0]
    packets = [p for p in container.demux(stream) if p.size]
    ring = PacketRing(pre_event=0.0)
    for packet in packets:
        ring.add(packet)
    width, height = stream.codec_context.width, stream.codec_context.height
    white = np.full((height, width, 3), 255, dtype=np.uint8)
    preview = av.VideoFrame.from_ndarray(white, format="rgb24")
    step = VIDEO_CLOCK // fps
    now = 1_000_000 * step
    shown: list[LivePacket] = []
    done = threading.Event()

    def emit(item: LivePacket) -> None:
        shown.append(item)
        if len(shown) >= 2:
            done.set()

    transcoder = _Transcoder("cam", emit, fps)
    transcoder.start(ring.current_gop(), stream, now, preview)
    try:
        assert done.wait(10.0), "no pictures"
    finally:
        transcoder.stop()
        container.close()
    assert shown[0].key
    assert shown[0].ticks == now - step < shown[1].ticks
    decoder = av.CodecContext.create("h264", "r")
    [first] = decoder.decode(av.Packet(shown[0].data))
    assert first.to_ndarray(format="gray").mean() > 230  # the white preview, not the footage
    assert preview.pts is None  # the reader's frame itself is left alone


def test_profile_from_avcc_and_in_band_sps(tmp_path: Path) -> None:
    """The stream's profile-level-id comes from avcC, or from the first key frame's SPS."""
    _, extradata = _packets(make_h264_file(tmp_path / "p.mp4", profile="main", seconds=0.5))
    assert _H264Format(extradata).profile_level_id == extradata[1:4].hex()
    assert extradata[1] == 0x4D  # Main
    in_band = _H264Format(None)
    assert in_band.profile_level_id is None
    sps_pps = _H264Format(extradata).parameter_sets
    in_band.convert(sps_pps + b"\x00\x00\x00\x01\x65\x88", key=True)
    assert in_band.profile_level_id == extradata[1:4].hex()


async def _watch(relay: LiveRelay, path: Path) -> dict[str, object]:
    """Feed `path` at its own rate to `relay`, watch it with a real aiortc peer; what it saw."""
    loop = asyncio.get_running_loop()
    stop = False

    def feed() -> None:
        while not stop:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                rate = float(stream.average_rate or 15)
                start = time.monotonic()
                for count, packet in enumerate(container.demux(stream), 1):
                    if stop:
                        return
                    relay.on_packet(packet)
                    time.sleep(max(0.0, start + count / rate - time.monotonic()))

    feeding = loop.run_in_executor(None, feed)
    frames: list[tuple[float, int, int]] = []
    try:
        return await _view(relay, frames)
    finally:
        stop = True
        await feeding


async def _view(relay: LiveRelay, frames: list[tuple[float, int, int]]) -> dict[str, object]:
    from unittest.mock import patch

    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    seconds = 3.0
    with patch("aioice.ice.get_host_addresses", return_value=["127.0.0.1"]):
        await asyncio.sleep(0.8)  # a GOP in hand, reordering seen
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")

        async def pull(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    frames.append((time.monotonic(), frame.width, frame.height))

        pc.on("track", lambda track: asyncio.ensure_future(pull(track)))
        await pc.setLocalDescription(await pc.createOffer())
        started = time.monotonic()
        answer = await relay.answer(pc.localDescription.sdp, "viewer")
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.sleep(seconds)
        stats = relay.stats()
        await relay.close()
        await pc.close()
    return {
        "answer": answer,
        "stats": stats,
        "first": frames[0][0] - started if frames else None,
        "frames": frames,
    }


@pytest.mark.parametrize(
    ("kind", "mode"),
    [("baseline", LiveMode.RELAY), ("b_frames", LiveMode.TRANSCODE), ("mjpeg", LiveMode.TRANSCODE)],
)
async def test_every_kind_of_camera_plays(
    tmp_path: Path, kind: str, mode: LiveMode, socket_enabled: None
) -> None:
    """Relayed or re-encoded, a real peer decodes nearly every frame from within a second."""
    fps, seconds = 15, 3.0
    if kind == "mjpeg":
        path = make_mjpeg_file(tmp_path / "old.avi", fps=fps)
    else:
        path = make_h264_file(
            tmp_path / f"{kind}.mp4",
            width=640,
            height=360,
            fps=fps,
            seconds=2.0,
            profile="main" if kind == "b_frames" else "baseline",
            b_frames=2 if kind == "b_frames" else 0,
        )
    relay = LiveRelay("cam", asyncio.get_running_loop())
    seen = await _watch(relay, path)
    stats = seen["stats"]
    assert isinstance(stats, dict)
    assert stats["modes"] == [mode.value], stats
    assert stats["b_frames"] is (kind == "b_frames")
    frames = seen["frames"]
    assert isinstance(frames, list)
    first = seen["first"]
    assert isinstance(first, float)
    assert first <= 1.0
    assert len(frames) >= 0.9 * fps * (seconds - first), (len(frames), first)
    assert {(w, h) for _, w, h in frames} == ({(320, 180)} if kind == "mjpeg" else {(640, 360)})
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(frames)]
    assert max(gaps) < 0.5
    if mode is LiveMode.TRANSCODE:
        assert stats["transcoded_frames"] > 0
        assert "profile-level-id=42e01f" in str(seen["answer"])
        assert not relay.stats()["transcoding"]  # stopped with its last viewer


async def test_candidates_before_the_answer_are_kept(tmp_path: Path, socket_enabled: None) -> None:
    """A browser's candidates that arrive while the answer is made are applied, not refused."""
    relay = LiveRelay("cam", asyncio.get_running_loop())
    path = make_h264_file(tmp_path / "c.mp4", seconds=0.5)
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            relay.on_packet(packet)
    from unittest.mock import patch

    from aiortc import RTCConfiguration, RTCPeerConnection

    loopback = patch("aioice.ice.get_host_addresses", return_value=["127.0.0.1"])
    loopback.start()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answering = asyncio.ensure_future(relay.answer(pc.localDescription.sdp, "early"))
    await asyncio.sleep(0)  # the session exists, its offer not yet applied
    assert relay.session_ids() == ["early"]
    await relay.add_candidate("early", "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "1")
    assert "a=fmtp:" in await answering
    remote = relay._sessions["early"].pc.remoteDescription
    assert remote is not None
    await relay.close()
    await pc.close()
    loopback.stop()


async def test_bad_offers_are_refused_with_a_reason(tmp_path: Path) -> None:
    """A garbage offer or one without H.264 ends in a LiveError, no session left behind."""
    relay = LiveRelay("cam", asyncio.get_running_loop())
    with av.open(str(make_h264_file(tmp_path / "b.mp4", seconds=0.5))) as container:
        for packet in container.demux(container.streams.video[0]):
            relay.on_packet(packet)
    for offer, reason in (
        ("not an SDP at all", "no_h264_in_offer"),
        (CHROMIUM_OFFER.replace("H264", "H265"), "no_h264_in_offer"),
        (CHROMIUM_OFFER.replace("a=mid:1", "a=mid:"), "negotiation_failed"),
    ):
        with pytest.raises(LiveError) as err:
            await relay.answer(offer, "bad")
        assert err.value.reason == reason, offer[:40]
        assert relay.session_count == 0
    await relay.close()
