"""Switch that turns a camera's motion detection on and off (remembered across restarts)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_OFF, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .devices.camera import CameraDevice
from .entity import AnNinhEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A motion-detection switch for every camera, now and as cameras are added."""
    async_add_device_entities(
        entry, async_add_entities, CameraDevice, lambda d: [MotionDetectionSwitch(d)]
    )


class MotionDetectionSwitch(AnNinhEntity, SwitchEntity, RestoreEntity):
    """Off: the camera is still watched and recorded, but raises no motion."""

    _attr_entity_category = EntityCategory.CONFIG
    device: CameraDevice

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera."""
        super().__init__(device, "motion_detection")

    async def async_added_to_hass(self) -> None:
        """Restore the last choice."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        self._set(last is None or last.state != STATE_OFF)

    @property
    def is_on(self) -> bool:
        """Motion detection runs."""
        pipeline = self.device.pipeline
        return pipeline is not None and pipeline.motion_enabled

    def _set(self, enabled: bool) -> None:
        if self.device.pipeline is not None:
            self.device.pipeline.set_motion_enabled(enabled)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start detecting motion."""
        self._set(True)
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop detecting motion."""
        self._set(False)
        self.async_write_ha_state()
