"""Typed views of the station's config entry and of each device's subentry data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME

from .const import (
    CONF_ADDRESS,
    CONF_DONOR_NAME,
    CONF_DONOR_PHONE,
    CONF_FOLDER,
    CONF_HEARTBEAT_MINUTES,
    CONF_KEEP_CONTINUOUS_DAYS,
    CONF_KEEP_MOTION_DAYS,
    CONF_LANGUAGE,
    CONF_LINKED_CAMERAS,
    CONF_LINKED_LOUDSPEAKERS,
    CONF_LOCAL_ONLY,
    CONF_LOCATION,
    CONF_MIN_FREE_GB,
    CONF_MOTION_MASKS,
    CONF_MOTION_ZONES,
    CONF_PRE_EVENT_SECONDS,
    CONF_PRIORITY,
    CONF_RECORDING_MODE,
    CONF_RECORDINGS_DIR,
    CONF_RETENTION_DAYS,
    CONF_SOURCE,
    CONF_SOURCE_ENTITY,
    CONF_STREAM_URL,
    CONF_SUB_STREAM_URL,
    CONF_TARGETS,
    CONF_TTS_ENGINE,
    CONF_VOICE,
    CONF_VOLUME,
    CONF_WEBHOOK_ID,
    DEFAULT_KEEP_CONTINUOUS_DAYS,
    DEFAULT_KEEP_MOTION_DAYS,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_PRE_EVENT_SECONDS,
    DEFAULT_PRIORITY,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_VOICE,
    DEFAULT_VOLUME,
    SOURCE_WEBHOOK,
)
from .engine.archive import RecordingMode, RetentionPolicy
from .engine.source import StreamSource
from .engine.storage import slugify


@dataclass(frozen=True, slots=True)
class StationSettings:
    """The station's own settings: data (name, folder) and live options."""

    name: str
    recordings_dir: Path
    retention_days: int  # clips and marked ranges
    pre_event_seconds: int
    keep_continuous_days: int = DEFAULT_KEEP_CONTINUOUS_DAYS
    keep_motion_days: int = DEFAULT_KEEP_MOTION_DAYS
    min_free_gb: int = DEFAULT_MIN_FREE_GB

    @classmethod
    def from_entry(cls, entry: ConfigEntry) -> StationSettings:
        """Read the entry; options override the values the first flow stored."""
        options = entry.options
        return cls(
            name=entry.data[CONF_NAME],
            recordings_dir=Path(entry.data[CONF_RECORDINGS_DIR]),
            retention_days=int(options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            pre_event_seconds=int(options.get(CONF_PRE_EVENT_SECONDS, DEFAULT_PRE_EVENT_SECONDS)),
            keep_continuous_days=int(
                options.get(CONF_KEEP_CONTINUOUS_DAYS, DEFAULT_KEEP_CONTINUOUS_DAYS)
            ),
            keep_motion_days=int(options.get(CONF_KEEP_MOTION_DAYS, DEFAULT_KEEP_MOTION_DAYS)),
            min_free_gb=int(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)),
        )

    @property
    def policy(self) -> RetentionPolicy:
        """The 24/7 recorder's tiers and disk budget."""
        return RetentionPolicy(
            continuous_days=self.keep_continuous_days,
            motion_days=self.keep_motion_days,
            marked_days=self.retention_days,
            min_free_bytes=self.min_free_gb * 1024**3,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """What every donated device has: a name, a place on the map."""

    subentry_id: str
    name: str
    address: str
    latitude: float | None
    longitude: float | None

    @staticmethod
    def _common(subentry: ConfigSubentry) -> dict[str, Any]:
        data = subentry.data
        location: Mapping[str, Any] = data.get(CONF_LOCATION) or {}
        return {
            "subentry_id": subentry.subentry_id,
            "name": data.get(CONF_NAME, subentry.title),
            "address": data.get(CONF_ADDRESS, ""),
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
        }


type Polygon = list[tuple[float, float]]


def parse_polygons(text: str) -> list[Polygon]:
    """Polygons typed one per line as `x,y` points in percent of the picture.

    `0,0 100,0 100,20 0,20` is the top fifth. Returns 0-1 coordinates for `MotionConfig`;
    raises ValueError naming the bad line.
    """
    polygons: list[Polygon] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            points = [
                (float(x) / 100, float(y) / 100)
                for x, y in (point.split(",") for point in line.split())
            ]
        except ValueError as err:
            raise ValueError(f"line {number}: points are x,y percentages") from err
        if len(points) < 3 or not all(0 <= v <= 1 for point in points for v in point):
            raise ValueError(f"line {number}: at least 3 points within 0-100")
        polygons.append(points)
    return polygons


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig(DeviceConfig):
    """A donated camera."""

    donor_name: str
    donor_phone: str
    stream_url: str
    sub_stream_url: str
    username: str
    password: str
    motion_zones: str
    motion_masks: str
    folder: str
    recording_mode: RecordingMode = RecordingMode.CONTINUOUS

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> CameraConfig:
        """Build from a camera subentry."""
        data = subentry.data
        return cls(
            **cls._common(subentry),
            donor_name=data.get(CONF_DONOR_NAME, ""),
            donor_phone=data.get(CONF_DONOR_PHONE, ""),
            stream_url=data[CONF_STREAM_URL],
            sub_stream_url=data.get(CONF_SUB_STREAM_URL, ""),
            username=data.get(CONF_USERNAME, ""),
            password=data.get(CONF_PASSWORD, ""),
            motion_zones=data.get(CONF_MOTION_ZONES, ""),
            motion_masks=data.get(CONF_MOTION_MASKS, ""),
            folder=data.get(CONF_FOLDER) or slugify(data.get(CONF_NAME, subentry.title)),
            recording_mode=RecordingMode(
                data.get(CONF_RECORDING_MODE, RecordingMode.CONTINUOUS.value)
            ),
        )

    @property
    def main_source(self) -> StreamSource:
        """The main (recording, live view) stream."""
        return StreamSource.parse(self.stream_url, self.username, self.password)

    @property
    def analysis_source(self) -> StreamSource:
        """The stream motion analysis reads: the sub-stream when there is one."""
        if self.sub_stream_url:
            return StreamSource.parse(self.sub_stream_url, self.username, self.password)
        return self.main_source


@dataclass(frozen=True, slots=True, kw_only=True)
class BellConfig(DeviceConfig):
    """A wireless alarm bell, reached through a webhook or followed as an HA entity."""

    source: str
    webhook_id: str
    local_only: bool
    source_entity: str
    linked_cameras: tuple[str, ...]
    linked_loudspeakers: tuple[str, ...]
    priority: str
    heartbeat_minutes: int

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> BellConfig:
        """Build from a bell subentry."""
        data = subentry.data
        return cls(
            **cls._common(subentry),
            source=data.get(CONF_SOURCE, SOURCE_WEBHOOK),
            webhook_id=data.get(CONF_WEBHOOK_ID, ""),
            local_only=bool(data.get(CONF_LOCAL_ONLY, True)),
            source_entity=data.get(CONF_SOURCE_ENTITY, ""),
            linked_cameras=tuple(data.get(CONF_LINKED_CAMERAS, ())),
            linked_loudspeakers=tuple(data.get(CONF_LINKED_LOUDSPEAKERS, ())),
            priority=data.get(CONF_PRIORITY, DEFAULT_PRIORITY),
            heartbeat_minutes=int(data.get(CONF_HEARTBEAT_MINUTES, 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LoudspeakerConfig(DeviceConfig):
    """A loudspeaker that forwards to one or more HA media players."""

    targets: tuple[str, ...]
    volume: int
    language: str
    tts_engine: str  # "": Home Assistant's default engine
    voice: str  # used when the offline engine speaks

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> LoudspeakerConfig:
        """Build from a loudspeaker subentry."""
        data = subentry.data
        return cls(
            **cls._common(subentry),
            targets=tuple(data.get(CONF_TARGETS, ())),
            volume=int(data.get(CONF_VOLUME, DEFAULT_VOLUME)),
            language=data.get(CONF_LANGUAGE, "vi"),
            tts_engine=data.get(CONF_TTS_ENGINE) or "",
            voice=data.get(CONF_VOICE, DEFAULT_VOICE),
        )
