"""A camera while the station runs: its analysis pipeline, health, and the offline repair issue."""

from __future__ import annotations

import logging
import time

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN
from .device import Device
from .engine.motion import MotionConfig
from .engine.pipeline import CameraPipeline, MotionEvent
from .engine.source import StreamProblem
from .engine.stream import StreamHealth, StreamState
from .models import CameraConfig

_LOGGER = logging.getLogger(__name__)

OFFLINE_REPAIR_AFTER = 600.0  # s without video before the admin is told


def offline_issue_id(subentry_id: str) -> str:
    """Repair issue id of one camera being offline."""
    return f"camera_offline_{subentry_id}"


class CameraDevice(Device):
    """A donated camera: reads its stream and detects motion on a worker thread."""

    config: CameraConfig

    def __init__(self, hass: HomeAssistant, kind: str, config: CameraConfig) -> None:
        """Nothing is read until `async_start`."""
        super().__init__(hass, kind, config)
        self.health = StreamHealth(StreamState.RECONNECTING, None, time.time())
        self.motion = MotionEvent(motion=False, score=0.0, boxes=[], lighting_change=False, at=0.0)
        self.pipeline: CameraPipeline | None = None
        self._running = False
        self._repair_timer: CALLBACK_TYPE | None = None
        self._reported_unavailable = False

    @property
    def available(self) -> bool:
        """Video and motion entities are unavailable while the camera is offline."""
        return self.health.state is not StreamState.OFFLINE

    async def async_start(self) -> None:
        """Start the pipeline on its own thread."""
        self.pipeline = CameraPipeline(
            self.config.analysis_source,
            name=self.config.name,
            motion=MotionConfig(),
            on_health=self._health_from_thread,
            on_motion=self._motion_from_thread,
        )
        self._running = True
        self.pipeline.start()
        self._schedule_repair()

    async def async_stop(self) -> None:
        """Stop the pipeline and withdraw the repair issue."""
        self._running = False
        self._cancel_repair()
        ir.async_delete_issue(self.hass, DOMAIN, offline_issue_id(self.subentry_id))
        if self.pipeline is not None:
            await self.hass.async_add_executor_job(self.pipeline.stop)

    # -- from the reader thread to the event loop ------------------------------------------
    def _health_from_thread(self, health: StreamHealth) -> None:
        self.hass.loop.call_soon_threadsafe(self._async_health, health)

    def _motion_from_thread(self, event: MotionEvent) -> None:
        self.hass.loop.call_soon_threadsafe(self._async_motion, event)

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
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            offline_issue_id(self.subentry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=(
                "camera_offline_auth" if reason is StreamProblem.INVALID_AUTH else "camera_offline"
            ),
            translation_placeholders={
                "name": self.config.name,
                "donor": self.config.donor_name,
                "address": self.config.address,
                "minutes": str(round(OFFLINE_REPAIR_AFTER / 60)),
            },
        )
