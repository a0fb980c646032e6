"""Sensors of each camera: stream status, and diagnostics (analysis fps, reconnects)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .cameras import CameraDevice
from .const import SUBENTRY_CAMERA
from .device import Device
from .engine.stream import StreamState
from .entity import AnNinhCameraEntity
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0
SCAN_INTERVAL = timedelta(seconds=30)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of every camera, now and as cameras are added."""

    @callback
    def add(device: Device) -> None:
        assert isinstance(device, CameraDevice)
        async_add_entities(
            [StatusSensor(device), AnalysisFpsSensor(device), ReconnectsSensor(device)],
            config_subentry_id=device.subentry_id,
        )

    entry.runtime_data.async_register_platform(SUBENTRY_CAMERA, add)


class StatusSensor(AnNinhCameraEntity, SensorEntity):
    """streaming / reconnecting / offline, with the reason; available even when offline."""

    _attr_device_class = SensorDeviceClass.ENUM

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "status")
        self._attr_options = [state.value for state in StreamState]

    @property
    def available(self) -> bool:
        """Always: saying "offline" is this sensor's job."""
        return True

    @property
    def native_value(self) -> str:
        """The reader's state."""
        return self.device.health.state.value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Why, when not streaming."""
        reason = self.device.health.reason
        return {"reason": reason.value if reason else None}


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
