"""Recorder: pre-event ring and stream-copy clips from real H.264, real readers, real files."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest

from custom_components.anninh.engine.recorder import (
    MAX_PRE_EVENT,
    CameraMetadata,
    ClipHandle,
    ClipInfo,
    ClipRef,
    PacketRing,
    Problem,
    Recorder,
    RecordingError,
    Trigger,
    save_snapshot,
)
from custom_components.anninh.engine.source import StreamSource
from custom_components.anninh.engine.stream import Backoff, StreamReader, StreamState
from tests.media import LoopingFile, make_h264_file

FPS = 15
GOP_S = 1.0  # tests.media default: one key frame a second
META = CameraMetadata(
    name="Ngã ba chợ",
    donor_household="Hộ ông Nguyễn Văn An",
    address="Thôn 3, xã Ngũ Đoan",
    latitude=20.83,
    longitude=106.72,
)


class FakeClock:
    """A monotonic clock the test advances (packets arrive 'instantly')."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Feed:
    """Demuxes a file (looping, one open container: one stream, like a looping camera) and
    hands packets to `target`, advancing `clock` by one frame per packet ('instant' arrival)."""

    def __init__(self, path: Path, clock: FakeClock, target: Callable[[av.Packet], Any]) -> None:
        self.file = LoopingFile(path)
        self.clock = clock
        self.target = target

    def seconds(self, seconds: float) -> None:
        for _ in range(round(seconds * FPS)):
            self.clock.now += 1 / FPS
            self.target(self.file.next())

    def close(self) -> None:
        self.file.close()


@pytest.fixture
def feeds() -> Iterator[list[Feed]]:
    made: list[Feed] = []
    yield made
    for feed in made:
        feed.close()


@pytest.fixture
def make_feed(feeds: list[Feed]) -> Callable[..., Feed]:
    def factory(path: Path, clock: FakeClock, target: Callable[[av.Packet], Any]) -> Feed:
        feed = Feed(path, clock, target)
        feeds.append(feed)
        return feed

    return factory


def read_back(path: Path) -> tuple[int, float, float, int]:
    """(decoded frames, first pts s, duration s, key frames) of an MP4, decoding every frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = keys = 0
        first: float | None = None
        last_end = 0.0
        for frame in container.decode(stream):
            frames += 1
            keys += frame.key_frame
            t = float(frame.time or 0.0)
            first = t if first is None else first
            last_end = t + 1 / FPS
        assert container.streams.video[0].codec_context.name == "h264"
    return frames, first or 0.0, last_end - (first or 0.0), keys


def check_sidecar(info: ClipInfo) -> dict[str, Any]:
    """The sidecar on disk matches the file's hash and the ClipInfo."""
    sidecar = json.loads(info.sidecar_path.read_text(encoding="utf-8"))
    assert sidecar["sha256"] == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert sidecar["sha256"] == info.sha256
    assert sidecar["clip_id"] == info.clip_id
    assert sidecar["size"] == info.path.stat().st_size
    return sidecar


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob(".*") if p.is_file()]


@pytest.fixture(scope="module")
def clip6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s 320x180 15 fps H.264, 1 s GOP."""
    return make_h264_file(tmp_path_factory.mktemp("rec") / "six.mp4", seconds=6.0)


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    made: list[Recorder] = []
    yield made
    for recorder in made:
        recorder.stop(10)


@pytest.fixture
def make_recorder(
    tmp_path: Path, recorders: list[Recorder]
) -> Callable[..., tuple[Recorder, list[Any]]]:
    def factory(root: Path | None = None, **kwargs: Any) -> tuple[Recorder, list[Any]]:
        events: list[Any] = []
        recorder = Recorder(
            root or tmp_path / "rec",
            "nga_ba_cho",
            metadata=META,
            on_clip_started=lambda ref: events.append(("started", ref)),
            on_clip_finished=lambda info: events.append(("finished", info)),
            on_clip_failed=lambda ref, problem: events.append(("failed", ref, problem)),
            **kwargs,
        )
        recorders.append(recorder)
        return recorder, events

    return factory


# ------------------------------------------------------------------------------ the ring
def _tracked_objects_of(ring: PacketRing) -> int:
    """Objects the garbage collector tracks that hold the ring's buffered packets."""
    seen: set[int] = set()
    todo: list[object] = [ring._gops]
    while todo:
        item = todo.pop()
        if id(item) in seen or not gc.is_tracked(item) or isinstance(item, type):
            continue
        seen.add(id(item))
        todo.extend(gc.get_referents(item))
    return len(seen)


