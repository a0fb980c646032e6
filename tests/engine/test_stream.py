"""StreamReader against real RTSP test cameras, misbehaving loopback servers and local files."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from custom_components.anninh.engine.source import StreamProblem, StreamSource
from custom_components.anninh.engine.stream import (
    Backoff,
    StreamHealth,
    StreamReader,
    StreamState,
    _interrupt_blocking_read,
    _Rate,
    luma_view,
)
from tests.media import BLOCK_LUMA, background, make_h264_file

FAST = Backoff(initial=0.1, factor=2.0, cap=0.4, jitter=0.0, auth_wait=0.4)


class Recorder:
    """Collects a reader's callbacks."""

    def __init__(self) -> None:
        self.health: list[StreamHealth] = []
        self.frames: list[tuple[np.ndarray, float, float]] = []
        self.packets = 0
        self.changed = threading.Condition()

    def on_health(self, health: StreamHealth) -> None:
        with self.changed:
            self.health.append(health)
            self.changed.notify_all()

    def on_frame(self, luma: np.ndarray, timestamp: float, wallclock: float) -> None:
        with self.changed:
            self.frames.append((luma, timestamp, wallclock))
            self.changed.notify_all()

    def on_packet(self, packet: av.Packet) -> None:
        self.packets += 1

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                assert time.monotonic() < deadline, (
                    f"timed out; health: {[(h.state, h.reason) for h in self.health]}"
                )
                self.changed.wait(0.05)

    def states(self) -> list[tuple[StreamState, StreamProblem | None]]:
        return [(h.state, h.reason) for h in self.health]


@pytest.fixture
def make_reader() -> Callable[..., tuple[StreamReader, Recorder]]:
    readers: list[StreamReader] = []

    def factory(url: str, **kwargs: object) -> tuple[StreamReader, Recorder]:
        rec = Recorder()
        source = StreamSource.parse(
            url, str(kwargs.pop("username", "")), str(kwargs.pop("password", ""))
        )
        options: dict[str, object] = {
            "backoff": FAST,
            "open_timeout": 3.0,
            "read_timeout": 2.0,
            "on_health": rec.on_health,
            "on_analysis_frame": rec.on_frame,
            "on_packet": rec.on_packet,
        }
        options.update(kwargs)
        reader = StreamReader(source, **options)  # type: ignore[arg-type]
        readers.append(reader)
        reader.start()
        return reader, rec

    yield factory
    for reader in readers:
        reader.stop(5)


def test_streams_rtsp_at_source_and_analysis_rates(rtsp_camera, make_reader) -> None:
    camera = rtsp_camera()
    started = time.monotonic()
    reader, rec = make_reader(camera.url, name="cổng chợ")
    rec.wait(lambda: len(rec.frames) >= 1)
    first_frame = time.monotonic() - started
    rec.wait(lambda: len(rec.frames) >= 15)
    luma, _, wall = rec.frames[-1]
    assert luma.shape == (180, 320)
    assert luma.dtype == np.uint8
    assert abs(wall - time.time()) < 5
    timestamps = [t for _, t, _ in rec.frames]
    assert all(b > a for a, b in itertools.pairwise(timestamps))
    steps = np.diff(timestamps[2:])
    assert np.median(steps) == pytest.approx(0.2, abs=0.02)  # 5 of 15 fps analysed
    health = reader.health
    assert health.state is StreamState.STREAMING
    assert health.reason is None
    assert health.fps == pytest.approx(15, rel=0.35)
    assert health.analysis_fps == pytest.approx(5, rel=0.35)
    assert health.bitrate > 10_000
    assert (health.width, health.height, health.codec) == (320, 180, "h264")
    assert rec.packets >= 2 * len(rec.frames)
    assert rec.states()[0] == (StreamState.STREAMING, None)
    assert reader.latest_jpeg() is not None
    reader.stop()  # no new frame from here on: the JPEG of the last one is cached
    jpeg = reader.latest_jpeg()
    assert jpeg is not None
    assert jpeg[:2] == b"\xff\xd8"
    assert reader.latest_jpeg() is jpeg
    assert reader.latest_frame() is not None
    assert first_frame < 10
    print(f"time to first frame {first_frame:.2f} s")


