"""Media browser for recordings: Station → camera → day → clips (newest first, with thumbnails),
and Station → camera → 24/7 recording → day → hour (each hour with its minutes of motion).

Identifiers are `<entry_id>/<camera>/<day>/<file>`, and `<entry_id>/<camera>/@24h/<day>/<start>-
<end>` (epoch seconds) for an hour of the 24/7 recording, played through the playback view, like
a mark (a sidecar alone). Every path is checked by
`engine.storage.resolve`, which refuses `..`, absolute paths, encoded separators, hidden files
and symlinks leading out of the recordings folder. Files are served by an authenticated view
(the frontend signs the URL), and thumbnails are drawn from a clip's first key frame on demand.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import av
from aiohttp import web
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .devices.camera import CameraDevice
from .engine.archive import hour_spans
from .engine.storage import (
    MARK_KIND,
    SIDECAR_SUFFIX,
    ClipEntry,
    InvalidIdentifier,
    list_cameras,
    list_clips,
    list_days,
    load_sidecar,
    resolve,
)
from .playback import PLAYBACK_URL
from .station import AnNinhConfigEntry, Station

MEDIA_URL = "/api/anninh/media"
THUMBNAIL_URL = "/api/anninh/thumbnail"
MIME_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
THUMBNAIL_WIDTH = 320
# Clip titles are plain text (the media browser does not translate them): HA's language.
TRIGGER_WORDS = {
    "vi": {"bell": "chuông báo động", "motion": "chuyển động", "manual": "ghi thủ công"},
    "en": {"bell": "bell", "motion": "motion", "manual": "manual"},
}
SNAPSHOT_WORDS = {"vi": "ảnh chụp", "en": "snapshot"}
MARK_WORDS = {"vi": "đánh dấu", "en": "marked"}
CONTINUOUS_WORDS = {"vi": "Ghi hình 24/7", "en": "24/7 recording"}
MOTION_MINUTES = {"vi": "{} phút chuyển động", "en": "{} min motion"}
CONTINUOUS = "@24h"  # not a folder name `resolve` accepts: no clash with a day folder


def _language(hass: HomeAssistant) -> str:
    return "vi" if hass.config.language.lower().startswith("vi") else "en"


def _camera_names(station: Station) -> dict[str, str]:
    """Camera folder -> the camera's name, for titles (a folder of a removed camera: itself)."""
    return {
        device.folder: device.config.name
        for device in station.devices.values()
        if isinstance(device, CameraDevice)
    }


async def async_get_media_source(hass: HomeAssistant) -> AnNinhMediaSource:
    """Register the file views and return the source."""
    hass.http.register_view(RecordingView(hass))
    hass.http.register_view(ThumbnailView(hass))
    return AnNinhMediaSource(hass)


def _station(hass: HomeAssistant, entry_id: str) -> Station:
    entry: AnNinhConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or not hasattr(entry, "runtime_data"):
        raise Unresolvable(f"Unknown station {entry_id}")
    return entry.runtime_data


async def _resolve(hass: HomeAssistant, entry_id: str, location: str, kind: str) -> Path:
    station = _station(hass, entry_id)
    try:
        return await hass.async_add_executor_job(
            resolve, station.settings.recordings_dir, location, kind
        )
    except InvalidIdentifier as err:
        raise Unresolvable(f"Invalid location: {err}") from err


