"""Sensors: each camera's stream status and diagnostics (analysis fps, reconnects); each
loudspeaker's last announcement."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfInformation, UnitOfTime
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .devices.camera import CameraDevice
from .devices.loudspeaker import LoudspeakerDevice
from .engine.source import StreamProblem
from .engine.stream import StreamState
from .entity import AnNinhCameraEntity, AnNinhEntity, async_add_device_entities
from .ids import EVENT_ANNOUNCEMENT
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0
SCAN_INTERVAL = timedelta(seconds=30)

# The status sensor's states and reasons are translation keys of this platform: spelled out
# here, so that renaming an engine enum cannot silently change what users and automations see.
STATUS_STATES: Final[dict[StreamState, str]] = {
    StreamState.STREAMING: "streaming",
    StreamState.RECONNECTING: "reconnecting",
    StreamState.OFFLINE: "offline",
}
STATUS_REASONS: Final[dict[StreamProblem, str]] = {
    StreamProblem.INVALID_URL: "invalid_url",
    StreamProblem.CANNOT_CONNECT: "cannot_connect",
    StreamProblem.INVALID_AUTH: "invalid_auth",
    StreamProblem.NOT_FOUND: "not_found",
    StreamProblem.UNSUPPORTED_STREAM: "unsupported_stream",
    StreamProblem.TIMEOUT: "timeout",
    StreamProblem.DECODE_ERROR: "decode_error",
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The sensors of every camera and loudspeaker, now and as they are added."""
    async_add_device_entities(
        entry,
        async_add_entities,
        CameraDevice,
        lambda d: [CameraSensor(d, description) for description in CAMERA_SENSORS],
    )
    async_add_device_entities(
        entry, async_add_entities, LoudspeakerDevice, lambda d: [LastAnnouncementSensor(d)]
    )


def _status_attributes(device: CameraDevice) -> dict[str, Any]:
    """Why, when not streaming; and where, for offline notifications."""
    reason = device.health.reason
    return {
        "reason": STATUS_REASONS[reason] if reason else None,
        "address": device.config.address,
        "donor_name": device.config.donor_name,
    }


def _last_clip_attributes(device: CameraDevice) -> dict[str, Any] | None:
    """The clip's id (for mark/export), why it was recorded, and how long it is."""
    clip = device.last_clip
    if clip is None:
        return None
    return {
        "clip_id": clip.clip_id,
        "duration": round(clip.duration, 1),
        "trigger": clip.sidecar.trigger.kind,
        "reason": clip.sidecar.reason,
    }


def _analysis_fps(device: CameraDevice) -> float:
    return round(device.pipeline.reader.health.analysis_fps, 2) if device.pipeline else 0.0


def _reconnects(device: CameraDevice) -> int:
    return device.pipeline.reader.health.reconnects if device.pipeline else 0


def _buffer_seconds(device: CameraDevice) -> float:
    return round(device.recorder.stats().seconds, 1) if device.recorder else 0.0


def _buffer_megabytes(device: CameraDevice) -> float:
    return round(device.recorder.stats().bytes / 1_000_000, 2) if device.recorder else 0.0


@dataclass(frozen=True, kw_only=True)
class CameraSensorDescription(SensorEntityDescription):
    """A camera sensor: its value and attributes read from the camera's runtime."""

    value_fn: Callable[[CameraDevice], StateType | datetime]
    attributes_fn: Callable[[CameraDevice], dict[str, Any] | None] = lambda _device: None
    polled: bool = False  # read every 30 s: these change continuously


