"""Recording actions, evidence, retention and the media browser; a real RTSP camera."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from homeassistant.components.media_source import (
    URI_SCHEME,
    Unresolvable,
    async_browse_media,
    async_resolve_media,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import (
    CONF_PRE_EVENT_SECONDS,
    CONF_RETENTION_DAYS,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from custom_components.anninh.engine.evidence import verify
from custom_components.anninh.ids import EVENT_RECORDING_FINISHED, storage_issue_id

from .conftest import camera_data, station_entry, subentry, wait_until

GOP = 1.0  # the test camera's key-frame interval (tests.media default)


@pytest.fixture
async def recording_station(
    hass: HomeAssistant, media_dir: Path, rtsp_camera: Any
) -> tuple[MockConfigEntry, str, Any]:
    """A station whose camera is a real RTSP server, its buffer filled for 3 s."""
    assert await async_setup_component(hass, "media_source", {})
    server = rtsp_camera()
    # Events mode: the clips these tests check (24/7 recording: tests/test_continuous.py).
    data = camera_data(server.url, recording_mode="events")
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, data)])
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_RETENTION_DAYS: 30, CONF_PRE_EVENT_SECONDS: 2}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = next(iter(entry.runtime_data.devices.values()))
    await wait_until(lambda: device.recorder.stats().seconds >= 3.0)
    entity_id = er.async_get(hass).async_get_entity_id(
        "camera", DOMAIN, f"{device.subentry_id}-camera"
    )
    assert entity_id
    return entry, entity_id, device


def _video_seconds(path: Path) -> tuple[float, int]:
    """Duration and decoded frame count of an MP4 (every frame must decode)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.time for frame in container.decode(stream)]
    assert frames
    return frames[-1] - frames[0], len(frames)


async def test_record_with_pre_event(
    hass: HomeAssistant, recording_station: tuple[MockConfigEntry, str, Any]
) -> None:
    """A clip asked at t with pre-event p starts within a GOP of t − p and lasts p + d ± a GOP."""
    entry, entity_id, _ = recording_station
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    response = await hass.services.async_call(
        DOMAIN,
        "record",
        {"entity_id": entity_id, "duration": 2, "pre_event": 1.5, "reason": "Trộm xe máy"},
        blocking=True,
        return_response=True,
    )
    (clip,) = response["clips"]
    assert clip["entity_id"] == entity_id
    # A second call while it runs extends the same clip.
    again = await hass.services.async_call(
        DOMAIN,
        "record",
        {"entity_id": entity_id, "duration": 2},
        blocking=True,
        return_response=True,
    )
    assert again["clips"][0]["recording_id"] == clip["recording_id"]
    await wait_until(lambda: len(finished) >= 1, within=30)
    data = finished[0].data
    assert data["clip_id"] == clip["clip_ids"][0]
    path = Path(data["path"])
    seconds, frames = _video_seconds(path)
    assert 1.5 + 2 - GOP - 0.5 <= seconds <= 1.5 + 2 + 2 * GOP + 0.5
    assert frames >= 15 * 3
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["reason"] == "Trộm xe máy"
    assert sidecar["donor_household"] == "Hộ ông Nguyễn Văn An"
    assert len(sidecar["triggers"]) == 2
    assert path.is_relative_to(entry.runtime_data.settings.recordings_dir)
    await hass.async_block_till_done()
    last = hass.states.get(entity_id.replace("camera.", "sensor.") + "_last_recording")
    assert last.attributes["clip_id"] == clip["clip_ids"][0]
    assert last.attributes["reason"] == "Trộm xe máy"