class AnNinhMediaSource(MediaSource):
    """The stations' recordings and snapshots."""

    name = "An Ninh"

    def __init__(self, hass: HomeAssistant) -> None:
        """One source for every station."""
        super().__init__(DOMAIN)
        self.hass = hass

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A clip's URL (signed by the frontend) and its MIME type; a range's playback URL."""
        entry_id, _, location = item.identifier.partition("/")
        parts = location.split("/")
        if len(parts) == 4 and parts[1] == CONTINUOUS:
            await _resolve(self.hass, entry_id, parts[0], "dir")
            start, _, end = parts[3].partition("-")
            if not (start.isdigit() and end.isdigit()):
                raise Unresolvable("Invalid range")
            return _playback(entry_id, parts[0], int(start), int(end))
        path = await _resolve(self.hass, entry_id, location, "file")
        if path.suffix == SIDECAR_SUFFIX:  # a mark: its range of the 24/7 recording
            try:
                mark = await self.hass.async_add_executor_job(load_sidecar, path)
            except (OSError, ValueError) as err:
                raise Unresolvable("Not a recording") from err
            if mark.kind != MARK_KIND:
                raise Unresolvable("Not a recording")
            return _playback(
                entry_id,
                mark.camera_id,
                math.floor(mark.start.timestamp()),
                math.ceil(mark.end.timestamp()),
            )
        if (mime := MIME_TYPES.get(path.suffix)) is None:
            raise Unresolvable("Not a recording")
        return PlayMedia(f"{MEDIA_URL}/{entry_id}/{location}", mime)

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Walk station → camera → day → clips."""
        identifier = item.identifier or ""
        if not identifier:
            return self._root()
        entry_id, _, location = identifier.partition("/")
        try:
            station = _station(self.hass, entry_id)
        except Unresolvable as err:
            raise BrowseError(str(err)) from err
        parts = location.split("/") if location else []
        if len(parts) in (2, 3) and parts[1] == CONTINUOUS:
            try:
                await _resolve(self.hass, entry_id, parts[0], "dir")
            except Unresolvable as err:
                raise BrowseError(str(err)) from err
            if len(parts) == 2:
                return await self._continuous_days(entry_id, parts[0], station)
            return await self._hours(entry_id, parts[0], parts[2], station)
        if len(parts) > 2:
            raise BrowseError("Unknown folder")
        if parts:
            try:
                await _resolve(self.hass, entry_id, location, "dir")
            except Unresolvable as err:
                raise BrowseError(str(err)) from err
        root = station.settings.recordings_dir
        if not parts:
            return await self._cameras(station, entry_id, root)
        if len(parts) == 1:
            return await self._days(entry_id, root, parts[0], station)
        return await self._clips(entry_id, root, parts[0], parts[1], station)

    def _folder(
        self, identifier: str | None, title: str, children: list[BrowseMediaSource]
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.VIDEO,
            title=title,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=MediaClass.VIDEO,
        )

    def _root(self) -> BrowseMediaSource:
        entries: list[AnNinhConfigEntry] = self.hass.config_entries.async_loaded_entries(DOMAIN)
        return self._folder(
            None,
            self.name,
            [
                self._folder(entry.entry_id, entry.title, [])
                for entry in sorted(entries, key=lambda e: e.title)
            ],
        )

    async def _cameras(self, station: Station, entry_id: str, root: Path) -> BrowseMediaSource:
        names = _camera_names(station)
        folders = await self.hass.async_add_executor_job(list_cameras, root)
        return self._folder(
            entry_id,
            station.settings.name,
            [self._folder(f"{entry_id}/{f}", names.get(f, f), []) for f in folders],
        )

    async def _days(
        self, entry_id: str, root: Path, camera: str, station: Station
    ) -> BrowseMediaSource:
        days = await self.hass.async_add_executor_job(list_days, root, camera)
        days.sort(reverse=True)
        children = [self._folder(f"{entry_id}/{camera}/{day}", day, []) for day in days]
        extent = await self.hass.async_add_executor_job(station.archive_index().extent, camera)
        if extent is not None:
            title = CONTINUOUS_WORDS[_language(self.hass)]
            children.insert(0, self._folder(f"{entry_id}/{camera}/{CONTINUOUS}", title, []))
        return self._folder(
            f"{entry_id}/{camera}", _camera_names(station).get(camera, camera), children
        )

    async def _continuous_days(
        self, entry_id: str, camera: str, station: Station
    ) -> BrowseMediaSource:
        tz = dt_util.get_default_time_zone()
        days = await self.hass.async_add_executor_job(station.archive_index().days, camera, tz)
        base = f"{entry_id}/{camera}/{CONTINUOUS}"
        return self._folder(
            base,
            " · ".join(
                (_camera_names(station).get(camera, camera), CONTINUOUS_WORDS[_language(self.hass)])
            ),
            [self._folder(f"{base}/{day}", day, []) for day in days],
        )

    async def _hours(
        self, entry_id: str, camera: str, day: str, station: Station
    ) -> BrowseMediaSource:
        try:
            date = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError as err:
            raise BrowseError("Unknown day") from err
        lo = dt_util.start_of_local_day(date)
        hi = dt_util.start_of_local_day(date + timedelta(days=1))
        timeline = await self.hass.async_add_executor_job(
            station.archive_index().timeline, camera, lo.timestamp(), hi.timestamp()
        )
        language = _language(self.hass)
        children = []
        for hour, _video, motion in hour_spans(timeline, dt_util.get_default_time_zone()):
            start = round(hour.timestamp())
            end = round((hour + timedelta(hours=1)).timestamp())
            title = f"{hour:%H}:00–{hour + timedelta(hours=1):%H}:00"
            if motion >= 30:
                title += " · " + MOTION_MINUTES[language].format(round(motion / 60))
            children.append(
                BrowseMediaSource(
                    domain=DOMAIN,
                    identifier=f"{entry_id}/{camera}/{CONTINUOUS}/{day}/{start}-{end}",
                    media_class=MediaClass.VIDEO,
                    media_content_type="video/mp4",
                    title=title,
                    can_play=True,
                    can_expand=False,
                )
            )
        return self._folder(f"{entry_id}/{camera}/{CONTINUOUS}/{day}", day, children)

    async def _clips(
        self, entry_id: str, root: Path, camera: str, day: str, station: Station
    ) -> BrowseMediaSource:
        entries = await self.hass.async_add_executor_job(list_clips, root, camera, day)
        base = await self.hass.async_add_executor_job(root.resolve)  # clips' paths are resolved
        return self._folder(
            f"{entry_id}/{camera}/{day}",
            day,
            [self._clip(entry_id, base, entry) for entry in entries],
        )

    def _clip(self, entry_id: str, base: Path, entry: ClipEntry) -> BrowseMediaSource:
        location = entry.path.relative_to(base).as_posix()
        video = entry.kind in ("video", MARK_KIND)
        start = dt_util.as_local(entry.start).strftime("%H:%M:%S") if entry.start else ""
        sidecar = entry.sidecar
        language = _language(self.hass)
        kind = sidecar.trigger.kind if sidecar else ""
        trigger = TRIGGER_WORDS[language].get(kind, kind)
        what = {"video": "", MARK_KIND: MARK_WORDS[language]}.get(
            entry.kind, SNAPSHOT_WORDS[language]
        )
        details = " · ".join(
            part
            for part in (
                start,
                what,
                trigger,
                sidecar.reason if sidecar else "",
                "⚖" if entry.evidence else "",
            )
            if part
        )
        thumbnail = (
            None
            if entry.kind == MARK_KIND
            else async_sign_path(
                self.hass,
                f"{THUMBNAIL_URL}/{entry_id}/{location}"
                if video
                else f"{MEDIA_URL}/{entry_id}/{location}",
                timedelta(hours=1),
            )
        )
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=f"{entry_id}/{location}",
            media_class=MediaClass.VIDEO if video else MediaClass.IMAGE,
            media_content_type=MIME_TYPES.get(entry.path.suffix, "video/mp4"),
            title=details or entry.path.name,
            can_play=True,
            can_expand=False,
            thumbnail=thumbnail,
        )


