"""Alarm bells on a real HA: webhook and entity sources, alarm, acknowledge, heartbeat."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    mock_restore_cache,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import (
    CONF_HEARTBEAT_MINUTES,
    CONF_LINKED_CAMERAS,
    CONF_SOURCE,
    CONF_SOURCE_ENTITY,
    DOMAIN,
    SOURCE_ENTITY,
    SUBENTRY_BELL,
    SUBENTRY_CAMERA,
)
from custom_components.anninh.devices.bell import ALARM_STORE, RATE_LIMIT
from custom_components.anninh.ids import (
    EVENT_ALARM_ACKNOWLEDGED,
    EVENT_BELL_PRESSED,
    silent_issue_id,
)

from .conftest import bell_data, camera_data, station_entry, subentry

WEBHOOK_ID = bell_data()["webhook_id"]
URL = f"/api/webhook/{WEBHOOK_ID}"


def _ids(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    registry = er.async_get(hass)
    return {
        e.translation_key or "": e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }


async def _station(hass: HomeAssistant, media_dir: Path, video_file: Path, **bell: Any) -> Any:
    camera = subentry(SUBENTRY_CAMERA, camera_data(str(video_file)))
    entry = station_entry(media_dir, [camera])
    entry.add_to_hass(hass)
    camera_id = next(iter(entry.subentries))
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            **subentry(SUBENTRY_BELL, bell_data(**{CONF_LINKED_CAMERAS: [camera_id], **bell}))
        ),
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def bell_station(hass: HomeAssistant, media_dir: Path, video_file: Path) -> MockConfigEntry:
    """A station with a camera and a webhook bell linked to it."""
    return await _station(hass, media_dir, video_file)


async def test_webhook_press_alarm_acknowledge(
    hass: HomeAssistant,
    bell_station: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    hass_admin_user: Any,
) -> None:
    """A POST fires the event with place and links; the alarm holds until acknowledged."""
    ids = _ids(hass, bell_station)
    presses = async_capture_events(hass, EVENT_BELL_PRESSED)
    acks = async_capture_events(hass, EVENT_ALARM_ACKNOWLEDGED)
    client = await hass_client_no_auth()
    assert hass.states.get(ids["alarm"]).state == STATE_OFF

    response = await client.post(URL)
    assert response.status == 200
    assert await response.json() == {"accepted": "press"}
    await hass.async_block_till_done()
    event_state = hass.states.get(ids["event"])
    assert event_state.attributes["event_type"] == "press"
    assert event_state.attributes["address"] == "Trạm y tế xã Ngũ Đoan"
    assert event_state.attributes["linked_cameras"] == [ids["camera"]]
    assert event_state.attributes["latitude"] == 20.83
    assert hass.states.get(ids["alarm"]).state == STATE_ON
    assert len(presses) == 1
    assert presses[0].data["linked_cameras"] == [ids["camera"]]
    assert presses[0].data["name"] == "Trạm y tế xã"
    assert presses[0].data["entity_id"] == ids["event"]

    # A repeat within two seconds counts once.
    response = await client.get(URL)
    assert await response.json() == {"accepted": "repeat"}
    await hass.async_block_till_done()
    assert len(presses) == 1

    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": ids["acknowledge"]},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    alarm = hass.states.get(ids["alarm"])
    assert alarm.state == STATE_OFF
    assert alarm.attributes["acknowledged_by"] == hass_admin_user.name
    assert alarm.attributes["press_type"] == "press"
    assert len(acks) == 1
    assert acks[0].data["user"] == hass_admin_user.name


@pytest.mark.parametrize(
    ("method", "kwargs", "expected", "alarm"),
    [
        ("get", {"params": {"type": "long_press"}}, "long_press", STATE_ON),
        ("post", {"json": {"type": "tamper"}}, "tamper", STATE_ON),
        ("post", {"data": {"type": "test"}}, "test", STATE_OFF),
        ("post", {"data": b"", "params": {"type": "test"}}, "test", STATE_OFF),
    ],
)
async def test_webhook_types(
    hass: HomeAssistant,
    bell_station: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    method: str,
    kwargs: dict[str, Any],
    expected: str,
    alarm: str,
) -> None:
    """The type comes from the query, a JSON body or a form; a test press alarms nobody."""
    ids = _ids(hass, bell_station)
    client = await hass_client_no_auth()
    response = await getattr(client, method)(URL, **kwargs)
    assert response.status == 200
    assert await response.json() == {"accepted": expected}
    await hass.async_block_till_done()
    assert hass.states.get(ids["event"]).attributes["event_type"] == expected
    assert hass.states.get(ids["alarm"]).state == alarm


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": b"x" * 1_000_000}, 413),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": ["press"]}, 400),
        ({"json": {"type": 3}}, 400),
        ({"params": {"type": "explode"}}, 400),
    ],
)
async def test_webhook_bad_input(
    hass: HomeAssistant,
    bell_station: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    """Oversize and malformed bodies and unknown types are refused; nothing fires."""
    presses = async_capture_events(hass, EVENT_BELL_PRESSED)
    client = await hass_client_no_auth()
    response = await client.post(URL, **kwargs)
    assert response.status == status
    await hass.async_block_till_done()
    assert presses == []


async def test_webhook_method_unknown_id_and_flood(
    hass: HomeAssistant,
    bell_station: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """PUT is refused as HA refuses it; an unknown id answers as HA does; floods are capped."""
    presses = async_capture_events(hass, EVENT_BELL_PRESSED)
    client = await hass_client_no_auth()
    assert (await client.put(URL)).status == 405
    unknown = await client.post("/api/webhook/not-a-bell")
    assert unknown.status == 200
    assert await unknown.read() == b""

    statuses = [
        (await client.post(URL, params={"type": "test"})).status for _ in range(RATE_LIMIT + 20)
    ]
    assert statuses.count(200) == RATE_LIMIT
    assert statuses.count(429) == 20
    await hass.async_block_till_done()
    assert len(presses) == 1  # the rest were repeats within two seconds or refused
    assert (await client.get("/api/webhook/another-unknown")).status == 200


async def test_entity_sources(hass: HomeAssistant, media_dir: Path, video_file: Path) -> None:
    """A bell paired through another integration: binary_sensor on, event fired, button pressed."""
    hass.states.async_set("binary_sensor.zigbee_bell", STATE_OFF)
    entry = await _station(
        hass,
        media_dir,
        video_file,
        **{CONF_SOURCE: SOURCE_ENTITY, CONF_SOURCE_ENTITY: "binary_sensor.zigbee_bell"},
    )
    ids = _ids(hass, entry)
    presses = async_capture_events(hass, EVENT_BELL_PRESSED)
    hass.states.async_set("binary_sensor.zigbee_bell", STATE_ON)
    await hass.async_block_till_done()
    assert len(presses) == 1
    assert hass.states.get(ids["alarm"]).state == STATE_ON
    hass.states.async_set("binary_sensor.zigbee_bell", STATE_OFF)
    hass.states.async_set("binary_sensor.zigbee_bell", STATE_ON, {"x": 1})  # within 2 s
    await hass.async_block_till_done()
    assert len(presses) == 1

    for source, states in (
        ("event.remote_button", ["2026-11-24T10:00:00+00:00", "2026-11-24T10:00:05+00:00"]),
        ("input_button.test_bell", ["unknown", "2026-11-24T10:00:00+00:00"]),
    ):
        hass.states.async_set(source, states[0], {"event_type": "long_press"})
        bell = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_BELL)
        hass.config_entries.async_update_subentry(
            entry, bell, data={**bell.data, CONF_SOURCE_ENTITY: source}
        )
        await hass.async_block_till_done()
        presses.clear()
        hass.states.async_set(source, states[1], {"event_type": "long_press"})
        await hass.async_block_till_done()
        assert [e.data["type"] for e in presses] == ["long_press"]
        hass.states.async_set(source, "unavailable")
        hass.states.async_set(source, "2026-11-24T11:00:00+00:00")  # back after a restart
        await hass.async_block_till_done()
        assert len(presses) == 1


async def test_heartbeat(
    hass: HomeAssistant,
    media_dir: Path,
    video_file: Path,
    hass_client_no_auth: ClientSessionGenerator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A silent bell turns its connectivity off and raises a repair; a signal clears both."""
    entry = await _station(hass, media_dir, video_file, **{CONF_HEARTBEAT_MINUTES: 5})
    ids = _ids(hass, entry)
    bell_id = next(s for s, v in entry.subentries.items() if v.subentry_type == SUBENTRY_BELL)
    assert hass.states.get(ids["connectivity"]).state == STATE_ON
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert hass.states.get(ids["connectivity"]).state == STATE_OFF
    issue = issue_registry.async_get_issue(DOMAIN, silent_issue_id(bell_id))
    assert issue is not None
    assert issue.translation_placeholders["minutes"] == "5"

    client = await hass_client_no_auth()
    response = await client.post(URL, json={"type": "heartbeat"})
    assert await response.json() == {"accepted": "heartbeat"}
    await hass.async_block_till_done()
    assert hass.states.get(ids["connectivity"]).state == STATE_ON
    assert issue_registry.async_get_issue(DOMAIN, silent_issue_id(bell_id)) is None
    assert hass.states.get(ids["alarm"]).state == STATE_OFF  # a heartbeat is not a press


