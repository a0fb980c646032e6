"""The integration Home Assistant loads: set-up and unload of a station (the package re-exports it).

The station is a config entry; each donated camera, bell and loudspeaker is a config subentry and a
device with entities. `entry.runtime_data` is the `Station` that keeps them running.
"""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .blueprints import async_install_blueprints
from .const import DOMAIN
from .dashboard import async_setup_dashboard
from .services import async_setup_services
from .station import AnNinhConfigEntry, Station

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.MEDIA_PLAYER,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TTS,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, and install the blueprints."""
    async_setup_services(hass)
    await async_install_blueprints(hass)
    await async_setup_dashboard(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: AnNinhConfigEntry) -> bool:
    """Start the station and its devices."""
    station = Station(hass, entry)
    entry.runtime_data = station
    await station.async_start()
    entry.async_on_unload(station.async_stop)

    async def _async_stop_with_home_assistant(_event: Event) -> None:
        # HA does not unload entries when it stops: commit running clips, end the threads.
        await station.async_stop()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop_with_home_assistant)
    )
    entry.async_on_unload(entry.add_update_listener(station.async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AnNinhConfigEntry) -> bool:
    """Unload platforms; `async_on_unload` callbacks then stop the station."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
