"""The station's actions (services), registered once for the integration in `async_setup`."""

from __future__ import annotations

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)

from . import announce
from .const import DOMAIN
from .dashboard import async_create_dashboard
from .recording_services import async_register_recording_services

SERVICE_CREATE_DASHBOARD = "create_dashboard"


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every anninh action."""
    announce.async_register_services(hass)
    async_register_recording_services(hass)

    async def create_dashboard(call: ServiceCall) -> ServiceResponse:
        return {"url_path": await async_create_dashboard(hass)}

    hass.services.async_register(
        DOMAIN,
        SERVICE_CREATE_DASHBOARD,
        create_dashboard,
        supports_response=SupportsResponse.OPTIONAL,
    )
