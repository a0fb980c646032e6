"""The bell blueprint repeats its announcement until someone acknowledges, then stops; the
acknowledgement clears the notification the blueprint created."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_capture_events, async_mock_service

from custom_components.anninh.const import (
    CONF_LINKED_LOUDSPEAKERS,
    CONF_TARGETS,
    DOMAIN,
    SUBENTRY_BELL,
    SUBENTRY_LOUDSPEAKER,
)
from custom_components.anninh.devices.bell import BellDevice
from custom_components.anninh.ids import EVENT_ANNOUNCEMENT, alarm_notification_id

from .conftest import (
    BELL_BLUEPRINT,
    async_use_blueprint,
    bell_data,
    entity_id_of,
    loudspeaker_data,
    station_entry,
    subentry,
    wait_until,
)
from .standins import THON_3, RecordingPlayer, StandInEngine


def _notifications(hass: HomeAssistant) -> dict[str, persistent_notification.Notification]:
    return persistent_notification._async_get_or_create_notifications(hass)


async def test_announcement_repeats_until_acknowledged(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """repeat_every > 0: the announcement comes again until the alarm is acknowledged."""
    entry = station_entry(
        media_dir, [subentry(SUBENTRY_LOUDSPEAKER, loudspeaker_data(**{CONF_TARGETS: [THON_3]}))]
    )
    entry.add_to_hass(hass)
    (speaker_id,) = list(entry.subentries)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            **subentry(SUBENTRY_BELL, bell_data(**{CONF_LINKED_LOUDSPEAKERS: [speaker_id]}))
        ),
    )
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    bell_id = next(s for s, v in entry.subentries.items() if v.subentry_type == SUBENTRY_BELL)
    event_entity = entity_id_of(hass, bell_id, "event", "event")
    ack_entity = entity_id_of(hass, bell_id, "button", "acknowledge")
    await async_use_blueprint(  # the default notify action: persistent_notification.create
        hass,
        BELL_BLUEPRINT,
        {"bell": event_entity, "chime": "none", "repeat_every": 1},
    )
    announcements = async_capture_events(hass, EVENT_ANNOUNCEMENT)

    bell = entry.runtime_data.devices[bell_id]
    assert isinstance(bell, BellDevice)
    bell.async_press("press", via="test")
    await wait_until(lambda: len(announcements) >= 3, within=20)

    # The blueprint's notification carries the bell's id, so the acknowledgement can clear it.
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bell_id)})
    assert device is not None
    notification_id = alarm_notification_id(device.id)
    await wait_until(lambda: notification_id in _notifications(hass))
    assert _notifications(hass)[notification_id]["title"].endswith("Trạm y tế xã")

    await hass.services.async_call("button", "press", {"entity_id": ack_entity}, blocking=True)
    assert notification_id not in _notifications(hass)
    await hass.async_block_till_done()
    heard = len(announcements)
    await asyncio.sleep(3.0)  # three repeat periods
    await hass.async_block_till_done()
    assert len(announcements) <= heard + 1  # at most one already under way when acknowledged


async def test_phone_notification_cleared_on_acknowledge(
    hass: HomeAssistant, media_dir: Path
) -> None:
    """A mobile-app notify action gets a tag per bell, and a clear_notification on ack."""
    entry = station_entry(media_dir, [subentry(SUBENTRY_BELL, bell_data())])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (bell_id,) = list(entry.subentries)
    event_entity = entity_id_of(hass, bell_id, "event", "event")
    ack_entity = entity_id_of(hass, bell_id, "button", "acknowledge")
    calls = async_mock_service(hass, "notify", "mobile_app_truc_ban")
    await async_use_blueprint(
        hass, BELL_BLUEPRINT, {"bell": event_entity, "notify_action": "notify.mobile_app_truc_ban"}
    )
    bell = entry.runtime_data.devices[bell_id]
    assert isinstance(bell, BellDevice)
    bell.async_press("press", via="test")
    await wait_until(lambda: len(calls) >= 1)
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bell_id)})
    assert device is not None
    tag = alarm_notification_id(device.id)
    assert calls[0].data["data"]["tag"] == tag

    await hass.services.async_call("button", "press", {"entity_id": ack_entity}, blocking=True)
    await wait_until(lambda: len(calls) >= 2)
    assert calls[1].data == {"message": "clear_notification", "data": {"tag": tag}}
