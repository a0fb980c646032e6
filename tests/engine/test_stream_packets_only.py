"""A packets-only reader (decode=False): the recorder's main stream while a sub-stream is analysed."""

from __future__ import annotations

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
