"""Local-file cameras: packets-only readers, and files with B-frames looped without a hiccup."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import av

from custom_components.anninh.engine.source import StreamSource
from custom_components.anninh.engine.stream import StreamReader, StreamState
from tests.media import make_h264_file


def test_packets_only_reader(tmp_path: Path) -> None:
    """Packets flow, the state is streaming, and nothing is decoded or analysed."""
    video = make_h264_file(tmp_path / "main.mp4", width=320, height=180, fps=15, seconds=2.0)
    packets: list[av.Packet] = []
    analysed = threading.Event()
    reader = StreamReader(
        StreamSource.parse(str(video)),
        on_packet=packets.append,
        on_analysis_frame=lambda *_: analysed.set(),
        decode=False,
    )
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while len(packets) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        health = reader.health
    finally:
        assert reader.stop()
    assert len(packets) >= 20
    assert any(p.is_keyframe for p in packets)
    assert health.state is StreamState.STREAMING
    assert (health.width, health.height, health.codec) == (320, 180, "h264")
    assert health.fps > 0
    assert not analysed.is_set()
    assert reader.latest_frame() is None


def test_file_with_b_frames_loops_without_reconnecting(tmp_path: Path) -> None:
    """Frames drained at the end of a Main-profile file (B-frames) must not break the loop."""
    video = make_h264_file(
        tmp_path / "bframes.mp4",
        width=320,
        height=180,
        fps=30,
        seconds=1.0,
        profile="main",
        b_frames=2,
    )
    with av.open(str(video)) as container:
        packets = list(container.demux(container.streams.video[0]))
    assert any(p.pts != p.dts for p in packets if p.pts is not None)  # reordered: B-frames
    timestamps: list[float] = []
    reader = StreamReader(
        StreamSource.parse(str(video)),
        on_analysis_frame=lambda luma, ts, wall: timestamps.append(ts),
        analysis_fps=30,
    )
    reader.start()
    try:
        time.sleep(2.6)  # more than two loops
        health = reader.health
    finally:
        assert reader.stop()
    assert health.state is StreamState.STREAMING
    assert health.reconnects == 0
    assert len(timestamps) >= 60
    assert all(b > a for a, b in itertools.pairwise(timestamps))
