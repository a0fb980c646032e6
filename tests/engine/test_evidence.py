"""Evidence export ZIPs, the verifier and its command lines (with and without Home Assistant)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custom_components.anninh import verify as verify_module
from custom_components.anninh.engine.evidence import MANIFEST, export_evidence, main, verify
from custom_components.anninh.engine.recorder import CameraMetadata, Recorder, Trigger
from custom_components.anninh.engine.storage import InvalidIdentifier, mark_evidence
from tests.engine.test_recorder import FPS, FakeClock, Feed, read_back
from tests.media import make_h264_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "verify_evidence"
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two real clips (stream copy of real H.264) and a snapshot, in a recordings folder."""
    base = tmp_path_factory.mktemp("evidence")
    video = make_h264_file(base / "src.mp4", seconds=3.0)
    root = base / "rec"
    clock = FakeClock()
    recorder = Recorder(root, "cong_cho", metadata=CameraMetadata(name="Cổng chợ"), clock=clock)
    feed = Feed(video, clock, recorder.on_packet)
    ids: list[str] = []
    try:
        feed.seconds(2)
        for kind in ("bell", "motion"):
            handle = recorder.record(1.0, pre_event=1.0, trigger=Trigger(kind))
            feed.seconds(1.5)
            ids += [info.clip_id for info in handle.wait(10)]
        ids.append(recorder.snapshot(b"\xff\xd8\xff\xe0 jpeg", reason="ảnh").clip_id)
    finally:
        feed.close()
        recorder.stop()
    return root, ids


def corrupt_member(zip_path: Path, member: str, out: Path) -> None:
    """Copy `zip_path` to `out` with one byte changed in the middle of `member`'s data."""
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(member)
    data = bytearray(zip_path.read_bytes())
    header = info.header_offset
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    offset = header + 30 + name_len + extra_len + info.compress_size // 2
    data[offset] ^= 0x01
    out.write_bytes(bytes(data))