async def test_alarm_survives_restart(
    hass: HomeAssistant, media_dir: Path, video_file: Path
) -> None:
    """An alarm open when HA stopped is still open after the restart."""
    entry = station_entry(media_dir, [subentry(SUBENTRY_BELL, bell_data())])
    entry.add_to_hass(hass)
    bell_id = next(iter(entry.subentries))
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        f"{bell_id}-alarm",
        config_entry=entry,
        config_subentry_id=bell_id,
        suggested_object_id="tram_y_te_alarm",
    )
    mock_restore_cache(hass, [State("binary_sensor.tram_y_te_alarm", STATE_ON)])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.tram_y_te_alarm").state == STATE_ON


async def test_alarm_is_on_disk_as_soon_as_it_opens(
    hass: HomeAssistant,
    bell_station: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    hass_admin_user: Any,
) -> None:
    """Written when it opens and when it is acknowledged: a power cut in between loses nothing."""
    ids = _ids(hass, bell_station)
    bell_id = next(s for s, d in bell_station.subentries.items() if d.subentry_type == "bell")
    client = await hass_client_no_auth()
    assert (await client.post(URL)).status == 200
    await hass.async_block_till_done()
    record = hass_storage["anninh.alarms"]["data"][bell_id]
    assert record["active"] is True
    assert record["press"]["type"] == "press"
    assert record["press"]["via"] == "webhook"

    # The power goes: nothing else is saved. A new start reads only what is on disk.
    assert await hass.config_entries.async_unload(bell_station.entry_id)
    hass.data.pop(ALARM_STORE)
    assert await hass.config_entries.async_setup(bell_station.entry_id)
    await hass.async_block_till_done()
    alarm = hass.states.get(ids["alarm"])
    assert alarm.state == STATE_ON
    assert alarm.attributes["pressed_at"] == record["press"]["at"]

    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": ids["acknowledge"]},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    record = hass_storage["anninh.alarms"]["data"][bell_id]
    assert record["active"] is False
    assert record["acknowledged_by"] == hass_admin_user.name
