"""The integration Home Assistant loads: set-up and unload of a station (the package re-exports it).

The station is a config entry; each donated camera, bell and loudspeaker is a config subentry and a
device with entities. `entry.runtime_data` is the `Station` that keeps them running.
"""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .blueprints import async_install_blueprints
from .console import async_setup_console
from .const import CONF_FOLDER, CONF_RECORDINGS_DIR, DOMAIN, SUBENTRY_CAMERA
from .engine.storage import camera_folder, move_camera_clips, slugify
from .folders import hidden_twin, is_writable, visible_in_my_media
from .ids import visible_folder_issue_id
from .playback import async_register_views
from .services import async_setup_services
from .station import AnNinhConfigEntry, Station

_LOGGER = logging.getLogger(__name__)

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
    """Register the actions and the console once, and install the blueprints."""
    async_setup_services(hass)
    async_register_views(hass)
    await async_install_blueprints(hass)
    await async_setup_console(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """1.1 → 1.2: every camera gets a folder of its own that a rename does not change.

    A camera keeps the folder its name gave it; when two names had one slug, the later camera gets
    a new folder and its clips (told apart by their sidecars) move there.
    """
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        cameras = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CAMERA]
        taken = {str(s.data[CONF_FOLDER]) for s in cameras if s.data.get(CONF_FOLDER)}
        root = Path(entry.data[CONF_RECORDINGS_DIR])
        for subentry in cameras:
            if subentry.data.get(CONF_FOLDER):
                continue
            name = str(subentry.data.get(CONF_NAME, subentry.title))
            folder = camera_folder(name, taken)
            taken.add(folder)
            if folder != slugify(name):
                moved = await hass.async_add_executor_job(
                    move_camera_clips, root, slugify(name), folder, name
                )
                _LOGGER.info("Camera %s: %d clips moved to its own folder %s", name, moved, folder)
            hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, CONF_FOLDER: folder}
            )
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: AnNinhConfigEntry) -> bool:
    """Start the station and its devices (not before its recordings folder can be written)."""
    folder = Path(entry.data[CONF_RECORDINGS_DIR])
    if not await hass.async_add_executor_job(is_writable, folder):
        # A drive not mounted yet, a folder removed: HA retries; nothing is created meanwhile
        # (writing to the system disk under a missing mount point would fill it).
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="recordings_unavailable",
            translation_placeholders={"folder": str(folder)},
        )
    issue_id = visible_folder_issue_id(entry.entry_id)
    if await hass.async_add_executor_job(visible_in_my_media, hass, folder):
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="recordings_in_my_media",
            translation_placeholders={"folder": str(folder), "hidden": str(hidden_twin(folder))},
            data={"entry_id": entry.entry_id},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, issue_id)

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


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """A removed station leaves no repair behind (its recordings stay on disk)."""
    ir.async_delete_issue(hass, DOMAIN, visible_folder_issue_id(entry.entry_id))
