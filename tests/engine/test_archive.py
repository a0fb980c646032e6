"""The 24/7 recorder: segments from real H.264, the index, modes, crashes, tiers, a full disk."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import av
import pytest

from custom_components.anninh.engine import fmp4
from custom_components.anninh.engine.archive import (
    INDEX_NAME,
    MAX_QUEUED,
    MOTION_POST_ROLL,
    Archive,
    ArchiveIndex,
    CameraArchive,
    Interval,
    NothingToCut,
    Protection,
    RecordingMode,
    RetentionPolicy,
    SegmentRow,
    Tier,
    Timeline,
    cut,
    find_gaps,
    hour_spans,
    protections_of,
    trim_to_fragments,
)
from custom_components.anninh.engine.recorder import Recorder
from custom_components.anninh.engine.sidecar import CameraMetadata, Trigger
from custom_components.anninh.engine.storage import Problem, list_clips, mark_evidence
from tests.media import LoopingFile, make_h264_file

FPS = 15
WALL0 = 1_780_000_000.0  # a fixed wall-clock origin: 2026-05-28
META = CameraMetadata(name="Ngã ba chợ", donor_household="Hộ ông An")


class Clock:
    """Monotonic and wall clocks the test advances together."""

    def __init__(self, wall0: float = WALL0) -> None:
        self.mono = 1000.0
        self.offset = wall0 - self.mono

    def __call__(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.mono + self.offset


class Camera:
    """A looping H.264 file fed through a real `Recorder` into an `Archive` in fake time."""

    def __init__(
        self, archive: Archive, clock: Clock, source: Path, name: str, mode: RecordingMode
    ) -> None:
        self.clock = clock
        self.archive = archive
        self.recorder = Recorder(archive.root, name, pre_event=5, clock=clock, wallclock=clock.wall)
        self.cam: CameraArchive = archive.add_camera(
            name, self.recorder.ring, mode, self.recorder.wall
        )
        self.recorder.archive_feed = self.cam.feed
        self.file = LoopingFile(source)

    def reconnect(self, source: Path | None = None) -> None:
        """A new stream object (of another file if given), as after the camera's reconnect."""
        self.file.reopen(source)

    def run(self, seconds: float, *, drain: bool = True) -> None:
        for n in range(round(seconds * FPS)):
            self.clock.mono += 1 / FPS
            self.recorder.on_packet(self.file.next())
            if drain and n % 4 == 3:
                self.archive.drain()

    def pause(self, seconds: float) -> None:
        for _ in range(round(seconds * 4)):
            self.clock.mono += 0.25
            self.archive.drain()

    def close(self) -> None:
        self.file.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of 320x180 15 fps H.264, a key frame a second."""
    return make_h264_file(tmp_path_factory.mktemp("src") / "cam.mp4", seconds=10, fps=FPS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_archive(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Archive]]:
    made: list[Archive] = []

    def factory(root: Path = tmp_path / "rec", **kwargs: object) -> Archive:
        root.mkdir(parents=True, exist_ok=True)
        archive = Archive(root, clock=clock, wallclock=clock.wall, **kwargs)  # type: ignore[arg-type]
        made.append(archive)
        return archive

    yield factory
    for archive in made:
        archive.drain(stopping=True)  # closes every open segment
        archive.index.close_all()


@pytest.fixture
def camera(
    make_archive: Callable[..., Archive], clock: Clock, source: Path
) -> Iterator[Callable[..., Camera]]:
    made: list[Camera] = []

    def factory(
        mode: RecordingMode = RecordingMode.CONTINUOUS,
        name: str = "nga_ba",
        archive: Archive | None = None,
    ) -> Camera:
        cam = Camera(archive or make_archive(), clock, source, name, mode)
        made.append(cam)
        return cam

    yield factory
    for cam in made:
        cam.close()


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_continuous_recording_makes_segments_the_index_knows(camera: Callable[..., Camera]) -> None:
    cam = camera()
    cam.run(150)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    assert [round(r.end - r.start) for r in rows] == [60, 60, 30]
    assert all(r.complete for r in rows)
    for row in rows:
        path = cam.archive.root / row.path
        assert path.stat().st_size == row.bytes
        assert decoded_frames(path) == round((row.end - row.start) * FPS)
        assert row.keyframes[0] == 0.0
        assert len(row.keyframes) == round(row.end - row.start)  # one a second
    timeline = cam.archive.index.timeline("nga_ba", rows[0].start, rows[-1].end)
    assert timeline.gaps == []
    # Stream copy: what is written is what was received, plus a little MP4 framing.
    assert 1.0 <= cam.cam.bytes_written / cam.cam.bytes_received < 1.02
    assert str(rows[0].path).startswith("nga_ba/.rec/")


def test_a_camera_offline_is_a_gap_and_a_reconnect_a_new_segment(
    camera: Callable[..., Camera], clock: Clock
) -> None:
    cam = camera()
    cam.run(20)
    cam.pause(30)  # the camera sends nothing for 30 s
    cam.reconnect()
    cam.run(20)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    assert len(rows) == 2
    timeline = cam.archive.index.timeline("nga_ba", rows[0].start, rows[1].end)
    assert len(timeline.gaps) == 1
    assert 29 <= timeline.gaps[0].end - timeline.gaps[0].start <= 31


def test_motion_mode_keeps_only_the_time_around_motion(
    camera: Callable[..., Camera], clock: Clock
) -> None:
    cam = camera(RecordingMode.MOTION)
    cam.run(30)
    assert cam.archive.index.segments() == []
    motion_start = clock.wall()
    cam.cam.motion(True)
    cam.run(8)
    motion_end = clock.wall()
    cam.cam.motion(False)
    cam.run(30)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    assert len(rows) == 1
    row = rows[0]
    assert motion_start - 6.1 <= row.start <= motion_start - 4  # the 5 pre-event seconds
    assert motion_end + MOTION_POST_ROLL - 1 <= row.end <= motion_end + MOTION_POST_ROLL + 1
    [interval] = cam.archive.index.motion("nga_ba")
    assert interval.start == pytest.approx(motion_start, abs=0.01)
    assert interval.end == pytest.approx(motion_end, abs=0.01)
    # A mark records in motion mode too, from its pre-event seconds.
    cam.cam.hold(clock.mono + 5, 3)
    cam.run(10)
    cam.archive.drain(stopping=True)
    assert len(cam.archive.index.segments("nga_ba")) == 2


def test_events_mode_records_nothing_on_its_own(camera: Callable[..., Camera]) -> None:
    cam = camera(RecordingMode.EVENTS)
    cam.cam.motion(True)
    cam.run(20)
    cam.archive.drain(stopping=True)
    assert cam.archive.index.segments() == []


def test_cut_across_segment_boundaries_starts_at_a_key_frame(
    camera: Callable[..., Camera], tmp_path: Path
) -> None:
    cam = camera()
    cam.run(150)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    start = rows[0].start + 50.5  # mid-GOP: the cut starts at the key frame at 50 s
    end = rows[0].start + 125.0  # in the third segment
    result = cut(cam.archive.root, cam.archive.index, "nga_ba", start, end, tmp_path / "cut.mp4")
    assert result.start == pytest.approx(rows[0].start + 50, abs=0.05)
    assert result.end == pytest.approx(end, abs=0.1)
    assert result.gaps == []
    assert decoded_frames(result.path) == result.frames == round((end - result.start) * FPS)
    with av.open(str(result.path)) as container:
        assert float(container.duration or 0) / 1e6 == pytest.approx(end - result.start, abs=0.1)
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(NothingToCut):
        cut(cam.archive.root, cam.archive.index, "nga_ba", end + 100, end + 200, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_cut_names_the_gaps_and_takes_what_only_the_buffer_has(
    camera: Callable[..., Camera], clock: Clock, tmp_path: Path
) -> None:
    cam = camera(RecordingMode.EVENTS)  # nothing on disk: the pre-event buffer only
    cam.run(12)
    end = clock.wall()
    result = cut(
        cam.archive.root,
        cam.archive.index,
        "nga_ba",
        end - 4.5,
        end,
        tmp_path / "buffer.mp4",
        ring=cam.recorder.ring,
        wall=cam.recorder.wall,
    )
    assert end - 5.1 <= result.start <= end - 4.5  # the key frame before the start
    assert decoded_frames(result.path) == result.frames == round((end - result.start) * FPS)
    cam2 = camera(name="cho", archive=cam.archive)
    cam2.run(20)
    cam2.pause(20)
    cam2.reconnect()
    cam2.run(20)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("cho")
    result = cut(
        cam.archive.root,
        cam.archive.index,
        "cho",
        rows[0].start,
        rows[1].end + 10,
        tmp_path / "gaps.mp4",
    )
    assert [round(g.end - g.start) for g in result.gaps] == [20, 10]
    assert decoded_frames(result.path) == 40 * FPS


def test_the_index_is_rebuilt_from_the_files(
    camera: Callable[..., Camera], make_archive: Callable[..., Archive]
) -> None:
    cam = camera()
    cam.cam.motion(True)
    cam.run(70)
    cam.cam.motion(False)
    cam.archive.drain(stopping=True)
    before = cam.archive.index.segments()
    motion = cam.archive.index.motion("nga_ba")
    cam.archive.index.close_all()
    (cam.archive.root / INDEX_NAME).unlink()
    for name in ("-wal", "-shm"):
        (cam.archive.root / (INDEX_NAME + name)).unlink(missing_ok=True)
    index = ArchiveIndex(cam.archive.root)
    assert index.missing
    assert index.rebuild() == len(before)
    assert index.rebuild() == 0  # what is there is kept, nothing twice
    after = index.segments()
    assert [r.path for r in after] == [r.path for r in before]
    for old, new in zip(before, after, strict=True):
        assert new.start == pytest.approx(old.start, abs=0.002)
        assert new.end == pytest.approx(old.end, abs=0.07)
        assert new.bytes == old.bytes
        assert len(new.keyframes) == len(old.keyframes)
    assert [(round(m.start, 2), round(m.end, 2)) for m in index.motion("nga_ba")] == [
        (round(m.start, 2), round(m.end, 2)) for m in motion
    ]
    index.close_all()
    # A damaged index is set aside and rebuilt.
    (cam.archive.root / INDEX_NAME).write_bytes(b"not a database" * 100)
    index = ArchiveIndex(cam.archive.root)
    assert index.missing
    index.rebuild()
    assert [r.path for r in index.segments()] == [r.path for r in before]
    assert (cam.archive.root / (INDEX_NAME + ".damaged")).exists()
    index.close_all()


def test_a_file_cut_mid_fragment_is_trimmed_to_whole_fragments(
    camera: Callable[..., Camera], tmp_path: Path
) -> None:
    cam = camera()
    cam.run(20)
    cam.archive.drain(stopping=True)
    [row] = cam.archive.index.segments()
    path = cam.archive.root / row.path
    data = path.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) * 2 // 3])
    size = trim_to_fragments(broken)
    assert 0 < size < len(data) * 2 // 3
    frames = decoded_frames(broken)
    assert 10 * FPS <= frames < 20 * FPS


_WRITER = """
import sys, time
sys.path.insert(0, {project!r})
import av
from pathlib import Path
from custom_components.anninh.engine.archive import Archive, RecordingMode
from custom_components.anninh.engine.recorder import Recorder

