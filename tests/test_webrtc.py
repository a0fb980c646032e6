"""Native WebRTC live view on a real Home Assistant: the camera's H.264 relayed, not re-encoded.

The "browser" is a real aiortc peer in the test process that negotiates through HA's websocket
API (`camera/webrtc/offer`) and decodes what it receives. Loopback only: both peers gather host
candidates from 127.0.0.1 alone (`aioice.ice.get_host_addresses` stands in for the network) and
neither has a STUN or TURN server; every candidate in every SDP is checked to be 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import av
import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    MockHAClientWebSocket,
    WebSocketGenerator,
)

from custom_components.anninh.const import SUBENTRY_CAMERA
from custom_components.anninh.engine.live import LiveRelay

from .conftest import camera_data, station_entry, subentry, wait_until
from .media import make_h264_file, make_mjpeg_file
from .rtsp import RtspCamera

FIRST_FRAME_WITHIN = 5.0
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ (\S+)", re.MULTILINE)


@pytest.fixture(autouse=True)
def loopback_ice(socket_enabled: None) -> Iterator[None]:
    """Both peers gather host candidates on 127.0.0.1 only (UDP sockets need socket_enabled)."""
    with patch("aioice.ice.get_host_addresses", return_value=["127.0.0.1"]):
        yield


def assert_loopback_only(sdp: str) -> None:
    """Every candidate is a host candidate on 127.0.0.1 (no STUN/TURN, no other interface)."""
    candidates = _CANDIDATE.findall(sdp)
    assert candidates, sdp
    assert all(addr == "127.0.0.1" and kind == "host" for addr, kind in candidates), candidates


@dataclass
class Viewer:
    """A browser stand-in: a recvonly H.264 peer and the frames it decoded."""

    pc: RTCPeerConnection
    ws: MockHAClientWebSocket
    subscription: int
    frames: list[tuple[float, int, int]] = field(default_factory=list)  # (time, width, height)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    session_id: str = ""
    answer: str = ""

    async def first_frame(self, within: float = FIRST_FRAME_WITHIN) -> tuple[float, int, int]:
        await wait_until(lambda: self.frames, within)
        return self.frames[0]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def _pull(track: MediaStreamTrack, viewer: Viewer) -> None:
    try:
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            viewer.frames.append((time.monotonic(), frame.width, frame.height))
    except MediaStreamError:
        viewer.ended.set()


async def _offer(
    ws: MockHAClientWebSocket, entity_id: str, sdp: str, early_candidate: bool = False
) -> tuple[int, list[Any]]:
    """Send an offer; the subscription id and the events up to the answer or error.

    With `early_candidate`, one of the offer's candidates is also sent as soon as the session
    id is known, before the answer (as browsers trickle theirs); its result is an event
    `{"type": "candidate_result", "success": ...}`.
    """
    await ws.send_json_auto_id(
        {"type": "camera/webrtc/offer", "entity_id": entity_id, "offer": sdp}
    )
    result = await ws.receive_json()
    if not result.get("success", True):
        return result["id"], [result]
    events: list[Any] = []
    candidate_id = None
    while True:
        message = await asyncio.wait_for(ws.receive_json(), 15)
        if message.get("id") == candidate_id and message.get("type") == "result":
            events.append({"type": "candidate_result", "success": message["success"]})
            continue
        events.append(message["event"])
        if message["event"]["type"] == "session" and early_candidate:
            line = next(x for x in sdp.splitlines() if x.startswith("a=candidate"))
            request = {
                "type": "camera/webrtc/candidate",
                "entity_id": entity_id,
                "session_id": message["event"]["session_id"],
                "candidate": {"candidate": line.removeprefix("a="), "sdpMLineIndex": 0},
            }
            await ws.send_json_auto_id(request)
            candidate_id = request["id"]
        if message["event"]["type"] in ("answer", "error"):
            if candidate_id is not None and not any(
                e["type"] == "candidate_result" for e in events
            ):
                reply = await asyncio.wait_for(ws.receive_json(), 15)
                events.append({"type": "candidate_result", "success": reply["success"]})
            return result["id"], events


async def open_viewer(
    hass_ws_client: WebSocketGenerator, entity_id: str, early_candidate: bool = False
) -> tuple[Viewer | None, list[Any]]:
    """Negotiate through HA's websocket API; (viewer, events), viewer None on an error."""
    ws = await hass_ws_client()
    pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
    transceiver = pc.addTransceiver("video", direction="recvonly")
    transceiver.setCodecPreferences(
        [
            codec
            for codec in RTCRtpReceiver.getCapabilities("video").codecs
            if codec.mimeType == "video/H264"
        ]
    )
    viewer = Viewer(pc, ws, 0)

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        viewer.tasks.append(asyncio.create_task(_pull(track, viewer)))

    await pc.setLocalDescription(await pc.createOffer())
    assert_loopback_only(pc.localDescription.sdp)
    viewer.subscription, events = await _offer(
        ws, entity_id, pc.localDescription.sdp, early_candidate
    )
    last = events[-1]
    if last.get("type") != "answer":
        await pc.close()
        return None, events
    viewer.session_id = next(e["session_id"] for e in events if e["type"] == "session")
    viewer.answer = last["answer"]
    assert_loopback_only(viewer.answer)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=viewer.answer, type="answer"))
    return viewer, events


