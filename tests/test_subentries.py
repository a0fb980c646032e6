"""Cameras, bells and loudspeakers: add, test-before-configure, reconfigure, remove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.anninh import config_flow
from custom_components.anninh.const import (
    CONF_ADDRESS,
    CONF_LANGUAGE,
    CONF_LINKED_CAMERAS,
    CONF_LINKED_LOUDSPEAKERS,
    CONF_LOCAL_ONLY,
    CONF_LOCATION,
    CONF_PRIORITY,
    CONF_SOURCE,
    CONF_SOURCE_ENTITY,
    CONF_STREAM_URL,
    CONF_SUB_STREAM_URL,
    CONF_TARGETS,
    CONF_VOLUME,
    CONF_WEBHOOK_ID,
    DOMAIN,
    SOURCE_ENTITY,
    SOURCE_WEBHOOK,
    SUBENTRY_BELL,
    SUBENTRY_CAMERA,
    SUBENTRY_LOUDSPEAKER,
)

from .conftest import LOCATION, assert_translated, camera_data, station_entry


def _subentries(entry: MockConfigEntry, kind: str) -> list[Any]:
    return [s for s in entry.subentries.values() if s.subentry_type == kind]


async def _start(hass: HomeAssistant, entry: MockConfigEntry, kind: str) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, f"config_subentries.{kind}")
    return result


async def _configure(hass: HomeAssistant, result: Any, data: dict[str, Any], kind: str) -> Any:
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], data)
    await hass.async_block_till_done()
    assert_translated(result, f"config_subentries.{kind}")
    return result


def _camera_input(url: str, **extra: Any) -> dict[str, Any]:
    data = camera_data(url)
    data.update(extra)
    return data


@pytest.fixture
async def empty_station(hass: HomeAssistant, media_dir: Path) -> MockConfigEntry:
    """A loaded station without devices."""
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


# -- cameras ----------------------------------------------------------------------------------
async def test_add_camera_from_file(
    hass: HomeAssistant,
    empty_station: MockConfigEntry,
    video_file: Path,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A camera whose stream probes fine becomes a subentry and a device, without a reload."""
    runtime = empty_station.runtime_data
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(
        hass,
        result,
        _camera_input(f"file://{video_file}", **{CONF_NAME: "  Cổng chợ "}),
        SUBENTRY_CAMERA,
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (camera,) = _subentries(empty_station, SUBENTRY_CAMERA)
    assert camera.title == "Cổng chợ"
    assert camera.data[CONF_STREAM_URL] == f"file://{video_file}"
    assert camera.data[CONF_LOCATION] == LOCATION
    assert empty_station.runtime_data is runtime  # no reload for the other devices
    device = device_registry.async_get_device(identifiers={(DOMAIN, camera.subentry_id)})
    assert device is not None
    assert device.name == "Cổng chợ"
    assert device.manufacturer == "An Ninh"  # never the donor: personal data
    assert device.model == "Security camera"
    assert camera.subentry_id in device.config_entries_subentries[empty_station.entry_id]
    station_device = device_registry.async_get_device(
        identifiers={(DOMAIN, empty_station.entry_id)}
    )
    assert station_device is not None
    assert device.via_device_id == station_device.id
    assert camera.subentry_id in runtime.devices


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://127.0.0.1/cam", "invalid_url"),
        ("rtsp://", "invalid_url"),
        ("rtsp://127.0.0.1:99999/x", "invalid_url"),
        ("file://relative/path.mp4", "invalid_url"),
        ("/etc/passwd", "invalid_url"),
        ("{media}/missing.mp4", "not_found"),
        ("{media}/garbage.mp4", "unsupported_stream"),
        ("{media}/audio-only.mp4", "unsupported_stream"),
    ],
)
async def test_camera_bad_url(
    hass: HomeAssistant, empty_station: MockConfigEntry, media_dir: Path, url: str, error: str
) -> None:
    """Each unusable address is named for what is wrong with it."""
    (media_dir / "garbage.mp4").write_bytes(b"\x00garbage, not a video\xff" * 500)
    _make_audio_only(media_dir / "audio-only.mp4")
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(
        hass, result, _camera_input(url.format(media=media_dir)), SUBENTRY_CAMERA
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_STREAM_URL: error}
    assert not _subentries(empty_station, SUBENTRY_CAMERA)


