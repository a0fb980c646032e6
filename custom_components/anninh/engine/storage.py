"""The recordings folder: layout, atomic writes, evidence marks, retention, browsing, safe paths.

Standard library only (no PyAV, no Home Assistant), so it can be read, tested and reused alone.

Layout, under the station's recordings folder `root`::

    <root>/<camera>/<YYYY-MM-DD>/<HHMMSS>_<trigger>.mp4    a clip (or .jpg for a snapshot)
    <root>/<camera>/<YYYY-MM-DD>/<HHMMSS>_<trigger>.json   its sidecar (JSON, UTF-8)

A *mark* (a range of the 24/7 recording that a bell, an action or a person marked, see
`archive`) is a sidecar alone, of ``kind`` "mark", with no media file: the video is in the
segments. It is listed, marked as evidence and kept by retention like a clip.

`<camera>` is the camera's folder: the slug of its first name (`camera_folder`), kept for the
camera's life so that a rename does not hide its recordings; never `exports`. The date and time
are the *local* start of the clip in the time zone the caller passes (UTC if none), `<trigger>` is
`bell`, `motion` or `manual`. When a name is taken (two clips starting in the same second),
`_2`, `_3`, ... is appended.

Clip ids: a clip's id is its path relative to `root` without the extension, e.g.
``ngaba_cho/2025-03-14/071502_bell``. It is short, stable (files are never renamed), needs no index
and maps back to the file with `clip_path`; it is also what the media browser uses as identifier.
Anything that turns an outside string into a path goes through `resolve`, which rejects traversal.

Writing (`reserve` + `commit`): a clip is written under a hidden temporary name in its final folder
(``.<stem>.mp4.tmp``, created exclusively, which also reserves the name), then `commit` hashes it
(SHA-256), fsyncs it, writes the sidecar the same way (``.<stem>.json.tmp``, fsync), renames the
media file and then the sidecar into place and fsyncs the folder. Any `OSError` on the way removes
both temporary files and raises `RecordingError` with a machine-readable `problem` (`Problem`):
nothing that looks complete is ever left half-written, and other files are never touched.

Evidence: `mark_evidence` sets the sidecar's ``evidence`` field; `retention_sweep` never deletes a
clip whose sidecar has it (nor one whose sidecar cannot be read but whose folder is young).

Thread safety: all functions may be called from any thread; name reservation is serialised by a
process-wide lock, and so are marking and deleting: `mark_evidence` holds `evidence_lock` while it
marks, and `retention_sweep` takes it and reads a clip's sidecar again before deleting the clip,
so a clip being marked is never deleted. They do blocking file I/O: call them off the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from .sidecar import Sidecar

MEDIA_SUFFIXES = (".mp4", ".jpg")
MARK_KIND = "mark"
EXPORTS_FOLDER = "exports"  # evidence ZIPs, beside the camera folders
RESERVED_FOLDERS = frozenset({EXPORTS_FOLDER})
SIDECAR_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
TRIGGER_KINDS = ("bell", "motion", "manual")
STALE_TEMP_AGE = timedelta(days=1)  # retention removes temporary files older than this

_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_STEM = re.compile(r"(\d{6})_([a-z]+)(?:_(\d+))?")
_reserve_lock = threading.Lock()
evidence_lock = threading.RLock()  # marking and deleting clips, see the module docstring


class Problem(StrEnum):
    """Why a recording or snapshot failed; values double as translation/repair keys."""

    DISK_FULL = "disk_full"
    NOT_WRITABLE = "not_writable"
    WRITE_ERROR = "write_error"
    NO_VIDEO = "no_video"  # no key frame arrived before the clip's end (camera down)
    UNSUPPORTED_CODEC = "unsupported_codec"  # the stream cannot be stored in MP4


class RecordingError(Exception):
    """A clip or snapshot could not be stored; `problem` says why, `path` where (if known)."""

    def __init__(self, problem: Problem, detail: str = "", path: Path | None = None) -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.path = path


class InvalidIdentifier(ValueError):
    """An identifier that does not name a file inside the recordings folder."""


def problem_for(err: OSError) -> Problem:
    """The `Problem` an OS error means for storage."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return Problem.DISK_FULL
    if err.errno in (
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.ENOENT,
        errno.EISDIR,
    ):
        return Problem.NOT_WRITABLE
    return Problem.WRITE_ERROR


def as_recording_error(err: OSError, path: Path | None = None) -> RecordingError:
    """Wrap an OS error into a `RecordingError`."""
    return RecordingError(problem_for(err), err.strerror or type(err).__name__, path)