async def test_snapshot_evidence_export_retention(
    hass: HomeAssistant,
    recording_station: tuple[MockConfigEntry, str, Any],
    hass_admin_user: Any,
) -> None:
    """Snapshot, mark as evidence, export a verifiable ZIP; retention spares evidence."""
    entry, entity_id, _ = recording_station
    root = entry.runtime_data.settings.recordings_dir
    snap = await hass.services.async_call(
        DOMAIN, "snapshot", {"entity_id": entity_id}, blocking=True, return_response=True
    )
    snap_id = snap["snapshots"][0]["clip_id"]
    assert Path(snap["snapshots"][0]["path"]).read_bytes().startswith(b"\xff\xd8")
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    rec = await hass.services.async_call(
        DOMAIN,
        "record",
        {"entity_id": entity_id, "duration": 1, "pre_event": 1},
        blocking=True,
        return_response=True,
    )
    clip_id = rec["clips"][0]["clip_ids"][0]
    await wait_until(lambda: len(finished) >= 1)

    marked = await hass.services.async_call(
        DOMAIN,
        "mark_evidence",
        {"clip_ids": [clip_id], "case_number": "VV-2026/17"},
        blocking=True,
        return_response=True,
    )
    assert marked == {"marked": [clip_id]}
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "mark_evidence",
            {"clip_ids": ["../../etc/passwd"], "case_number": "x"},
            blocking=True,
        )
    assert err.value.translation_key == "unknown_clip"

    exported = await hass.services.async_call(
        DOMAIN,
        "export_evidence",
        {"clip_ids": [clip_id, snap_id], "case_number": "VV-2026/17"},
        blocking=True,
        return_response=True,
    )
    zip_path = Path(exported["exports"][0]["path"])
    report = await hass.async_add_executor_job(verify, zip_path)
    assert report.ok
    with zipfile.ZipFile(zip_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["station"] == entry.title
    # One byte changed: the verifier names the file.
    data = bytearray(zip_path.read_bytes())
    offset = data.find(b"mdat") + 64
    data[offset] ^= 0xFF
    tampered = zip_path.with_name("tampered.zip")
    tampered.write_bytes(bytes(data))
    report = await hass.async_add_executor_job(verify, tampered)
    assert not report.ok
    assert any(name.endswith(".mp4") for name in report.failing)

    by_range = await hass.services.async_call(
        DOMAIN,
        "export_evidence",
        {
            "entity_id": entity_id,
            "start": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
        blocking=True,
        return_response=True,
    )
    assert clip_id in by_range["exports"][0]["clips"]

    # Age every sidecar by 40 days: retention (30 days) deletes all but the evidence clip.
    def age() -> None:
        for sidecar in root.rglob("*.json"):
            if "exports" in sidecar.parts:
                continue
            content = json.loads(sidecar.read_text())
            for key in ("start", "end"):
                if content.get(key):
                    moment = datetime.fromisoformat(content[key].replace("Z", "+00:00"))
                    content[key] = (moment - timedelta(days=40)).isoformat()
            sidecar.write_text(json.dumps(content))

    await hass.async_add_executor_job(age)
    report = await entry.runtime_data.async_retention()
    assert snap_id in report.deleted
    assert clip_id in report.kept_evidence
    assert (root / f"{clip_id}.mp4").is_file()
    assert not (root / f"{snap_id}.jpg").exists()


async def test_unwritable_folder_raises_and_repairs(
    hass: HomeAssistant,
    recording_station: tuple[MockConfigEntry, str, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    """A folder that cannot be written: translated error, repair issue, nothing half-written."""
    entry, entity_id, device = recording_station
    root = entry.runtime_data.settings.recordings_dir
    camera_dir = root / device.folder
    camera_dir.parent.mkdir(parents=True, exist_ok=True)
    camera_dir.write_text("a file where the camera's folder should be")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "record", {"entity_id": entity_id, "duration": 1}, blocking=True
        )
    assert err.value.translation_key == "recording_not_writable"
    issue = issue_registry.async_get_issue(DOMAIN, storage_issue_id(device.subentry_id))
    assert issue is not None
    assert issue.translation_placeholders["camera"] == "Ngã ba chợ"
    assert camera_dir.read_text().startswith("a file")
    assert not [p for p in root.rglob(".*") if not p.name.startswith(".index.sqlite3")]

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "record", {"entity_id": "camera.somebody_else"}, blocking=True
        )
    assert err.value.translation_key == "not_a_camera"


async def test_media_browser(
    hass: HomeAssistant,
    recording_station: tuple[MockConfigEntry, str, Any],
    hass_client: ClientSessionGenerator,
) -> None:
    """Station → camera → day → clips with thumbnails; playable; traversal refused."""
    entry, entity_id, device = recording_station
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    await hass.services.async_call(
        DOMAIN, "record", {"entity_id": entity_id, "duration": 1, "pre_event": 1}, blocking=True
    )
    await wait_until(lambda: len(finished) >= 1)

    root = await async_browse_media(hass, f"{URI_SCHEME}{DOMAIN}")
    (station,) = root.children
    assert station.title == entry.title
    cameras = await async_browse_media(hass, station.media_content_id)
    (camera,) = cameras.children
    assert camera.title == "Ngã ba chợ"
    days = await async_browse_media(hass, camera.media_content_id)
    assert days.title == "Ngã ba chợ"  # the camera's name, not its folder
    (day,) = days.children
    clips = await async_browse_media(hass, day.media_content_id)
    (clip,) = clips.children
    assert clip.can_play
    assert clip.media_content_type == "video/mp4"
    assert "manual" in clip.title
    hass.config.language = "vi"  # a Vietnamese station reads its clip titles in Vietnamese
    (clip_vi,) = (await async_browse_media(hass, day.media_content_id)).children
    assert "ghi thủ công" in clip_vi.title
    assert "manual" not in clip_vi.title
    hass.config.language = "en"

    client = await hass_client()
    resolved = await async_resolve_media(hass, clip.media_content_id, None)
    response = await client.get(resolved.url)
    assert response.status == 200
    body = await response.read()
    assert body[4:8] == b"ftyp"
    thumb = await client.get(clip.thumbnail.split("?")[0])
    assert thumb.status == 200
    assert (await thumb.read()).startswith(b"\xff\xd8")

    base = f"{URI_SCHEME}{DOMAIN}/{entry.entry_id}"
    for bad in (
        "../../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "ngabacho%2F..%2F..%2Fsecret",
        "/etc/passwd",
        "nga_ba_cho/..\\..\\x.mp4",
        "nga_ba_cho/.hidden.mp4",
    ):
        with pytest.raises(Unresolvable):
            await async_resolve_media(hass, f"{base}/{bad}", None)
    outside = Path(hass.config.media_dirs["local"]).parent / "secret.mp4"
    outside.write_bytes(b"secret")
    link = entry.runtime_data.settings.recordings_dir / device.folder / "link.mp4"
    link.symlink_to(outside)
    with pytest.raises(Unresolvable):
        await async_resolve_media(hass, f"{base}/{device.folder}/link.mp4", None)
    for url in (
        f"/api/anninh/media/{entry.entry_id}/..%2F..%2Fsecret.mp4",
        f"/api/anninh/media/{entry.entry_id}/{device.folder}/link.mp4",
        "/api/anninh/media/not-a-station/x.mp4",
        f"/api/anninh/thumbnail/{entry.entry_id}/{device.folder}/link.mp4",
    ):
        assert (await client.get(url)).status in (400, 404)  # HA itself refuses encoded ..


async def test_pre_event_option_applies_live(
    hass: HomeAssistant, recording_station: tuple[MockConfigEntry, str, Any]
) -> None:
    """Changing the station's pre-event seconds reaches the running buffer."""
    entry, _, device = recording_station
    hass.config_entries.async_update_entry(
        entry, options={CONF_RETENTION_DAYS: 30, CONF_PRE_EVENT_SECONDS: 20}
    )
    await hass.async_block_till_done()
    assert device.recorder.pre_event == 20
    assert entry.runtime_data.devices[device.subentry_id] is device


async def test_sub_stream_analysed_main_stream_recorded(
    hass: HomeAssistant, media_dir: Path
) -> None:
    """With a sub-stream, motion reads it while clips are cut from the main stream."""
    from .media import make_h264_file

    main = make_h264_file(media_dir / "main.mp4", width=640, height=360, seconds=3.0)
    sub = make_h264_file(media_dir / "sub.mp4", width=320, height=180, seconds=3.0)
    data = camera_data(str(main), sub_stream_url=str(sub), recording_mode="events")
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, data)])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    device = next(iter(entry.runtime_data.devices.values()))
    assert device.main_reader is not None
    await wait_until(lambda: device.recorder.stats().seconds >= 2.0)
    await wait_until(lambda: device.health.width == 320)
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    entity_id = er.async_get(hass).async_get_entity_id(
        "camera", DOMAIN, f"{device.subentry_id}-camera"
    )
    await hass.services.async_call(
        DOMAIN, "record", {"entity_id": entity_id, "duration": 1, "pre_event": 1}, blocking=True
    )
    await wait_until(lambda: len(finished) >= 1)
    with av.open(finished[0].data["path"]) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (640, 360)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not device.main_reader.running