def rewrite(zip_path: Path, out: Path, edit: Callable[[dict[str, bytes]], None]) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    edit(members)
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_export_verifies(recorded: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = recorded
    dest = tmp_path / "out" / "evidence.zip"
    dest.parent.mkdir()
    result = export_evidence(root, ids, dest, "Công an xã Ngũ Đoan", "Nguyễn Văn B", NOW)
    assert result.path == dest
    assert result.clips == ids
    assert [p.name for p in dest.parent.iterdir()] == ["evidence.zip"]  # no temporary left
    with zipfile.ZipFile(dest) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
        mp4 = next(n for n in names if n.endswith(".mp4"))
        (tmp_path / "x.mp4").write_bytes(archive.read(mp4))
    assert len(names) == 2 * len(ids) + 1
    assert manifest["station"] == "Công an xã Ngũ Đoan"
    assert manifest["exporter"] == "Nguyễn Văn B"
    assert manifest["exported_at"] == "2025-06-30T12:00:00Z"
    assert manifest["clips"] == ids
    assert {f["name"] for f in manifest["files"]} == set(names) - {MANIFEST}
    assert read_back(tmp_path / "x.mp4")[0] >= FPS  # the clip inside plays
    report = verify(dest)
    assert report.ok, report.problems
    assert len(report.checked) == 2 * len(ids)


def test_one_changed_byte_names_the_file(recorded: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, ids = recorded
    dest = export_evidence(root, ids, tmp_path / "e.zip", "Station", "admin", NOW).path
    for member in (f"{ids[1]}.mp4", f"{ids[0]}.json", f"{ids[2]}.jpg"):
        bad = tmp_path / "bad.zip"
        corrupt_member(dest, member, bad)
        report = verify(bad)
        assert not report.ok
        assert report.failing == [member]
        assert report.problems[0].problem == "hash_mismatch"


def test_missing_extra_manifest_and_sidecar_problems(
    recorded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = recorded
    dest = export_evidence(root, ids[:1], tmp_path / "e.zip", "Station", "admin", NOW).path
    mp4, sidecar = f"{ids[0]}.mp4", f"{ids[0]}.json"

    def check(edit: Callable[[dict[str, bytes]], None], expected: list[tuple[str, str]]) -> None:
        out = tmp_path / "edited.zip"
        rewrite(dest, out, edit)
        report = verify(out)
        assert [(p.name, p.problem) for p in report.problems] == expected

    check(lambda m: None, [])
    check(lambda m: m.pop(mp4), [(mp4, "missing")])
    check(lambda m: m.__setitem__("cong_cho/extra.mp4", b"x"), [("cong_cho/extra.mp4", "extra")])
    check(lambda m: m.__setitem__(MANIFEST, b"{not json"), [(MANIFEST, "manifest_unreadable")])
    check(lambda m: m.pop(MANIFEST), [(MANIFEST, "manifest_unreadable")])

    def swap_video(members: dict[str, bytes]) -> None:  # consistent manifest, wrong sidecar hash
        members[mp4] = members[mp4] + b"\0"
        manifest = json.loads(members[MANIFEST])
        for entry in manifest["files"]:
            if entry["name"] == mp4:
                import hashlib

                entry["sha256"] = hashlib.sha256(members[mp4]).hexdigest()
                entry["size"] = len(members[mp4])
        members[MANIFEST] = json.dumps(manifest).encode()

    check(swap_video, [(mp4, "sidecar_mismatch")])

    def truncate(members: dict[str, bytes]) -> None:
        members[sidecar] = members[sidecar][:-1]

    check(truncate, [(sidecar, "size_mismatch")])
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert verify(junk).problems[0].problem == "not_a_zip"
    assert verify(tmp_path / "absent.zip").problems[0].problem == "not_a_zip"


def test_export_unknown_clip_leaves_nothing(
    recorded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = recorded
    with pytest.raises(InvalidIdentifier):
        export_evidence(root, [ids[0], "../../etc/passwd"], tmp_path / "e.zip", "S", "a", NOW)
    assert list(tmp_path.iterdir()) == []


def test_marked_clip_exports_with_its_mark(
    recorded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = tmp_path / "rec"
    shutil.copytree(recorded[0], root)
    clip_id = recorded[1][0]
    mark_evidence(root, [clip_id], "VV-7/2025", now=NOW)
    dest = export_evidence(root, [clip_id], tmp_path / "e.zip", "S", "a", NOW).path
    with zipfile.ZipFile(dest) as archive:
        sidecar = json.loads(archive.read(f"{clip_id}.json"))
    assert sidecar["evidence"]["case_numbers"] == ["VV-7/2025"]
    assert verify(dest).ok


def test_command_lines(
    recorded: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, ids = recorded
    good = export_evidence(root, ids, tmp_path / "good.zip", "Station", "admin", NOW).path
    bad = tmp_path / "bad.zip"
    corrupt_member(good, f"{ids[0]}.mp4", bad)

    assert main([str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    assert verify_module.main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{ids[0]}.mp4: hash_mismatch" in out
    assert main([]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()

    # The module entry point, with Home Assistant (the package __init__ imports it).
    for path, code in ((good, 0), (bad, 1)):
        run = subprocess.run(
            [sys.executable, "-m", "custom_components.anninh.verify", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == code, run.stderr
    assert f"{ids[0]}.mp4" in run.stdout

    # The script, with the system's plain Python and no Home Assistant, from a bare copy.
    plain = shutil.which("python3", path="/usr/bin") or sys.executable
    clerk = tmp_path / "clerk"
    clerk.mkdir()
    shutil.copy(SCRIPT, clerk / "verify_evidence")
    shutil.copy(REPO / "custom_components/anninh/engine/evidence.py", clerk / "evidence.py")
    for script in (SCRIPT, clerk / "verify_evidence"):
        for path, code in ((good, 0), (bad, 1)):
            run = subprocess.run(
                [plain, "-I", str(script), str(path)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == code, run.stderr
        assert f"{ids[0]}.mp4: hash_mismatch" in run.stdout