def _make_audio_only(path: Path) -> None:
    """A real MP4 with a sound track and no video."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


async def test_camera_network_errors(
    hass: HomeAssistant,
    empty_station: MockConfigEntry,
    refused_port: int,
    silent_tcp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused port is cannot_connect; a server that never answers is timeout."""
    monkeypatch.setattr(config_flow, "PROBE_TIMEOUT_SECONDS", 1.0)
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(
        hass, result, _camera_input(f"rtsp://127.0.0.1:{refused_port}/live"), SUBENTRY_CAMERA
    )
    assert result["errors"] == {CONF_STREAM_URL: "cannot_connect"}
    result = await _configure(hass, result, _camera_input(silent_tcp_server.url()), SUBENTRY_CAMERA)
    assert result["errors"] == {CONF_STREAM_URL: "timeout"}


async def test_camera_rtsp_auth(
    hass: HomeAssistant, empty_station: MockConfigEntry, rtsp_camera: Any, video_file: Path
) -> None:
    """Wrong credentials are invalid_auth; credentials typed into the URL move to their fields."""
    server = rtsp_camera(file=video_file, username="admin", password="p@ss:w/rd")
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(
        hass,
        result,
        _camera_input(server.url, **{CONF_USERNAME: "admin", CONF_PASSWORD: "wrong"}),
        SUBENTRY_CAMERA,
    )
    assert result["errors"] == {CONF_STREAM_URL: "invalid_auth"}
    url_with_credentials = server.url.replace("rtsp://", "rtsp://admin:p%40ss%3Aw%2Frd@")
    result = await _configure(hass, result, _camera_input(url_with_credentials), SUBENTRY_CAMERA)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (camera,) = _subentries(empty_station, SUBENTRY_CAMERA)
    assert camera.data[CONF_STREAM_URL] == server.url
    assert camera.data[CONF_USERNAME] == "admin"
    assert camera.data[CONF_PASSWORD] == "p@ss:w/rd"


