"""A shared camera's media path without HA: masks burned in at home, pushed, read at the station."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from custom_components.anninh.engine.audit import AuditLog, verify_chain
from custom_components.anninh.engine.share import (
    PushFeed,
    ShareQuality,
    ShareStreamer,
    burn_masks,
    digest,
    fitted_size,
    forget_feed,
    mask_planes,
    matches,
    new_invitation_code,
    new_secret,
    normalise_code,
    push_feed,
)
from custom_components.anninh.engine.source import SourceKind, StreamOpenError, StreamSource
from custom_components.anninh.engine.stream import StreamReader, StreamState
from tests.media import make_h264_file

MASK = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]  # the top-left quarter


def test_secrets_are_long_random_and_kept_as_digests() -> None:
    secret = new_secret()
    assert len(secret) >= 43
    assert secret != new_secret()  # 256 bits, URL-safe
    kept = digest(secret)
    assert secret not in kept
    assert matches(secret, kept)
    assert not matches(secret + "x", kept)
    code = new_invitation_code()
    assert len(normalise_code(code)) == 24  # 120 bits
    assert normalise_code(code.lower().replace("-", " ")) == normalise_code(code)


def test_masks_blank_luma_and_every_chroma_sample_they_touch() -> None:
    height, width = 8, 8
    picture = np.full((height * 3 // 2, width), 200, np.uint8)
    masks = mask_planes([[(0.0, 0.0), (0.35, 0.0), (0.35, 0.35), (0.0, 0.35)]], width, height)
    assert masks is not None
    burn_masks(picture, masks)
    luma = picture[:height]
    assert (luma[:3, :3] == 16).all()
    assert luma[3:, 3:].min() == 200
    u = picture[height : height + height // 4].reshape(4, 4)
    assert u[0, 0] == 128
    assert u[1, 1] == 128  # u[1, 1] covers luma 2-3: pixel 2 is masked
    assert u[2, 2] == 200
    assert mask_planes([], width, height) is None
    assert fitted_size(1920, 1080, 1280, 720) == (1280, 720)
    assert fitted_size(641, 361, 1280, 720) == (640, 360)  # even sizes (yuv420p)


def test_feed_reads_in_order_ends_streams_and_drops_beyond_its_limit() -> None:
    feed = PushFeed(limit=10)
    assert feed.write(b"abcdef")
    assert feed.read(4, 0.1) == b"abcd"
    assert feed.read(10, 0.1) == b"ef"
    feed.end()
    assert feed.read(10, 0.1) == b""  # end of that stream
    assert feed.read(10, 0.05) == b""  # nothing: a timeout
    assert feed.write(b"12345678")
    assert not feed.write(b"90ab")  # over the limit: dropped
    assert not feed.write(b"c")  # and the rest of that stream
    feed.end()
    assert feed.write(b"x")  # the next stream is taken again
    assert feed.dropped == 5
    feed.interrupt()
    assert feed.read(10, 5.0) == b""
    feed.resume()
    assert feed.read(10, 0.05) == b""


def _station_frames(share_id: str) -> tuple[StreamReader, list[np.ndarray]]:
    lumas: list[np.ndarray] = []
    reader = StreamReader(
        StreamSource.parse(f"anninh-share:{share_id}"),
        name="shared",
        on_analysis_frame=lambda luma, _ts, _wall: lumas.append(luma.copy()),
        analysis_fps=10,
    )
    return reader, lumas


def test_a_masked_share_reaches_the_station_with_every_masked_pixel_black(tmp_path: Path) -> None:
    """Home: file → decode → mask → H.264 → MPEG-TS → feed; station: the reader decodes it."""
    source = StreamSource.parse(str(make_h264_file(tmp_path / "cam.mp4", seconds=3.0)))
    assert StreamSource.parse("anninh-share:abc123").kind is SourceKind.PUSH
    with pytest.raises(StreamOpenError):
        StreamSource.parse("anninh-share:../x")
    feed = push_feed("test1")
    chunks: list[int] = []

    def on_chunk(chunk: bytes) -> None:
        chunks.append(len(chunk))
        if chunk:
            feed.write(chunk)
        else:
            feed.end()

    streamer = ShareStreamer(
        "test", on_chunk, source=source, masks=[MASK], quality=ShareQuality(fps=10)
    )
    reader, lumas = _station_frames("test1")
    reader.start()
    streamer.start()
    try:
        streamer.set_active(True)
        deadline = time.monotonic() + 20
        while len(lumas) < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lumas) >= 15, reader.health
        assert reader.health.state is StreamState.STREAMING
        for luma in lumas:
            h, w = luma.shape
            inside = luma[2 : h // 2 - 2, 2 : w // 2 - 2]  # the mask, off its edge blocks
            assert int(inside.max()) <= 20, int(inside.max())
            assert float(luma[h // 2 + 4 :, w // 2 + 4 :].std()) > 5  # the picture elsewhere
        # Pausing: no frame is encoded after set_active(False) returns.
        sent = streamer.stats.frames_sent
        streamer.set_active(False)
        time.sleep(0.5)
        assert streamer.stats.frames_sent <= sent + 1
        assert chunks[-1] == 0  # the stream was ended
    finally:
        streamer.stop()
        reader.stop()
        forget_feed("test1")


def test_a_share_from_snapshots_is_encoded_too(tmp_path: Path) -> None:
    frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 90, np.uint8), format="rgb24")
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 120, "yuvj420p"
    ctx.time_base = Fraction(1, 25)
    jpeg = b"".join(bytes(p) for p in ctx.encode(frame.reformat(format="yuvj420p")))
    got: list[bytes] = []
    done = threading.Event()

    def on_chunk(chunk: bytes) -> None:
        got.append(chunk)
        if sum(map(len, got)) > 2000:
            done.set()

    streamer = ShareStreamer(
        "snap", on_chunk, snapshot=lambda: jpeg, quality=ShareQuality(snapshot_fps=10, fps=10)
    )
    streamer.start()
    streamer.set_active(True)
    try:
        assert done.wait(10)
        assert streamer.stats.size == (160, 120)
    finally:
        streamer.stop()
    assert got[0][0] == 0x47  # MPEG-TS sync byte


def test_audit_chain_verifies_and_any_edit_breaks_it(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "share.jsonl"
    log = AuditLog(path)
    for n in range(5):
        log.append("live_start", user=f"Cán bộ {n}")
    assert verify_chain(path).ok
    assert verify_chain(path).entries == 5
    assert AuditLog(path).append("paused")["seq"] == 6  # a new process goes on from the head
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert log.tail(2)[-1]["kind"] == "paused"

    edited = json.loads(lines[2])
    edited["detail"]["user"] = "someone else"
    path.write_text("\n".join([*lines[:2], json.dumps(edited), *lines[3:]]) + "\n", "utf-8")
    check = verify_chain(path)
    assert not check.ok
    assert check.broken_at == 3
    assert check.reason == "hash"

    path.write_text("\n".join([*lines[:2], *lines[3:]]) + "\n", "utf-8")  # one entry deleted
    assert verify_chain(path).broken_at == 3

    path.write_text("\n".join(lines) + "\n" + '{"seq": 7, "at"', "utf-8")  # a torn last line
    assert verify_chain(path).broken_at == 7
    AuditLog(path).append("resumed")
    assert json.loads(path.read_text("utf-8").splitlines()[-1])["seq"] == 7
