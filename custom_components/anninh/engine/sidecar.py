"""The clip sidecar: the one schema of the JSON written beside every clip and snapshot.

The recorder builds a `Sidecar`, `storage.commit` completes it with the file's name, size and
SHA-256 and writes `to_json()`; everything that reads one (evidence marks, retention, the media
browser, the sensors) gets it back through `Sidecar.from_json`. Keys this version does not know
(written by a newer one) are kept in `extra` and written back unchanged. Standard library only.

JSON (``format`` ``anninh-clip/1``)::

    format, kind ("video" | "snapshot" | "mark": a range of the 24/7 recording), clip_id,
    recording_id, part, previous_clip_id, next_clip_id, segments [clip ids of the recording's
    parts], camera, donor_household, address, latitude, longitude, camera_id (the camera's
    folder), start, end (UTC ISO 8601), duration (s),
    trigger {kind, source}, triggers [{at, kind, source, reason, case_number}], reason,
    case_number, video {codec, width, height, frames, key_frames} (clips only),
    evidence {case_numbers, marked_at, marked_by} | null, file, size, sha256
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SIDECAR_FORMAT = "anninh-clip/1"


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse what `utc_iso` wrote (any ISO 8601 with offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Trigger:
    """What started a recording: `kind` bell/motion/manual, `source` the entity id or user."""

    kind: str = "manual"
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        """For the sidecar."""
        return {"kind": self.kind, "source": self.source}


@dataclass(frozen=True, slots=True)
class CameraMetadata:
    """Facts about a camera that go into every sidecar."""

    name: str = ""
    donor_household: str = ""
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the sidecar."""
        return {
            "camera": self.name,
            "donor_household": self.donor_household,
            "address": self.address,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


@dataclass(frozen=True, slots=True)
class TriggerCall:
    """One call that asked for (or extended) the recording."""

    at: datetime
    trigger: Trigger
    reason: str
    case_number: str | None

    def as_dict(self) -> dict[str, Any]:
        """For the sidecar."""
        return {
            "at": utc_iso(self.at),
            **self.trigger.as_dict(),
            "reason": self.reason,
            "case_number": self.case_number,
        }


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What a clip's video is."""

    codec: str
    width: int
    height: int
    frames: int
    key_frames: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """A clip kept as evidence: for which cases, since when, by whom."""

    case_numbers: tuple[str, ...]
    marked_at: str
    marked_by: str


_KNOWN = frozenset(
    (
        "format",
        "kind",
        "clip_id",
        "recording_id",
        "part",
        "previous_clip_id",
        "next_clip_id",
        "segments",
        "camera",
        "donor_household",
        "address",
        "latitude",
        "longitude",
        "camera_id",
        "start",
        "end",
        "duration",
        "trigger",
        "triggers",
        "reason",
        "case_number",
        "video",
        "evidence",
        "file",
        "size",
        "sha256",
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sidecar:
    """A clip's or snapshot's record."""

    kind: str  # "video", "snapshot" or "mark"
    clip_id: str
    camera_id: str
    metadata: CameraMetadata
    start: datetime
    end: datetime
    trigger: Trigger
    triggers: tuple[dict[str, Any], ...] = ()
    reason: str = ""
    case_number: str | None = None
    recording_id: str | None = None
    part: int = 1
    previous_clip_id: str | None = None
    next_clip_id: str | None = None
    segments: tuple[str, ...] = ()
    video: VideoFacts | None = None
    evidence: Evidence | None = None
    file: str = ""
    size: int = 0
    sha256: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last."""
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk."""
        evidence = self.evidence
        return {
            "format": SIDECAR_FORMAT,
            "kind": self.kind,
            "clip_id": self.clip_id,
            "recording_id": self.recording_id,
            "part": self.part,
            "previous_clip_id": self.previous_clip_id,
            "next_clip_id": self.next_clip_id,
            "segments": list(self.segments),
            **self.metadata.as_dict(),
            "camera_id": self.camera_id,
            "start": utc_iso(self.start),
            "end": utc_iso(self.end),
            "duration": round(self.duration, 3),
            "trigger": self.trigger.as_dict(),
            "triggers": list(self.triggers),
            "reason": self.reason,
            "case_number": self.case_number,
            **({"video": dataclasses.asdict(self.video)} if self.video else {}),
            "evidence": {
                "case_numbers": list(evidence.case_numbers),
                "marked_at": evidence.marked_at,
                "marked_by": evidence.marked_by,
            }
            if evidence
            else None,
            **({"file": self.file, "size": self.size, "sha256": self.sha256} if self.file else {}),
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: Any) -> Sidecar:
        """Read a sidecar; raises ValueError when it is not one (no object, no valid start)."""
        if not isinstance(data, dict):
            raise ValueError("sidecar is not an object")
        try:
            start = parse_iso(str(data["start"]))
            end = parse_iso(str(data.get("end") or data["start"]))
        except (KeyError, ValueError) as err:
            raise ValueError("sidecar has no valid start") from err
        trigger: dict[str, Any] = data["trigger"] if isinstance(data.get("trigger"), dict) else {}
        video: dict[str, Any] | None = (
            data["video"] if isinstance(data.get("video"), dict) else None
        )
        evidence: dict[str, Any] | None = (
            data["evidence"] if isinstance(data.get("evidence"), dict) else None
        )
        return cls(
            kind=str(data.get("kind") or "video"),
            clip_id=str(data.get("clip_id") or ""),
            camera_id=str(data.get("camera_id") or ""),
            metadata=CameraMetadata(
                name=str(data.get("camera") or ""),
                donor_household=str(data.get("donor_household") or ""),
                address=str(data.get("address") or ""),
                latitude=_number(data.get("latitude")),
                longitude=_number(data.get("longitude")),
            ),
            start=start,
            end=end,
            trigger=Trigger(str(trigger.get("kind") or ""), str(trigger.get("source") or "")),
            triggers=tuple(t for t in data.get("triggers") or () if isinstance(t, dict)),
            reason=str(data.get("reason") or ""),
            case_number=data.get("case_number") or None,
            recording_id=data.get("recording_id"),
            part=int(data.get("part") or 1),
            previous_clip_id=data.get("previous_clip_id"),
            next_clip_id=data.get("next_clip_id"),
            segments=tuple(str(s) for s in data.get("segments") or ()),
            video=VideoFacts(
                codec=str(video.get("codec") or ""),
                width=int(video.get("width") or 0),
                height=int(video.get("height") or 0),
                frames=int(video.get("frames") or 0),
                key_frames=int(video.get("key_frames") or 0),
            )
            if video
            else None,
            evidence=Evidence(
                case_numbers=tuple(str(n) for n in evidence.get("case_numbers") or ()),
                marked_at=str(evidence.get("marked_at") or ""),
                marked_by=str(evidence.get("marked_by") or ""),
            )
            if evidence
            else None,
            file=str(data.get("file") or ""),
            size=int(data.get("size") or 0),
            sha256=str(data.get("sha256") or ""),
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    def marked(self, case_number: str, by: str, at: datetime) -> Sidecar:
        """This record marked as evidence for `case_number` too (earlier marks are kept)."""
        evidence = self.evidence
        numbers = evidence.case_numbers if evidence else ()
        return dataclasses.replace(
            self,
            evidence=Evidence(
                case_numbers=numbers if case_number in numbers else (*numbers, case_number),
                marked_at=evidence.marked_at if evidence else utc_iso(at),
                marked_by=evidence.marked_by if evidence else by,
            ),
            case_number=self.case_number or case_number,
        )

    def moved(self, source: str, dest: str) -> Sidecar:
        """This record after its camera's folder `source` became `dest`."""

        def move(clip_id: str | None) -> str | None:
            if clip_id and clip_id.startswith(f"{source}/"):
                return f"{dest}/{clip_id[len(source) + 1 :]}"
            return clip_id

        return dataclasses.replace(
            self,
            camera_id=dest,
            clip_id=move(self.clip_id) or "",
            previous_clip_id=move(self.previous_clip_id),
            next_clip_id=move(self.next_clip_id),
            segments=tuple(move(s) or "" for s in self.segments),
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
