"""Image entity "last motion": the picture of the camera's latest motion event, boxes drawn.

Its state (the picture's time) changes once per motion event, plus at most once every
`LONG_EVENT_REFRESH` seconds of one unbroken event (see engine/pipeline.py): one logbook line and
one state row per event, not one a second.
"""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .devices.camera import CameraDevice
from .entity import AnNinhCameraEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A last-motion image for every camera, now and as cameras are added."""
    async_add_device_entities(
        entry, async_add_entities, CameraDevice, lambda d: [LastMotionImage(hass, d)]
    )


class LastMotionImage(AnNinhCameraEntity, ImageEntity):
    """Updated once per motion event; the JPEG is drawn only when someone looks."""

    _attr_content_type = "image/jpeg"

    def __init__(self, hass: HomeAssistant, device: CameraDevice) -> None:
        """Both base classes need their own set-up."""
        AnNinhCameraEntity.__init__(self, device, "last_motion")
        ImageEntity.__init__(self, hass)

    @property
    def available(self) -> bool:
        """The last picture stays viewable while the camera is offline."""
        return True

    @callback
    def _handle_device_update(self) -> None:
        pipeline = self.device.pipeline
        at = pipeline.last_motion_at if pipeline else None
        if at is None:
            return
        updated = datetime.fromtimestamp(at, UTC)
        if updated != self._attr_image_last_updated:
            self._attr_image_last_updated = updated
            self.async_write_ha_state()

    async def async_image(self) -> bytes | None:
        """Draw the boxes and encode in a worker thread."""
        pipeline = self.device.pipeline
        if pipeline is None:
            return None
        return await self.hass.async_add_executor_job(pipeline.last_motion_jpeg)
