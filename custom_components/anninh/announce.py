"""Placeholder replaced by the loudspeaker work (announce action)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register `anninh.announce`."""
