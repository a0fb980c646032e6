"""Recordings folder: layout, unique names, evidence marks, retention, browsing, safe resolving."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.anninh.engine.recorder import save_snapshot
from custom_components.anninh.engine.sidecar import CameraMetadata, Sidecar, Trigger
from custom_components.anninh.engine.storage import (
    InvalidIdentifier,
    Problem,
    RecordingError,
    clip_path,
    commit,
    find_clips,
    list_cameras,
    list_clips,
    list_days,
    mark_evidence,
    problem_for,
    read_sidecar,
    reserve,
    resolve,
    retention_sweep,
    sidecar_path,
    slugify,
)

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _sidecar(clip_id: str, camera: str, at: datetime, kind: str = "bell") -> Sidecar:
    return Sidecar(
        kind="video",
        clip_id=clip_id,
        camera_id=camera,
        metadata=CameraMetadata(name=camera),
        start=at,
        end=at + timedelta(seconds=10),
        trigger=Trigger(kind),
    )


def make_clip(root: Path, camera: str, at: datetime, kind: str = "bell") -> str:
    """A stored 'video' clip (any bytes) with its sidecar, via reserve + commit."""
    reservation = reserve(root, camera, at, kind, ".mp4", VN)
    reservation.temp.write_bytes(b"\x00\x00\x00\x18ftypisom" + at.isoformat().encode())
    commit(reservation, _sidecar(reservation.clip_id, camera, at, kind))
    return reservation.clip_id


def test_slugify() -> None:
    assert slugify("Ngã ba chợ") == "nga_ba_cho"
    assert slugify("Cổng UBND xã Đông Hưng") == "cong_ubnd_xa_dong_hung"
    assert slugify("../../etc") == "etc"
    assert slugify("!!!") == "camera"


def test_reserve_layout_tz_and_unique_names(tmp_path: Path) -> None:
    at = datetime(2025, 3, 14, 23, 30, 5, 400_000, tzinfo=UTC)
    first = reserve(tmp_path, "cam", at, "bell", ".mp4", VN)
    assert first.clip_id == "cam/2025-03-15/063005_bell"
    assert first.path == tmp_path / "cam/2025-03-15/063005_bell.mp4"
    assert first.temp.name == ".063005_bell.mp4.tmp"
    assert first.temp.exists()
    assert not first.path.exists()
    second = reserve(tmp_path, "cam", at, "bell", ".mp4", VN)  # same second, not yet committed
    third = reserve(tmp_path, "cam", at, "bell", ".jpg", VN)
    assert second.clip_id.endswith("063005_bell_2")
    assert third.clip_id.endswith("063005_bell_3")
    utc = reserve(tmp_path, "cam", at, "weird-trigger")
    assert utc.clip_id == "cam/2025-03-14/233005_manual"
    with pytest.raises(ValueError, match="camera"):
        reserve(tmp_path, "../x", at, "bell")
    with pytest.raises(ValueError, match="suffix"):
        reserve(tmp_path, "cam", at, "bell", ".exe")


def test_commit_is_atomic_and_cleans_up(tmp_path: Path) -> None:
    at = datetime(2025, 3, 14, 1, 2, 3, tzinfo=UTC)
    reservation = reserve(tmp_path, "cam", at, "motion")
    reservation.temp.write_bytes(b"video")
    sidecar = commit(reservation, _sidecar(reservation.clip_id, "cam", at, "motion"))
    assert sidecar.sha256 == hashlib.sha256(b"video").hexdigest()
    assert sidecar.size == 5
    on_disk = json.loads(reservation.sidecar.read_text())
    assert on_disk["file"] == reservation.path.name
    assert on_disk["format"] == "anninh-clip/1"
    assert Sidecar.from_json(on_disk) == sidecar  # what is written reads back the same
    assert sorted(p.name for p in reservation.path.parent.iterdir()) == [
        "010203_motion.json",
        "010203_motion.mp4",
    ]
    # The temporary file vanished (e.g. removed by hand): a clear error, nothing left behind.
    broken = reserve(tmp_path, "cam", at, "motion")
    broken.temp.unlink()
    with pytest.raises(RecordingError) as err:
        commit(broken, _sidecar(broken.clip_id, "cam", at))
    assert err.value.problem is Problem.NOT_WRITABLE
    assert not broken.path.exists()
    assert not broken.sidecar.exists()
    assert not broken.sidecar_temp.exists()


def test_problem_for() -> None:
    import errno

    assert problem_for(OSError(errno.ENOSPC, "full")) is Problem.DISK_FULL
    assert problem_for(OSError(errno.EDQUOT, "quota")) is Problem.DISK_FULL
    assert problem_for(OSError(errno.EACCES, "denied")) is Problem.NOT_WRITABLE
    assert problem_for(OSError(errno.EROFS, "ro")) is Problem.NOT_WRITABLE
    assert problem_for(OSError(errno.EIO, "io")) is Problem.WRITE_ERROR


def test_mark_evidence_and_retention(tmp_path: Path) -> None:
    old_a = make_clip(tmp_path, "cam_a", NOW - timedelta(days=40))
    old_b = make_clip(tmp_path, "cam_a", NOW - timedelta(days=40, minutes=5), "motion")
    old_c = make_clip(tmp_path, "cam_b", NOW - timedelta(days=31))
    young = make_clip(tmp_path, "cam_a", NOW - timedelta(days=29))
    snap_id = save_snapshot(
        tmp_path,
        "cam_b",
        b"\xff\xd8",
        trigger=Trigger("manual"),
        tz=VN,
        at=NOW - timedelta(days=35),
    ).clip_id

    with pytest.raises(InvalidIdentifier):
        mark_evidence(tmp_path, [old_a, "cam_a/2025-01-01/000000_bell"], "VV-1")
    assert read_sidecar(tmp_path, old_a).evidence is None  # nothing changed
    assert mark_evidence(tmp_path, [old_a, snap_id, old_a], "VV-1", by="Trưởng CA", now=NOW) == [
        old_a,
        snap_id,
    ]
    mark_evidence(tmp_path, [old_a], "VV-2", now=NOW)
    evidence = read_sidecar(tmp_path, old_a).evidence
    assert evidence is not None
    assert evidence.case_numbers == ("VV-1", "VV-2")
    assert evidence.marked_by == "Trưởng CA"
    assert read_sidecar(tmp_path, old_a).case_number == "VV-1"
    on_disk = json.loads(sidecar_path(tmp_path, old_a).read_text())
    assert on_disk["evidence"]["case_numbers"] == ["VV-1", "VV-2"]

    stale = clip_path(tmp_path, young).parent / ".123456_bell.mp4.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (NOW.timestamp() - 3 * 86400,) * 2)
    fresh_temp = clip_path(tmp_path, young).parent / ".123457_bell.mp4.tmp"
    fresh_temp.write_bytes(b"running clip")
    os.utime(fresh_temp, (NOW.timestamp() - 60,) * 2)

    report = retention_sweep(tmp_path, 30, NOW)
    assert sorted(report.deleted) == sorted([old_b, old_c])
    assert sorted(report.kept_evidence) == sorted([old_a, snap_id])
    assert not stale.exists()
    assert fresh_temp.exists()
    for clip_id in (old_b, old_c):
        with pytest.raises(InvalidIdentifier):
            clip_path(tmp_path, clip_id)
        with pytest.raises(InvalidIdentifier):
            sidecar_path(tmp_path, clip_id)
    for clip_id in (old_a, snap_id, young):
        assert clip_path(tmp_path, clip_id).is_file()
        assert sidecar_path(tmp_path, clip_id).is_file()
    assert old_c.rsplit("/", 1)[0] in report.removed_folders  # its day folder is now empty
    assert retention_sweep(tmp_path, 0, NOW).deleted == []  # disabled
    everything = retention_sweep(tmp_path, 1, NOW + timedelta(days=400))
    assert everything.deleted == [young]
    assert list_cameras(tmp_path) == ["cam_a", "cam_b"]  # evidence keeps its folders


def test_a_clip_marked_while_retention_runs_is_kept(tmp_path: Path) -> None:
    """Marking and deleting are serialised: retention reads the sidecar again before it deletes."""
    import threading
    import time

    from custom_components.anninh.engine import storage

    clip = make_clip(tmp_path, "cam", NOW - timedelta(days=40))
    report: list[Any] = []
    with storage.evidence_lock:  # retention has listed the clip (not evidence) and waits here
        sweep = threading.Thread(
            target=lambda: report.append(retention_sweep(tmp_path, 30, now=NOW))
        )
        sweep.start()
        time.sleep(0.3)
        assert sweep.is_alive()
        mark_evidence(tmp_path, [clip], "VV-9", now=NOW)  # the officer marks it meanwhile
    sweep.join(5)
    assert report[0].kept_evidence == [clip]
    assert report[0].deleted == []
    evidence = read_sidecar(tmp_path, clip).evidence
    assert evidence is not None
    assert evidence.case_numbers == ("VV-9",)


def test_retention_removes_empty_folders_and_never_follows_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "000000_bell.mp4"
    victim.write_bytes(b"keep me")
    os.utime(victim, (0, 0))
    old = make_clip(root, "cam", NOW - timedelta(days=60))
    (root / "cam" / "2020-01-01").symlink_to(outside)
    report = retention_sweep(root, 30, NOW)
    assert report.deleted == [old]
    assert victim.read_bytes() == b"keep me"
    assert f"cam/{old.split('/')[1]}" in report.removed_folders
    assert (root / "cam" / "2020-01-01").is_symlink()


def test_browse_newest_first_and_find(tmp_path: Path) -> None:
    base = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    ids = [make_clip(tmp_path, "cam", base + timedelta(minutes=m)) for m in (0, 5, 10)]
    same_second = make_clip(tmp_path, "cam", base + timedelta(minutes=10))
    other_day = make_clip(tmp_path, "cam", base + timedelta(days=1))
    make_clip(tmp_path, "zeta", base)
    (tmp_path / "cam" / "2025-06-01" / "notes.txt").write_text("ignored")
    (tmp_path / "exports").mkdir()  # evidence ZIPs are not a camera
    assert list_cameras(tmp_path) == ["cam", "zeta"]
    assert list_days(tmp_path, "cam") == ["2025-06-02", "2025-06-01"]
    clips = list_clips(tmp_path, "cam", "2025-06-01")
    assert [c.clip_id for c in clips] == [same_second, ids[2], ids[1], ids[0]]
    assert all(c.kind == "video" and c.start is not None for c in clips)
    assert clips[0].sidecar is not None
    assert clips[0].sidecar.clip_id == same_second
    assert not clips[0].evidence
    found = find_clips(tmp_path, "cam", base + timedelta(minutes=4), base + timedelta(hours=1))
    assert [c.clip_id for c in found] == [same_second, ids[2], ids[1]]
    assert [c.clip_id for c in find_clips(tmp_path, start=base + timedelta(hours=2))] == [other_day]
    assert len(find_clips(tmp_path)) == 6
    with pytest.raises(InvalidIdentifier):
        list_days(tmp_path, "..")
    with pytest.raises(InvalidIdentifier):
        list_clips(tmp_path, "cam", "../zeta")


CRAFTED = [
    "",
    "..",
    "../",
    "../secret.txt",
    "cam/../../secret.txt",
    "cam/2025-06-01/../../../secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "cam/./2025-06-01/080000_bell.mp4",
    "cam//2025-06-01/080000_bell.mp4",
    "cam\\..\\..\\secret.txt",
    "..\\secret.txt",
    "cam%2F..%2F..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "%2E%2E%2Fsecret.txt",
    "cam%5C..%5Csecret.txt",
    "..%00/secret.txt",
    "cam/2025-06-01/080000_bell.mp4\x00.jpg",
    "cam/2025-06-01/.080000_bell.mp4.tmp",
    "cam/2025-06-01/080000_bell.mp4/",
    "cam/2025-06-01/nonexistent.mp4",
    "cam/2025-06-01/ 080000_bell.mp4",
    "~/secret.txt",
    "cam/escape/secret.txt",
    "cam/escape",
    "link.mp4",
    "cam/2025-06-01/080000_bell.mp4\n",
    "cam/2025-06-01/080000_bell.mp4?x=1",
    "file:///etc/passwd",
    "C:/Windows/win.ini",
    "..%c0%af../secret.txt",
]


def test_resolve_rejects_traversal(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    clip_id = make_clip(root, "cam", datetime(2025, 6, 1, 1, 0, tzinfo=UTC))
    assert clip_id == "cam/2025-06-01/080000_bell"
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "cam" / "escape").symlink_to(tmp_path)  # a folder symlink pointing outside
    (root / "link.mp4").symlink_to(secret)  # a file symlink pointing outside
    (root / "cam" / "2025-06-01" / ".080000_bell.mp4.tmp").write_bytes(b"x")
    inside = root / "cam" / "2025-06-01" / "alias.mp4"
    inside.symlink_to(root / "cam" / "2025-06-01" / "080000_bell.mp4")

    good = resolve(root, "cam/2025-06-01/080000_bell.mp4")
    assert good == (root / "cam/2025-06-01/080000_bell.mp4").resolve()
    assert resolve(root, "cam/2025-06-01/alias.mp4") == good  # a symlink inside is fine
    assert resolve(root, "cam", kind="dir") == (root / "cam").resolve()
    assert clip_path(root, clip_id) == good
    for identifier in CRAFTED:
        with pytest.raises(InvalidIdentifier):
            resolve(root, identifier)
        with pytest.raises(InvalidIdentifier):
            clip_path(root, identifier)
    with pytest.raises(InvalidIdentifier):
        resolve(root, "cam", kind="file")
    with pytest.raises(InvalidIdentifier):
        resolve(root, "cam/2025-06-01/080000_bell.mp4", kind="dir")
    with pytest.raises(InvalidIdentifier):
        resolve(root, None)  # type: ignore[arg-type]
