"""The 24/7 recording over HTTP: a camera's timeline, and playback of any range as one MP4.

Both views are authenticated (a user's token, or a URL the media browser signed):

* ``GET /api/anninh/timeline/<entry_id>/<camera folder>?day=YYYY-MM-DD`` (a local day) or
  ``?start=&end=`` (epoch seconds or ISO 8601): segments, gaps, motion (with the motion going on
  now), and the marks and clips of the range, as JSON. For the duty officer's console.
* ``GET /api/anninh/playback/<entry_id>/<camera folder>?start=&end=``, or
  ``.../<camera folder>/<start>-<end>.mp4`` (epoch seconds: the form the media browser resolves
  to, which Home Assistant signs: it signs no URL with a query): the range joined or cut by stream
  copy into ``<recordings>/.cache/`` (at most `MAX_PLAYBACK`), served with range requests so
  players can seek. A cut that ends before the newest video is kept and served again; the cache
  is emptied of files older than a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .engine.archive import NothingToCut, save_range
from .engine.sidecar import utc_iso
from .engine.storage import InvalidIdentifier, find_clips, resolve
from .station import AnNinhConfigEntry, Station

TIMELINE_URL = "/api/anninh/timeline"
PLAYBACK_URL = "/api/anninh/playback"
CACHE_FOLDER = ".cache"
CACHE_AGE = 86400.0
LIVE_REUSE = 30.0  # s a cut reaching the present is served again before it is cut anew
MAX_PLAYBACK = timedelta(hours=3)
MAX_TIMELINE = timedelta(days=7)


def _station(hass: HomeAssistant, entry_id: str) -> Station:
    entry: AnNinhConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or not hasattr(entry, "runtime_data"):
        raise web.HTTPNotFound
    return entry.runtime_data


def _moment(text: str) -> float:
    """Epoch seconds from epoch seconds or ISO 8601 (local time if no offset)."""
    try:
        return float(text)
    except ValueError:
        pass
    parsed = dt_util.parse_datetime(text)
    if parsed is None:
        raise web.HTTPBadRequest(text="start and end: epoch seconds or ISO 8601")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_util.get_default_time_zone())
    return parsed.timestamp()


_SPAN = re.compile(r"(\d{1,12})-(\d{1,12})\.mp4")


def _range(request: web.Request, longest: timedelta, span: str = "") -> tuple[float, float]:
    query = request.query
    if span:
        if (match := _SPAN.fullmatch(span)) is None:
            raise web.HTTPNotFound
        query = {"start": match.group(1), "end": match.group(2)}  # type: ignore[assignment]
    if day := query.get("day"):
        try:
            date = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError as err:
            raise web.HTTPBadRequest(text="day: YYYY-MM-DD") from err
        lo = dt_util.start_of_local_day(date)
        return lo.timestamp(), dt_util.start_of_local_day(date + timedelta(days=1)).timestamp()
    if "start" not in query or "end" not in query:
        raise web.HTTPBadRequest(text="start and end, or day")
    start, end = _moment(query["start"]), _moment(query["end"])
    if not start < end <= start + longest.total_seconds():
        raise web.HTTPBadRequest(text=f"end after start, at most {longest} later")
    return start, end


async def _camera(hass: HomeAssistant, station: Station, camera: str) -> None:
    """404 unless `camera` is a camera folder of the station (traversal refused)."""
    if camera.startswith(".") or "/" in camera:
        raise web.HTTPNotFound
    try:
        await hass.async_add_executor_job(resolve, station.settings.recordings_dir, camera, "dir")
    except InvalidIdentifier as err:
        raise web.HTTPNotFound from err


def _marks(station: Station, camera: str, start: float, end: float) -> list[dict[str, Any]]:
    """Marks and clips of a camera that overlap the range (blocking)."""
    root = station.settings.recordings_dir
    tz = dt_util.get_default_time_zone()
    lo, hi = dt_util.utc_from_timestamp(start), dt_util.utc_from_timestamp(end)
    found = []
    for entry in find_clips(root, camera, lo, hi, tz, overlapping=True):
        sidecar = entry.sidecar
        if sidecar is None:
            continue
        found.append(
            {
                "clip_id": entry.clip_id,
                "kind": entry.kind,
                "start": utc_iso(sidecar.start),
                "end": utc_iso(sidecar.end),
                "trigger": sidecar.trigger.kind,
                "reason": sidecar.reason,
                "case_number": sidecar.case_number,
                "evidence": sidecar.evidence is not None,
            }
        )
    return sorted(found, key=lambda item: str(item["start"]))


class TimelineView(HomeAssistantView):
    """A camera's segments, gaps, motion and marks for a day or a range."""

    url = TIMELINE_URL + "/{entry_id}/{camera}"
    name = "api:anninh:timeline"

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to hass."""
        self.hass = hass

    async def get(self, request: web.Request, entry_id: str, camera: str) -> web.Response:
        """The timeline as JSON (times as epoch seconds)."""
        station = _station(self.hass, entry_id)
        await _camera(self.hass, station, camera)
        start, end = _range(request, MAX_TIMELINE)
        timeline = await self.hass.async_add_executor_job(
            station.archive_index().timeline, camera, start, end
        )
        body = timeline.as_dict()
        device = station.cameras_by_folder().get(camera)
        archive_camera = device.archive_camera if device else None
        now = archive_camera.motion_now() if archive_camera is not None else None
        if now is not None and now.start < end:
            body["motion"].append([round(now.start, 3), round(min(now.end, end), 3)])
        body["camera"] = device.config.name if device else camera
        body["marks"] = await self.hass.async_add_executor_job(_marks, station, camera, start, end)
        return self.json(body)


class PlaybackView(HomeAssistantView):
    """Any range of a camera's 24/7 recording as one MP4 (seekable)."""

    url = PLAYBACK_URL + "/{entry_id}/{camera}"
    extra_urls = [PLAYBACK_URL + "/{entry_id}/{camera}/{span}"]  # noqa: RUF012 - as HA types it
    name = "api:anninh:playback"

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to hass."""
        self.hass = hass
        self._locks: dict[Path, asyncio.Lock] = {}

    async def get(
        self, request: web.Request, entry_id: str, camera: str, span: str = ""
    ) -> web.FileResponse:
        """Cut the range once (players ask again for each seek) and serve it."""
        station = _station(self.hass, entry_id)
        await _camera(self.hass, station, camera)
        start, end = _range(request, MAX_PLAYBACK, span)
        root = station.settings.recordings_dir
        path = root / CACHE_FOLDER / f"{camera}_{round(start * 1000)}_{round(end * 1000)}.mp4"
        async with self._locks.setdefault(path, asyncio.Lock()):
            try:
                await self.hass.async_add_executor_job(
                    _cut_cached, station, camera, start, end, path
                )
            except NothingToCut as err:
                raise web.HTTPNotFound(text="no video in this range") from err
        if len(self._locks) > 256:
            self._locks = {p: lock for p, lock in self._locks.items() if lock.locked()}
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


def _cut_cached(station: Station, camera: str, start: float, end: float, path: Path) -> None:
    """Cut unless the same range is cached: complete, or cut in the last `LIVE_REUSE` s."""
    index = station.archive_index()
    complete = path.with_name(path.name + ".complete")
    with contextlib.suppress(OSError):
        if complete.exists() or time.time() - path.stat().st_mtime < LIVE_REUSE:
            return
    extent = index.extent(camera)
    path.parent.mkdir(exist_ok=True)
    now = time.time()
    for old in path.parent.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > CACHE_AGE:
                old.unlink()
    device = station.cameras_by_folder().get(camera)
    recorder = device.recorder if device else None
    save_range(
        station.settings.recordings_dir,
        index,
        camera,
        start,
        end,
        path,
        recorder.ring if recorder else None,
        recorder.wall if recorder else None,
    )
    if extent is not None and end <= extent[1]:  # nothing more will come for this range
        complete.touch()


def async_register_views(hass: HomeAssistant) -> None:
    """Register the timeline and playback views."""
    hass.http.register_view(TimelineView(hass))
    hass.http.register_view(PlaybackView(hass))
