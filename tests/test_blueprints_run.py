"""The motion and offline blueprints run as automations on a real station."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.anninh.const import DOMAIN, SUBENTRY_CAMERA
from custom_components.anninh.ids import EVENT_RECORDING_FINISHED

from .conftest import async_use_blueprint, camera_data, station_entry, subentry, wait_until
from .media import make_h264_file


async def test_motion_after_hours_records_and_notifies(
    hass: HomeAssistant, media_dir: Path
) -> None:
    """Motion inside the window records the camera and notifies with its address."""
    video = make_h264_file(media_dir / "night.mp4", seconds=12.0, motion_window=(4.0, 6.0))
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(str(video)))])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    camera_id = next(iter(entry.subentries))
    registry = er.async_get(hass)
    motion = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{camera_id}-motion")
    notifications = async_mock_service(hass, "notify", "truc_ban")
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    await async_use_blueprint(
        hass,
        "anninh/motion_after_hours_record_notify.yaml",
        {
            "motion_sensors": [motion],
            "after": "00:00:00",
            "before": "23:59:59",
            "notify_action": "notify.truc_ban",
            "duration": 1,
            "cooldown": 0,
        },
    )
    await wait_until(lambda: len(notifications) >= 1)
    assert notifications[0].data["title"] == "Ngã ba chợ"
    assert notifications[0].data["message"] == "Thôn 3, xã Ngũ Đoan"
    await wait_until(lambda: len(finished) >= 1)
    assert finished[0].data["camera"] == "Ngã ba chợ"


async def test_offline_camera_notifies(
    hass: HomeAssistant, media_dir: Path, rtsp_camera: Any
) -> None:
    """A camera offline for the chosen minutes notifies with donor and address."""
    server = rtsp_camera()
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(server.url))])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    camera_id = next(iter(entry.subentries))
    device = entry.runtime_data.devices[camera_id]
    device.pipeline.reader.offline_after = 1.0  # declare the outage quickly
    status = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{camera_id}-status")
    await wait_until(lambda: hass.states.get(status).state == "streaming")
    notices = async_mock_service(hass, "persistent_notification", "create")
    await async_use_blueprint(
        hass, "anninh/device_offline_notify.yaml", {"camera_status": [status], "minutes": 5}
    )
    server.stop()
    await wait_until(lambda: hass.states.get(status).state == "offline")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    await wait_until(lambda: len(notices) >= 1)
    message = notices[0].data["message"]
    assert "Thôn 3, xã Ngũ Đoan" in message
    assert "Hộ ông Nguyễn Văn An" in message