def test_reconnects_after_camera_killed_and_restarted(rtsp_camera, make_reader) -> None:
    camera = rtsp_camera(pattern=True)
    reader, rec = make_reader(camera.url)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    camera.kill()
    rec.wait(lambda: reader.health.state is StreamState.RECONNECTING)
    assert reader.health.reconnects == 1
    assert reader.health.reason is StreamProblem.CANNOT_CONNECT
    time.sleep(0.5)  # a few refused retries, still within the grace period
    assert reader.health.state is StreamState.RECONNECTING
    restarted = time.monotonic()
    camera.restart()
    rec.wait(lambda: reader.health.state is StreamState.STREAMING and len(rec.health) >= 3)
    print(f"streaming again {time.monotonic() - restarted:.2f} s after restart")
    assert rec.states() == [
        (StreamState.STREAMING, None),
        (StreamState.RECONNECTING, StreamProblem.CANNOT_CONNECT),
        (StreamState.STREAMING, None),
    ]
    assert reader.health.reconnects == 1


def test_flapping_camera_streams_again_within_15_s(rtsp_camera, make_reader) -> None:
    """Short sessions do not leave the backoff at its cap: back within 15 s with real delays."""
    camera = rtsp_camera(pattern=True)
    reader, rec = make_reader(camera.url, backoff=Backoff(), stable_after=30.0)
    for flap in range(3):  # up for a moment, then gone again: a flapping camera
        rec.wait(lambda: reader.health.state is StreamState.STREAMING, timeout=20)
        camera.kill()
        rec.wait(lambda n=flap: reader.health.reconnects == n + 1, timeout=20)
        camera.restart()
    rec.wait(lambda: reader.health.state is StreamState.STREAMING, timeout=20)
    camera.kill()
    time.sleep(8.0)  # long enough for the backoff to reach its cap
    restarted = time.monotonic()
    camera.restart()
    rec.wait(lambda: reader.health.state is StreamState.STREAMING, timeout=15.0)
    print(f"flapping camera streaming again {time.monotonic() - restarted:.1f} s after restart")