def test_ring_covers_pre_event_from_a_key_frame(clip6: Path, make_feed) -> None:
    clock = FakeClock()
    ring = PacketRing(pre_event=2.0, clock=clock)
    feed = make_feed(clip6, clock, ring.add)
    feed.seconds(6)
    stats = ring.stats()
    assert 2.0 <= stats.seconds <= 2.0 + GOP_S + 1 / FPS
    assert stats.gops in (2, 3)
    assert stats.bytes > 0
    packets = ring.packets_from(clock.now - 2.0)
    assert packets[0].key
    assert clock.now - packets[0].mono >= 2.0
    assert clock.now - packets[0].mono <= 2.0 + GOP_S + 1e-6
    # A time older than the buffer: the oldest key frame.
    assert ring.packets_from(0.0)[0] == ring.packets_from(clock.now - 100)[0]

    ring.pre_event = 0
    feed.seconds(6)
    assert ring.stats().gops == 1  # the current GOP only
    ring.pre_event = 500
    assert ring.pre_event == MAX_PRE_EVENT
    ring.pre_event = 30
    feed.seconds(12)  # loops twice: timestamps jump back, rebased
    assert ring.stats().seconds == pytest.approx(1 + 12, abs=0.2)  # last GOP + 12 s
    dts = [p.dts for p in ring.packets_from(0.0)]
    assert all(b > a for a, b in itertools.pairwise(dts))
    # Stored by column: the garbage collector walks a few objects per GOP, not one per packet
    # (sixty cameras' buffers would otherwise be tens of thousands in every full collection).
    stats = ring.stats()
    assert stats.packets > 10 * stats.gops
    assert _tracked_objects_of(ring) <= 8 * stats.gops + 8
    ring.clear()
    assert ring.stats().bytes == 0


def test_ring_hard_byte_cap(clip6: Path, make_feed) -> None:
    clock = FakeClock()
    ring = PacketRing(pre_event=60, max_bytes=40_000, clock=clock)
    sizes: list[int] = []
    make_feed(clip6, clock, lambda p: (ring.add(p), sizes.append(ring.stats().bytes))).seconds(6)
    assert max(sizes) <= 40_000
    assert ring.stats().seconds < 6
    packets = ring.packets_from(0.0)
    assert not packets or packets[0].key
    tiny = PacketRing(pre_event=10, max_bytes=1_000, clock=clock)  # smaller than one GOP
    make_feed(clip6, clock, tiny.add).seconds(6)
    assert tiny.stats().bytes <= 1_000