def _camera_entity(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    registry = er.async_get(hass)
    [entity] = [
        e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.domain == "camera"
    ]
    return entity.entity_id


async def _station(hass: HomeAssistant, media_dir: Path, url: str) -> tuple[MockConfigEntry, str]:
    entry = station_entry(media_dir, [subentry(SUBENTRY_CAMERA, camera_data(url))])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry, _camera_entity(hass, entry)


def _relay(entry: MockConfigEntry) -> LiveRelay:
    [device] = [d for d in entry.runtime_data.devices.values() if hasattr(d, "live")]
    assert device.live is not None
    return device.live


async def _stream_types(hass_ws_client: WebSocketGenerator, entity_id: str) -> list[str]:
    ws = await hass_ws_client()
    await ws.send_json_auto_id({"type": "camera/capabilities", "entity_id": entity_id})
    result = await ws.receive_json()
    assert result["success"], result
    return list(result["result"]["frontend_stream_types"])


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Viewer]]:
    """Viewers to close at the end of a test, whatever happens."""
    viewers: list[Viewer] = []
    yield viewers
    for viewer in viewers:
        with contextlib.suppress(Exception):
            await viewer.close()


async def _h264_station(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, media_dir: Path, url: str
) -> tuple[MockConfigEntry, str]:
    entry, entity_id = await _station(hass, media_dir, url)
    await wait_until(lambda: _relay(entry).codec == "h264", 15)
    await wait_until(lambda: hass.states.get(entity_id).state == "streaming", 15)  # type: ignore[union-attr]
    assert await _stream_types(hass_ws_client, entity_id) == ["web_rtc"]
    return entry, entity_id


async def test_webrtc_from_local_h264_file(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    media_dir: Path,
    cleanup: list[Viewer],
) -> None:
    """Two browsers get decoded 640x360 video; a third is over the cap; close stops delivery."""
    video = make_h264_file(media_dir / "street.mp4", width=640, height=360, seconds=4.0, gop=30)
    entry, entity_id = await _h264_station(hass, hass_ws_client, media_dir, str(video))
    relay = _relay(entry)
    relay.max_sessions = 2

    started = time.monotonic()
    first, events = await open_viewer(hass_ws_client, entity_id)
    assert first is not None, events
    cleanup.append(first)
    assert [e["type"] for e in events] == ["session", "answer"]
    at, width, height = await first.first_frame()
    assert (width, height) == (640, 360)
    first_frame_s = at - started

    # A late (trickled) candidate is accepted, as the frontend sends them after the offer.
    line = next(x for x in first.pc.localDescription.sdp.splitlines() if x.startswith("a=cand"))
    await first.ws.send_json_auto_id(
        {
            "type": "camera/webrtc/candidate",
            "entity_id": entity_id,
            "session_id": first.session_id,
            "candidate": {"candidate": line.removeprefix("a="), "sdpMLineIndex": 0},
        }
    )
    result = await first.ws.receive_json()
    assert result["success"], result

    second, events = await open_viewer(hass_ws_client, entity_id)
    assert second is not None, events
    cleanup.append(second)
    await second.first_frame()
    assert relay.session_count == 2

    third, events = await open_viewer(hass_ws_client, entity_id)
    assert third is None
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "anninh_too_many_viewers"
    assert relay.session_count == 2

    # Both keep receiving at the camera's rate (15 fps) while connected.
    count = len(first.frames), len(second.frames)
    await asyncio.sleep(1.5)
    assert len(first.frames) - count[0] >= 10
    assert len(second.frames) - count[1] >= 10

    # The browser leaves: HA calls close_webrtc_session on unsubscribe; delivery stops.
    await first.ws.send_json_auto_id(
        {"type": "unsubscribe_events", "subscription": first.subscription}
    )
    await wait_until(lambda: relay.session_count == 1, 5)
    await asyncio.sleep(0.5)
    stopped = len(first.frames)
    await asyncio.sleep(1.0)
    assert len(first.frames) == stopped
    assert len(second.frames) > count[1] + 15  # the other viewer is unaffected

    # A slot is free again.
    again, events = await open_viewer(hass_ws_client, entity_id)
    assert again is not None, events
    cleanup.append(again)
    await again.first_frame()

    # Stopping the station closes every session.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert relay.session_count == 0
    print(f"time to first frame: {first_frame_s:.2f} s")


