"""Camera entities on a real Home Assistant, fed by real H.264 (a local file or an RTSP server)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity_component import async_update_entity
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.anninh.const import DOMAIN, SUBENTRY_CAMERA
from custom_components.anninh.engine.stream import StreamState
from custom_components.anninh.ids import offline_issue_id

from .conftest import camera_data, station_entry, subentry, wait_until
from .media import make_h264_file


def _entity_ids(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """translation_key -> entity_id of the station's camera entities."""
    registry = er.async_get(hass)
    return {
        e.translation_key or "": e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.config_subentry_id  # the camera's, not the station's own (its offline voice)
    }


async def _camera_station(hass: HomeAssistant, media_dir: Path, url: str) -> MockConfigEntry:
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(url))])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_entities_and_motion_on_off(
    hass: HomeAssistant, media_dir: Path, translations: dict[str, Any]
) -> None:
    """A block crossing the scene turns motion on, then off; snapshot and last-motion work."""
    video = make_h264_file(
        media_dir / "crossing.mp4", seconds=9.0, fps=15, motion_window=(1.0, 2.5)
    )
    entry = await _camera_station(hass, media_dir, str(video))
    ids = _entity_ids(hass, entry)
    assert set(ids) == {
        "camera",
        "motion",
        "motion_detection",
        "sensitivity",
        "status",
        "analysis_fps",
        "reconnects",
        "buffer_seconds",
        "buffer_memory",
        "last_recording",
        "recorded_days",
        "last_motion",
    }
    for key in ids:  # every entity name is translated in both languages
        platform = ids[key].split(".")[0]
        for lang in ("en", "vi"):
            assert translations[lang]["entity"][platform][key]["name"]

    await wait_until(lambda: hass.states.get(ids["status"]).state == "streaming")
    camera = hass.states.get(ids["camera"])
    assert camera.state == "streaming"
    assert camera.attributes["latitude"] == 20.83
    assert camera.name == "Ngã ba chợ"
    image = await async_get_image(hass, ids["camera"])
    assert image.content.startswith(b"\xff\xd8")
    assert await async_get_stream_source(hass, ids["camera"]) == str(video)

    await wait_until(lambda: hass.states.get(ids["motion"]).state == STATE_ON)
    motion = hass.states.get(ids["motion"])
    assert motion.attributes["score"] > 0
    ((x, y, w, h),) = motion.attributes["boxes"][:1]
    assert 0 <= x < 320
    assert 0 <= y < 180
    assert w > 0
    assert h > 0
    await wait_until(lambda: hass.states.get(ids["last_motion"]).state not in ("unknown", None))
    client_image = await _image_bytes(hass, ids["last_motion"])
    assert client_image.startswith(b"\xff\xd8")

    await wait_until(lambda: hass.states.get(ids["motion"]).state == STATE_OFF, within=30)
    await hass.async_block_till_done()
    for key in ("analysis_fps", "buffer_seconds", "buffer_memory"):  # polled every 30 s
        await async_update_entity(hass, ids[key])
    assert float(hass.states.get(ids["analysis_fps"]).state) > 0  # analysed all along
    assert float(hass.states.get(ids["buffer_seconds"]).state) > 0  # the pre-event buffer fills
    assert float(hass.states.get(ids["buffer_memory"]).state) > 0


async def _image_bytes(hass: HomeAssistant, entity_id: str) -> bytes:
    component = hass.data["image"]
    entity = component.get_entity(entity_id)
    data = await entity.async_image()
    assert data is not None
    return data


async def test_switch_and_sensitivity(hass: HomeAssistant, media_dir: Path) -> None:
    """Turning detection off keeps motion off; sensitivity reaches the detector."""
    video = make_h264_file(media_dir / "busy.mp4", seconds=3.0, fps=15)
    entry = await _camera_station(hass, media_dir, str(video))
    ids = _entity_ids(hass, entry)
    device = next(iter(entry.runtime_data.devices.values()))
    assert hass.states.get(ids["motion_detection"]).state == STATE_ON
    assert float(hass.states.get(ids["sensitivity"]).state) == 50

    await hass.services.async_call(
        "number", "set_value", {"entity_id": ids["sensitivity"], "value": 80}, blocking=True
    )
    assert float(hass.states.get(ids["sensitivity"]).state) == 80
    await wait_until(lambda: device.pipeline.detector.config.sensitivity == 80)

    await wait_until(lambda: hass.states.get(ids["motion"]).state == STATE_ON)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": ids["motion_detection"]}, blocking=True
    )
    assert hass.states.get(ids["motion_detection"]).state == STATE_OFF
    await wait_until(lambda: hass.states.get(ids["motion"]).state == STATE_OFF)
    await asyncio.sleep(1.0)  # a busy scene, yet nothing is reported while detection is off
    assert hass.states.get(ids["motion"]).state == STATE_OFF
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": ids["motion_detection"]}, blocking=True
    )
    await wait_until(lambda: hass.states.get(ids["motion"]).state == STATE_ON)


