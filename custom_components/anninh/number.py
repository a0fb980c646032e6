"""Number entity for a camera's motion sensitivity (0-100, remembered across restarts)."""

from __future__ import annotations

from homeassistant.components.number import NumberMode, RestoreNumber
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .devices.camera import CameraDevice
from .engine.motion import MotionConfig
from .entity import AnNinhEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A sensitivity number for every camera, now and as cameras are added."""
    async_add_device_entities(
        entry, async_add_entities, CameraDevice, lambda d: [SensitivityNumber(d)]
    )


class SensitivityNumber(AnNinhEntity, RestoreNumber):
    """Higher finds fainter and smaller motion; lower ignores more noise."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_native_min_value = 0
    _attr_native_max_value = 100
    _attr_native_step = 1
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_mode = NumberMode.SLIDER
    device: CameraDevice

    def __init__(self, device: CameraDevice) -> None:
        """Bind to the camera; the detector's default until a value is restored."""
        super().__init__(device, "sensitivity")
        self._attr_native_value = MotionConfig().sensitivity

    async def async_added_to_hass(self) -> None:
        """Restore the last value and hand it to the detector."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            self._apply(last.native_value)

    def _apply(self, value: float) -> None:
        self._attr_native_value = int(value)
        if self.device.pipeline is not None:
            self.device.pipeline.set_sensitivity(int(value))

    async def async_set_native_value(self, value: float) -> None:
        """Apply at once (on the next analysed frame)."""
        self._apply(value)
        self.async_write_ha_state()
