"""The duty officer's console on a real Home Assistant: its panel, and the WebSocket API it uses.

The panel's page itself is walked in Chromium by `tests/browser/test_console.py`; here each command
is checked with HA's own websocket client, and live video with a real aiortc peer that decodes
what the relay sends (loopback only, as in `test_webrtc.py`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType
from typing import Any

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from homeassistant.components.frontend import DATA_PANELS
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    MockHAClientWebSocket,
    WebSocketGenerator,
)

from custom_components.anninh.console import PANEL_PATH
from custom_components.anninh.const import DOMAIN, SUBENTRY_CAMERA
from custom_components.anninh.devices.bell import BellDevice
from custom_components.anninh.devices.camera import CameraDevice
from custom_components.anninh.engine.storage import EXPORTS_FOLDER
from custom_components.anninh.ids import EVENT_ALARM_ACKNOWLEDGED
from custom_components.anninh.logbook import describe_alarm_acknowledged

from .conftest import (
    camera_data,
    station_entry,
    subentry,
    wait_until,
)
from .media import make_h264_file
from .test_webrtc import assert_loopback_only, loopback_ice

__all__ = ["loopback_ice"]  # the fixture, used by the live test


async def _event(ws: MockHAClientWebSocket, within: float = 10.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive_json(), within)
    assert message["type"] == "event", message
    event: dict[str, Any] = message["event"]
    return event


async def _subscribe(ws: MockHAClientWebSocket) -> dict[str, Any]:
    await ws.send_json_auto_id({"type": "anninh/console/subscribe"})
    result = await ws.receive_json()
    assert result["success"], result
    return await _event(ws)


def _devices(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [station] = snapshot["stations"]
    return {device["name"]: device for device in station["devices"]}


async def test_the_panel_is_in_the_sidebar_and_the_old_dashboard_goes(
    hass: HomeAssistant,
    station: MockConfigEntry,
    hass_storage: dict[str, Any],
    hass_client: ClientSessionGenerator,
) -> None:
    """A custom panel serving our own module (versioned); the generated dashboard is retired."""
    hass_storage["anninh.dashboard"] = {"version": 1, "key": "anninh.dashboard", "data": {}}
    hass_storage["lovelace.anninh_duty_officer"] = {
        "version": 1,
        "key": "lovelace.anninh_duty_officer",
        "data": {"config": {"views": []}},
    }
    ir.async_create_issue(
        hass,
        DOMAIN,
        "create_dashboard",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="create_dashboard",
    )
    assert await hass.config_entries.async_setup(station.entry_id)
    await hass.async_block_till_done()

    panel = hass.data[DATA_PANELS][PANEL_PATH]
    assert panel.component_name == "custom"
    assert panel.sidebar_title == "Security"
    custom = panel.config["_panel_custom"]
    assert custom["name"] == "anninh-console"
    assert not custom["embed_iframe"]
    module_url = custom["module_url"]
    assert module_url.startswith("/anninh_console/anninh-console.js?v=")
    assert "anninh.dashboard" not in hass_storage
    assert "lovelace.anninh_duty_officer" not in hass_storage
    assert ir.async_get(hass).async_get_issue(DOMAIN, "create_dashboard") is None

    client = await hass_client()
    response = await client.get(module_url)
    assert response.status == 200
    text = await response.text()
    assert 'customElements.define("anninh-console"' in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    assert "https://" not in text


async def test_the_console_follows_the_station_and_its_alarms(
    hass: HomeAssistant,
    loaded_station: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    hass_admin_user: Any,
    video_file: Path,
) -> None:
    """A snapshot, then pushes: a press, an acknowledgement with a note, a device added."""
    entry = loaded_station
    ws = await hass_ws_client(hass)
    snapshot = await _subscribe(ws)
    assert snapshot["type"] == "snapshot"
    devices = _devices(snapshot)
    camera, bell, speaker = (
        devices["Ngã ba chợ"],
        devices["Trạm y tế xã"],
        devices["Loa nhà văn hóa"],
    )
    assert camera["kind"] == "camera"
    assert camera["donor_phone"] == "0912345678"  # the officer calls the household
    assert camera["entity_id"].startswith("camera.")
    assert camera["folder"]
    assert camera["sub_stream"] is False
    assert (bell["kind"], bell["priority"], bell["alarm"]) == ("bell", "high", False)
    assert speaker["entity_id"].startswith("media_player.")
    assert snapshot["stations"][0]["name"] == entry.title

    device = entry.runtime_data.devices[bell["id"]]
    assert isinstance(device, BellDevice)
    device.async_press("press", via="webhook")
    pushed = await _event(ws)
    while pushed["device"]["id"] != bell["id"]:  # camera health or motion may come first
        pushed = await _event(ws)
    assert pushed["type"] == "device"
    assert pushed["device"]["alarm"] is True
    assert pushed["device"]["pressed_at"]

    acknowledged: list[Any] = []
    hass.bus.async_listen(EVENT_ALARM_ACKNOWLEDGED, acknowledged.append)
    note = "  Đã cử tổ tuần tra đến trạm y tế  "
    await ws.send_json_auto_id(
        {"type": "anninh/alarm/acknowledge", "bell": bell["id"], "note": note}
    )
    reply = await ws.receive_json()
    while reply["type"] != "result":
        reply = await ws.receive_json()
    assert reply["success"], reply
    pushed = await _event(ws)
    while pushed["device"]["id"] != bell["id"]:
        pushed = await _event(ws)
    assert pushed["device"]["alarm"] is False
    assert pushed["device"]["acknowledged_by"] == hass_admin_user.name
    assert pushed["device"]["acknowledged_note"] == note.strip()
    await hass.async_block_till_done()
    [event] = acknowledged
    assert event.data["note"] == note.strip()
    hass.config.language = "vi"
    logged = describe_alarm_acknowledged(hass, event)["message"]
    assert logged.endswith(f'"{note.strip()}"'), logged
    alarm_state = hass.states.get(bell["entity_id"])
    assert alarm_state is not None
    assert alarm_state.attributes["acknowledged_note"] == note.strip()

    await ws.send_json_auto_id({"type": "anninh/alarm/acknowledge", "bell": "no-such-bell"})
    reply = await ws.receive_json()
    while reply["type"] != "result":
        reply = await ws.receive_json()
    assert reply["error"]["code"] == "not_found"

    # A camera added in the UI appears in the console without anything else done.
    second = make_h264_file(video_file.with_name("second.mp4"), seconds=2.0)
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(camera_data(str(second), name="Cổng trường")),
            subentry_type=SUBENTRY_CAMERA,
            title="Cổng trường",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    message = await _event(ws)
    while message["type"] != "snapshot":
        message = await _event(ws)
    assert "Cổng trường" in _devices(message)

    # Unloading the station empties the console.
    assert await hass.config_entries.async_unload(entry.entry_id)
    message = await _event(ws)
    while message["type"] != "snapshot":
        message = await _event(ws)
    assert message["stations"] == []


async def _track_frames(track: MediaStreamTrack, frames: list[tuple[int, int]]) -> None:
    while True:
        frame = await track.recv()
        assert isinstance(frame, av.VideoFrame)
        frames.append((frame.width, frame.height))


async def _watch(
    ws: MockHAClientWebSocket, camera: str, small: bool
) -> tuple[RTCPeerConnection, list[tuple[int, int]], int, dict[str, Any]]:
    """A browser stand-in: a complete recvonly offer, the answer from the subscription."""
    pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    frames: list[tuple[int, int]] = []
    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.create_task(_track_frames(track, frames)))

    await pc.setLocalDescription(await pc.createOffer())
    await ws.send_json_auto_id(
        {
            "type": "anninh/live/subscribe",
            "camera": camera,
            "offer": pc.localDescription.sdp,
            "small": small,
        }
    )
    result = await ws.receive_json()
    if not result["success"]:
        await pc.close()
        return pc, frames, result["id"], result["error"]
    event = await _event(ws, 15)
    assert_loopback_only(event["answer"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=event["answer"], type="answer"))
    pc.__dict__["_test_tasks"] = tasks
    return pc, frames, result["id"], event


async def test_tiles_watch_the_sub_stream_and_an_enlarged_tile_the_main_one(
    hass: HomeAssistant,
    media_dir: Path,
    hass_ws_client: WebSocketGenerator,
    loopback_ice: None,
) -> None:
    """Real peers decode the 640×360 sub-stream for a tile, 1280×720 when enlarged; ending
    the subscription ends the session."""
    main = make_h264_file(media_dir / "main.mp4", width=1280, height=720, seconds=3.0)
    sub = make_h264_file(media_dir / "sub.mp4", width=640, height=360, seconds=3.0)
    entry = station_entry(
        media_dir,
        [subentry(SUBENTRY_CAMERA, camera_data(str(main), sub_stream_url=str(sub)))],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    [device] = entry.runtime_data.devices.values()
    assert isinstance(device, CameraDevice)
    assert device.live is not None
    assert device.sub_live is not None
    await wait_until(lambda: device.live.codec and device.sub_live.codec)  # type: ignore[union-attr]

    ws = await hass_ws_client(hass)
    tile, tile_frames, tile_id, answer = await _watch(ws, device.subentry_id, small=True)
    assert answer["small"] is True
    big, big_frames, _big_id, answer = await _watch(ws, device.subentry_id, small=False)
    assert answer["small"] is False
    try:
        await wait_until(lambda: tile_frames and big_frames, within=10)
        assert tile_frames[0] == (640, 360)
        assert big_frames[0] == (1280, 720)
        assert device.sub_live.session_count == 1
        assert device.live.session_count == 1

        await ws.send_json_auto_id({"type": "unsubscribe_events", "subscription": tile_id})
        assert (await ws.receive_json())["success"]
        await wait_until(lambda: device.sub_live.session_count == 0, within=5)  # type: ignore[union-attr]
        assert device.live.session_count == 1
    finally:
        for pc in (tile, big):
            for task in pc.__dict__.get("_test_tasks", []):
                task.cancel()
            await pc.close()

    _pc, _frames, _id, error = await _watch(ws, "no-such-camera", small=True)
    assert error["code"] == "not_found"
    await ws.close()
    await hass.async_block_till_done()
    await wait_until(lambda: device.live.session_count == 0, within=5)  # type: ignore[union-attr]


async def test_saved_announcements(
    hass: HomeAssistant, loaded_station: MockConfigEntry, hass_ws_client: WebSocketGenerator
) -> None:
    """Saved, read back, and a bad one refused."""
    ws = await hass_ws_client(hass)
    await ws.send_json_auto_id({"type": "anninh/console/presets"})
    assert (await ws.receive_json())["result"] == {"presets": None}
    presets = [{"title": "Cháy", "message": "Có cháy ở chợ", "chime": "siren", "language": "vi"}]
    await ws.send_json_auto_id({"type": "anninh/console/presets/save", "presets": presets})
    assert (await ws.receive_json())["success"]
    await ws.send_json_auto_id({"type": "anninh/console/presets"})
    assert (await ws.receive_json())["result"] == {"presets": presets}
    await ws.send_json_auto_id(
        {"type": "anninh/console/presets/save", "presets": [{"title": "x", "message": ""}]}
    )
    reply = await ws.receive_json()
    assert reply["error"]["code"] == "invalid_format"


async def test_evidence_downloads_only_from_the_exports_folder(
    hass: HomeAssistant,
    loaded_station: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A ZIP of the exports folder downloads as an attachment; nothing else does."""
    entry = loaded_station
    root = entry.runtime_data.settings.recordings_dir
    (root / EXPORTS_FOLDER).mkdir(exist_ok=True)
    (root / EXPORTS_FOLDER / "20261202-101500_VV-12.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (root / EXPORTS_FOLDER / "20261202-101600_ĐV-7.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (root / "secret.zip").write_bytes(b"not for download")
    base = f"/api/anninh/export/{entry.entry_id}"
    client = await hass_client()
    response = await client.get(f"{base}/20261202-101500_VV-12.zip")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    response = await client.get(f"{base}/20261202-101600_%C4%90V-7.zip")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="20261202-101600__V-7.zip"; '
        "filename*=UTF-8''20261202-101600_%C4%90V-7.zip"
    )
    for bad in (
        f"{base}/..%2Fsecret.zip",
        f"{base}/%2E%2E%2Fsecret.zip",
        f"{base}/missing.zip",
        f"{base}/.index.sqlite3",
        "/api/anninh/export/not-an-entry/20261202-101500_VV-12.zip",
    ):
        assert (await client.get(bad)).status in (400, 404), bad  # HA filters some first
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(f"{base}/20261202-101500_VV-12.zip")).status == 401


async def test_sidebar_title_follows_the_language(
    hass: HomeAssistant, loaded_station: MockConfigEntry
) -> None:
    """The sidebar says "An ninh" once Home Assistant speaks Vietnamese."""
    assert hass.data[DATA_PANELS][PANEL_PATH].sidebar_title == "Security"
    await hass.config.async_update(language="vi")
    await hass.async_block_till_done()
    assert hass.data[DATA_PANELS][PANEL_PATH].sidebar_title == "An ninh"