archive = Archive(Path({root!r}))
archive.start()
cams = []
for n in range({cameras}):
    recorder = Recorder(archive.root, f"cam{{n}}", pre_event=2)
    cam = archive.add_camera(f"cam{{n}}", recorder.ring, RecordingMode.CONTINUOUS, recorder.wall)
    recorder.archive_feed = cam.feed
    container = av.open({source!r})
    cams.append((recorder, container, container.streams.video[0]))
start = time.monotonic()
frame = 0
print("recording", flush=True)
while True:  # real time, 15 fps, looping the file (one stream object per camera)
    for recorder, container, stream in cams:
        for packet in container.demux(stream):
            if packet.size:
                recorder.on_packet(packet)
                break
        else:
            container.seek(0)
    frame += 1
    time.sleep(max(0.0, start + frame / {fps} - time.monotonic()))
"""


def test_kill_9_loses_at_most_two_seconds_and_everything_before_plays(
    tmp_path: Path, source: Path
) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    script = _WRITER.format(
        project=str(Path(__file__).parents[2]),
        root=str(root),
        cameras=3,
        source=str(source),
        fps=FPS,
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"recording"
        time.sleep(12)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    archive = Archive(root)
    recovered = archive.recover()
    assert len(recovered) == 3  # the open segment of each camera
    for camera in ("cam0", "cam1", "cam2"):
        rows = archive.index.segments(camera)
        assert rows
        assert all(r.complete for r in rows)
        assert killed_at - rows[-1].end <= 2.0  # seconds lost
        assert rows[-1].end - rows[0].start >= 9
        for row in rows:
            assert decoded_frames(root / row.path) >= (row.end - row.start - 0.2) * FPS
    archive.index.close_all()


def test_tiers_keep_motion_and_marks_longer_and_evidence_for_ever(
    make_archive: Callable[..., Archive], source: Path, clock: Clock
) -> None:
    protections: list[Protection] = []
    archive = make_archive(
        policy=RetentionPolicy(continuous_days=7, motion_days=30, marked_days=90, min_free_bytes=0),
        protections=lambda: protections,
    )
    made: list[Camera] = []

    def cam_of(name: str, days_ago: float) -> Camera:
        clock.offset = WALL0 - days_ago * 86400 - clock.mono
        cam = Camera(archive, clock, source, name, RecordingMode.CONTINUOUS)
        made.append(cam)
        return cam

    ages = (("plain", 10), ("moving", 10), ("marked", 40), ("old_mark", 100), ("evidence", 400))
    for name, days in ages:
        cam = cam_of(name, days)
        if name == "moving":
            cam.cam.motion(True)
        cam.run(20)
        cam.cam.motion(False)
        archive.drain(stopping=True)
        row = archive.index.segments(name)[0]
        if name in ("marked", "old_mark", "evidence"):
            protections.append(Protection(name, row.start + 5, row.start + 8, name == "evidence"))
    recent = cam_of("recent", 1)
    recent.run(20)
    archive.drain(stopping=True)
    result = archive.sweep(now=WALL0)
    kept = {row.camera for row in archive.index.segments()}
    # Motion 10 days < 30, a mark 40 days < 90, evidence for ever; the rest past its days.
    assert kept == {"moving", "marked", "evidence", "recent"}
    assert {Path(p).parts[0] for p in result.deleted} == {"plain", "old_mark"}
    assert result.forced == []
    assert result.days_held["evidence"] == pytest.approx(400, abs=0.01)
    for cam in made:
        cam.close()


def test_tier_of_a_segment(
    make_archive: Callable[..., Archive], camera: Callable[..., Camera]
) -> None:
    cam = camera()
    cam.run(20)
    cam.archive.drain(stopping=True)
    [row] = cam.archive.index.segments()
    archive = cam.archive
    assert archive.tier_of(row, [], []) is Tier.CONTINUOUS
    marks = [Protection("nga_ba", row.start + 1, row.start + 2, False)]
    assert archive.tier_of(row, marks, []) is Tier.MARKED
    assert archive.tier_of(row, [Protection("other", 0, 1e12, True)], []) is Tier.CONTINUOUS
    assert archive.tier_of(row, [*marks, Protection("nga_ba", 0, 1e12, True)], []) is Tier.EVIDENCE


def test_find_gaps_and_hours_with_motion_minutes() -> None:
    gaps = find_gaps([(10, 20), (20.5, 30), (40, 50)], 0, 60)
    assert [(g.start, g.end) for g in gaps] == [(0, 10), (30, 40), (50, 60)]
    assert find_gaps([(0, 100)], 10, 20) == []
    hour = 1_780_002_000.0  # 21:00 UTC
    timeline = Timeline(
        hour,
        hour + 7200,
        [SegmentRow("c", "p", hour + 1800, hour + 5400, 1, (0.0,), True)],
        [],
        [Interval(hour + 3000, hour + 3900)],
    )
    assert [(h.hour, round(v), round(m)) for h, v, m in hour_spans(timeline, UTC)] == [
        (21, 1800, 600),
        (22, 1800, 300),
    ]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@needs_root
def test_a_full_disk_stops_cleanly_and_the_budget_frees_the_oldest(
    tmp_path: Path, clock: Clock, source: Path
) -> None:
    with small_disk(tmp_path / "disk", "6m") as root:
        problems: list[Problem | None] = []
        protections: list[Protection] = []
        archive = Archive(
            root,
            RetentionPolicy(min_free_bytes=0),
            protections=lambda: protections,
            on_problem=lambda _cam, problem: problems.append(problem),
            clock=clock,
            wallclock=clock.wall,
        )
        cam = Camera(archive, clock, source, "nga_ba", RecordingMode.CONTINUOUS)
        try:
            for _ in range(40):  # ~ 60 kB/s: the 6 MB disk fills within a few minutes
                cam.run(10)
                if problems:
                    break
            assert problems[-1] is Problem.DISK_FULL
            rows = archive.index.segments("nga_ba")
            assert rows
            for row in rows:  # nothing written before is damaged
                assert decoded_frames(root / row.path) >= (row.end - row.start - 1.1) * FPS
            # The oldest segment is evidence: the budget deletes the next oldest instead.
            protections.append(Protection("nga_ba", rows[0].start, rows[0].start + 1, True))
            archive.policy = RetentionPolicy(min_free_bytes=2 * 1024 * 1024)
            result = archive.sweep()
            assert result.forced
            assert rows[0].path not in result.deleted
            assert result.deleted[0] == rows[1].path
            assert archive.free_bytes() >= 2 * 1024 * 1024
            clock.mono += 31  # the retry delay
            cam.run(10)
            assert problems[-1] is None  # recording again
            archive.drain(stopping=True)
            assert archive.index.segments("nga_ba")[-1].end >= clock.wall() - 1
        finally:
            archive.drain(stopping=True)
            cam.close()
            archive.index.close_all()


def test_a_mark_protects_a_range_instead_of_writing_it_twice(
    camera: Callable[..., Camera], clock: Clock
) -> None:
    cam = camera()
    finished: list[object] = []
    cam.cam.on_mark_finished = finished.append
    cam.run(20)
    handle = cam.cam.mark(10, 5, Trigger("bell", "binary_sensor.chuong"), "Chuông", None, META)
    cam.run(4)
    again = cam.cam.mark(10, 5, Trigger("manual", "Cán bộ"), "", "VV-7", META)
    assert again is handle
    assert handle.calls == 2
    cam.run(15)
    assert finished
    assert handle.done
    [entry] = list_clips(cam.archive.root, "nga_ba", handle.clip_id.split("/")[1])
    assert entry.kind == "mark"
    assert entry.path == handle.paths[0]
    assert entry.sidecar is not None
    assert entry.sidecar.case_number == "VV-7"
    assert len(entry.sidecar.triggers) == 2
    assert entry.sidecar.duration == pytest.approx(5 + 4 + 10, abs=0.2)
    # No clip file: the range is in the segments, and the mark protects them.
    assert not list(cam.archive.root.glob("nga_ba/*/*.mp4"))
    [protection] = protections_of(cam.archive.root)
    assert protection.start == pytest.approx(entry.sidecar.start.timestamp())
    assert not protection.evidence
    mark_evidence(cam.archive.root, [handle.clip_id], "VV-7")
    assert protections_of(cam.archive.root)[0].evidence


def test_joined_segments_are_one_mp4_copied_byte_for_byte(
    camera: Callable[..., Camera], tmp_path: Path, source: Path
) -> None:
    cam = camera()
    cam.run(150)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    start, end = rows[0].start + 50.5, rows[0].start + 125.0
    plan = fmp4.plan(((cam.archive.root / r.path, r.start) for r in rows), start, end)
    joined = tmp_path / "joined.mp4"
    with joined.open("wb") as out:
        size = fmp4.write(plan, out)
    assert size == joined.stat().st_size
    assert plan.start == pytest.approx(rows[0].start + 50, abs=0.05)  # the key frame before
    assert end <= plan.end <= end + 1.0  # to the end of the fragment holding `end`
    assert decoded_frames(joined) == plan.frames == round((plan.end - plan.start) * FPS)
    with av.open(str(joined)) as container:
        times = [float(p.pts * p.time_base) for p in container.demux() if p.pts is not None]
    assert times == sorted(times)
    assert times[-1] - times[0] == pytest.approx(plan.end - plan.start - 1 / FPS, abs=0.01)
    assert plan.spans() == [(plan.start, plan.end)]
    # A camera whose picture size changed cannot be joined: cut packet by packet instead.
    other = make_h264_file(tmp_path / "big.mp4", width=640, height=360, seconds=4, fps=FPS)
    cam2 = camera(name="cho", archive=cam.archive)
    cam2.run(10)
    cam2.reconnect(other)
    cam2.run(10)
    cam.archive.drain(stopping=True)
    rows2 = cam.archive.index.segments("cho")
    assert len(rows2) == 2
    with pytest.raises(fmp4.NotJoinable):
        fmp4.plan(((cam.archive.root / r.path, r.start) for r in rows2), 0, math.inf)


def test_a_writer_far_behind_drops_the_queue_and_leaves_a_gap(
    camera: Callable[..., Camera], clock: Clock
) -> None:
    cam = camera()
    cam.run(10)
    cam.run(110, drain=False)  # 1650 packets queued: past MAX_QUEUED the queue is dropped
    assert cam.cam.overflows == 1
    assert len(cam.cam.queue) < MAX_QUEUED
    cam.run(5)
    cam.archive.drain(stopping=True)
    rows = cam.archive.index.segments("nga_ba")
    assert len(rows) == 2
    timeline = cam.archive.index.timeline("nga_ba", rows[0].start, rows[1].end)
    [gap] = timeline.gaps
    assert 95 <= gap.end - gap.start <= 101  # what was dropped is a gap, not a jump in a file
    assert decoded_frames(cam.archive.root / rows[1].path) >= 14 * FPS
