"""The station's runtime: its devices, kept in step with the config entry and its subentries.

Adding, changing or removing a donated device touches only that device: the other 59 cameras
keep streaming. Options (retention, pre-event seconds) apply live. Only a change of the station's
own data (name, recordings folder) reloads the entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_time_interval

from .const import DOMAIN, MANUFACTURER
from .devices.base import Device
from .devices.camera import CameraDevice
from .engine.archive import Archive, ArchiveIndex, SweepResult, protections_of
from .engine.storage import Problem, SweepReport, retention_sweep
from .ids import SIGNAL_DEVICES_CHANGED, disk_issue_id
from .kinds import KINDS, device_config, device_model, station_model
from .models import StationSettings

_LOGGER = logging.getLogger(__name__)

type AnNinhConfigEntry = ConfigEntry[Station]
type DeviceAdder = Callable[[Device], None]

RETENTION_INTERVAL = timedelta(hours=1)
RETENTION_FIRST_RUN = 60.0  # s after start, off the busy start-up


class Station:
    """Runtime of one station (config entry): settings, devices, platform hooks."""

    def __init__(self, hass: HomeAssistant, entry: AnNinhConfigEntry) -> None:
        """Read the entry; nothing starts until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.settings = StationSettings.from_entry(entry)
        self.devices: dict[str, Device] = {}
        self._adders: list[tuple[type[Device], DeviceAdder]] = []
        self._data_snapshot = dict(entry.data)
        self._lock = asyncio.Lock()
        self.archive: Archive | None = None
        self.running = False  # from the end of `async_start` to the start of `async_stop`

    # -- lifecycle -------------------------------------------------------------------------
    async def async_start(self) -> None:
        """Register the station's device and start every subentry's device."""
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.entry.entry_id)},
            name=self.settings.name,
            manufacturer=MANUFACTURER,
            model=station_model(self.hass),
        )
        self.archive = await self.hass.async_add_executor_job(self._start_archive)
        for subentry in self.entry.subentries.values():
            await self._async_add_device(subentry)
        self.running = True
        async_dispatcher_send(self.hass, SIGNAL_DEVICES_CHANGED)
        self.entry.async_on_unload(
            async_track_time_interval(self.hass, self._async_retention_job, RETENTION_INTERVAL)
        )
        self.entry.async_on_unload(
            async_call_later(self.hass, RETENTION_FIRST_RUN, self._async_retention_job)
        )

    def _start_archive(self) -> Archive:
        """Open the 24/7 recorder's index, recover what a crash left open, start its writer."""
        root = self.settings.recordings_dir
        archive = Archive(
            root,
            self.settings.policy,
            protections=lambda: protections_of(root),
            on_problem=self._archive_problem_from_thread,
            on_swept=self._swept_from_thread,
        )
        archive.start()
        return archive

    def _archive_problem_from_thread(self, folder: str, problem: Problem | None) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed: HA has stopped
            self.hass.loop.call_soon_threadsafe(self._async_archive_problem, folder, problem)

    def _swept_from_thread(self, result: SweepResult) -> None:
        with contextlib.suppress(RuntimeError):
            self.hass.loop.call_soon_threadsafe(self._async_swept, result)

    def archive_index(self) -> ArchiveIndex:
        """The 24/7 recorder's index (raises `RuntimeError` before start or after stop)."""
        if self.archive is None:
            raise RuntimeError("station not running")
        return self.archive.index

    def cameras_by_folder(self) -> dict[str, CameraDevice]:
        """The running cameras by their folder."""
        return {d.folder: d for d in self.devices.values() if isinstance(d, CameraDevice)}

    @callback
    def _async_archive_problem(self, folder: str, problem: Problem | None) -> None:
        if (camera := self.cameras_by_folder().get(folder)) is not None:
            camera.async_archive_problem(problem)

    @callback
    def _async_swept(self, result: SweepResult) -> None:
        """Days held per camera; tell the admin when the budget cut video before its days."""
        for folder, camera in self.cameras_by_folder().items():
            camera.async_set_recorded_days(result.days_held.get(folder, 0.0))
        issue_id = disk_issue_id(self.entry.entry_id)
        if not result.forced:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        held = min(result.days_held.values(), default=0.0)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="disk_too_small",
            translation_placeholders={
                "days_held": f"{held:.1f}",
                "days": str(self.settings.keep_continuous_days),
                "min_free": str(self.settings.min_free_gb),
                "count": str(len(result.forced)),
                "folder": str(self.settings.recordings_dir),
            },
        )

    async def _async_retention_job(self, _now: datetime) -> None:
        await self.async_retention()

    async def async_retention(self) -> SweepReport:
        """Delete what is past its tier's days (hourly), never what is marked as evidence."""
        settings = self.settings
        if self.archive is not None:
            await self.hass.async_add_executor_job(self.archive.sweep)
        report = await self.hass.async_add_executor_job(
            retention_sweep, settings.recordings_dir, settings.retention_days
        )
        if report.deleted or report.errors:
            _LOGGER.info(
                "Retention: deleted %d clips older than %d days, kept %d evidence clips, %d errors",
                len(report.deleted),
                settings.retention_days,
                len(report.kept_evidence),
                len(report.errors),
            )
        return report

    async def async_stop(self) -> None:
        """Stop every device (at once, each in its own task); on unload and when HA stops."""
        devices, self.devices = list(self.devices.values()), {}
        if self.running:
            self.running = False
            async_dispatcher_send(self.hass, SIGNAL_DEVICES_CHANGED)
        await asyncio.gather(*(device.async_stop() for device in devices))
        if self.archive is not None:
            await self.hass.async_add_executor_job(self.archive.stop)
            self.archive = None

    # -- platforms ---------------------------------------------------------------------------
    @callback
    def async_register_platform(self, device_type: type[Device], adder: DeviceAdder) -> None:
        """Let a platform add entities for every device of a type, now and later."""
        self._adders.append((device_type, adder))
        for device in self.devices.values():
            if isinstance(device, device_type):
                adder(device)

    def devices_of(self, kind: str) -> list[Device]:
        """The running devices of one kind."""
        return [d for d in self.devices.values() if d.kind == kind]

    # -- keeping in step with the entry --------------------------------------------------------
    async def async_entry_updated(self, hass: HomeAssistant, entry: AnNinhConfigEntry) -> None:
        """Update listener: apply options live, reconcile devices, reload on data change."""
        if dict(entry.data) != self._data_snapshot:
            hass.config_entries.async_schedule_reload(entry.entry_id)
            return
        self.settings = StationSettings.from_entry(entry)
        if self.archive is not None:
            self.archive.policy = self.settings.policy
        for running in self.devices.values():
            running.async_apply_settings(self.settings)
        async with self._lock:
            current = entry.subentries
            for subentry_id in [s for s in self.devices if s not in current]:
                await self._async_remove_device(subentry_id)
            for subentry in current.values():
                device = self.devices.get(subentry.subentry_id)
                if device is None:
                    await self._async_add_device(subentry)
                elif device_config(subentry) != device.config:
                    await self._async_remove_device(subentry.subentry_id)
                    await self._async_add_device(subentry)
        async_dispatcher_send(hass, SIGNAL_DEVICES_CHANGED)

    async def _async_add_device(self, subentry: ConfigSubentry) -> None:
        config = device_config(subentry)
        device = KINDS[subentry.subentry_type].runtime(
            self.hass, subentry.subentry_type, config, self.settings
        )
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            config_subentry_id=subentry.subentry_id,
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=config.name,
            # Never the donor household: personal data stays out of the device registry. Set on
            # every start, so this also rewrites devices registered with the donor's name.
            manufacturer=MANUFACTURER,
            model=device_model(self.hass, subentry.subentry_type),
            via_device=(DOMAIN, self.entry.entry_id),
        )
        self.devices[subentry.subentry_id] = device
        if isinstance(device, CameraDevice):
            device.archive = self.archive
        await device.async_start()
        for device_type, adder in self._adders:
            if isinstance(device, device_type):
                adder(device)
        _LOGGER.debug("Started %s %s", device.kind, config.name)

    async def _async_remove_device(self, subentry_id: str) -> None:
        device = self.devices.pop(subentry_id)
        await asyncio.gather(*(entity.async_remove() for entity in list(device.entities)))
        await device.async_stop()
        _LOGGER.debug("Stopped %s %s", device.kind, device.config.name)

    def as_diagnostics(self) -> dict[str, Any]:
        """Runtime facts for diagnostics (no secrets: the caller redacts config)."""
        return {
            "settings": {
                "name": self.settings.name,
                "recordings_dir": str(self.settings.recordings_dir),
                "retention_days": self.settings.retention_days,
                "pre_event_seconds": self.settings.pre_event_seconds,
                "keep_continuous_days": self.settings.keep_continuous_days,
                "keep_motion_days": self.settings.keep_motion_days,
                "min_free_gb": self.settings.min_free_gb,
            },
            "archive": {
                "segments_opened": self.archive.files_opened,
                "fsyncs": self.archive.fsyncs,
            }
            if self.archive
            else None,
            "devices": {
                sid: {
                    "kind": d.kind,
                    "entities": sorted(e.entity_id for e in d.entities),
                    **d.as_diagnostics(),
                }
                for sid, d in self.devices.items()
            },
        }
