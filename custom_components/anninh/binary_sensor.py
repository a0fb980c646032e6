"""Motion binary sensor of each camera."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .cameras import CameraDevice
from .const import SUBENTRY_CAMERA
from .device import Device
from .entity import AnNinhCameraEntity
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a motion sensor for every camera, now and as cameras are added."""

    @callback
    def add(device: Device) -> None:
        assert isinstance(device, CameraDevice)
        async_add_entities([MotionSensor(device)], config_subentry_id=device.subentry_id)

    entry.runtime_data.async_register_platform(SUBENTRY_CAMERA, add)


class MotionSensor(AnNinhCameraEntity, BinarySensorEntity):
    """On while the camera's detector sees motion (after its hysteresis)."""

    _attr_device_class = BinarySensorDeviceClass.MOTION
    # Score and boxes change every second during motion: keep them out of the history database.
    _unrecorded_attributes = frozenset({"score", "boxes"})

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "motion")

    @property
    def is_on(self) -> bool:
        """Motion now."""
        return self.device.motion.motion

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Fraction of the picture that changed, and where (x, y, w, h in pixels)."""
        motion = self.device.motion
        return {"score": round(motion.score, 4), "boxes": [list(box) for box in motion.boxes]}