def _playback(entry_id: str, camera: str, start: int, end: int) -> PlayMedia:
    """A range of the 24/7 recording (a path without a query: the resolver signs it)."""
    return PlayMedia(f"{PLAYBACK_URL}/{entry_id}/{camera}/{start}-{end}.mp4", "video/mp4")


class RecordingView(HomeAssistantView):
    """Serves a clip or snapshot to an authenticated (or signed) request."""

    url = MEDIA_URL + "/{entry_id}/{location:.*}"
    name = "api:anninh:media"

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to hass."""
        self.hass = hass

    async def get(self, request: web.Request, entry_id: str, location: str) -> web.FileResponse:
        """The file, if it is a recording inside the station's folder."""
        try:
            path = await _resolve(self.hass, entry_id, location, "file")
        except Unresolvable as err:
            raise web.HTTPNotFound from err
        if path.suffix not in MIME_TYPES:
            raise web.HTTPNotFound
        return web.FileResponse(path, headers={"Content-Type": MIME_TYPES[path.suffix]})


@lru_cache(maxsize=256)
def _thumbnail(path: Path, mtime: float) -> bytes:
    """JPEG of a clip's first picture, `THUMBNAIL_WIDTH` wide (blocking)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            image = frame.to_image()  # type: ignore[no-untyped-call]
            image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=75)
            return buffer.getvalue()
    raise ValueError("no picture")


class ThumbnailView(HomeAssistantView):
    """Thumbnail of a clip for the media browser."""

    url = THUMBNAIL_URL + "/{entry_id}/{location:.*}"
    name = "api:anninh:thumbnail"

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to hass."""
        self.hass = hass

    async def get(self, request: web.Request, entry_id: str, location: str) -> web.Response:
        """Decode the first key frame in a worker thread; cached per file version."""
        try:
            path = await _resolve(self.hass, entry_id, location, "file")
        except Unresolvable as err:
            raise web.HTTPNotFound from err
        if path.suffix != ".mp4":
            raise web.HTTPNotFound
        try:
            mtime = (await self.hass.async_add_executor_job(path.stat)).st_mtime
            data = await self.hass.async_add_executor_job(_thumbnail, path, mtime)
        except (OSError, ValueError, av.error.FFmpegError) as err:
            raise web.HTTPNotFound from err
        return web.Response(body=data, content_type="image/jpeg")
