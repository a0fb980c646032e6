"""Camera entity per donated camera: snapshots from its reader, live view from its main stream."""

from __future__ import annotations

from typing import Any

from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.const import ATTR_LATITUDE, ATTR_LONGITUDE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .cameras import CameraDevice
from .const import CONF_ADDRESS, CONF_DONOR_NAME
from .engine.stream import StreamState
from .entity import AnNinhCameraEntity, async_add_device_entities
from .station import AnNinhConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A camera entity for every camera, now and as cameras are added."""
    async_add_device_entities(entry, async_add_entities, CameraDevice, lambda d: [AnNinhCamera(d)])


class AnNinhCamera(AnNinhCameraEntity, Camera):
    """The camera itself; the entity takes the device's name."""

    _attr_name = None
    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, device: CameraDevice) -> None:
        """Both base classes need their own set-up."""
        AnNinhCameraEntity.__init__(self, device, "camera")
        Camera.__init__(self)

    @property
    def is_streaming(self) -> bool:
        """True while frames arrive."""
        return self.device.health.state is StreamState.STREAMING

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Where the camera is (the map card uses latitude/longitude) and who donated it."""
        config = self.device.config
        attributes: dict[str, Any] = {
            CONF_ADDRESS: config.address,
            CONF_DONOR_NAME: config.donor_name,
        }
        if config.latitude is not None and config.longitude is not None:
            attributes[ATTR_LATITUDE] = config.latitude
            attributes[ATTR_LONGITUDE] = config.longitude
        return attributes

    async def stream_source(self) -> str | None:
        """The main stream, for HA's stream component and go2rtc live view."""
        return self.device.config.main_source.av_url()

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """The latest decoded frame as JPEG, encoded in a worker thread."""
        pipeline = self.device.pipeline
        if pipeline is None:
            return None
        return await self.hass.async_add_executor_job(pipeline.reader.latest_jpeg)