async def test_offline_camera_and_repair(
    hass: HomeAssistant,
    media_dir: Path,
    rtsp_camera: Any,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A camera down for 10 minutes raises a repair naming the donor; it clears when back."""
    server = rtsp_camera()
    entry = await _camera_station(hass, media_dir, server.url)
    ids = _entity_ids(hass, entry)
    device = next(iter(entry.runtime_data.devices.values()))
    device.pipeline.reader.offline_after = 1.0  # declare the outage quickly
    await wait_until(lambda: hass.states.get(ids["status"]).state == "streaming")
    issue_id = offline_issue_id(device.subentry_id)

    caplog.set_level(logging.WARNING)
    server.stop()
    await wait_until(lambda: hass.states.get(ids["status"]).state == "offline", within=30)
    assert hass.states.get(ids["camera"]).state == STATE_UNAVAILABLE
    assert hass.states.get(ids["motion"]).state == STATE_UNAVAILABLE
    assert hass.states.get(ids["status"]).attributes["reason"] == "cannot_connect"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "camera_offline"
    assert issue.translation_placeholders["donor"] == "Hộ ông Nguyễn Văn An"
    assert issue.translation_placeholders["address"] == "Thôn 3, xã Ngũ Đoan"
    unavailable_logs = [r for r in caplog.records if "is unavailable" in r.getMessage()]
    assert len(unavailable_logs) == 1  # said once, not at every retry

    server.restart()
    await wait_until(lambda: hass.states.get(ids["status"]).state == "streaming", within=60)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(ids["camera"]).state == "streaming"
    assert int(hass.states.get(ids["reconnects"]).state) >= 1  # the stream that ended, retried


async def test_wrong_password_repair(
    hass: HomeAssistant, media_dir: Path, rtsp_camera: Any, issue_registry: ir.IssueRegistry
) -> None:
    """A camera whose password changed gets the repair that says so."""
    server = rtsp_camera(username="admin", password="new-password")
    data = camera_data(server.url, username="admin", password="old-password")
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, data)])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    ids = _entity_ids(hass, entry)
    await wait_until(lambda: hass.states.get(ids["status"]).state == "offline")
    assert hass.states.get(ids["status"]).attributes["reason"] == "invalid_auth"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    device = next(iter(entry.runtime_data.devices.values()))
    issue = issue_registry.async_get_issue(DOMAIN, offline_issue_id(device.subentry_id))
    assert issue is not None
    assert issue.translation_key == "camera_offline_auth"

    # Removing the camera withdraws its issue.
    hass.config_entries.async_remove_subentry(entry, device.subentry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, offline_issue_id(device.subentry_id)) is None


async def test_masks_and_zones(hass: HomeAssistant, media_dir: Path) -> None:
    """A mask over the block's path, or a zone away from it, keeps motion off; none: on."""
    video = make_h264_file(media_dir / "busy.mp4", seconds=3.0, fps=15)
    cameras = [
        camera_data(str(video), name="Không che"),
        camera_data(str(video), name="Che giữa", motion_masks="0,30 100,30 100,70 0,70"),
        camera_data(str(video), name="Chỉ góc trên", motion_zones="0,0 100,0 100,15 0,15"),
    ]
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, data) for data in cameras])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    motion = {device.config.name: device for device in entry.runtime_data.devices.values()}
    await wait_until(lambda: motion["Không che"].motion.motion)
    await asyncio.sleep(1.0)
    assert not motion["Che giữa"].motion.motion
    assert not motion["Chỉ góc trên"].motion.motion
    assert motion["Che giữa"].health.state is StreamState.STREAMING


def test_every_engine_state_and_reason_has_a_translated_sensor_state(
    translations: dict[str, dict[str, Any]],
) -> None:
    """The HA layer names every reader state and problem; each name is translated."""
    from custom_components.anninh.engine.source import StreamProblem
    from custom_components.anninh.engine.stream import StreamState
    from custom_components.anninh.sensor import STATUS_REASONS, STATUS_STATES

    assert set(STATUS_STATES) == set(StreamState)
    assert set(STATUS_REASONS) == set(StreamProblem)
    for lang in ("en", "vi"):
        status = translations[lang]["entity"]["sensor"]["status"]
        assert set(status["state"]) == set(STATUS_STATES.values())
        assert set(status["state_attributes"]["reason"]["state"]) == set(STATUS_REASONS.values())