def test_callback_bug_is_logged_and_the_camera_keeps_streaming(
    tmp_path: Path, make_reader, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is a bug: logged once with its traceback, the camera stays up."""

    def broken_listener(packet: av.Packet) -> None:
        raise RuntimeError("bug in a listener")

    caplog.set_level(logging.ERROR)
    reader, rec = make_reader(str(make_h264_file(tmp_path / "a.mp4", seconds=1.0)))
    reader.add_packet_listener(broken_listener)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    count = len(rec.frames)
    rec.wait(lambda: len(rec.frames) > count + 5)
    assert reader.health.state is StreamState.STREAMING
    assert reader.health.reconnects == 0
    bugs = [r for r in caplog.records if "broken_listener" in r.getMessage()]
    assert len(bugs) == 1
    assert bugs[0].exc_info is not None


@pytest.mark.parametrize("per_slice", [False, True], ids=["conforming", "sps-per-slice"])
def test_multi_slice_pictures_arrive_whole(
    rtsp_camera, make_reader, tmp_path: Path, per_slice: bool
) -> None:
    """Four slices a picture over RTSP: whole, correct pictures for analysis and listeners.

    Also when the camera repeats SPS/PPS before every slice of a key frame (FFmpeg then hands
    each slice over as a packet of its own, and the reader joins them).
    """
    video = make_h264_file(
        tmp_path / "sliced.mp4", width=320, height=240, seconds=2.0, slices=4, moving_block=False
    )
    camera = rtsp_camera(file=video, parameter_sets_per_slice=per_slice)
    reader, rec = make_reader(camera.url, analysis_fps=15)
    packets: list[tuple[int | None, bool]] = []
    reader.add_packet_listener(lambda p: packets.append((p.pts, bool(p.is_keyframe))))
    rec.wait(lambda: len(rec.frames) >= 40, timeout=20)  # past the first GOP
    expected = np.array_split(background(320, 240).astype(np.float32), 4)
    for luma, _, _ in rec.frames[-20:]:  # every slice decoded: each quarter is the scene's
        for got, want in zip(np.array_split(luma.astype(np.float32), 4), expected, strict=True):
            assert np.abs(got - want).mean() < 12
    later = packets[len(packets) // 2 :]  # after the first key frame: one packet a picture
    stamps = [pts for pts, _ in later if pts is not None]
    assert len(stamps) == len(set(stamps)), later


def test_outage_longer_than_grace_goes_offline(rtsp_camera, make_reader) -> None:
    camera = rtsp_camera()
    reader, rec = make_reader(camera.url, offline_after=0.3)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    camera.kill()
    rec.wait(lambda: reader.health.state is StreamState.OFFLINE)
    assert reader.health.reason is StreamProblem.CANNOT_CONNECT
    camera.restart()
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)


@pytest.mark.parametrize("auth", ["basic", "digest"])
def test_credentials(rtsp_camera, make_reader, auth: str) -> None:
    camera = rtsp_camera(username="admin", password="p@ss:w/rd", auth=auth)
    reader, rec = make_reader(camera.url, username="admin", password="p@ss:w/rd")
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    bad, bad_rec = make_reader(camera.url, username="admin", password="wrong")
    bad_rec.wait(lambda: bad.health.state is StreamState.OFFLINE)
    assert bad.health.reason is StreamProblem.INVALID_AUTH
    assert bad_rec.frames == []


def test_wrong_password_is_offline_invalid_auth_and_waits(
    rtsp_camera, make_reader, caplog: pytest.LogCaptureFixture
) -> None:
    camera = rtsp_camera(username="admin", password="secret")
    caplog.set_level(logging.DEBUG)
    reader, rec = make_reader(camera.url, username="admin", password="nope-hunter2")
    rec.wait(lambda: reader.health.state is StreamState.OFFLINE)
    assert rec.states() == [(StreamState.OFFLINE, StreamProblem.INVALID_AUTH)]
    time.sleep(0.3)  # invalid_auth retries only after the backoff cap (0.4 s here)
    assert "nope-hunter2" not in caplog.text
    assert "secret" not in caplog.text
    assert sum("offline" in r.getMessage() for r in caplog.records) == 1


def test_garbage_payload_is_survived(rtsp_camera, garbage_proxy, make_reader, caplog) -> None:
    camera = rtsp_camera()
    proxy = garbage_proxy(camera.port, after=1.0, duration=2.0, mode="payload")
    caplog.set_level(logging.WARNING)
    reader, rec = make_reader(proxy.url())
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    rec.wait(lambda: proxy.corrupted_bytes > 0)
    rec.wait(lambda: reader.health.decode_errors > 0 or reader.health.reconnects > 0, timeout=20)
    assert reader.running
    count = len(rec.frames)
    rec.wait(lambda: len(rec.frames) > count + 5, timeout=20)  # pictures again
    assert "undecodable" in caplog.text or reader.health.reconnects > 0


def test_garbage_bytes_reconnect(rtsp_camera, garbage_proxy, make_reader) -> None:
    camera = rtsp_camera()
    proxy = garbage_proxy(camera.port, after=4.0, mode="bytes")  # after the open (~2 s)
    reader, rec = make_reader(proxy.url(), read_timeout=1.0)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    rec.wait(lambda: reader.health.reconnects >= 1, timeout=20)
    assert reader.health.reason in {
        StreamProblem.DECODE_ERROR,
        StreamProblem.TIMEOUT,
        StreamProblem.UNSUPPORTED_STREAM,
        StreamProblem.CANNOT_CONNECT,
    }
    rec.wait(lambda: proxy.connections >= 2 and reader.health.state is StreamState.STREAMING)
    assert reader.running


def test_silent_server_times_out(silent_tcp_server, make_reader) -> None:
    started = time.monotonic()
    reader, rec = make_reader(silent_tcp_server.url(), open_timeout=1.0)
    rec.wait(lambda: reader.health.state is StreamState.OFFLINE)
    assert reader.health.reason is StreamProblem.TIMEOUT
    assert 0.8 < time.monotonic() - started < 5
    assert silent_tcp_server.connections >= 1


def test_refused_port_cannot_connect(refused_port: int, make_reader) -> None:
    reader, rec = make_reader(f"rtsp://127.0.0.1:{refused_port}/cam")
    rec.wait(lambda: reader.health.state is StreamState.OFFLINE)
    assert reader.health.reason is StreamProblem.CANNOT_CONNECT
    time.sleep(0.5)  # retries keep failing: still offline, reported once
    assert rec.states() == [(StreamState.OFFLINE, StreamProblem.CANNOT_CONNECT)]


def test_frozen_camera_times_out_then_recovers(rtsp_camera, make_reader) -> None:
    camera = rtsp_camera()
    reader, rec = make_reader(camera.url, read_timeout=1.0)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    camera.freeze()
    rec.wait(lambda: reader.health.state is StreamState.RECONNECTING)
    assert reader.health.reason is StreamProblem.TIMEOUT
    camera.thaw()
    rec.wait(lambda: reader.health.state is StreamState.STREAMING and reader.health.reconnects)


def test_stop_is_prompt_while_read_is_blocked(rtsp_camera, make_reader) -> None:
    camera = rtsp_camera()
    reader, rec = make_reader(camera.url, read_timeout=30.0)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    camera.freeze()
    time.sleep(0.5)  # the reader is now blocked inside FFmpeg, waiting for bytes
    started = time.monotonic()
    assert reader.stop(5)
    assert time.monotonic() - started < 1.0
    assert not reader.running
    count = len(rec.health)
    time.sleep(0.2)
    assert len(rec.health) == count  # no callbacks after stop


def test_stop_during_blocked_open_returns_and_thread_ends(silent_tcp_server, make_reader) -> None:
    reader, rec = make_reader(silent_tcp_server.url(), open_timeout=1.5)
    time.sleep(0.3)
    started = time.monotonic()
    assert not reader.stop(0.2)  # an open cannot be interrupted
    assert time.monotonic() - started < 0.5
    rec.wait(lambda: not reader.running, timeout=5)
    assert rec.health == []  # no callback once stopped


def test_interrupt_finds_nothing_outside_a_read(tmp_path: Path) -> None:
    path = make_h264_file(tmp_path / "x.mp4", 64, 48, seconds=0.2)
    with av.open(str(path), timeout=(1.2345, 1.2345)) as container:
        assert not _interrupt_blocking_read(container, 1.2345)  # not inside demux()
        for _ in container.demux(video=0):
            assert _interrupt_blocking_read(container, 1.2345)
            break


def test_local_file_plays_at_native_rate_and_loops(tmp_path: Path, make_reader) -> None:
    path = make_h264_file(tmp_path / "clip.mp4", 320, 180, fps=15, seconds=1.0, gop=5)
    reader, rec = make_reader(str(path), analysis_fps=15.0)
    rec.wait(lambda: len(rec.frames) >= 1)
    started = time.monotonic()
    rec.wait(lambda: len(rec.frames) >= 31, timeout=10)
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 3.0  # 30 frames at 15 fps, across a loop
    timestamps = np.array([t for _, t, _ in rec.frames[:31]])
    assert np.allclose(np.diff(timestamps), 1 / 15, atol=0.003)  # no jump at the loop point
    # the moving block is where the generator put it
    assert (rec.frames[7][0] == BLOCK_LUMA).sum() > 100
    assert reader.health.reconnects == 0
    assert reader.health.state is StreamState.STREAMING


def test_local_file_without_loop_goes_offline_at_end(tmp_path: Path, make_reader) -> None:
    path = make_h264_file(tmp_path / "clip.mp4", 64, 48, fps=30, seconds=0.3)
    reader, rec = make_reader(str(path), loop_file=False)
    rec.wait(lambda: not reader.running)
    assert rec.states() == [(StreamState.STREAMING, None), (StreamState.OFFLINE, None)]


def test_missing_file_and_garbage_file(tmp_path: Path, make_reader) -> None:
    reader, rec = make_reader(str(tmp_path / "none.mp4"))
    rec.wait(lambda: reader.health.state is StreamState.OFFLINE)
    assert reader.health.reason is StreamProblem.NOT_FOUND
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 500)
    reader2, rec2 = make_reader(str(junk))
    rec2.wait(lambda: reader2.health.state is StreamState.OFFLINE)
    assert reader2.health.reason is StreamProblem.UNSUPPORTED_STREAM


def test_key_frames_only_while_quiet_and_wakes_on_motion(tmp_path: Path, make_reader) -> None:
    # quiet for 2 s, block moving 2-3 s, quiet again; 1 s GOP at 15 fps
    path = make_h264_file(
        tmp_path / "c.mp4", 320, 180, fps=15, seconds=4.0, gop=15, motion_window=(2.0, 3.0)
    )
    quiet = threading.Event()
    quiet.set()
    reader, rec = make_reader(str(path), analysis_fps=15.0, quiet=quiet.is_set, loop_file=False)
    rec.wait(lambda: not reader.running, timeout=10)
    analysed = {round(t * 15) for _, t, _ in rec.frames}
    assert set(range(15)) <= analysed  # full decoding until the packet-size baseline is known
    assert not analysed & set(range(18, 30))  # then key frames only
    assert 30 in analysed  # key frame
    assert 31 in analysed  # the block moves: big P-frame, full decoding at once
    assert len(analysed) < 60
    assert reader.health.decode_errors == 0


def test_long_key_frame_interval_stays_streaming(tmp_path: Path, make_reader) -> None:
    """Key frames 5 s apart (the demo footage has 10 s): quiet, key frames only, never a stall.

    Before the second key frame the interval is unknown: waiting for the next key frame must not
    be held to the read timeout (2 s here).
    """
    video = make_h264_file(tmp_path / "long.mp4", seconds=12.0, fps=15, gop=75, moving_block=False)
    reader, rec = make_reader(str(video), read_timeout=2.0, quiet=lambda: True)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    rec.wait(lambda: reader.health.key_frames_only, timeout=15)
    time.sleep(6.0)  # past the second key frame
    assert rec.states() == [(StreamState.STREAMING, None)]


def test_joining_a_long_gop_camera_waits_for_its_key_frame(
    rtsp_camera, make_reader, tmp_path: Path
) -> None:
    """A live camera with 6 s between key frames, joined mid-GOP: streaming at its next key frame.

    Packets arrive from the start but nothing decodes until then: that is not a broken stream.
    """
    video = make_h264_file(tmp_path / "gop.mp4", seconds=12.0, fps=15, gop=90, moving_block=False)
    camera = rtsp_camera(file=video)
    first, first_rec = make_reader(camera.url)  # the camera runs; a second client joins later
    first_rec.wait(lambda: first.health.state is StreamState.STREAMING, timeout=20)
    time.sleep(2.0)  # mid-GOP
    reader, rec = make_reader(camera.url, read_timeout=2.0)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING, timeout=20)
    assert rec.states() == [(StreamState.STREAMING, None)]


def test_wakes_mid_gop_from_packet_cue_with_catch_up(tmp_path: Path, make_reader) -> None:
    path = make_h264_file(
        tmp_path / "c.mp4", 320, 180, fps=15, seconds=4.0, gop=60, motion_window=(2.6, 4.0)
    )
    state = {"quiet": True}
    lumas: list[tuple[int, np.ndarray]] = []

    def on_frame(luma: np.ndarray, t: float, _wall: float) -> None:
        lumas.append((round(t * 15), luma.copy()))
        state["quiet"] = not (luma == BLOCK_LUMA).any()

    reader, rec = make_reader(
        str(path),
        analysis_fps=15.0,
        quiet=lambda: state["quiet"],
        loop_file=False,
        on_analysis_frame=on_frame,
    )
    rec.wait(lambda: not reader.running, timeout=10)
    indices = [i for i, _ in lumas]
    assert not set(indices) & set(range(20, 39))  # key frames only (none in this GOP)
    woken = indices.index(39)  # the block appears at 2.6 s: woken by the packet size
    assert (lumas[woken][1] == BLOCK_LUMA).sum() > 500  # a correct picture, caught up
    assert indices[woken + 1 : woken + 4] == [40, 41, 42]
    assert reader.health.decode_errors == 0


def test_health_snapshot_and_helpers() -> None:
    assert Backoff().delay(1, lambda: 0.5) == 1.0
    assert Backoff().delay(3, lambda: 0.5) == 4.0
    assert Backoff().delay(10, lambda: 0.5) == 10.0
    assert Backoff().delay(10, lambda: 1.0) == pytest.approx(12.0)  # back within 15 s
    assert Backoff().delay(1, lambda: 0.0) == pytest.approx(0.8)
    rate = _Rate(1.0)
    assert rate.rates(0.0) == (0.0, 0.0)
    for i in range(11):
        rate.add(i * 0.1, 100)
    assert rate.rates(1.0)[0] == pytest.approx(11.0)
    rate.add(5.0, 1)
    assert rate.rates(5.0) == (0.0, 0.0)
    rate.clear()


def test_luma_view_without_copy_and_rgb_fallback() -> None:
    frame = av.VideoFrame.from_ndarray(
        np.arange(48 * 64 * 3 // 2, dtype=np.uint8).reshape(72, 64), format="yuv420p"
    )
    luma = luma_view(frame)
    assert luma.shape == (48, 64)
    assert not luma.flags.owndata
    rgb = av.VideoFrame.from_ndarray(np.full((8, 8, 3), 200, np.uint8), format="rgb24")
    grey = luma_view(rgb)
    assert grey.shape == (8, 8)
    assert int(grey[0, 0]) > 150


def test_start_twice_and_stop_unstarted(tmp_path: Path) -> None:
    reader = StreamReader(StreamSource.parse(str(tmp_path / "x.mp4")))
    assert reader.stop(0.1)
    assert reader.latest_jpeg() is None
    reader.start()
    with pytest.raises(RuntimeError):
        reader.start()
    assert reader.stop(2)


def test_test_camera_survives_a_gstreamer_abort(rtsp_camera, make_reader) -> None:
    """GStreamer's RTSP server can abort by itself; the fixture starts it again on its port."""
    import os
    import signal

    camera = rtsp_camera()
    reader, rec = make_reader(camera.url)
    rec.wait(lambda: reader.health.state is StreamState.STREAMING)
    port = camera.port
    os.kill(camera.process.pid, signal.SIGABRT)  # as its assertion failure does
    rec.wait(lambda: camera.revivals == 1)
    assert camera.port == port
    rec.wait(lambda: reader.health.reconnects >= 1 and reader.health.state is StreamState.STREAMING)
    camera.stop()  # a stop is a stop: nothing revives it
    time.sleep(0.5)
    assert camera.revivals == 1
    assert camera.process.poll() is not None
