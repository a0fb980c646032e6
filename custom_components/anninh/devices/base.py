"""A donated device while the station runs: its config, its entities, and its listeners."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from ..models import DeviceConfig, StationSettings

if TYPE_CHECKING:
    from homeassistant.helpers.entity import Entity


class Device:
    """Base of every kind: entities subscribe here and are removed on a reconfigure."""

    config: DeviceConfig

    def __init__(
        self, hass: HomeAssistant, kind: str, config: DeviceConfig, settings: StationSettings
    ) -> None:
        """Nothing runs until `async_start`."""
        self.hass = hass
        self.kind = kind
        self.config = config
        self.settings = settings
        self.entities: set[Entity] = set()
        self._listeners: list[Callable[[], None]] = []

    @property
    def subentry_id(self) -> str:
        """The subentry (and device identifier) this device comes from."""
        return self.config.subentry_id

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` (on the event loop) whenever the device's state changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_notify(self) -> None:
        """Tell every listener the device changed."""
        for listener in list(self._listeners):
            listener()

    @callback
    def async_apply_settings(self, settings: StationSettings) -> None:
        """The station's options changed (applied live)."""
        self.settings = settings

    def as_diagnostics(self) -> dict[str, Any]:
        """Runtime facts for diagnostics (no configuration: the entry's, redacted, has that)."""
        return {}

    def as_console(self) -> dict[str, Any]:
        """What the duty officer's console shows of the device (kinds add their own)."""
        config = self.config
        return {
            "id": self.subentry_id,
            "kind": self.kind,
            "name": config.name,
            "address": config.address,
            "latitude": config.latitude,
            "longitude": config.longitude,
        }

    async def async_start(self) -> None:
        """Start whatever the device needs running (streams, listeners)."""

    async def async_stop(self) -> None:
        """Release what `async_start` took."""
