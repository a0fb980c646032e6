"""Names other parts of HA see: events, entity unique ids and lookup, repair issue ids.

Blueprints, automations and the logbook listen to these events by name, and entities are found
again by unique id (`<subentry id>-<key>`, the key being the entity's translation key): changing
any of them breaks users' automations and entity histories, so they are written only here.
"""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN

EVENT_BELL_PRESSED: Final = "anninh_bell_pressed"
EVENT_ALARM_ACKNOWLEDGED: Final = "anninh_alarm_acknowledged"
EVENT_RECORDING_FINISHED: Final = "anninh_recording_finished"
EVENT_ANNOUNCEMENT: Final = "anninh_announcement"

# Dispatcher signal: a station's devices were added, removed or replaced (the console follows).
SIGNAL_DEVICES_CHANGED: Final = f"{DOMAIN}_devices_changed"


def unique_id(subentry_id: str, key: str) -> str:
    """The unique id of a device's entity `key`."""
    return f"{subentry_id}-{key}"


@callback
def entity_id_of(hass: HomeAssistant, domain: str, subentry_id: str, key: str) -> str | None:
    """The entity id of a device's entity `key` in `domain`, if it is registered."""
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id(subentry_id, key))


# -- repair issues and notifications -----------------------------------------------------------
def offline_issue_id(subentry_id: str) -> str:
    """Repair issue id of one camera being offline."""
    return f"camera_offline_{subentry_id}"


def storage_issue_id(subentry_id: str) -> str:
    """Repair issue id of a camera whose clips cannot be stored."""
    return f"storage_problem_{subentry_id}"


def archive_issue_id(subentry_id: str) -> str:
    """Repair issue id of a camera whose 24/7 recording has stopped (a full disk)."""
    return f"archive_problem_{subentry_id}"


def disk_issue_id(entry_id: str) -> str:
    """Repair issue id of a station whose disk cannot hold the configured days."""
    return f"disk_too_small_{entry_id}"


def silent_issue_id(subentry_id: str) -> str:
    """Repair issue id of one bell gone silent."""
    return f"bell_silent_{subentry_id}"


def visible_folder_issue_id(entry_id: str) -> str:
    """Repair issue id of a station whose recordings My media shows (and could delete)."""
    return f"recordings_in_my_media_{entry_id}"


def alarm_notification_id(device_id: str) -> str:
    """Id of the bell blueprint's notification about one bell (its device id): cleared on ack."""
    return f"anninh_alarm_{device_id}"