async def test_export_bad_input(
    hass: HomeAssistant, recording_station: tuple[MockConfigEntry, str, Any]
) -> None:
    """An export needs clips or a real time range; an empty range or unknown clip is named."""
    _, entity_id, _ = recording_station
    now = datetime.now(UTC)
    for data, key in (
        ({"entity_id": entity_id}, "export_needs_clips_or_range"),
        (
            {"entity_id": entity_id, "start": now.isoformat(), "end": now.isoformat()},
            "export_needs_clips_or_range",
        ),
        (
            {
                "entity_id": entity_id,
                "start": (now - timedelta(days=3)).isoformat(),
                "end": (now - timedelta(days=2)).isoformat(),
            },
            "no_clips_in_range",
        ),
        ({"clip_ids": ["nga_ba_cho/2026-01-01/000000_manual"]}, "unknown_clip"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(DOMAIN, "export_evidence", data, blocking=True)
        assert err.value.translation_key == key
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "snapshot", {"entity_id": []}, blocking=True)
    assert err.value.translation_key == "no_camera"


async def test_home_assistant_stop_commits_running_clip(
    hass: HomeAssistant, recording_station: tuple[MockConfigEntry, str, Any]
) -> None:
    """HA stopping (entries are not unloaded then) still commits a clip that is running."""
    _, entity_id, device = recording_station
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    await hass.services.async_call(
        DOMAIN, "record", {"entity_id": entity_id, "duration": 600}, blocking=True
    )
    await wait_until(lambda: device.recorder.active is not None)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await wait_until(lambda: len(finished) >= 1)
    assert Path(finished[0].data["path"]).is_file()
    assert not device.pipeline.reader.running


async def test_media_browser_bad_identifiers(
    hass: HomeAssistant, recording_station: tuple[MockConfigEntry, str, Any]
) -> None:
    """Unknown stations, folders too deep or outside the recordings, and non-media files."""
    from homeassistant.components.media_player.errors import BrowseError

    entry, _, device = recording_station
    root = entry.runtime_data.settings.recordings_dir
    (root / device.folder).mkdir(parents=True, exist_ok=True)
    (root / device.folder / "notes.txt").write_text("not a recording")
    base = f"{URI_SCHEME}{DOMAIN}"
    for bad in (
        f"{base}/not-a-station",
        f"{base}/{entry.entry_id}/a/b/c",
        f"{base}/{entry.entry_id}/..",
        f"{base}/{entry.entry_id}/missing-camera",
    ):
        with pytest.raises(BrowseError):
            await async_browse_media(hass, bad)
    with pytest.raises(Unresolvable):
        await async_resolve_media(hass, f"{base}/{entry.entry_id}/{device.folder}/notes.txt", None)
    empty = await async_browse_media(hass, f"{base}/{entry.entry_id}/{device.folder}")
    assert empty.children == []


async def test_only_the_folder_issue_is_fixable(hass: HomeAssistant) -> None:
    """Any other issue id has no fix flow."""
    from custom_components.anninh.repairs import async_create_fix_flow

    with pytest.raises(ValueError, match="camera_offline"):
        await async_create_fix_flow(hass, "camera_offline_x", None)
