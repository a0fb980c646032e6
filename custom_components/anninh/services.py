"""The station's actions, all registered here once for the integration (in `async_setup`).

`announce` (its orchestration lives in `announce.py`), `record`, `snapshot`, `mark_evidence`,
and `export_evidence`. Targets are resolved by `targets.py` for every action.
Everything that touches the disk runs in a worker thread; failures raise translated errors and
leave existing clips alone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .announce import ANNOUNCE_SCHEMA, SERVICE_ANNOUNCE, async_announce
from .console import export_url
from .const import DOMAIN, MAX_PRE_EVENT_SECONDS
from .devices.camera import CameraDevice
from .engine.archive import Member, NothingToCut, cut_evidence
from .engine.evidence import ExportResult, export_evidence
from .engine.recorder import CameraMetadata, Trigger
from .engine.storage import (
    EXPORTS_FOLDER,
    MARK_KIND,
    InvalidIdentifier,
    RecordingError,
    find_clips,
    mark_evidence,
    read_sidecar,
)
from .ids import entity_id_of
from .sounds import async_register_view
from .station import AnNinhConfigEntry, Station
from .targets import async_targeted_entities

ATTR_DURATION = "duration"
ATTR_PRE_EVENT = "pre_event"
ATTR_REASON = "reason"
ATTR_CASE_NUMBER = "case_number"
ATTR_TRIGGER = "trigger"
ATTR_SOURCE = "source"
ATTR_CLIP_IDS = "clip_ids"
ATTR_START = "start"
ATTR_END = "end"
TRIGGERS = ("manual", "bell", "motion")
MAX_EXPORT_RANGE = timedelta(hours=24)

_TARGET = {
    vol.Optional("entity_id"): cv.comp_entity_ids,
    vol.Optional("device_id"): vol.All(cv.ensure_list, [cv.string]),
    vol.Optional("area_id"): vol.All(cv.ensure_list, [cv.string]),
    vol.Optional("floor_id"): vol.All(cv.ensure_list, [cv.string]),
    vol.Optional("label_id"): vol.All(cv.ensure_list, [cv.string]),
}
_WHY = {
    vol.Optional(ATTR_REASON, default=""): cv.string,
    vol.Optional(ATTR_CASE_NUMBER): cv.string,
    vol.Optional(ATTR_TRIGGER, default="manual"): vol.In(TRIGGERS),
    vol.Optional(ATTR_SOURCE): cv.string,
}
RECORD_SCHEMA = vol.Schema(
    {
        **_TARGET,
        **_WHY,
        vol.Optional(ATTR_DURATION, default=30): vol.All(
            vol.Coerce(float), vol.Range(min=1, max=3600)
        ),
        vol.Optional(ATTR_PRE_EVENT): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=MAX_PRE_EVENT_SECONDS)
        ),
    }
)
SNAPSHOT_SCHEMA = vol.Schema({**_TARGET, **_WHY})
MARK_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CLIP_IDS): vol.All(cv.ensure_list, [cv.string], vol.Length(min=1)),
        vol.Required(ATTR_CASE_NUMBER): vol.All(cv.string, vol.Length(min=1, max=64)),
    }
)
EXPORT_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_CLIP_IDS): vol.All(cv.ensure_list, [cv.string], vol.Length(min=1)),
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_CASE_NUMBER): vol.All(cv.string, vol.Length(max=64)),
        vol.Optional(ATTR_REASON, default=""): vol.All(cv.string, vol.Length(max=500)),
    }
)


def _stations(hass: HomeAssistant) -> list[Station]:
    entries: list[AnNinhConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    return [entry.runtime_data for entry in entries]


@callback
def _cameras(hass: HomeAssistant, call: ServiceCall) -> list[CameraDevice]:
    """The anninh cameras a call targets; a named entity that is not one is an error."""
    return [
        entity.device
        for entity in async_targeted_entities(
            hass,
            call,
            CAMERA_DOMAIN,
            every_one_untargeted=False,
            not_ours="not_a_camera",
            none_found="no_camera",
        )
        if isinstance(entity.device, CameraDevice)
    ]


async def _user_name(hass: HomeAssistant, call: ServiceCall) -> str:
    if call.context.user_id and (user := await hass.auth.async_get_user(call.context.user_id)):
        return user.name or user.id
    return ""


async def _trigger(hass: HomeAssistant, call: ServiceCall) -> Trigger:
    kind = call.data.get(ATTR_TRIGGER, "manual")
    source = call.data.get(ATTR_SOURCE) or await _user_name(hass, call)
    return Trigger(kind, source)


def _entity_id(hass: HomeAssistant, camera: CameraDevice) -> str | None:
    return entity_id_of(hass, "camera", camera.subentry_id, "camera")


async def _async_record(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    trigger = await _trigger(hass, call)
    clips: list[JsonValueType] = []
    for camera in _cameras(hass, call):
        handle = await camera.async_record(
            call.data[ATTR_DURATION],
            call.data.get(ATTR_PRE_EVENT),
            trigger,
            call.data[ATTR_REASON],
            call.data.get(ATTR_CASE_NUMBER),
        )
        clips.append(
            {
                "entity_id": _entity_id(hass, camera),
                "camera": camera.config.name,
                "recording_id": handle.recording_id,
                "clip_ids": list[JsonValueType](handle.clip_ids),
                "paths": [str(path) for path in handle.paths],
            }
        )
    return {"clips": clips}


async def _async_snapshot(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    trigger = await _trigger(hass, call)
    snapshots: list[JsonValueType] = []
    for camera in _cameras(hass, call):
        pipeline, recorder = camera.pipeline, camera.recorder
        jpeg = await hass.async_add_executor_job(pipeline.reader.latest_jpeg) if pipeline else None
        if jpeg is None or recorder is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="no_frame",
                translation_placeholders={"camera": camera.config.name},
            )
        try:
            info = await hass.async_add_executor_job(
                partial(
                    recorder.snapshot,
                    jpeg,
                    trigger=trigger,
                    reason=call.data[ATTR_REASON],
                    case_number=call.data.get(ATTR_CASE_NUMBER),
                )
            )
        except RecordingError as err:
            raise camera.storage_error(err.problem) from err
        snapshots.append(
            {
                "entity_id": _entity_id(hass, camera),
                "camera": camera.config.name,
                "clip_id": info.clip_id,
                "path": str(info.path),
                "sha256": info.sha256,
            }
        )
    return {"snapshots": snapshots}


def _station_of_clip(stations: list[Station], clip_id: str) -> Station:
    """The station whose recordings folder holds `clip_id` (file I/O: run in an executor)."""
    for station in stations:
        root = station.settings.recordings_dir
        if (root / (clip_id + ".json")).is_file():
            return station
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_clip",
        translation_placeholders={"clip_id": clip_id},
    )


async def _async_mark_evidence(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    by = await _user_name(hass, call)
    marked: list[JsonValueType] = []
    for clip_id in call.data[ATTR_CLIP_IDS]:
        station = await hass.async_add_executor_job(_station_of_clip, _stations(hass), clip_id)
        try:
            marked += await hass.async_add_executor_job(
                partial(
                    mark_evidence,
                    station.settings.recordings_dir,
                    [clip_id],
                    call.data[ATTR_CASE_NUMBER],
                    by=by,
                )
            )
        except InvalidIdentifier as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_clip",
                translation_placeholders={"clip_id": clip_id},
            ) from err
    return {"marked": marked}


@dataclass(slots=True)
class _ExportPlan:
    """What one station's evidence ZIP holds: clips and marks by id, ranges to cut."""

    clip_ids: list[str] = field(default_factory=list)
    ranges: list[tuple[str, float, float]] = field(default_factory=list)  # folder, start, end


