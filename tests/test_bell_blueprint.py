"""End to end: a bell's webhook, through the shipped blueprint, records, announces and notifies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_capture_events, async_mock_service
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import (
    CONF_LINKED_CAMERAS,
    CONF_LINKED_LOUDSPEAKERS,
    CONF_TARGETS,
    SUBENTRY_BELL,
    SUBENTRY_CAMERA,
    SUBENTRY_LOUDSPEAKER,
)
from custom_components.anninh.ids import EVENT_RECORDING_FINISHED

from .conftest import (
    BELL_BLUEPRINT,
    async_use_blueprint,
    bell_data,
    camera_data,
    entity_id_of,
    loudspeaker_data,
    station_entry,
    subentry,
    wait_until,
)
from .standins import THON_3, RecordingPlayer, StandInEngine


async def test_bell_press_records_announces_notifies(
    hass: HomeAssistant,
    media_dir: Path,
    rtsp_camera: Any,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Press → clip with pre-event video, chime + speech with announce, notification, ack."""
    server = rtsp_camera()
    entry = station_entry(
        media_dir,
        [
            subentry(SUBENTRY_CAMERA, camera_data(server.url)),
            subentry(SUBENTRY_LOUDSPEAKER, loudspeaker_data(**{CONF_TARGETS: [THON_3]})),
        ],
    )
    entry.add_to_hass(hass)
    camera_id, speaker_id = list(entry.subentries)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            **subentry(
                SUBENTRY_BELL,
                bell_data(
                    **{CONF_LINKED_CAMERAS: [camera_id], CONF_LINKED_LOUDSPEAKERS: [speaker_id]}
                ),
            )
        ),
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    bell_id = next(s for s, v in entry.subentries.items() if v.subentry_type == SUBENTRY_BELL)
    event_entity = entity_id_of(hass, bell_id, "event", "event")
    alarm_entity = entity_id_of(hass, bell_id, "binary_sensor", "alarm")
    ack_entity = entity_id_of(hass, bell_id, "button", "acknowledge")
    notifications = async_mock_service(hass, "notify", "truc_ban")
    await async_use_blueprint(
        hass,
        BELL_BLUEPRINT,
        {
            "bell": event_entity,
            "notify_action": "notify.truc_ban",
            "pre_event": 2,
            "duration": 2,
            "chime": "bell",
        },
    )
    device = entry.runtime_data.devices[camera_id]
    await wait_until(lambda: device.recorder.stats().seconds >= 3.0)
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)

    pressed_at: datetime = dt_util.utcnow()
    client = await hass_client_no_auth()
    response = await client.post(f"/api/webhook/{bell_data()['webhook_id']}")
    assert response.status == 200

    await wait_until(lambda: len(notifications) >= 1)
    assert notifications[0].data["title"].endswith("Trạm y tế xã")
    assert notifications[0].data["message"] == "Trạm y tế xã Ngũ Đoan"
    assert notifications[0].data["data"]["entity_id"].startswith("camera.")
    player = players[THON_3]
    await wait_until(lambda: len(player.played) >= 2)
    assert all(play.get("announce") is True for play in player.played)
    assert player.played[0]["id"].endswith("/api/anninh/chime/bell.wav")
    engine = engines["tts.giong_doc_thu"]
    await wait_until(lambda: bool(engine.spoken))
    assert engine.spoken[0] == (
        "Đã nhận tín hiệu báo động tại Trạm y tế xã Ngũ Đoan. Công an đang đến.",
        "vi",
    )
    assert hass.states.get(alarm_entity).state == STATE_ON

    await wait_until(lambda: len(finished) >= 1, within=30)
    clip = finished[0].data
    start = datetime.fromisoformat(clip["start"])
    assert (pressed_at - start).total_seconds() >= 1.0  # pre-event video is in the clip
    assert clip["trigger"] == {"kind": "bell", "source": event_entity}
    assert clip["reason"] == "Trạm y tế xã: press"

    await hass.services.async_call("button", "press", {"entity_id": ack_entity}, blocking=True)
    assert hass.states.get(alarm_entity).state == STATE_OFF
