"""Where recordings live: a camera's folder survives a rename, the station's folder is checked.

A camera's folder is given once (the slug of its first name, never `exports`, unique in the
station) and kept through renames; stations from before (1.1) are migrated. A station whose folder
is missing waits (`ConfigEntryNotReady`), and one whose folder My media shows gets a repair that
hides it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from homeassistant.components.media_source import URI_SCHEME, async_browse_media
from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import (
    CONF_FOLDER,
    CONF_RECORDINGS_DIR,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from custom_components.anninh.engine.storage import EXPORTS_FOLDER, find_clips
from custom_components.anninh.ids import visible_folder_issue_id

from .conftest import camera_data, entity_id_of, station_entry, subentry, wait_until


async def _add_camera(hass: HomeAssistant, entry: MockConfigEntry, url: str, name: str) -> str:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], camera_data(url, name=name)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return next(
        s.subentry_id for s in entry.subentries.values() if s.title == name
    )  # the flow's new subentry


async def test_renamed_camera_keeps_its_recordings(
    hass: HomeAssistant, media_dir: Path, video_file: Path
) -> None:
    """A snapshot taken before a rename is found after it, under the new name."""
    assert await async_setup_component(hass, "media_source", {})
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    subentry_id = await _add_camera(hass, entry, str(video_file), "Ngã ba chợ")
    assert entry.subentries[subentry_id].data[CONF_FOLDER] == "nga_ba_cho"
    camera = entity_id_of(hass, subentry_id, "camera", "camera")
    device = entry.runtime_data.devices[subentry_id]
    await wait_until(lambda: device.health.state.value == "streaming")
    before = datetime.now(UTC) - timedelta(seconds=1)
    snap = await hass.services.async_call(
        DOMAIN, "snapshot", {"entity_id": camera}, blocking=True, return_response=True
    )
    snap_id = snap["snapshots"][0]["clip_id"]

    result = await entry.start_subentry_reconfigure_flow(hass, subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], camera_data(str(video_file), name="Chợ Ngũ Đoan (cổng chính)")
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry_id].data[CONF_FOLDER] == "nga_ba_cho"
    device = entry.runtime_data.devices[subentry_id]
    assert device.folder == "nga_ba_cho"

    root = entry.runtime_data.settings.recordings_dir
    found = await hass.async_add_executor_job(
        find_clips, root, device.folder, before, datetime.now(UTC)
    )
    assert [clip.clip_id for clip in found] == [snap_id]
    station = await async_browse_media(hass, f"{URI_SCHEME}{DOMAIN}/{entry.entry_id}")
    assert [child.title for child in station.children] == ["Chợ Ngũ Đoan (cổng chính)"]
    # The evidence export by time range still reaches it (the camera is found by its entity).
    camera = entity_id_of(hass, subentry_id, "camera", "camera")
    exported = await hass.services.async_call(
        DOMAIN,
        "export_evidence",
        {
            "entity_id": camera,
            "start": before.isoformat(),
            "end": datetime.now(UTC).isoformat(),
            "case_number": "VV-2026/21",
        },
        blocking=True,
        return_response=True,
    )
    assert exported["exports"][0]["clips"] == [snap_id]


async def test_folders_are_unique_and_never_exports(
    hass: HomeAssistant, media_dir: Path, video_file: Path
) -> None:
    """Two names with one slug get two folders; a camera called "Exports" does not get theirs."""
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    other = video_file.with_name("other.mp4")
    other.write_bytes(video_file.read_bytes())
    third = video_file.with_name("third.mp4")
    third.write_bytes(video_file.read_bytes())
    first = await _add_camera(hass, entry, str(video_file), "Cổng chợ")
    second = await _add_camera(hass, entry, str(other), "Cong cho")
    exports = await _add_camera(hass, entry, str(third), "Exports")
    folders = [entry.subentries[s].data[CONF_FOLDER] for s in (first, second, exports)]
    assert folders == ["cong_cho", "cong_cho_2", f"{EXPORTS_FOLDER}_2"]


def _clip(root: Path, folder: str, stem: str, camera: str) -> None:
    day = root / folder / "2026-11-30"
    day.mkdir(parents=True, exist_ok=True)
    (day / f"{stem}.jpg").write_bytes(b"\xff\xd8 a picture")
    clip_id = f"{folder}/2026-11-30/{stem}"
    sidecar = {
        "kind": "snapshot",
        "clip_id": clip_id,
        "segments": [clip_id],
        "camera": camera,
        "camera_id": folder,
        "start": "2026-11-30T01:00:00Z",
    }
    (day / f"{stem}.json").write_text(json.dumps(sidecar))


async def test_upgrade_gives_each_camera_its_folder(
    hass: HomeAssistant, media_dir: Path, video_file: Path
) -> None:
    """A 1.1 station whose two cameras shared a folder: the second camera's clips move out."""
    entry = station_entry(
        media_dir,
        [
            subentry(SUBENTRY_CAMERA, camera_data(str(video_file), name="Cổng chợ")),
            subentry(SUBENTRY_CAMERA, camera_data(str(video_file) + "?2", name="Cong cho")),
        ],
    )
    entry.add_to_hass(hass)
    root = Path(entry.data[CONF_RECORDINGS_DIR])
    _clip(root, "cong_cho", "010000_manual", "Cổng chợ")
    _clip(root, "cong_cho", "010500_manual", "Cong cho")
    assert entry.minor_version == 1
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 2
    by_name = {s.title: s.data[CONF_FOLDER] for s in entry.subentries.values()}
    assert by_name == {"Cổng chợ": "cong_cho", "Cong cho": "cong_cho_2"}
    assert sorted(p.name for p in (root / "cong_cho" / "2026-11-30").iterdir()) == [
        "010000_manual.jpg",
        "010000_manual.json",
    ]
    moved = json.loads((root / "cong_cho_2" / "2026-11-30" / "010500_manual.json").read_text())
    assert moved["clip_id"] == moved["segments"][0] == "cong_cho_2/2026-11-30/010500_manual"
    assert (root / "cong_cho_2" / "2026-11-30" / "010500_manual.jpg").is_file()


