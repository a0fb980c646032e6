"""Evidence export: a ZIP of clips with a SHA-256 manifest, and its verifier.

Standard library only (Python >= 3.10), and no imports from the rest of the package at module
level: a court clerk's plain Python 3 can load this file by path (``scripts/verify_evidence``) and
verify a ZIP.

`export_evidence(root, clips, dest_zip, station, exporter, now, extra, ranges)` writes a ZIP
(entries stored, not compressed: video does not compress) holding, for each clip id (see
`storage`), its media file and its sidecar under their path relative to the recordings folder,
plus ``manifest.json``::

    {"format": "anninh-evidence/1", "station": ..., "exporter": ..., "exported_at": UTC ISO 8601,
     "case_number": ..., "reason": ... (when given),
     "clips": [clip ids], "files": [{"name": "cam/2025-03-14/071502_bell.mp4",
                                      "size": 123, "sha256": "..."}, ...],
     "ranges": [{"camera", "camera_id", "requested": {start, end}, "start", "end", "file",
                 "gaps": [{start, end, seconds}]}]}   (ranges cut from the 24/7 recording)

The ZIP is written under a temporary name next to `dest_zip`, fsynced and renamed.

`verify(zip_path)` returns a `VerifyReport`: ``ok`` and, per failing file, its name and what is
wrong: ``hash_mismatch`` (content differs from the manifest, including a broken ZIP checksum),
``size_mismatch``, ``missing`` (listed but absent), ``extra`` (present but not listed),
``sidecar_mismatch`` (a clip's media file differs from the SHA-256 its own sidecar recorded),
``manifest_unreadable`` (no or invalid ``manifest.json``) or ``not_a_zip``. `main(argv)` is the
command line: prints ``OK`` (exit 0) or one line per failing file (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

MANIFEST = "manifest.json"
UTC = timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11; verify runs on 3.10
FORMAT = "anninh-evidence/1"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One file that failed verification."""

    name: str
    problem: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}" + (f" ({self.detail})" if self.detail else "")


