"""Base entity: one device per donated device (subentry), names from translations."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .devices.base import Device
from .devices.bell import BellDevice
from .devices.camera import CameraDevice
from .ids import unique_id
from .station import AnNinhConfigEntry


def async_add_device_entities[D: Device](
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    device_type: type[D],
    entities_of: Callable[[D], Iterable[Entity]],
) -> None:
    """Give every device of `device_type` its entities, now and whenever one is added."""

    @callback
    def add(device: Device) -> None:
        assert isinstance(device, device_type)
        async_add_entities(list(entities_of(device)), config_subentry_id=device.subentry_id)

    entry.runtime_data.async_register_platform(device_type, add)


class AnNinhEntity(Entity):
    """An entity of one donated device; removed and re-added when the device is reconfigured."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: Device, key: str) -> None:
        """Bind to `device`; `key` is the entity's translation key and unique-id suffix."""
        self.device = device
        self._attr_translation_key = key
        self._attr_unique_id = unique_id(device.subentry_id, key)
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, device.subentry_id)})

    async def async_added_to_hass(self) -> None:
        """Track this entity on its device so a reconfigure can remove it."""
        await super().async_added_to_hass()
        self.device.entities.add(self)
        self.async_on_remove(lambda: self.device.entities.discard(self))


class AnNinhCameraEntity(AnNinhEntity):
    """An entity of a camera, written whenever the camera's health or motion changes."""

    device: CameraDevice

    def __init__(self, device: CameraDevice, key: str) -> None:
        """Bind to a camera device."""
        super().__init__(device, key)

    @property
    def available(self) -> bool:
        """Video and motion are unavailable while the camera is offline."""
        return self.device.available

    async def async_added_to_hass(self) -> None:
        """Follow the camera's changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self._handle_device_update))

    @callback
    def _handle_device_update(self) -> None:
        self.async_write_ha_state()


class AnNinhBellEntity(AnNinhEntity):
    """An entity of an alarm bell, written whenever the bell's state changes."""

    device: BellDevice

    def __init__(self, device: BellDevice, key: str) -> None:
        """Bind to a bell device."""
        super().__init__(device, key)

    async def async_added_to_hass(self) -> None:
        """Follow the bell's changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self._handle_device_update))

    @callback
    def _handle_device_update(self) -> None:
        self.async_write_ha_state()
