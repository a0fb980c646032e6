"""Sensors: each camera's stream status and diagnostics (analysis fps, reconnects); each
loudspeaker's last announcement."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import EntityCategory, UnitOfInformation, UnitOfTime
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.util import dt as dt_util

from .announce import EVENT_ANNOUNCEMENT
from .cameras import CameraDevice
from .device import LoudspeakerDevice
from .engine.source import StreamProblem
from .engine.stream import StreamState
from .entity import AnNinhCameraEntity, AnNinhEntity, async_add_device_entities
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
        lambda d: [
            StatusSensor(d),
            AnalysisFpsSensor(d),
            ReconnectsSensor(d),
            BufferSecondsSensor(d),
            BufferMemorySensor(d),
            LastRecordingSensor(d),
        ],
    )
    async_add_device_entities(
        entry, async_add_entities, LoudspeakerDevice, lambda d: [LastAnnouncementSensor(d)]
    )


class StatusSensor(AnNinhCameraEntity, SensorEntity):
    """streaming / reconnecting / offline, with the reason; available even when offline."""

    _attr_device_class = SensorDeviceClass.ENUM

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "status")
        self._attr_options = list(STATUS_STATES.values())

    @property
    def available(self) -> bool:
        """Always: saying "offline" is this sensor's job."""
        return True

    @property
    def native_value(self) -> str:
        """The reader's state."""
        return STATUS_STATES[self.device.health.state]

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Why, when not streaming; and where, for offline notifications."""
        reason = self.device.health.reason
        config = self.device.config
        return {
            "reason": STATUS_REASONS[reason] if reason else None,
            "address": config.address,
            "donor_name": config.donor_name,
        }


class LastRecordingSensor(AnNinhCameraEntity, SensorEntity):
    """When the camera's last clip started, and which clip it is (for the duty dashboard)."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "last_recording")

    @property
    def available(self) -> bool:
        """The last clip stays known while the camera is offline."""
        return True

    @property
    def native_value(self) -> datetime | None:
        """Start of the last committed clip (since the station started)."""
        clip = self.device.last_clip
        return clip.start if clip else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The clip's id (for mark/export), why it was recorded, and how long it is."""
        clip = self.device.last_clip
        if clip is None:
            return {}
        return {
            "clip_id": clip.clip_id,
            "duration": round(clip.duration, 1),
            "trigger": (clip.sidecar.get("trigger") or {}).get("kind"),
            "reason": clip.sidecar.get("reason"),
        }


class _PolledDiagnostic(AnNinhCameraEntity, SensorEntity):
    """Read from the reader every 30 s rather than pushed: these change continuously."""

    _attr_should_poll = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    @property
    def available(self) -> bool:
        """Diagnostics stay readable while the camera is offline."""
        return True

    @callback
    def _handle_device_update(self) -> None:
        """Polled, not pushed."""


class AnalysisFpsSensor(_PolledDiagnostic):
    """Frames a second the motion detector analyses."""

    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = "fps"
    _attr_suggested_display_precision = 1

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "analysis_fps")

    @property
    def native_value(self) -> float:
        """From the reader's sliding window."""
        pipeline = self.device.pipeline
        return round(pipeline.reader.health.analysis_fps, 2) if pipeline else 0.0


class ReconnectsSensor(_PolledDiagnostic):
    """Times the stream dropped and was reconnected since the station started."""

    _attr_state_class = SensorStateClass.TOTAL_INCREASING

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "reconnects")

    @property
    def native_value(self) -> int:
        """From the reader."""
        pipeline = self.device.pipeline
        return pipeline.reader.health.reconnects if pipeline else 0


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


class BufferSecondsSensor(_PolledDiagnostic):
    """Seconds of main-stream video held for the next recording's pre-event part."""

    _attr_device_class = SensorDeviceClass.DURATION
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfTime.SECONDS
    _attr_suggested_display_precision = 1

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "buffer_seconds")

    @property
    def native_value(self) -> float:
        """From the recorder's ring."""
        recorder = self.device.recorder
        return round(recorder.stats().seconds, 1) if recorder else 0.0


class BufferMemorySensor(_PolledDiagnostic):
    """Memory the pre-event buffer takes (payload bytes), so 60 cameras can be budgeted."""

    _attr_device_class = SensorDeviceClass.DATA_SIZE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfInformation.MEGABYTES
    _attr_suggested_display_precision = 1

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "buffer_memory")

    @property
    def native_value(self) -> float:
        """From the recorder's ring."""
        recorder = self.device.recorder
        return round(recorder.stats().bytes / 1_000_000, 2) if recorder else 0.0