CAMERA_SENSORS: Final = (
    # streaming / reconnecting / offline, with the reason.
    CameraSensorDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=list(STATUS_STATES.values()),
        value_fn=lambda device: STATUS_STATES[device.health.state],
        attributes_fn=_status_attributes,
    ),
    # When the last clip started, and which clip it is (for the duty dashboard).
    CameraSensorDescription(
        key="last_recording",
        translation_key="last_recording",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda device: device.last_clip.start if device.last_clip else None,
        attributes_fn=_last_clip_attributes,
    ),
    # Frames a second the motion detector analyses.
    CameraSensorDescription(
        key="analysis_fps",
        translation_key="analysis_fps",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement="fps",
        suggested_display_precision=1,
        value_fn=_analysis_fps,
        polled=True,
    ),
    # Times the stream dropped and was reconnected since the station started.
    CameraSensorDescription(
        key="reconnects",
        translation_key="reconnects",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=_reconnects,
        polled=True,
    ),
    # Seconds of main-stream video held for the next recording's pre-event part.
    CameraSensorDescription(
        key="buffer_seconds",
        translation_key="buffer_seconds",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=1,
        value_fn=_buffer_seconds,
        polled=True,
    ),
    # Days of video the 24/7 recorder holds for the camera (the disk budget may cut them).
    CameraSensorDescription(
        key="recorded_days",
        translation_key="recorded_days",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.DAYS,
        suggested_display_precision=1,
        value_fn=lambda device: round(device.recorded_days, 4),
    ),
    # Memory the pre-event buffer takes (payload bytes), so 60 cameras can be budgeted.
    CameraSensorDescription(
        key="buffer_memory",
        translation_key="buffer_memory",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.MEGABYTES,
        suggested_display_precision=1,
        value_fn=_buffer_megabytes,
        polled=True,
    ),
)


class CameraSensor(AnNinhCameraEntity, SensorEntity):
    """One of a camera's sensors; available while the camera is offline (they say so)."""

    entity_description: CameraSensorDescription

    def __init__(self, device: CameraDevice, description: CameraSensorDescription) -> None:
        """Bind to the camera."""
        super().__init__(device, description.key)
        self.entity_description = description
        self._attr_should_poll = description.polled
        self._written: tuple[object, object] | None = None

    @property
    def available(self) -> bool:
        """Always: saying "offline", the last clip and diagnostics are what these are for."""
        return True

    @property
    def native_value(self) -> StateType | datetime:
        """From the camera's runtime."""
        return self.entity_description.value_fn(self.device)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """From the camera's runtime."""
        return self.entity_description.attributes_fn(self.device)

    @callback
    def _handle_device_update(self) -> None:
        """Pushed sensors write only when what they show changed; polled ones wait their poll."""
        if self.entity_description.polled:
            return
        shown = (self.native_value, self.extra_state_attributes)
        if shown != self._written:
            self._written = shown
            self.async_write_ha_state()


class LastAnnouncementSensor(AnNinhEntity, SensorEntity, RestoreEntity):
    """The last message `anninh.announce` spoke on this loudspeaker; kept across restarts."""

    device: LoudspeakerDevice

    ATTRIBUTES = ("time", "language", "chime", "user")
    MAX_STATE_LENGTH = 255

    def __init__(self, device: LoudspeakerDevice) -> None:
        """Bind to the loudspeaker."""
        super().__init__(device, "last_announcement")
        self._attr_extra_state_attributes = dict.fromkeys(self.ATTRIBUTES)

    async def async_added_to_hass(self) -> None:
        """Restore the last announcement, then follow the loudspeaker's announcements."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None and last.state not in (
            "unknown",
            "unavailable",
        ):
            self._attr_native_value = last.state
            self._attr_extra_state_attributes = {
                key: last.attributes.get(key) for key in self.ATTRIBUTES
            }
        self.async_on_remove(
            self.hass.bus.async_listen(
                EVENT_ANNOUNCEMENT, self._async_announced, event_filter=self._is_mine
            )
        )

    @callback
    def _is_mine(self, event_data: Mapping[str, Any]) -> bool:
        device = self.device_entry
        return device is not None and event_data.get("device_id") == device.id

    async def _async_announced(self, event: Event) -> None:
        data = event.data
        user = None
        if (user_id := data.get("user_id")) and (
            found := await self.hass.auth.async_get_user(user_id)
        ):
            user = found.name
        message: str = data.get("message", "")
        self._attr_native_value = message[: self.MAX_STATE_LENGTH]
        self._attr_extra_state_attributes = {
            "time": dt_util.as_local(event.time_fired).isoformat(),
            "language": data.get("language"),
            "chime": data.get("chime"),
            "user": user,
        }
        self.async_write_ha_state()