@dataclass(slots=True)
class VerifyReport:
    """The outcome of `verify`."""

    path: Path
    checked: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every listed file is present and intact and nothing else is there."""
        return not self.problems

    @property
    def failing(self) -> list[str]:
        """Names of the failing files."""
        return list(dict.fromkeys(p.name for p in self.problems))


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What `export_evidence` wrote."""

    path: Path
    clips: list[str]
    files: list[dict[str, Any]]
    sha256: str  # of the ZIP itself
    ranges: list[dict[str, Any]] = field(default_factory=list)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def export_evidence(
    root: Path,
    clips: Sequence[str],
    dest_zip: Path,
    station: str,
    exporter: str,
    now: datetime | None = None,
    extra: Sequence[tuple[str, Any]] = (),
    ranges: Sequence[dict[str, Any]] = (),
    case_number: str = "",
    reason: str = "",
) -> ExportResult:
    """Write an evidence ZIP of `clips` (clip ids under `root`); see the module docstring.

    `extra` are more members (name in the ZIP, and a path or a writer ``(sink, done)`` that
    writes the content to ``sink`` and may read the (SHA-256, size) of members written before in
    ``done``), e.g. ranges of the 24/7 recording, which `ranges` describes in the manifest. A
    clip id of a mark adds its sidecar alone (its video is a range). Raises `ValueError`
    (subclass `storage.InvalidIdentifier`) for an unknown clip id and `OSError` when the ZIP
    cannot be written (no partial ZIP is left).
    """
    from .storage import (  # noqa: PLC0415 - verify() needs no package
        InvalidIdentifier,
        clip_path,
        sidecar_path,
    )

    root = Path(root)
    base = root.resolve()
    ids = list(dict.fromkeys(clips))
    clip_members: list[tuple[str, Path]] = []
    for clip_id in ids:
        paths = [sidecar_path(root, clip_id)]
        try:
            paths.insert(0, clip_path(root, clip_id))
        except InvalidIdentifier:
            if json.loads(paths[0].read_text(encoding="utf-8")).get("kind") != "mark":
                raise
        for path in paths:
            clip_members.append((path.relative_to(base).as_posix(), path))
    members: list[tuple[str, Any]] = [*clip_members, *extra]
    dest_zip = Path(dest_zip)
    temp = dest_zip.with_name(f".{dest_zip.name}.tmp")
    files: list[dict[str, Any]] = []
    done: dict[str, tuple[str, int]] = {}
    try:
        # Written as a stream and hashed as it goes: every byte goes to the disk once.
        with temp.open("wb") as raw:
            out = _HashingWriter(raw)
            stream = cast("IO[bytes]", out)
            with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, source in members:
                    with archive.open(name, "w", force_zip64=True) as dest:
                        member = _HashingWriter(dest)
                        if isinstance(source, Path):
                            with source.open("rb") as handle:
                                while block := handle.read(_CHUNK):
                                    member.write(block)
                        else:
                            source(member.write, done)
                    done[name] = (member.hexdigest(), member.size)
                    files.append({"name": name, "size": member.size, "sha256": member.hexdigest()})
                manifest = {
                    "format": FORMAT,
                    "station": station,
                    "exporter": exporter,
                    "exported_at": _utc_iso(now or datetime.now(UTC)),
                    **({"case_number": case_number} if case_number else {}),
                    **({"reason": reason} if reason else {}),
                    "clips": ids,
                    **({"ranges": list(ranges)} if ranges else {}),
                    "files": files,
                }
                text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
                archive.writestr(MANIFEST, text)
            raw.flush()
            os.fsync(raw.fileno())
        zip_sha = out.hexdigest()
        temp.replace(dest_zip)
        with contextlib.suppress(OSError):
            fd = os.open(dest_zip.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return ExportResult(path=dest_zip, clips=ids, files=files, sha256=zip_sha, ranges=list(ranges))


class _HashingWriter:
    """A write-only stream that hashes what passes through (not seekable: ZIP data
    descriptors are used, so nothing is written twice)."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._digest.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False

    def seek(self, *_args: object) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        self._target.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return bool(name) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in name


def verify(zip_path: Path | str) -> VerifyReport:
    """Check an evidence ZIP against its manifest; see the module docstring."""
    report = VerifyReport(Path(zip_path))
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as err:
        report.problems.append(FileProblem(str(zip_path), "not_a_zip", str(err)))
        return report
    with archive:
        try:
            manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
            listed = {str(f["name"]): f for f in manifest["files"]}
            if manifest.get("format") != FORMAT or not isinstance(manifest["files"], list):
                raise ValueError("unknown manifest format")
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile, UnicodeDecodeError) as err:
            report.problems.append(FileProblem(MANIFEST, "manifest_unreadable", str(err)))
            return report
        report.manifest = manifest
        present = [info.filename for info in archive.infolist() if not info.is_dir()]
        for name in present:
            if name != MANIFEST and name not in listed:
                report.problems.append(FileProblem(name, "extra"))
        actual: dict[str, str] = {}
        for name, entry in listed.items():
            report.checked.append(name)
            if not _safe_name(name) or name not in present:
                report.problems.append(FileProblem(name, "missing"))
                continue
            digest = hashlib.sha256()
            size = 0
            try:
                with archive.open(name) as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
            except (zipfile.BadZipFile, OSError, EOFError) as err:  # e.g. a bad CRC-32
                report.problems.append(FileProblem(name, "hash_mismatch", str(err)))
                continue
            actual[name] = digest.hexdigest()
            if size != entry.get("size", size):
                report.problems.append(FileProblem(name, "size_mismatch"))
            elif digest.hexdigest() != entry.get("sha256"):
                report.problems.append(FileProblem(name, "hash_mismatch"))
        _check_sidecars(archive, listed, actual, report)
    return report


def _check_sidecars(
    archive: zipfile.ZipFile,
    listed: dict[str, Any],
    actual: dict[str, str],
    report: VerifyReport,
) -> None:
    """Each intact sidecar's recorded SHA-256 must match its (intact) media file."""
    failing = set(report.failing)
    for name in listed:
        if not name.endswith(".json") or name in failing or name not in actual:
            continue
        try:
            sidecar = json.loads(archive.read(name).decode("utf-8"))
            media = str(PurePosixPath(name).parent / str(sidecar["file"]))
            recorded = str(sidecar["sha256"])
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile):
            continue
        if media in actual and media not in failing and actual[media] != recorded:
            report.problems.append(FileProblem(media, "sidecar_mismatch", name))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify one or more ZIPs; exit 0 if all are intact, else 1 (2: usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print("usage: verify_evidence EVIDENCE.zip [...]")
        print("Checks every file of an An Ninh evidence export against its manifest's SHA-256.")
        return 2 if not args else 0
    status = 0
    for arg in args:
        report = verify(arg)
        if report.ok:
            station = report.manifest.get("station", "")
            print(f"OK {arg}: {len(report.checked)} files intact ({station})")
        else:
            status = 1
            print(f"FAILED {arg}:")
            for problem in report.problems:
                print(f"  {problem}")
    return status


if __name__ == "__main__":
    sys.exit(main())