def slugify(name: str) -> str:
    """A folder-safe ASCII slug of a (Vietnamese) name: 'Ngã ba chợ' -> 'nga_ba_cho'."""
    text = name.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:64] or "camera"


def camera_folder(name: str, taken: Iterable[str]) -> str:
    """A new camera's folder: its name's slug, made unique among `taken` and the reserved ones."""
    used = set(taken) | RESERVED_FOLDERS
    base = slugify(name)
    folder, number = base, 1
    while folder in used:
        number += 1
        folder = f"{base[:60]}_{number}"
    return folder


def move_camera_clips(root: Path, source: str, dest: str, camera_name: str) -> int:
    """Move the clips of `camera_name` (by their sidecar) from folder `source` to `dest`.

    For the upgrade that gave every camera its own folder: two cameras whose names had one slug
    shared a folder. Each clip moves with its sidecar (media file last, so a crash leaves at
    worst a sidecar without its clip in the new folder, never a clip without its record).
    Returns how many moved.
    """
    moved = 0
    with evidence_lock:
        for day in _real_dirs(root / source):
            for entry in _entries(day, source, day.name):
                if entry.sidecar is None or entry.sidecar.metadata.name != camera_name:
                    continue
                target = root / dest / day.name
                target.mkdir(parents=True, exist_ok=True)
                sidecar = entry.path.with_suffix(SIDECAR_SUFFIX)
                if (target / entry.path.name).exists():
                    continue
                write_json_atomic(
                    target / sidecar.name, entry.sidecar.moved(source, dest).to_json()
                )
                entry.path.replace(target / entry.path.name)
                sidecar.unlink(missing_ok=True)
                moved += 1
            _fsync_path(day, directory=True)
    return moved


# ------------------------------------------------------------------------------ writing
@dataclass(frozen=True, slots=True)
class Reservation:
    """A reserved clip name: write the media to `temp`, then `commit` (or `discard`)."""

    root: Path
    clip_id: str
    path: Path  # final media file
    temp: Path
    sidecar: Path
    sidecar_temp: Path


def _temp_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def _taken(folder: Path, stem: str) -> bool:
    for suffix in (*MEDIA_SUFFIXES, SIDECAR_SUFFIX):
        name = stem + suffix
        if (folder / name).exists() or (folder / f".{name}{TEMP_SUFFIX}").exists():
            return True
    return False


