"""The live relay's packet handling: Annex B conversion, its clock, and slow viewers."""

from __future__ import annotations

import asyncio
import itertools
from fractions import Fraction
from pathlib import Path

import av
import pytest

from custom_components.anninh.engine.live import (
    VIDEO_CLOCK,
    LiveError,
    LivePacket,
    LiveRelay,
    PacketTrack,
    _annexb_nal_types,
    _Clock,
    _H264Format,
)
from tests.media import make_h264_file


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


def test_clock_only_rises(tmp_path: Path) -> None:
    """Loops (time jumps back), missing timestamps and new streams keep the clock rising."""
    packets, _ = _packets(make_h264_file(tmp_path / "c.mp4", seconds=1.0, fps=15))
    clock = _Clock()
    ticks = [clock.map(p, new_stream=i == 0) for i, p in enumerate(packets)]
    ticks += [clock.map(p, new_stream=False) for p in packets]  # the file loops
    ticks += [clock.map(p, new_stream=True) for p in packets[:3]]  # a reconnect
    blank = av.Packet(b"\x00")
    ticks.append(clock.map(blank, new_stream=False))  # no pts at all
    assert all(b > a for a, b in itertools.pairwise(ticks))
    step = ticks[1] - ticks[0]
    assert abs(step - VIDEO_CLOCK / 15) <= 1


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


async def test_relay_refuses_before_h264() -> None:
    """No session before the main stream is known to be H.264; closed relays refuse too."""
    relay = LiveRelay("cam", asyncio.get_running_loop())
    with pytest.raises(LiveError) as err:
        await relay.answer("v=0\r\n")
    assert err.value.reason == "not_h264"
    await relay.close()
    with pytest.raises(LiveError) as err:
        await relay.answer("v=0\r\n")
    assert err.value.reason == "closed"