# ------------------------------------------------------------------------------ clips, fast
def test_clip_fake_clock_extend_and_sidecar(clip6: Path, make_recorder) -> None:
    clock = FakeClock()
    recorder, events = make_recorder(clock=clock, pre_event=2.0, tz=UTC)
    total = 0
    handle: ClipHandle | None = None
    with av.open(str(clip6)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            clock.now += 1 / FPS
            total += 1
            recorder.on_packet(packet)
            if total == 45:  # t = 3 s: record 1 s with 2 s pre-event
                handle = recorder.record(
                    1.0, trigger=Trigger("bell", "binary_sensor.chuong"), reason="bấm chuông"
                )
                assert recorder.active is handle
            if total == 55:  # overlapping: extends to t = 3.67 + 1.5 s
                again = recorder.record(
                    1.5, trigger=Trigger("manual", "Trưởng công an"), case_number="VV-12/2025"
                )
                assert again is handle
                assert again.clip_id == handle.clip_id
    assert handle is not None
    infos = handle.wait(10)
    assert len(infos) == 1
    info = infos[0]
    assert handle.calls == 2
    assert handle.clip_ids == [info.clip_id]
    assert info.path == handle.path
    assert info.path.name.endswith("_bell.mp4")
    assert [e[0] for e in events] == ["started", "finished"]
    assert isinstance(events[0][1], ClipRef)
    frames, _, duration, keys = read_back(info.path)
    # From the key frame at or before t-2 s (1 s) to the first packet past t2+1.5 s (5.2 s).
    assert duration == pytest.approx(2 + 0.67 + 1.5, abs=GOP_S)
    assert frames == round(duration * FPS)
    assert keys >= 4
    sidecar = check_sidecar(info)
    assert sidecar["camera"] == "Ngã ba chợ"
    assert sidecar["camera_id"] == "nga_ba_cho"
    assert sidecar["donor_household"] == "Hộ ông Nguyễn Văn An"
    assert (sidecar["latitude"], sidecar["longitude"]) == (20.83, 106.72)
    assert sidecar["trigger"] == {"kind": "bell", "source": "binary_sensor.chuong"}
    assert [t["kind"] for t in sidecar["triggers"]] == ["bell", "manual"]
    assert sidecar["reason"] == "bấm chuông"
    assert sidecar["case_number"] == "VV-12/2025"  # taken from the extending call
    assert sidecar["video"]["frames"] == frames
    assert sidecar["video"]["width"] == 320
    assert sidecar["segments"] == [info.clip_id]
    assert sidecar["evidence"] is None
    start = datetime.fromisoformat(sidecar["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(sidecar["end"].replace("Z", "+00:00"))
    assert (end - start).total_seconds() == pytest.approx(duration, abs=0.01)
    assert info.clip_id.startswith(f"nga_ba_cho/{start.strftime('%Y-%m-%d')}/")
    assert no_temp_files(recorder.root)
    assert recorder.active is None


def test_looping_file_is_one_continuous_clip(clip6: Path, make_recorder, make_feed) -> None:
    clock = FakeClock()
    recorder, _ = make_recorder(clock=clock, pre_event=3.0)
    feed = make_feed(clip6, clock, recorder.on_packet)
    feed.seconds(5)
    handle = recorder.record(4.0)
    feed.seconds(5)  # the file loops meanwhile: timestamps jump back
    (info,) = handle.wait(10)
    frames, _, duration, _ = read_back(info.path)
    assert duration == pytest.approx(7, abs=GOP_S)
    assert frames == round(duration * FPS)


def test_no_video_fails_cleanly(make_recorder) -> None:
    clock = FakeClock()
    recorder, events = make_recorder(clock=clock, end_grace=0.0)
    handle = recorder.record(0.5)  # nothing buffered, and the camera sends nothing
    assert handle.path.parent.is_dir()
    clock.now += 1.0
    with pytest.raises(RecordingError) as err:
        handle.wait(5)
    assert err.value.problem is Problem.NO_VIDEO
    assert events[-1][0] == "failed"
    assert events[-1][2] is Problem.NO_VIDEO
    assert not list(recorder.root.rglob("*.mp4"))
    assert no_temp_files(recorder.root)


def test_stop_finishes_running_clip(clip6: Path, make_recorder, make_feed) -> None:
    clock = FakeClock()
    recorder, _ = make_recorder(clock=clock, pre_event=1.0)
    make_feed(clip6, clock, recorder.on_packet).seconds(3)
    handle = recorder.record(3600)
    assert recorder.stop(10)
    (info,) = handle.wait(1)
    assert read_back(info.path)[0] > 0
    check_sidecar(info)
    with pytest.raises(RuntimeError):
        recorder.record(1)


def test_unwritable_folder(tmp_path: Path, clip6: Path, make_recorder, make_feed) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    clock = FakeClock()
    recorder, events = make_recorder(root=blocker / "recordings", clock=clock)
    make_feed(clip6, clock, recorder.on_packet).seconds(2)
    with pytest.raises(RecordingError) as err:
        recorder.record(1)
    assert err.value.problem is Problem.NOT_WRITABLE
    assert recorder.active is None
    assert events == []
    with pytest.raises(RecordingError) as err:
        save_snapshot(blocker / "recordings", "cam", b"\xff\xd8jpeg")
    assert err.value.problem is Problem.NOT_WRITABLE
    assert blocker.read_text() == "not a folder"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 300 KiB tmpfs (root only); skipped where mounting is not permitted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"mount not permitted here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk(small_tmpfs: Path, clip6: Path, make_recorder, make_feed) -> None:
    clock = FakeClock()
    recorder, events = make_recorder(root=small_tmpfs / "rec", clock=clock, pre_event=2.0)
    feed = make_feed(clip6, clock, recorder.on_packet)
    feed.seconds(3)
    handle = recorder.record(0.1)
    feed.seconds(1)
    (old,) = handle.wait(10)  # an existing clip that must stay intact
    old_bytes = old.path.read_bytes()
    old_sidecar = old.sidecar_path.read_bytes()
    filler = small_tmpfs / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()
    free = os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize
    assert free < 8192

    events.clear()
    handle = recorder.record(4.0)  # ~100 KB of video onto a full disk
    feed.seconds(5)
    with pytest.raises(RecordingError) as err:
        handle.wait(10)
    assert err.value.problem is Problem.DISK_FULL
    assert [e[0] for e in events] == ["started", "failed"]
    assert events[-1][2] is Problem.DISK_FULL
    assert not handle.path.exists()
    assert no_temp_files(small_tmpfs)
    assert sorted(p.name for p in old.path.parent.iterdir()) == sorted(
        [old.path.name, old.sidecar_path.name]
    )
    assert old.path.read_bytes() == old_bytes
    assert old.sidecar_path.read_bytes() == old_sidecar
    with pytest.raises(RecordingError) as err:
        save_snapshot(small_tmpfs / "rec", "nga_ba_cho", b"\xff\xd8" + b"x" * 50_000)
    assert err.value.problem is Problem.DISK_FULL
    assert no_temp_files(small_tmpfs)

    filler.unlink()  # space again: recording works again
    handle = recorder.record(1.0)
    feed.seconds(2)
    (info,) = handle.wait(10)
    check_sidecar(info)


def test_snapshot_layout_and_sidecar(tmp_path: Path) -> None:
    at = datetime(2025, 3, 14, 23, 30, 5, tzinfo=UTC)  # 06:30 next day in Vietnam
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    first = save_snapshot(
        tmp_path, "cong_cho", b"\xff\xd8one", trigger=Trigger("motion", "x"), tz=tz, at=at
    )
    second = save_snapshot(tmp_path, "cong_cho", b"\xff\xd8two", metadata=META, tz=tz, at=at)
    third = save_snapshot(
        tmp_path, "cong_cho", b"\xff\xd8three", trigger=Trigger("motion"), tz=tz, at=at
    )
    assert first.clip_id == "cong_cho/2025-03-15/063005_motion"
    assert second.clip_id == "cong_cho/2025-03-15/063005_manual"
    assert third.clip_id == "cong_cho/2025-03-15/063005_motion_2"
    assert third.path.read_bytes() == b"\xff\xd8three"
    sidecar = check_sidecar(third)
    assert sidecar["kind"] == "snapshot"
    assert sidecar["start"] == "2025-03-14T23:30:05.000Z"
    assert check_sidecar(second)["donor_household"] == META.donor_household


# ------------------------------------------------------------------------------ real readers
FAST = Backoff(initial=0.1, factor=2.0, cap=0.4, jitter=0.0)


@pytest.fixture
def start_reader() -> Iterator[Callable[..., StreamReader]]:
    readers: list[StreamReader] = []

    def factory(url: str, recorder: Recorder, **kwargs: Any) -> StreamReader:
        reader = StreamReader(
            StreamSource.parse(url),
            on_packet=recorder.on_packet,
            backoff=FAST,
            open_timeout=5.0,
            read_timeout=3.0,
            **kwargs,
        )
        readers.append(reader)
        reader.start()
        return reader

    yield factory
    for reader in readers:
        reader.stop(5)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def assert_timing(info: ClipInfo, called: float, pre: float, duration: float) -> None:
    """Starts within one GOP before called-pre, lasts pre+duration within one GOP."""
    start = info.start.timestamp()
    assert called - pre - GOP_S - 0.3 <= start <= called - pre + 0.3
    frames, _, length, keys = read_back(info.path)
    assert length == pytest.approx(called - start + duration, abs=GOP_S)
    assert length == pytest.approx(pre + duration, abs=GOP_S + 0.1)
    assert frames >= (pre + duration - GOP_S) * FPS
    assert keys >= 1
    check_sidecar(info)


def test_clip_from_local_file_reader(
    clip6: Path, make_recorder, start_reader: Callable[..., StreamReader]
) -> None:
    recorder, events = make_recorder(pre_event=1.0)
    start_reader(str(clip6), recorder)
    wait_for(lambda: recorder.stats().seconds >= 1.5)
    called = time.time()
    handle = recorder.record(2.0, pre_event=1.0, trigger=Trigger("motion", "binary_sensor.m"))
    (info,) = handle.wait(15)
    assert_timing(info, called, 1.0, 2.0)
    assert [e[0] for e in events] == ["started", "finished"]


def test_rtsp_clip_and_extension(
    rtsp_camera, make_recorder, start_reader: Callable[..., StreamReader]
) -> None:
    camera = rtsp_camera()
    recorder, _ = make_recorder(pre_event=2.0)
    start_reader(camera.url, recorder)
    wait_for(lambda: recorder.stats().seconds >= 2.5)
    called = time.time()
    handle = recorder.record(2.0, pre_event=1.0, trigger=Trigger("bell", "event.chuong"))
    time.sleep(1.0)
    assert recorder.record(2.0, trigger=Trigger("manual", "admin")) is handle  # extends to +3 s
    (info,) = handle.wait(15)
    assert_timing(info, called, 1.0, 3.0)
    assert len(list(recorder.root.rglob("*.mp4"))) == 1


def test_rtsp_reconnect_mid_clip_gives_two_clips(
    rtsp_camera, make_recorder, start_reader: Callable[..., StreamReader]
) -> None:
    camera = rtsp_camera()
    recorder, events = make_recorder(pre_event=1.0)
    reader = start_reader(camera.url, recorder)
    wait_for(lambda: recorder.stats().seconds >= 1.5)
    handle = recorder.record(7.0, pre_event=1.0)
    time.sleep(1.5)
    camera.stop()
    wait_for(lambda: reader.health.state is not StreamState.STREAMING)
    camera.restart()
    wait_for(lambda: len(handle.clip_ids) == 2)
    infos = handle.wait(20)
    assert [i.part for i in infos] == [1, 2]
    assert handle.clip_ids == [i.clip_id for i in infos]
    first, second = (check_sidecar(i) for i in infos)
    assert first["next_clip_id"] == infos[1].clip_id
    assert second["previous_clip_id"] == infos[0].clip_id
    assert second["segments"] == handle.clip_ids
    assert infos[0].end <= infos[1].start
    for info in infos:
        frames, _, _, keys = read_back(info.path)
        assert frames > FPS // 2
        assert keys >= 1
        assert frames == json.loads(info.sidecar_path.read_text())["video"]["frames"]
    assert [e[0] for e in events] == ["started", "finished", "started", "finished"]
    assert no_temp_files(recorder.root)


def test_record_from_any_thread(clip6: Path, make_recorder, make_feed) -> None:
    clock = FakeClock()
    recorder, _ = make_recorder(clock=clock, pre_event=1.0)
    feed = make_feed(clip6, clock, recorder.on_packet)
    feed.seconds(2)
    handles: list[ClipHandle] = []
    threads = [
        threading.Thread(target=lambda: handles.append(recorder.record(1.0))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(h) for h in handles}) == 1  # all calls landed in one clip
    assert handles[0].calls == 8
    feed.seconds(2)
    (info,) = handles[0].wait(10)
    check_sidecar(info)
    assert len(list(recorder.root.rglob("*.mp4"))) == 1
    assert no_temp_files(recorder.root)