def reserve(
    root: Path,
    camera: str,
    start: datetime,
    trigger: str,
    suffix: str = ".mp4",
    tz: tzinfo | None = None,
) -> Reservation:
    """Create the day folder and exclusively create the temporary file of a new clip.

    `start` is an aware datetime; its local date/time in `tz` (UTC if None) names the file.
    Raises `RecordingError` (`not_writable`, `disk_full`, ...).
    """
    if suffix not in (*MEDIA_SUFFIXES, SIDECAR_SUFFIX):  # a sidecar alone: a mark
        raise ValueError(f"unsupported suffix {suffix!r}")
    if not _COMPONENT.fullmatch(camera):
        raise ValueError(f"bad camera slug {camera!r}")
    kind = trigger if trigger in TRIGGER_KINDS else "manual"
    local = start.astimezone(tz or UTC)
    folder = root / camera / local.strftime("%Y-%m-%d")
    base = local.strftime("%H%M%S") + "_" + kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _reserve_lock:
            for n in range(1, 10_000):
                stem = base if n == 1 else f"{base}_{n}"
                if _taken(folder, stem):
                    continue
                path = folder / (stem + suffix)
                temp = _temp_of(path)
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.close(fd)
                sidecar = folder / (stem + SIDECAR_SUFFIX)
                return Reservation(
                    root=root,
                    clip_id=f"{camera}/{folder.name}/{stem}",
                    path=path,
                    temp=temp,
                    sidecar=sidecar,
                    sidecar_temp=_temp_of(sidecar),
                )
    except OSError as err:
        raise as_recording_error(err, folder) from err
    raise RecordingError(Problem.WRITE_ERROR, "no free name", folder)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_fsync(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def sidecar_bytes(sidecar: dict[str, Any]) -> bytes:
    """The JSON text of a sidecar, as written."""
    return (json.dumps(sidecar, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode()


def commit(reservation: Reservation, sidecar: Sidecar) -> Sidecar:
    """Hash and fsync the temporary media file, write the sidecar, rename both into place.

    Returns `sidecar` with the file's name, size and SHA-256. On any error both temporary files
    are removed and `RecordingError` is raised; the final names are then never created.
    """
    try:
        sidecar = dataclasses.replace(
            sidecar,
            file=reservation.path.name,
            size=reservation.temp.stat().st_size,
            sha256=sha256_file(reservation.temp),
        )
        _fsync_path(reservation.temp)
        _write_fsync(reservation.sidecar_temp, sidecar_bytes(sidecar.to_json()))
        reservation.temp.replace(reservation.path)
        reservation.sidecar_temp.replace(reservation.sidecar)
        _fsync_path(reservation.path.parent, directory=True)
    except OSError as err:
        discard(reservation)
        if reservation.path.exists() and not reservation.sidecar.exists():
            # Renamed but the sidecar failed: do not leave a clip without its record.
            with contextlib.suppress(OSError):
                reservation.path.unlink()
        raise as_recording_error(err, reservation.path) from err
    return sidecar


def discard(reservation: Reservation) -> None:
    """Remove a reservation's temporary files (ignoring errors)."""
    for temp in (reservation.temp, reservation.sidecar_temp):
        with contextlib.suppress(OSError):
            temp.unlink()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace a JSON file atomically (temporary name, fsync, rename, fsync folder)."""
    temp = _temp_of(path)
    try:
        _write_fsync(temp, sidecar_bytes(data))
        temp.replace(path)
        _fsync_path(path.parent, directory=True)
    except OSError as err:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise as_recording_error(err, path) from err


# ------------------------------------------------------------------------------ resolving
def resolve(root: Path, identifier: str, kind: str = "file") -> Path:
    """The path inside `root` that `identifier` (a '/'-separated relative path) names.

    Rejected with `InvalidIdentifier`: empty strings, absolute paths, backslashes, NUL, percent
    signs (no encoded separators or dots are ever decoded), components that are empty, `.`, `..`
    or hidden (temporary files), characters outside ``[A-Za-z0-9_.-]``, anything whose real path
    (symlinks resolved) is outside ``root.resolve()``, and anything that does not exist or is not
    a `kind` ("file", "dir" or "any").
    """
    if not isinstance(identifier, str) or not identifier:
        raise InvalidIdentifier("empty identifier")
    if identifier.startswith("/") or any(c in identifier for c in "\\\x00%"):
        raise InvalidIdentifier("forbidden character or absolute path")
    parts = identifier.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _COMPONENT.fullmatch(part):
            raise InvalidIdentifier(f"forbidden path component {part!r}")
    base = root.resolve()
    candidate = base.joinpath(*parts)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError) as err:
        raise InvalidIdentifier("no such file") from err
    if not real.is_relative_to(base) or real == base:
        raise InvalidIdentifier("outside the recordings folder")
    if kind == "file" and not real.is_file():
        raise InvalidIdentifier("not a file")
    if kind == "dir" and not real.is_dir():
        raise InvalidIdentifier("not a folder")
    return real


def clip_path(root: Path, clip_id: str) -> Path:
    """The media file (.mp4 or .jpg) of a clip id; raises `InvalidIdentifier`."""
    for suffix in MEDIA_SUFFIXES:
        with contextlib.suppress(InvalidIdentifier):
            return resolve(root, clip_id + suffix)
    raise InvalidIdentifier(f"no clip {clip_id!r}")


def sidecar_path(root: Path, clip_id: str) -> Path:
    """The sidecar of a clip id; raises `InvalidIdentifier`."""
    return resolve(root, clip_id + SIDECAR_SUFFIX)


def read_sidecar(root: Path, clip_id: str) -> Sidecar:
    """The sidecar of a clip; raises `InvalidIdentifier` or `ValueError` (not a sidecar)."""
    return load_sidecar(sidecar_path(root, clip_id))


def load_sidecar(path: Path) -> Sidecar:
    """The sidecar at `path`; raises `OSError` or `ValueError` (not a sidecar)."""
    return Sidecar.from_json(json.loads(path.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------ evidence
def mark_evidence(
    root: Path,
    clip_ids: Iterable[str],
    case_number: str,
    by: str = "",
    now: datetime | None = None,
) -> list[str]:
    """Mark clips as evidence for `case_number` (sidecar ``evidence`` field); the ids marked.

    A clip already marked keeps its earlier case numbers (``case_numbers`` accumulates). Raises
    `InvalidIdentifier` for an unknown id (before changing anything) and `RecordingError` when a
    sidecar cannot be rewritten.
    """
    with evidence_lock:
        return _mark(root, list(dict.fromkeys(clip_ids)), case_number, by, now)


def _mark(root: Path, ids: list[str], case_number: str, by: str, now: datetime | None) -> list[str]:
    sidecars = {clip_id: read_sidecar(root, clip_id) for clip_id in ids}
    moment = now or datetime.now(UTC)
    for clip_id, sidecar in sidecars.items():
        marked = sidecar.marked(case_number, by, moment)
        write_json_atomic(sidecar_path(root, clip_id), marked.to_json())
    return ids


# ------------------------------------------------------------------------------ browsing
@dataclass(frozen=True, slots=True)
class ClipEntry:
    """One clip or snapshot found on disk."""

    clip_id: str
    path: Path  # the media file; a mark's sidecar
    kind: str  # "video", "snapshot" or "mark"
    camera: str
    day: str
    sidecar: Sidecar | None  # None when it cannot be read

    @property
    def start(self) -> datetime | None:
        """When the clip starts (UTC), from its sidecar."""
        return self.sidecar.start if self.sidecar else None

    @property
    def evidence(self) -> bool:
        """Marked as evidence."""
        return self.sidecar is not None and self.sidecar.evidence is not None


def _real_dirs(folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and _COMPONENT.fullmatch(entry.name):
            yield Path(entry.path)


def list_cameras(root: Path) -> list[str]:
    """Camera folders (slugs), sorted by name; not the evidence exports."""
    return sorted(path.name for path in _real_dirs(root) if path.name != EXPORTS_FOLDER)


def list_days(root: Path, camera: str) -> list[str]:
    """Day folders (YYYY-MM-DD) of a camera, newest first."""
    folder = resolve(root, camera, kind="dir")
    return sorted((p.name for p in _real_dirs(folder) if _DAY.fullmatch(p.name)), reverse=True)


def _entries(folder: Path, camera: str, day: str) -> list[ClipEntry]:
    found: list[ClipEntry] = []
    try:
        names = [child.name for child in folder.iterdir()]
    except OSError:
        return found
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if name.startswith(".") or f".{ext}" not in MEDIA_SUFFIXES or not dot:
            continue
        path = folder / name
        if path.is_symlink() or not path.is_file():
            continue
        sidecar: Sidecar | None = None
        with contextlib.suppress(OSError, ValueError, TypeError):
            sidecar = load_sidecar(folder / (stem + SIDECAR_SUFFIX))
        found.append(
            ClipEntry(
                clip_id=f"{camera}/{day}/{stem}",
                path=path,
                kind="video" if ext == "mp4" else "snapshot",
                camera=camera,
                day=day,
                sidecar=sidecar,
            )
        )
    present = set(names)
    for name in names:  # marks: sidecars without a media file
        stem = name.removesuffix(SIDECAR_SUFFIX)
        if name.startswith(".") or stem == name or any(stem + s in present for s in MEDIA_SUFFIXES):
            continue
        path = folder / name
        with contextlib.suppress(OSError, ValueError, TypeError):
            if not path.is_symlink() and (mark := load_sidecar(path)).kind == MARK_KIND:
                found.append(
                    ClipEntry(f"{camera}/{day}/{stem}", path, MARK_KIND, camera, day, mark)
                )
    return found


def _sort_key(entry: ClipEntry) -> tuple[str, int, float]:
    match = _STEM.fullmatch(entry.path.stem)
    hhmmss, n = (match.group(1), int(match.group(3) or 1)) if match else (entry.path.stem, 0)
    return (hhmmss, n, entry.start.timestamp() if entry.start else 0.0)


def list_clips(root: Path, camera: str, day: str) -> list[ClipEntry]:
    """Clips and snapshots of one camera and day, newest first."""
    folder = resolve(root, f"{camera}/{day}", kind="dir")
    return sorted(_entries(folder, camera, day), key=_sort_key, reverse=True)


def find_clips(
    root: Path,
    camera: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tz: tzinfo | None = None,
    overlapping: bool = False,
) -> list[ClipEntry]:
    """Clips (of `camera`, or all) whose sidecar start lies in [start, end], newest first; with
    `overlapping`, those that share any time with it (a mark that began just before).

    Day folders are pre-selected with `tz` (the one used when recording).
    """
    cameras = [camera] if camera else list_cameras(root)
    lo = start.astimezone(tz or UTC).date() - timedelta(days=1) if start else None
    hi = end.astimezone(tz or UTC).date() + timedelta(days=1) if end else None
    found: list[ClipEntry] = []
    for cam in cameras:
        try:
            days = list_days(root, cam)
        except InvalidIdentifier:  # a camera that has recorded nothing yet
            continue
        for day in days:
            date = datetime.strptime(day, "%Y-%m-%d").date()
            if (lo and date < lo) or (hi and date > hi):
                continue
            for entry in list_clips(root, cam, day):
                if entry.sidecar is None:
                    continue
                first = entry.sidecar.end if overlapping else entry.sidecar.start
                if (start and first < start) or (end and entry.sidecar.start > end):
                    continue
                found.append(entry)
    return sorted(found, key=lambda e: e.start or datetime.min.replace(tzinfo=UTC), reverse=True)


# ------------------------------------------------------------------------------ retention
@dataclass(slots=True)
class SweepReport:
    """What a retention sweep did."""

    deleted: list[str] = field(default_factory=list)  # clip ids
    kept_evidence: list[str] = field(default_factory=list)  # old clips kept as evidence
    removed_folders: list[str] = field(default_factory=list)  # relative paths
    removed_temp: list[str] = field(default_factory=list)  # stale temporary files
    errors: list[str] = field(default_factory=list)


def retention_sweep(root: Path, days: int, now: datetime | None = None) -> SweepReport:
    """Delete clips (media + sidecar) that started more than `days` days before `now`.

    Evidence-marked clips are kept. A clip's age is its sidecar's ``start``; without a readable
    sidecar, the media file's modification time. Stale temporary files (older than a day, left by
    a crash) are removed; day and camera folders left empty are removed. Symlinks are never
    followed or deleted. `days` <= 0 disables the sweep.
    """
    report = SweepReport()
    if days <= 0 or not root.is_dir():
        return report
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    for camera_dir in _real_dirs(root):
        for day_dir in _real_dirs(camera_dir):
            if not _DAY.fullmatch(day_dir.name):
                continue
            _sweep_day(root, camera_dir.name, day_dir, cutoff, now, report)
            _remove_if_empty(root, day_dir, report)
        _remove_if_empty(root, camera_dir, report)
    return report


def _sweep_day(
    root: Path, camera: str, day_dir: Path, cutoff: datetime, now: datetime, report: SweepReport
) -> None:
    for path in list(day_dir.iterdir()):
        name = path.name
        if name.startswith(".") and name.endswith(TEMP_SUFFIX) and not path.is_symlink():
            with contextlib.suppress(OSError):
                age = now - datetime.fromtimestamp(path.stat().st_mtime, UTC)
                if age > STALE_TEMP_AGE:
                    path.unlink()
                    report.removed_temp.append(path.relative_to(root).as_posix())
    for entry in _entries(day_dir, camera, day_dir.name):
        started = entry.start
        if started is None:
            try:
                started = datetime.fromtimestamp(entry.path.stat().st_mtime, UTC)
            except OSError:
                continue
        if started >= cutoff:
            continue
        with evidence_lock:  # marked meanwhile? read again, with marking held off
            if entry.evidence or _marked_now(entry.path.with_suffix(SIDECAR_SUFFIX)):
                report.kept_evidence.append(entry.clip_id)
                continue
            try:
                entry.path.unlink()
                sidecar = entry.path.with_suffix(SIDECAR_SUFFIX)
                if sidecar.is_file() and not sidecar.is_symlink():
                    sidecar.unlink()
                report.deleted.append(entry.clip_id)
            except OSError as err:
                report.errors.append(f"{entry.clip_id}: {err.strerror}")
    # Sidecars whose media file is gone (e.g. deleted by hand) and that are old.
    for path in list(day_dir.iterdir()):
        name = path.name
        stem = name.removesuffix(SIDECAR_SUFFIX)
        if (
            name.startswith(".")
            or not name.endswith(SIDECAR_SUFFIX)
            or path.is_symlink()
            or any((day_dir / (stem + s)).exists() for s in MEDIA_SUFFIXES)
        ):
            continue
        with contextlib.suppress(OSError, ValueError, TypeError):
            orphan = load_sidecar(path)
            if orphan.evidence is None and orphan.start < cutoff:
                path.unlink()


def _marked_now(sidecar: Path) -> bool:
    """Whether a sidecar on disk is marked as evidence now (unreadable: not marked)."""
    try:
        return load_sidecar(sidecar).evidence is not None
    except (OSError, ValueError, TypeError):
        return False


def _remove_if_empty(root: Path, folder: Path, report: SweepReport) -> None:
    with contextlib.suppress(OSError):
        if not any(folder.iterdir()):
            folder.rmdir()
            report.removed_folders.append(folder.relative_to(root).as_posix())
