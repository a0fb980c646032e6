"""Button "acknowledge" of each alarm bell: an officer takes charge and the alarm clears."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .devices.bell import BellDevice
from .entity import AnNinhBellEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The acknowledge button of every bell, now and as bells are added."""
    async_add_device_entities(
        entry, async_add_entities, BellDevice, lambda d: [AcknowledgeButton(d)]
    )


class AcknowledgeButton(AnNinhBellEntity, ButtonEntity):
    """Pressed by the officer who takes charge; who it was goes to the alarm and the logbook."""

    def __init__(self, device: BellDevice) -> None:
        """Bind to the bell."""
        super().__init__(device, "acknowledge")

    @callback
    def _handle_device_update(self) -> None:
        """The button's state is its own last press, not the bell's."""

    async def async_press(self) -> None:
        """Clear the alarm, naming the user who pressed."""
        user_name: str | None = None
        if self._context is not None and self._context.user_id:
            user = await self.hass.auth.async_get_user(self._context.user_id)
            user_name = user.name if user else None
        self.device.async_acknowledge(user_name)