async def test_camera_sub_stream_and_duplicate(
    hass: HomeAssistant, empty_station: MockConfigEntry, video_file: Path, media_dir: Path
) -> None:
    """The sub-stream is probed too; the same main stream twice is refused."""
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(
        hass,
        result,
        _camera_input(str(video_file), **{CONF_SUB_STREAM_URL: str(media_dir / "nope.mp4")}),
        SUBENTRY_CAMERA,
    )
    assert result["errors"] == {CONF_SUB_STREAM_URL: "not_found"}
    result = await _configure(
        hass,
        result,
        _camera_input(str(video_file), **{CONF_SUB_STREAM_URL: str(video_file)}),
        SUBENTRY_CAMERA,
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY

    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    result = await _configure(hass, result, _camera_input(str(video_file)), SUBENTRY_CAMERA)
    assert result["errors"] == {CONF_STREAM_URL: "already_configured"}
    result = await _configure(
        hass, result, _camera_input(str(video_file), **{CONF_NAME: ""}), SUBENTRY_CAMERA
    )
    assert result["errors"] == {CONF_NAME: "name_required"}


async def test_reconfigure_camera_keeps_password(
    hass: HomeAssistant,
    media_dir: Path,
    video_file: Path,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A blank password keeps the stored one; the device is renamed, other devices untouched."""
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await _start(hass, entry, SUBENTRY_CAMERA)
    await _configure(
        hass,
        result,
        _camera_input(str(video_file), **{CONF_USERNAME: "u", CONF_PASSWORD: "secret"}),
        SUBENTRY_CAMERA,
    )
    (camera,) = _subentries(entry, SUBENTRY_CAMERA)
    runtime = entry.runtime_data
    old_device = runtime.devices[camera.subentry_id]

    result = await entry.start_subentry_reconfigure_flow(hass, camera.subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert_translated(result, "config_subentries.camera")
    defaults = result["data_schema"]({})
    assert CONF_PASSWORD not in defaults  # never sent back to the browser
    new = _camera_input(str(video_file), **{CONF_NAME: "Cổng trường", CONF_USERNAME: "u"})
    result = await _configure(hass, result, new, SUBENTRY_CAMERA)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    camera = entry.subentries[camera.subentry_id]
    assert camera.title == "Cổng trường"
    assert camera.data[CONF_PASSWORD] == "secret"
    assert entry.runtime_data is runtime
    assert runtime.devices[camera.subentry_id] is not old_device
    device = device_registry.async_get_device(identifiers={(DOMAIN, camera.subentry_id)})
    assert device is not None
    assert device.name == "Cổng trường"


# -- bells ------------------------------------------------------------------------------------
def _bell_input(source: str = SOURCE_WEBHOOK, **extra: Any) -> dict[str, Any]:
    return {
        CONF_NAME: "Trạm y tế",
        CONF_ADDRESS: "Trạm y tế xã",
        CONF_LOCATION: LOCATION,
        CONF_SOURCE: source,
        CONF_PRIORITY: "critical",
        **extra,
    }


async def test_add_webhook_bell(
    hass: HomeAssistant, loaded_station: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """The flow generates a secret webhook id, shows the URL, and links devices."""
    (camera,) = _subentries(loaded_station, SUBENTRY_CAMERA)
    (speaker,) = _subentries(loaded_station, SUBENTRY_LOUDSPEAKER)
    result = await _start(hass, loaded_station, SUBENTRY_BELL)
    options = {
        str(f): f.container if hasattr(f, "container") else None
        for f in result["data_schema"].schema
    }
    assert CONF_LINKED_CAMERAS in options
    result = await _configure(
        hass,
        result,
        _bell_input(
            **{
                CONF_LINKED_CAMERAS: [camera.subentry_id],
                CONF_LINKED_LOUDSPEAKERS: [speaker.subentry_id],
            }
        ),
        SUBENTRY_BELL,
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "webhook"
    url = result["description_placeholders"]["url"]
    assert "/api/webhook/" in url
    webhook_id = url.rsplit("/", 1)[1]
    assert len(webhook_id) >= 32  # 24 random bytes, URL-safe: 192 bits
    result = await _configure(hass, result, {CONF_LOCAL_ONLY: False}, SUBENTRY_BELL)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    bell = next(s for s in _subentries(loaded_station, SUBENTRY_BELL) if s.title == "Trạm y tế")
    assert bell.data[CONF_WEBHOOK_ID] == webhook_id
    assert bell.data[CONF_LOCAL_ONLY] is False
    assert bell.data[CONF_LINKED_CAMERAS] == [camera.subentry_id]
    assert bell.data[CONF_LINKED_LOUDSPEAKERS] == [speaker.subentry_id]
    assert bell.data[CONF_PRIORITY] == "critical"
    assert device_registry.async_get_device(identifiers={(DOMAIN, bell.subentry_id)})


async def test_bell_entity_source_and_reconfigure(
    hass: HomeAssistant, loaded_station: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """A bell can follow another integration's entity, never one of ours; switch sources."""
    own = entity_registry.async_get_or_create(
        "binary_sensor", DOMAIN, "own", config_entry=loaded_station
    )
    other = entity_registry.async_get_or_create("binary_sensor", "zha", "bell-button")
    result = await _start(hass, loaded_station, SUBENTRY_BELL)
    result = await _configure(hass, result, _bell_input(SOURCE_ENTITY), SUBENTRY_BELL)
    assert result["step_id"] == "entity"
    result = await _configure(hass, result, {CONF_SOURCE_ENTITY: own.entity_id}, SUBENTRY_BELL)
    assert result["errors"] == {CONF_SOURCE_ENTITY: "source_loop"}
    result = await _configure(hass, result, {CONF_SOURCE_ENTITY: other.entity_id}, SUBENTRY_BELL)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    bell = next(s for s in _subentries(loaded_station, SUBENTRY_BELL) if s.title == "Trạm y tế")
    assert bell.data[CONF_SOURCE_ENTITY] == other.entity_id
    assert CONF_WEBHOOK_ID not in bell.data

    # Switch to a webhook: a fresh id is made; regenerating makes another one.
    result = await loaded_station.start_subentry_reconfigure_flow(hass, bell.subentry_id)
    assert result["step_id"] == "reconfigure"
    assert_translated(result, "config_subentries.bell")
    result = await _configure(hass, result, _bell_input(SOURCE_WEBHOOK), SUBENTRY_BELL)
    first_url = result["description_placeholders"]["url"]
    result = await _configure(
        hass, result, {CONF_LOCAL_ONLY: True, "regenerate_webhook": True}, SUBENTRY_BELL
    )
    assert result["step_id"] == "webhook"
    second_url = result["description_placeholders"]["url"]
    assert second_url != first_url
    result = await _configure(
        hass, result, {CONF_LOCAL_ONLY: True, "regenerate_webhook": False}, SUBENTRY_BELL
    )
    assert result["reason"] == "reconfigure_successful"
    bell = loaded_station.subentries[bell.subentry_id]
    assert second_url.endswith(bell.data[CONF_WEBHOOK_ID])
    assert CONF_SOURCE_ENTITY not in bell.data

    # Reconfigure again keeping the webhook: the id stays.
    result = await loaded_station.start_subentry_reconfigure_flow(hass, bell.subentry_id)
    result = await _configure(
        hass, result, _bell_input(SOURCE_WEBHOOK, **{CONF_NAME: " "}), SUBENTRY_BELL
    )
    assert result["errors"] == {CONF_NAME: "name_required"}
    result = await _configure(hass, result, _bell_input(SOURCE_WEBHOOK), SUBENTRY_BELL)
    assert second_url == result["description_placeholders"]["url"]


async def test_webhook_url_without_known_url(
    hass: HomeAssistant, loaded_station: MockConfigEntry
) -> None:
    """When HA knows no URL of its own, the flow still shows the path to program."""
    hass.config.internal_url = None
    hass.config.external_url = None
    hass.config.api = None
    assert config_flow.webhook_url(hass, "abc").startswith("/api/webhook/abc")


# -- loudspeakers -----------------------------------------------------------------------------
def _speaker_input(targets: list[str], **extra: Any) -> dict[str, Any]:
    return {
        CONF_NAME: "Loa chợ",
        CONF_ADDRESS: "Chợ xã",
        CONF_LOCATION: LOCATION,
        CONF_TARGETS: targets,
        CONF_VOLUME: 80.0,
        CONF_LANGUAGE: "en",
        **extra,
    }


async def test_loudspeaker_add_reconfigure_remove(
    hass: HomeAssistant,
    loaded_station: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Targets are required and never our own loudspeakers; removal removes the device."""
    own = entity_registry.async_get_or_create(
        "media_player", DOMAIN, "own-speaker", config_entry=loaded_station
    )
    result = await _start(hass, loaded_station, SUBENTRY_LOUDSPEAKER)
    result = await _configure(hass, result, _speaker_input([]), SUBENTRY_LOUDSPEAKER)
    assert result["errors"] == {CONF_TARGETS: "targets_required"}
    result = await _configure(hass, result, _speaker_input([own.entity_id]), SUBENTRY_LOUDSPEAKER)
    assert result["errors"] == {CONF_TARGETS: "target_loop"}
    result = await _configure(
        hass, result, _speaker_input(["media_player.cho"]), SUBENTRY_LOUDSPEAKER
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    speaker = next(
        s for s in _subentries(loaded_station, SUBENTRY_LOUDSPEAKER) if s.title == "Loa chợ"
    )
    assert speaker.data[CONF_VOLUME] == 80
    assert speaker.data[CONF_LANGUAGE] == "en"

    result = await loaded_station.start_subentry_reconfigure_flow(hass, speaker.subentry_id)
    assert_translated(result, "config_subentries.loudspeaker")
    result = await _configure(
        hass,
        result,
        _speaker_input(["media_player.cho", "media_player.dinh"], **{CONF_VOLUME: 50}),
        SUBENTRY_LOUDSPEAKER,
    )
    assert result["reason"] == "reconfigure_successful"
    assert loaded_station.subentries[speaker.subentry_id].data[CONF_TARGETS] == [
        "media_player.cho",
        "media_player.dinh",
    ]

    runtime = loaded_station.runtime_data
    assert hass.config_entries.async_remove_subentry(loaded_station, speaker.subentry_id)
    await hass.async_block_till_done()
    assert device_registry.async_get_device(identifiers={(DOMAIN, speaker.subentry_id)}) is None
    assert speaker.subentry_id not in runtime.devices
    assert loaded_station.runtime_data is runtime
    assert loaded_station.state is ConfigEntryState.LOADED


async def test_remove_every_kind(
    hass: HomeAssistant, loaded_station: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """Removing each subentry removes its device; the station device stays."""
    for subentry_id in list(loaded_station.subentries):
        assert device_registry.async_get_device(identifiers={(DOMAIN, subentry_id)})
        hass.config_entries.async_remove_subentry(loaded_station, subentry_id)
        await hass.async_block_till_done()
        assert device_registry.async_get_device(identifiers={(DOMAIN, subentry_id)}) is None
    assert not loaded_station.runtime_data.devices
    assert device_registry.async_get_device(identifiers={(DOMAIN, loaded_station.entry_id)})


async def test_camera_motion_areas(
    hass: HomeAssistant, empty_station: MockConfigEntry, video_file: Path
) -> None:
    """Zones and masks are checked as polygons in percent; good ones are kept as typed."""
    result = await _start(hass, empty_station, SUBENTRY_CAMERA)
    for bad in ("0,0 100,0", "0,0 100,0 x,y", "0,0 150,0 100,100"):
        result = await _configure(
            hass, result, _camera_input(str(video_file), motion_masks=bad), SUBENTRY_CAMERA
        )
        assert result["errors"] == {"motion_masks": "invalid_polygons"}
    result = await _configure(
        hass,
        result,
        _camera_input(
            str(video_file),
            motion_zones="0,40 100,40 100,100 0,100",
            motion_masks="\n0,0 10,0 10,10\n",
        ),
        SUBENTRY_CAMERA,
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (camera,) = _subentries(empty_station, SUBENTRY_CAMERA)
    assert camera.data["motion_masks"] == "0,0 10,0 10,10"
    device = empty_station.runtime_data.devices[camera.subentry_id]
    assert device.pipeline.detector.config.masks == [[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1)]]
    assert len(device.pipeline.detector.config.zones) == 1
