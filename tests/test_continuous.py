"""24/7 recording in a real Home Assistant: no action needed, marks, any range exported,
the media browser by day and hour, the timeline and playback API, modes, and the disk budget."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import time
import zipfile
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import av
import pytest
from homeassistant.components.media_source import (
    URI_SCHEME,
    async_browse_media,
    async_resolve_media,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import (
    CONF_MIN_FREE_GB,
    CONF_PRE_EVENT_SECONDS,
    CONF_RETENTION_DAYS,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from custom_components.anninh.engine import archive
from custom_components.anninh.engine.evidence import verify
from custom_components.anninh.ids import (
    EVENT_RECORDING_FINISHED,
    archive_issue_id,
    disk_issue_id,
)

from .conftest import camera_data, entity_id_of, station_entry, subentry, wait_until

SEGMENT = 3.0  # s: short segments, so that a few seconds of video cross their boundaries


@pytest.fixture(autouse=True)
def short_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "SEGMENT_SECONDS", SEGMENT)


@pytest.fixture
async def station_24h(
    hass: HomeAssistant, media_dir: Path, rtsp_camera: Any
) -> tuple[MockConfigEntry, Any]:
    """A fresh station with one RTSP camera and nothing else: no action, no automation."""
    assert await async_setup_component(hass, "media_source", {})
    server = rtsp_camera()
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(server.url))])
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_RETENTION_DAYS: 30, CONF_PRE_EVENT_SECONDS: 2, CONF_MIN_FREE_GB: 1}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = next(iter(entry.runtime_data.devices.values()))
    return entry, device


def _segments(entry: MockConfigEntry, device: Any) -> list[archive.SegmentRow]:
    return entry.runtime_data.archive_index().segments(device.folder)


def _frames(data: bytes | Path) -> int:
    source: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(source) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


async def test_a_fresh_station_records_without_any_action(
    hass: HomeAssistant, station_24h: tuple[MockConfigEntry, Any]
) -> None:
    entry, device = station_24h
    await wait_until(lambda: sum(r.complete for r in _segments(entry, device)) >= 2, within=30)
    rows = await hass.async_add_executor_job(_segments, entry, device)
    root = entry.runtime_data.settings.recordings_dir
    for row in [r for r in rows if r.complete]:
        assert row.path.startswith(f"{device.folder}/.rec/")
        frames = await hass.async_add_executor_job(_frames, root / row.path)
        assert frames >= (row.end - row.start) * 15 * 0.9
    # Consecutive segments leave no gap.
    assert all(b.start - a.end < 0.5 for a, b in itertools.pairwise(rows))
    diagnostics = device.as_diagnostics()
    assert diagnostics["recording_mode"] == "continuous"
    assert diagnostics["recording"] is True
    await entry.runtime_data.async_retention()
    await hass.async_block_till_done()
    state = hass.states.get(entity_id_of(hass, device.subentry_id, "sensor", "recorded_days"))
    assert state is not None
    assert 0 < float(state.state) < 0.01


async def test_a_bell_marks_a_range_and_any_range_is_exported(
    hass: HomeAssistant,
    station_24h: tuple[MockConfigEntry, Any],
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    entry, device = station_24h
    camera = entity_id_of(hass, device.subentry_id, "camera", "camera")
    await wait_until(lambda: len(_segments(entry, device)) >= 2, within=30)
    finished = async_capture_events(hass, EVENT_RECORDING_FINISHED)
    response = await hass.services.async_call(
        DOMAIN,
        "record",
        {"entity_id": camera, "duration": 2, "trigger": "bell", "reason": "Chuông trạm y tế"},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [clip] = response["clips"]  # type: ignore[misc]
    [mark_id] = clip["clip_ids"]
    await wait_until(lambda: finished, within=10)
    assert finished[0].data["clip_id"] == mark_id
    root = entry.runtime_data.settings.recordings_dir
    # A mark is a sidecar: no second copy of the video.
    assert not list(root.glob(f"{device.folder}/*/*.mp4"))
    sidecar = json.loads((root / f"{mark_id}.json").read_text(encoding="utf-8"))
    assert sidecar["kind"] == "mark"
    assert sidecar["reason"] == "Chuông trạm y tế"
    assert 3.5 <= sidecar["duration"] <= 5

    # Let a few more segments be written, then export a range across their boundaries.
    first_start = _segments(entry, device)[0].start
    await wait_until(lambda: _segments(entry, device)[-1].start > first_start + 3 * SEGMENT)
    rows = _segments(entry, device)
    start, end = rows[0].start + 1.2, rows[2].end - 0.5  # three segments
    result = await hass.services.async_call(
        DOMAIN,
        "export_evidence",
        {
            "entity_id": camera,
            "start": dt_util.utc_from_timestamp(start).isoformat(),
            "end": dt_util.utc_from_timestamp(end).isoformat(),
            "case_number": "VV-2026/12",
            "reason": "Va chạm giao thông",
        },
        blocking=True,
        return_response=True,
    )
    assert result is not None
    [export] = result["exports"]  # type: ignore[misc]
    zip_path = Path(export["path"])
    assert export["download"] == f"/api/anninh/export/{entry.entry_id}/{zip_path.name}"
    report = await hass.async_add_executor_job(verify, zip_path)
    assert report.ok, report.problems
    with zipfile.ZipFile(zip_path) as archive_zip:
        manifest = json.loads(archive_zip.read("manifest.json"))
        assert (manifest["case_number"], manifest["reason"]) == ("VV-2026/12", "Va chạm giao thông")
        [entry_range] = manifest["ranges"]
        assert entry_range["gaps"] == []
        video = archive_zip.read(entry_range["file"])
        assert f"{mark_id}.json" in archive_zip.namelist()  # the mark within the range
    frames = await hass.async_add_executor_job(_frames, video)
    assert frames >= (end - start) * 15 * 0.9
    assert not list(zip_path.parent.glob(".*"))  # the cut's work folder is gone

    # The mark exported by its id: its own range is cut.
    result = await hass.services.async_call(
        DOMAIN, "export_evidence", {"clip_ids": [mark_id]}, blocking=True, return_response=True
    )
    assert result is not None
    assert len(result["exports"][0]["ranges"]) == 1  # type: ignore[index]

    # Media browser: camera → 24/7 recording → today → the hour, playable, seekable.
    base = f"{URI_SCHEME}{DOMAIN}/{entry.entry_id}/{device.folder}"
    camera_node = await async_browse_media(hass, base)
    assert camera_node.children[0].title == "24/7 recording"
    days = await async_browse_media(hass, camera_node.children[0].media_content_id)
    today = dt_util.now().strftime("%Y-%m-%d")
    assert days.children[0].title == today
    hours = await async_browse_media(hass, days.children[0].media_content_id)
    hour = hours.children[-1]
    assert hour.title.startswith(f"{dt_util.now():%H}:00–")
    assert hour.can_play
    resolved = await async_resolve_media(hass, hour.media_content_id, None)
    client = await hass_client()
    whole = await client.get(resolved.url)
    assert whole.status == 200
    body = await whole.read()
    assert await hass.async_add_executor_job(_frames, body) >= 5 * 15
    part = await client.get(resolved.url, headers={"Range": "bytes=0-99"})
    assert part.status == 206
    assert len(await part.read()) == 100
    # The day's clips list the mark, which plays from the 24/7 recording.
    day_node = next(c for c in camera_node.children if c.title == today)
    [mark_item] = (await async_browse_media(hass, day_node.media_content_id)).children
    assert "bell" in mark_item.title
    assert "marked" in mark_item.title
    mark_url = (await async_resolve_media(hass, mark_item.media_content_id, None)).url
    mark_video = await client.get(mark_url)
    assert mark_video.status == 200
    assert await hass.async_add_executor_job(_frames, await mark_video.read()) >= 3 * 15


async def test_timeline_api(
    hass: HomeAssistant,
    station_24h: tuple[MockConfigEntry, Any],
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    entry, device = station_24h
    await wait_until(lambda: len(_segments(entry, device)) >= 2, within=30)
    camera = entity_id_of(hass, device.subentry_id, "camera", "camera")
    await hass.services.async_call(
        DOMAIN, "record", {"entity_id": camera, "duration": 1}, blocking=True
    )
    client = await hass_client()
    url = f"/api/anninh/timeline/{entry.entry_id}/{device.folder}"
    started = time.monotonic()
    response = await client.get(url, params={"day": dt_util.now().strftime("%Y-%m-%d")})
    elapsed = time.monotonic() - started
    assert response.status == 200
    body = await response.json()
    assert body["camera"] == "Ngã ba chợ"
    assert len(body["segments"]) >= 2
    assert body["gaps"][0][0] == body["start"]  # no video before the station started
    [mark] = body["marks"]
    assert mark["kind"] == "mark"
    assert elapsed < 1.0
    for bad in (
        {"day": "2026-13-01"},
        {"start": "x", "end": "y"},
        {"start": "10", "end": "5"},
        {"start": "0", "end": str(30 * 86400)},
    ):
        assert (await client.get(url, params=bad)).status == 400
    for path in (
        f"/api/anninh/timeline/{entry.entry_id}/..%2F..",
        f"/api/anninh/timeline/{entry.entry_id}/.rec",
        f"/api/anninh/timeline/nope/{device.folder}",
        f"/api/anninh/playback/{entry.entry_id}/exports_x?start=1&end=2",
    ):
        assert (await client.get(path, params={"day": "2026-01-01"})).status in (400, 404)
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(url, params={"day": "2026-01-01"})).status == 401
    # ISO 8601 times (local when no offset) give the same timeline as epoch seconds.
    first = body["segments"][0]
    local = dt_util.as_local(dt_util.utc_from_timestamp(first["start"])).replace(tzinfo=None)
    iso = await client.get(
        url,
        params={"start": local.isoformat(), "end": (local + timedelta(seconds=2)).isoformat()},
    )
    assert iso.status == 200
    assert (await iso.json())["segments"][0]["start"] == first["start"]
    playback = f"/api/anninh/playback/{entry.entry_id}/{device.folder}"
    assert (await client.get(playback, params={"start": "1", "end": "2"})).status == 404
    ranged = await client.get(
        playback, params={"start": str(first["start"]), "end": str(first["start"] + 2)}
    )
    assert ranged.status == 200
    assert await hass.async_add_executor_job(_frames, await ranged.read()) >= 15
    for span in ("x.mp4", "1-2.avi", "../1-2.mp4"):
        assert (await client.get(f"{playback}/{span}")).status == 404


async def test_modes_change_per_camera_without_restarting_the_others(
    hass: HomeAssistant, media_dir: Path, video_file: Path
) -> None:
    entry = station_entry(
        media_dir,
        [
            subentry(SUBENTRY_CAMERA, camera_data(str(video_file), name="Cổng chợ")),
            subentry(
                SUBENTRY_CAMERA,
                camera_data(str(video_file) + "?2", name="Bến đò", recording_mode="motion"),
            ),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    station = entry.runtime_data
    gate, ferry = (station.cameras_by_folder()[f] for f in ("cong_cho", "ben_do"))
    assert gate.archive_camera is not None
    assert gate.archive_camera.mode is archive.RecordingMode.CONTINUOUS
    assert ferry.archive_camera is not None
    assert ferry.archive_camera.mode is archive.RecordingMode.MOTION
    subentry_id = ferry.subentry_id
    hass.config_entries.async_update_subentry(
        entry,
        entry.subentries[subentry_id],
        data={**entry.subentries[subentry_id].data, "recording_mode": "events"},
    )
    await hass.async_block_till_done()
    assert station.cameras_by_folder()["cong_cho"] is gate  # untouched
    assert station.cameras_by_folder()["ben_do"].archive_camera is None  # events: clips only


async def test_the_budget_deletes_oldest_first_keeps_evidence_and_says_so(
    hass: HomeAssistant,
    station_24h: tuple[MockConfigEntry, Any],
    issue_registry: ir.IssueRegistry,
) -> None:
    entry, device = station_24h
    camera = entity_id_of(hass, device.subentry_id, "camera", "camera")
    await wait_until(lambda: len(_segments(entry, device)) >= 1, within=30)
    response = await hass.services.async_call(
        DOMAIN, "record", {"entity_id": camera, "duration": 1}, blocking=True, return_response=True
    )
    assert response is not None
    mark_id = response["clips"][0]["clip_ids"][0]  # type: ignore[index]
    await hass.services.async_call(
        DOMAIN,
        "mark_evidence",
        {"clip_ids": [mark_id], "case_number": "VV-1"},
        blocking=True,
    )
    await wait_until(lambda: sum(r.complete for r in _segments(entry, device)) >= 4, within=30)
    protected = [
        r.path
        for r in _segments(entry, device)
        if r.complete and r.start < time.time() - 3  # the mark's range
    ][:1]
    # A budget the disk cannot meet: everything unprotected goes, oldest first.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MIN_FREE_GB: 1_000_000}
    )
    await hass.async_block_till_done()
    result = await hass.async_add_executor_job(entry.runtime_data.archive.sweep)
    await hass.async_block_till_done()
    assert result.forced
    left = [r.path for r in _segments(entry, device) if r.complete]
    assert protected
    assert set(protected) <= set(left)  # the evidence's segments stay
    issue = issue_registry.async_get_issue(DOMAIN, disk_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "disk_too_small"
    assert issue.translation_placeholders["days"] == "7"
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_MIN_FREE_GB: 0})
    await hass.async_block_till_done()
    await hass.async_add_executor_job(entry.runtime_data.archive.sweep)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, disk_issue_id(entry.entry_id)) is None


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@needs_root
async def test_a_full_disk_raises_a_repair_and_recording_resumes(
    hass: HomeAssistant,
    media_dir: Path,
    rtsp_camera: Any,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archive, "RETRY_SECONDS", 1.0)
    disk = media_dir / ".anninh"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]
    await hass.async_add_executor_job(partial(subprocess.run, mount, check=True))
    try:
        server = rtsp_camera()
        entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(server.url))])
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(entry, options={CONF_MIN_FREE_GB: 0})
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        device = next(iter(entry.runtime_data.devices.values()))
        issue_id = archive_issue_id(device.subentry_id)
        await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id), within=60)
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "archive_disk_full"
        assert issue.translation_placeholders["camera"] == "Ngã ba chợ"
        rows = [r for r in _segments(entry, device) if r.complete]
        assert rows
        for row in rows:  # what was written before the disk filled up still plays
            frames = await hass.async_add_executor_job(_frames, disk / row.path)
            assert frames >= (row.end - row.start - 1.1) * 15
        remount = ["mount", "-o", "remount,size=64m", str(disk)]
        await hass.async_add_executor_job(partial(subprocess.run, remount, check=True))
        await wait_until(lambda: not issue_registry.async_get_issue(DOMAIN, issue_id), within=30)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        umount = ["umount", "-l", str(disk)]
        await hass.async_add_executor_job(partial(subprocess.run, umount, check=False))