def _plan_of_clips(stations: list[Station], clip_ids: list[str]) -> dict[Station, _ExportPlan]:
    """Clips by id; a mark's range is cut from the 24/7 recording (file I/O: an executor)."""
    plans: dict[Station, _ExportPlan] = {}
    for clip_id in clip_ids:
        station = _station_of_clip(stations, clip_id)
        plan = plans.setdefault(station, _ExportPlan())
        plan.clip_ids.append(clip_id)
        sidecar = read_sidecar(station.settings.recordings_dir, clip_id)
        if sidecar.kind == MARK_KIND:
            plan.ranges.append(
                (sidecar.camera_id, sidecar.start.timestamp(), sidecar.end.timestamp())
            )
    return plans


def _write_export(
    station: Station,
    plan: _ExportPlan,
    dest: Path,
    exporter: str,
    tz: tzinfo,
    case_number: str,
    reason: str,
) -> ExportResult:
    """Cut the ranges and write the ZIP (blocking); raises `NothingToCut` if it holds nothing."""
    root = station.settings.recordings_dir
    workdir = dest.parent / f".{dest.stem}.work"
    cameras = station.cameras_by_folder()
    extra: list[Member] = []
    ranges: list[dict[str, Any]] = []
    try:
        for folder, start, end in dict.fromkeys(plan.ranges):
            camera = cameras.get(folder)
            recorder = camera.recorder if camera else None
            try:
                files, entry = cut_evidence(
                    root,
                    station.archive_index(),
                    folder,
                    start,
                    end,
                    workdir,
                    recorder.metadata if recorder else CameraMetadata(name=folder),
                    exporter,
                    recorder.ring if recorder else None,
                    recorder.wall if recorder else None,
                    tz,
                )
            except NothingToCut:
                continue
            extra += files
            ranges.append(entry)
        if not extra and not plan.clip_ids:
            raise NothingToCut("")
        return export_evidence(
            root,
            plan.clip_ids,
            dest,
            station=station.settings.name,
            exporter=exporter,
            extra=extra,
            ranges=ranges,
            case_number=case_number,
            reason=reason,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _async_export_evidence(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    exporter = await _user_name(hass, call) or "automation"
    tz = dt_util.get_default_time_zone()
    plans: dict[Station, _ExportPlan] = {}
    if clip_ids := call.data.get(ATTR_CLIP_IDS):
        try:
            plans = await hass.async_add_executor_job(_plan_of_clips, _stations(hass), clip_ids)
        except (InvalidIdentifier, ValueError) as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_clip",
                translation_placeholders={"clip_id": str(err)},
            ) from err
    else:
        start: datetime | None = call.data.get(ATTR_START)
        end: datetime | None = call.data.get(ATTR_END)
        if start is None or end is None or end <= start:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="export_needs_clips_or_range"
            )
        start, end = (
            dt_util.as_utc(start.replace(tzinfo=start.tzinfo or tz)),
            dt_util.as_utc(end.replace(tzinfo=end.tzinfo or tz)),
        )
        if end - start > MAX_EXPORT_RANGE:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="range_too_long",
                translation_placeholders={"hours": str(MAX_EXPORT_RANGE // timedelta(hours=1))},
            )
        for camera in _cameras(hass, call):
            station = next(s for s in _stations(hass) if camera.subentry_id in s.devices)
            entries = await hass.async_add_executor_job(
                partial(
                    find_clips,
                    station.settings.recordings_dir,
                    camera.folder,
                    start,
                    end,
                    tz,
                    overlapping=True,
                )
            )
            plan = plans.setdefault(station, _ExportPlan())
            plan.clip_ids += [e.clip_id for e in entries]
            plan.ranges.append((camera.folder, start.timestamp(), end.timestamp()))
    exports: list[JsonValueType] = []
    stamp = dt_util.now().strftime("%Y%m%d-%H%M%S")
    case = call.data.get(ATTR_CASE_NUMBER, "")
    safe_case = "".join(c for c in case if c.isalnum() or c in "-_")[:40]
    for station, plan in plans.items():
        folder = station.settings.recordings_dir / EXPORTS_FOLDER
        dest = folder / f"{stamp}{'_' + safe_case if safe_case else ''}.zip"
        try:
            await hass.async_add_executor_job(partial(folder.mkdir, parents=True, exist_ok=True))
            result = await hass.async_add_executor_job(
                _write_export, station, plan, dest, exporter, tz, case, call.data[ATTR_REASON]
            )
        except NothingToCut as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_clips_in_range"
            ) from err
        except InvalidIdentifier as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_clip",
                translation_placeholders={"clip_id": str(err)},
            ) from err
        except OSError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"folder": str(folder)},
            ) from err
        clip_list: list[JsonValueType] = list(result.clips)
        exports.append(
            {
                "path": str(result.path),
                "download": export_url(station.entry.entry_id, result.path),
                "sha256": result.sha256,
                "clips": clip_list,
                "ranges": [entry["file"] for entry in result.ranges],
            }
        )
    return {"exports": exports}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every anninh action (and the chimes announcements play)."""
    async_register_view(hass)

    async def announce(call: ServiceCall) -> ServiceResponse:
        return await async_announce(hass, call)

    for name, handler, schema in (
        (SERVICE_ANNOUNCE, announce, ANNOUNCE_SCHEMA),
        ("record", _async_record, RECORD_SCHEMA),
        ("snapshot", _async_snapshot, SNAPSHOT_SCHEMA),
        ("mark_evidence", _async_mark_evidence, MARK_SCHEMA),
        ("export_evidence", _async_export_evidence, EXPORT_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema, supports_response=SupportsResponse.OPTIONAL
        )
