"""Event entity of each alarm bell: press, long press, test, tamper."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventDeviceClass, EventEntity
from homeassistant.const import ATTR_LATITUDE, ATTR_LONGITUDE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_ADDRESS, CONF_PRIORITY
from .devices.bell import PRESS_TYPES, BellDevice, Press
from .entity import AnNinhBellEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The event entity of every bell, now and as bells are added."""
    async_add_device_entities(entry, async_add_entities, BellDevice, lambda d: [BellEvent(d)])


class BellEvent(AnNinhBellEntity, EventEntity):
    """Fires on every accepted press; carries where the bell is and what it is linked to."""

    _attr_device_class = EventDeviceClass.BUTTON

    def __init__(self, device: BellDevice) -> None:
        """Bind to the bell."""
        super().__init__(device, "event")
        self._attr_event_types = list(PRESS_TYPES)
        self._seen: Press | None = None

    @callback
    def _handle_device_update(self) -> None:
        press = self.device.last_press
        if press is not None and press is not self._seen:
            self._seen = press
            self._trigger_event(press.type, {"via": press.via})
            self.async_write_ha_state()

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The bell's place and links (the bell blueprint reads these)."""
        config = self.device.config
        attributes: dict[str, Any] = {
            CONF_ADDRESS: config.address,
            CONF_PRIORITY: config.priority,
            "linked_cameras": self.device.linked_entity_ids("camera"),
            "linked_loudspeakers": self.device.linked_entity_ids("media_player"),
            "alarm_entity": self.device.entity_id("alarm"),
        }
        if config.latitude is not None and config.longitude is not None:
            attributes[ATTR_LATITUDE] = config.latitude
            attributes[ATTR_LONGITUDE] = config.longitude
        return attributes
