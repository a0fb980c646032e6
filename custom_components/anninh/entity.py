"""Base entity: one device per donated device (subentry), names from translations."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .station import Device


class AnNinhEntity(Entity):
    """An entity of one donated device; removed and re-added when the device is reconfigured."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: Device, key: str) -> None:
        """Bind to `device`; `key` is the entity's translation key and unique-id suffix."""
        self.device = device
        self._attr_translation_key = key
        self._attr_unique_id = f"{device.subentry_id}-{key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device.subentry_id)})

    async def async_added_to_hass(self) -> None:
        """Track this entity on its device so a reconfigure can remove it."""
        await super().async_added_to_hass()
        self.device.entities.add(self)
        self.async_on_remove(lambda: self.device.entities.discard(self))
