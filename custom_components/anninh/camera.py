"""Camera entity per donated camera: snapshots from its reader, live view from its main stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.components.camera.webrtc import WebRTCAnswer, WebRTCError, WebRTCSendMessage
from homeassistant.const import ATTR_LATITUDE, ATTR_LONGITUDE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_ADDRESS, CONF_DONOR_NAME
from .devices.camera import CameraDevice
from .engine.live import LiveError
from .engine.stream import StreamState
from .entity import AnNinhCameraEntity, async_add_device_entities
from .station import AnNinhConfigEntry

if TYPE_CHECKING:
    from webrtc_models import RTCIceCandidateInit

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A camera entity for every camera, now and as cameras are added."""
    async_add_device_entities(entry, async_add_entities, CameraDevice, lambda d: [AnNinhCamera(d)])


class AnNinhCamera(AnNinhCameraEntity, Camera):
    """The camera itself; the entity takes the device's name.

    Live view is native WebRTC for every camera (`LiveRelay`, no go2rtc): H.264 without B-frames
    is relayed as it is; B-frames, H.265 and MJPEG are re-encoded while someone watches. HLS
    (`stream_source`) stays for HA's own stream uses (recording to a file, casting).
    """

    _attr_name = None
    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, device: CameraDevice) -> None:
        """Both base classes need their own set-up."""
        AnNinhCameraEntity.__init__(self, device, "camera")
        Camera.__init__(self)
        self._webrtc_sessions: set[str] = set()

    async def async_will_remove_from_hass(self) -> None:
        """Close this entity's live sessions."""
        await super().async_will_remove_from_hass()
        live = self.device.live
        for session_id in list(self._webrtc_sessions):
            if live is not None:
                await live.close_session(session_id)
        self._webrtc_sessions.clear()

    async def async_handle_async_webrtc_offer(
        self, offer_sdp: str, session_id: str, send_message: WebRTCSendMessage
    ) -> None:
        """Answer a browser's offer with the relay's complete answer (no trickle needed)."""
        live = self.device.live
        if live is None:
            send_message(WebRTCError("webrtc_offer_failed", "The camera is not running"))
            return
        # Known before the answer: the browser trickles its candidates while we negotiate.
        self._webrtc_sessions.add(session_id)
        try:
            answer = await live.answer(offer_sdp, session_id)
        except LiveError as err:
            self._webrtc_sessions.discard(session_id)
            send_message(WebRTCError(f"anninh_{err.reason}", str(err)))
            return
        send_message(WebRTCAnswer(answer))

    async def async_on_webrtc_candidate(
        self, session_id: str, candidate: RTCIceCandidateInit
    ) -> None:
        """A browser candidate (the answer already carries ours); early ones are kept."""
        if session_id not in self._webrtc_sessions:
            await super().async_on_webrtc_candidate(session_id, candidate)
            return
        if self.device.live is not None:
            await self.device.live.add_candidate(
                session_id, candidate.candidate, candidate.sdp_mid, candidate.sdp_m_line_index
            )

    @callback
    def close_webrtc_session(self, session_id: str) -> None:
        """The browser left (or the websocket closed): end the session."""
        if session_id not in self._webrtc_sessions:
            super().close_webrtc_session(session_id)
            return
        self._webrtc_sessions.discard(session_id)
        if self.device.live is not None:
            self.hass.async_create_task(self.device.live.close_session(session_id))

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
