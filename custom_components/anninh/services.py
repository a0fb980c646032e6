"""The station's actions (services), registered once for the integration in `async_setup`."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback

from . import announce


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every anninh action."""
    announce.async_register_services(hass)