async def test_missing_folder_waits(hass: HomeAssistant, media_dir: Path) -> None:
    """A folder that is not there (a drive not mounted) is not created: HA retries set-up."""
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    folder = Path(entry.data[CONF_RECORDINGS_DIR])
    folder.rmdir()
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert str(folder) in str(entry.reason)
    assert not folder.exists()


async def test_folder_shown_in_my_media_is_hidden_by_its_repair(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    media_dir: Path,
    video_file: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A station from before, recording into `<media>/anninh`: the repair renames it `.anninh`."""
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    visible = media_dir / "anninh"
    (visible / "cong_cho").mkdir(parents=True)
    (visible / "cong_cho" / "keep.txt").write_text("a clip")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Trạm",
        data={CONF_NAME: "Trạm", CONF_RECORDINGS_DIR: str(visible)},
        subentries_data=[subentry(SUBENTRY_CAMERA, camera_data(str(video_file)))],
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue_id = visible_folder_issue_id(entry.entry_id)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "folder": str(visible),
        "hidden": str(media_dir / ".anninh"),
    }

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    result = await response.json()
    assert result["step_id"] == "confirm"
    assert_translated_issue(result, "recordings_in_my_media")
    response = await client.post(f"/api/repairs/issues/fix/{result['flow_id']}", json={})
    result = await response.json()
    await hass.async_block_till_done()
    assert result["type"] == FlowResultType.CREATE_ENTRY
    assert entry.data[CONF_RECORDINGS_DIR] == str(media_dir / ".anninh")
    assert (media_dir / ".anninh" / "cong_cho" / "keep.txt").read_text() == "a clip"
    assert not visible.exists()
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


def assert_translated_issue(result: object, issue: str) -> None:
    """The repair's step is in both languages (with the placeholders it is shown with)."""
    folder = Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations"
    for lang in ("en", "vi"):
        text = json.loads((folder / f"{lang}.json").read_text())["issues"][issue]
        description = text["fix_flow"]["step"]["confirm"]["description"]
        assert "{folder}" in description, lang
        assert "{hidden}" in description, lang