async def test_webrtc_from_rtsp_camera(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    media_dir: Path,
    rtsp_camera: Any,
    cleanup: list[Viewer],
) -> None:
    """A real RTSP camera's H.264 reaches the browser as 320x180 frames within seconds."""
    camera: RtspCamera = rtsp_camera()
    _entry, entity_id = await _h264_station(hass, hass_ws_client, media_dir, camera.url)
    started = time.monotonic()
    viewer, events = await open_viewer(hass_ws_client, entity_id)
    assert viewer is not None, events
    cleanup.append(viewer)
    at, width, height = await viewer.first_frame()
    assert (width, height) == (320, 180)
    await asyncio.sleep(1.0)
    assert len(viewer.frames) >= 10
    print(f"rtsp time to first frame: {at - started:.2f} s")


async def test_mjpeg_camera_plays_over_webrtc(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    media_dir: Path,
    cleanup: list[Viewer],
) -> None:
    """An MJPEG camera is offered as WebRTC too: re-encoded to H.264 while someone watches."""
    video = make_mjpeg_file(media_dir / "old.avi", seconds=3.0, fps=10)
    entry, entity_id = await _station(hass, media_dir, str(video))
    await wait_until(lambda: hass.states.get(entity_id).state == "streaming", 15)  # type: ignore[union-attr]
    relay = _relay(entry)
    await wait_until(lambda: relay.codec == "mjpeg", 15)
    assert await _stream_types(hass_ws_client, entity_id) == ["web_rtc"]
    viewer, events = await open_viewer(hass_ws_client, entity_id)
    assert viewer is not None, events
    cleanup.append(viewer)
    assert (await viewer.first_frame())[1:] == (320, 180)
    await asyncio.sleep(1.0)
    assert len(viewer.frames) >= 7  # 10 fps
    assert relay.stats()["modes"] == ["transcode"]


async def test_b_frame_camera_is_reencoded_and_candidates_may_come_early(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    media_dir: Path,
    cleanup: list[Viewer],
) -> None:
    """Main profile with B-frames plays at its full rate; a candidate sent before the answer
    (as browsers trickle them) is accepted."""
    video = make_h264_file(
        media_dir / "household.mp4",
        width=640,
        height=360,
        fps=15,
        seconds=3.0,
        b_frames=2,
        profile="main",
    )
    entry, entity_id = await _h264_station(hass, hass_ws_client, media_dir, str(video))
    relay = _relay(entry)
    await wait_until(lambda: relay.reorders, 10)
    viewer, events = await open_viewer(hass_ws_client, entity_id, early_candidate=True)
    assert viewer is not None, events
    cleanup.append(viewer)
    candidate_results = [e for e in events if e.get("type") == "candidate_result"]
    assert candidate_results == [{"type": "candidate_result", "success": True}], events
    _at, width, height = await viewer.first_frame()
    assert (width, height) == (640, 360)
    count = len(viewer.frames)
    await asyncio.sleep(2.0)
    assert len(viewer.frames) - count >= 0.9 * 15 * 2.0
    assert relay.stats()["modes"] == ["transcode"]
