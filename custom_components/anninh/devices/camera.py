"""A camera while the station runs: analysis, pre-event buffer, 24/7 recording, health, repairs."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..engine.archive import Archive, CameraArchive, RecordingMode
from ..engine.live import LiveRelay
from ..engine.motion import MotionConfig
from ..engine.pipeline import CameraPipeline, MotionEvent
from ..engine.recorder import CameraMetadata, ClipHandle, ClipInfo, ClipRef, Recorder, Trigger
from ..engine.source import StreamProblem
from ..engine.storage import Problem, RecordingError
from ..engine.stream import StreamHealth, StreamReader, StreamState
from ..ids import (
    EVENT_RECORDING_FINISHED,
    archive_issue_id,
    entity_id_of,
    offline_issue_id,
    storage_issue_id,
)
from ..models import CameraConfig, StationSettings, parse_polygons
from .base import Device

_LOGGER = logging.getLogger(__name__)

OFFLINE_REPAIR_AFTER = 600.0  # s without video before the admin is told


class CameraDevice(Device):
    """A donated camera: reads its stream and detects motion on a worker thread."""

    config: CameraConfig

    def __init__(
        self, hass: HomeAssistant, kind: str, config: CameraConfig, settings: StationSettings
    ) -> None:
        """Nothing is read until `async_start`."""
        super().__init__(hass, kind, config, settings)
        self.health = StreamHealth(StreamState.RECONNECTING, None, time.time())
        self.motion = MotionEvent(motion=False, score=0.0, boxes=[], lighting_change=False, at=0.0)
        self.pipeline: CameraPipeline | None = None
        self.recorder: Recorder | None = None
        self.main_reader: StreamReader | None = None  # only when a sub-stream is analysed
        self.live: LiveRelay | None = None  # WebRTC viewers of the main stream
        self.sub_live: LiveRelay | None = None  # of the sub-stream, when there is one (tiles)
        self.last_clip: ClipInfo | None = None
        self.archive: Archive | None = None  # the station's 24/7 recorder, set before start
        self.archive_camera: CameraArchive | None = None  # None in ``events`` mode
        self.recorded_days = 0.0
        self._motion_recorded = False  # the last motion state the 24/7 recorder was told
        self._running = False
        self._repair_timer: CALLBACK_TYPE | None = None
        self._reported_unavailable = False

    @property
    def available(self) -> bool:
        """Video and motion entities are unavailable while the camera is offline."""
        return self.health.state is not StreamState.OFFLINE

    @property
    def folder(self) -> str:
        """The camera's folder under the recordings folder (kept through renames)."""
        return self.config.folder

    @property
    def main_stream_reader(self) -> StreamReader:
        """The reader of the main stream (the recorder's and live view's packets)."""
        if self.main_reader is not None:
            return self.main_reader
        assert self.pipeline is not None
        return self.pipeline.reader

    async def async_start(self) -> None:
        """Start the recorder's buffer and the pipeline, each reader on its own thread."""
        config = self.config
        self.recorder = Recorder(
            self.settings.recordings_dir,
            self.folder,
            metadata=CameraMetadata(
                name=config.name,
                donor_household=config.donor_name,
                address=config.address,
                latitude=config.latitude,
                longitude=config.longitude,
            ),
            tz=dt_util.get_default_time_zone(),
            pre_event=self.settings.pre_event_seconds,
            on_clip_finished=self._clip_finished_from_thread,
            on_clip_failed=self._clip_failed_from_thread,
        )
        # Recording takes the main stream; analysis the sub-stream when there is one.
        has_sub_stream = bool(config.sub_stream_url)
        self.pipeline = CameraPipeline(
            config.analysis_source,
            name=config.name,
            motion=MotionConfig(
                zones=parse_polygons(config.motion_zones),
                masks=parse_polygons(config.motion_masks),
            ),
            on_health=self._health_from_thread,
            on_motion=self._motion_from_thread,
            on_packet=None if has_sub_stream else self.recorder.on_packet,
        )
        if has_sub_stream:
            # The console's tiles watch the small stream; it keeps its own GOP for joiners.
            self.sub_live = LiveRelay(
                f"{config.name} (sub)", self.hass.loop, preview=self.pipeline.reader.recent_frame
            )
            self.pipeline.reader.on_packet = self.sub_live.on_packet
            self.main_reader = StreamReader(
                config.main_source,
                name=f"{config.name} (main)",
                on_packet=self.recorder.on_packet,
                decode=False,
            )
        if self.archive is not None and config.recording_mode is not RecordingMode.EVENTS:
            self.archive_camera = self.archive.add_camera(
                self.folder, self.recorder.ring, config.recording_mode, self.recorder.wall
            )
            self.archive_camera.on_mark_finished = self._clip_finished_from_thread
            self.recorder.archive_feed = self.archive_camera.feed
        # The live view starts viewers from the recorder's buffer and is fed by the recorder.
        self.live = LiveRelay(
            config.name,
            self.hass.loop,
            ring=self.recorder.ring,
            # The analysis decodes the main stream when there is no sub-stream.
            preview=None if has_sub_stream else self.pipeline.reader.recent_frame,
        )
        self.recorder.then = self.live.on_packet
        self._running = True
        self.pipeline.start()
        if self.main_reader is not None:
            self.main_reader.start()
        self._schedule_repair()

    async def async_stop(self) -> None:
        """Stop reading and recording (a running clip is committed); withdraw repairs."""
        self._running = False
        self._cancel_repair()
        for issue_id in (
            offline_issue_id(self.subentry_id),
            storage_issue_id(self.subentry_id),
            archive_issue_id(self.subentry_id),
        ):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        for relay in (self.live, self.sub_live):
            if relay is not None:
                await relay.close()
        if self.archive is not None and self.archive_camera is not None:
            self.archive.remove_camera(self.archive_camera)  # its segment is closed
        stoppers: list[Any] = [self.pipeline, self.main_reader, self.recorder]
        for stopper in stoppers:
            if stopper is not None:
                await self.hass.async_add_executor_job(stopper.stop)

    @callback
    def async_apply_settings(self, settings: StationSettings) -> None:
        """A new pre-event length applies to the buffer at once."""
        super().async_apply_settings(settings)
        if self.recorder is not None:
            self.recorder.pre_event = settings.pre_event_seconds

    def as_diagnostics(self) -> dict[str, Any]:
        """Stream health, analysis and the pre-event buffer."""
        health = self.pipeline.reader.health if self.pipeline else self.health
        stats = self.recorder.stats() if self.recorder else None
        return {
            "state": health.state.value,
            "reason": health.reason.value if health.reason else None,
            "codec": health.codec,
            "size": [health.width, health.height],
            "fps": round(health.fps, 2),
            "analysis_fps": round(health.analysis_fps, 2),
            "bitrate": round(health.bitrate),
            "reconnects": health.reconnects,
            "decode_errors": health.decode_errors,
            "key_frames_only": health.key_frames_only,
            "main_stream_reader": self.main_reader is not None,
            "live": self.live.stats() if self.live else None,
            "sub_stream_live": self.sub_live.stats() if self.sub_live else None,
            "motion": self.motion.motion,
            "buffer_seconds": round(stats.seconds, 1) if stats else None,
            "buffer_bytes": stats.bytes if stats else None,
            "recording_mode": self.config.recording_mode.value,
            "recording": self.archive_camera.armed if self.archive_camera else False,
            "recording_problem": problem.value
            if self.archive_camera and (problem := self.archive_camera.problem)
            else None,
            "recorded_days": round(self.recorded_days, 2),
        }

    def live_relay(self, small: bool) -> LiveRelay | None:
        """The relay of the sub-stream when `small` and there is one, else of the main stream."""
        return (self.sub_live or self.live) if small else self.live

    def as_console(self) -> dict[str, Any]:
        """What the console shows; the donor's phone is for the officer to call when it is down."""
        config, health = self.config, self.health
        return {
            **super().as_console(),
            "entity_id": entity_id_of(self.hass, "camera", self.subentry_id, "camera"),
            "folder": self.folder,
            "donor_name": config.donor_name,
            "donor_phone": config.donor_phone,
            "sub_stream": self.sub_live is not None,
            "state": health.state.value,
            "since": health.since,
            "motion": self.motion.motion,
            "recording_mode": config.recording_mode.value,
        }

    # -- recording ---------------------------------------------------------------------------
    async def async_record(
        self,
        duration: float,
        pre_event: float | None,
        trigger: Trigger,
        reason: str,
        case_number: str | None,
    ) -> ClipHandle:
        """Mark a range of the 24/7 recording, or in ``events`` mode start a clip (or extend the
        running one); file I/O happens in a worker thread."""
        if self.recorder is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="not_running")
        try:
            if self.archive_camera is not None:  # the video is recorded already: mark it
                lookback = self.recorder.pre_event if pre_event is None else pre_event
                return await self.hass.async_add_executor_job(
                    partial(
                        self.archive_camera.mark,
                        duration,
                        lookback,
                        trigger,
                        reason,
                        case_number,
                        self.recorder.metadata,
                        dt_util.get_default_time_zone(),
                    )
                )
            return await self.hass.async_add_executor_job(
                partial(
                    self.recorder.record,
                    duration,
                    pre_event,
                    trigger=trigger,
                    reason=reason,
                    case_number=case_number,
                )
            )
        except RecordingError as err:
            self._async_storage_problem(err.problem)
            raise self.storage_error(err.problem) from err

    def storage_error(self, problem: Problem) -> HomeAssistantError:
        """The translated error an action raises for a storage problem."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=f"recording_{problem.value}",
            translation_placeholders={
                "camera": self.config.name,
                "folder": str(self.settings.recordings_dir),
            },
        )

    def _clip_finished_from_thread(self, clip: ClipInfo) -> None:
        self._to_loop(self._async_clip_finished, clip)

    def _clip_failed_from_thread(self, clip: ClipRef, problem: Problem) -> None:
        self._to_loop(self._async_storage_problem, problem)

    @callback
    def _async_clip_finished(self, clip: ClipInfo) -> None:
        self.last_clip = clip
        ir.async_delete_issue(self.hass, DOMAIN, storage_issue_id(self.subentry_id))
        sidecar = clip.sidecar
        self.hass.bus.async_fire(
            EVENT_RECORDING_FINISHED,
            {
                "entity_id": entity_id_of(self.hass, "camera", self.subentry_id, "camera"),
                "camera": self.config.name,
                "subentry_id": self.subentry_id,
                "clip_id": clip.clip_id,
                "recording_id": clip.recording_id,
                "part": clip.part,
                "path": str(clip.path),
                "start": clip.start.isoformat(),
                "end": clip.end.isoformat(),
                "duration": round(clip.duration, 2),
                "sha256": clip.sha256,
                "trigger": sidecar.trigger.as_dict(),
                "reason": sidecar.reason,
                "case_number": sidecar.case_number,
            },
        )
        self.async_notify()

    @callback
    def async_set_recorded_days(self, days: float) -> None:
        """The days of video the 24/7 recorder holds (after each sweep)."""
        self.recorded_days = days
        self.async_notify()  # the sensor writes only when its value changes

    @callback
    def async_archive_problem(self, problem: Problem | None) -> None:
        """24/7 recording stopped (a full disk) or resumed: the repair issue follows it."""
        issue_id = archive_issue_id(self.subentry_id)
        if problem is None:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        self._async_storage_issue(issue_id, f"archive_{problem.value}")

    @callback
    def _async_storage_problem(self, problem: Problem) -> None:
        _LOGGER.error("Camera %s: a clip could not be stored (%s)", self.config.name, problem)
        self._async_storage_issue(storage_issue_id(self.subentry_id), f"recording_{problem.value}")

    @callback
    def _async_storage_issue(self, issue_id: str, translation_key: str) -> None:
        """A repair issue about the recordings folder (a full disk, a folder not writable)."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=translation_key,
            translation_placeholders={
                "camera": self.config.name,
                "folder": str(self.settings.recordings_dir),
                "min_free": str(self.settings.min_free_gb),
            },
        )

    # -- from the reader thread to the event loop ------------------------------------------
    def _to_loop(self, handler: Callable[[Any], None], value: Any) -> None:
        """Hand a reader/writer thread's news to the event loop (gone once HA has stopped)."""
        with contextlib.suppress(RuntimeError):  # event loop closed
            self.hass.loop.call_soon_threadsafe(handler, value)

    def _health_from_thread(self, health: StreamHealth) -> None:
        self._to_loop(self._async_health, health)

    def _motion_from_thread(self, event: MotionEvent) -> None:
        if self.archive_camera is not None and event.motion != self._motion_recorded:
            self._motion_recorded = event.motion
            self.archive_camera.motion(event.motion)
        self._to_loop(self._async_motion, event)

    @callback
    def _async_health(self, health: StreamHealth) -> None:
        if not self._running:
            return
        self.health = health
        if health.state is StreamState.STREAMING:
            self._cancel_repair()
            ir.async_delete_issue(self.hass, DOMAIN, offline_issue_id(self.subentry_id))
            if self._reported_unavailable:
                _LOGGER.info("Camera %s is back online", self.config.name)
                self._reported_unavailable = False
        else:
            self._schedule_repair()
            if not self.available and not self._reported_unavailable:
                _LOGGER.warning(
                    "Camera %s is unavailable: %s",
                    self.config.name,
                    health.reason.value if health.reason else "unknown",
                )
                self._reported_unavailable = True
        self.async_notify()

    @callback
    def _async_motion(self, event: MotionEvent) -> None:
        if not self._running:
            return
        self.motion = event
        self.async_notify()

    # -- repair issue ------------------------------------------------------------------------
    @callback
    def _schedule_repair(self) -> None:
        if self._repair_timer is None:
            self._repair_timer = async_call_later(
                self.hass, OFFLINE_REPAIR_AFTER, self._async_raise_repair
            )

    @callback
    def _cancel_repair(self) -> None:
        if self._repair_timer is not None:
            self._repair_timer()
            self._repair_timer = None

    @callback
    def _async_raise_repair(self, _now: object) -> None:
        self._repair_timer = None
        if not self._running or self.health.state is StreamState.STREAMING:
            return
        reason = self.health.reason
        key = "camera_offline_auth" if reason is StreamProblem.INVALID_AUTH else "camera_offline"
        placeholders = {
            "name": self.config.name,
            "address": self.config.address,
            "minutes": str(round(OFFLINE_REPAIR_AFTER / 60)),
        }
        if self.config.donor_name:
            placeholders["donor"] = self.config.donor_name
        else:  # the station's own camera: no household to contact
            key = f"{key}_owned"
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            offline_issue_id(self.subentry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders=placeholders,
        )
