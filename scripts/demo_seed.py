"""Seed scripts/develop's fresh Home Assistant with a demo station, through HA's public APIs.

Does HA's onboarding the way the frontend does, then adds the station, a loudspeaker, a camera and
a bell through the integration's own config and subentry flows, so the demo exercises the same
code paths an admin clicks through.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

BASE = "http://127.0.0.1:8123"
CLIENT_ID = f"{BASE}/"
USER, PASSWORD = "demo", "demo-anninh"
PLACE = {"latitude": 20.8449, "longitude": 106.6881}  # the station (HA's home)
# Each device at its own place, a few hundred metres apart, so the map shows them apart.
PLACES = {
    "loudspeaker": {"latitude": 20.8468, "longitude": 106.6862},
    "camera": {"latitude": 20.8441, "longitude": 106.6903},
    "bell": {"latitude": 20.8427, "longitude": 106.6870},
}
# More cameras for the console's wall, made from the same footage by ffmpeg (mirrored, cropped,
# and a small copy as the first camera's sub-stream), and one whose file is emptied once it is
# added, so the wall shows an offline camera with its donor to call.
VARIANTS = {
    "traffic_small.mp4": "scale=352:288",
    "traffic_mirrored.mp4": "hflip",
    "traffic_crop.mp4": "crop=480:360:200:180",
    "traffic_school.mp4": "hflip,crop=480:360:0:0",
}
MORE_CAMERAS = [
    {
        "name": "Cổng chợ Đông",
        "address": "Cổng chợ Đông, thôn Đông",
        "location": {"latitude": 20.8452, "longitude": 106.6889},
        "donor_name": "Hộ bà Trần Thị Bình",
        "file": "traffic_mirrored.mp4",
    },
    {
        "name": "Cầu thôn Tây",
        "address": "Đầu cầu thôn Tây",
        "location": {"latitude": 20.8433, "longitude": 106.6848},
        "donor_name": "Quán cà phê Hoa Sữa",
        "file": "traffic_crop.mp4",
    },
    {
        "name": "Trường tiểu học",
        "address": "Cổng trường tiểu học xã",
        "location": {"latitude": 20.8461, "longitude": 106.6911},
        "donor_name": "Hộ ông Lê Văn Cường",
        "donor_phone": "0912 345 678",
        "file": "traffic_school.mp4",
        "gone": True,  # emptied after the flow probed it: the camera goes offline
    },
]


def make_variants(media: Path) -> None:
    """The demo's extra footage, made once from demo/traffic_sequence.mp4."""
    source = media / "traffic_sequence.mp4"
    for name, video_filter in VARIANTS.items():
        target = media / name
        if target.exists():
            continue
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(source),
                "-vf",
                video_filter,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-bf",
                "0",
                "-g",
                "30",
                "-an",
                str(target.with_suffix(".tmp.mp4")),
            ],
            check=True,
        )
        target.with_suffix(".tmp.mp4").rename(target)


# A Vietnamese station: HA itself speaks Vietnamese (device models, logbook, clip titles).
CORE_CONFIG = {
    "language": "vi",
    "country": "VN",
    "time_zone": "Asia/Ho_Chi_Minh",
    "location_name": "Công an xã Demo",
    **PLACE,
}
ONBOARDING_EXTRAS = {"met", "radio_browser", "google_translate", "shopping_list"}


async def wait_until_up(session: aiohttp.ClientSession, seconds: float = 180) -> None:
    """Poll until HA's HTTP server answers the onboarding endpoint."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            async with session.get(f"{BASE}/api/onboarding") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if loop.time() > deadline:
            raise SystemExit("Home Assistant did not come up in time")
        await asyncio.sleep(1)


async def onboard(session: aiohttp.ClientSession) -> str:
    """Create the demo user, finish onboarding, return a bearer token."""
    async with session.post(
        f"{BASE}/api/onboarding/users",
        json={
            "client_id": CLIENT_ID,
            "name": "Demo",
            "username": USER,
            "password": PASSWORD,
            "language": "vi",
        },
    ) as resp:
        resp.raise_for_status()
        auth_code = (await resp.json())["auth_code"]
    async with session.post(
        f"{BASE}/auth/token",
        data={"grant_type": "authorization_code", "code": auth_code, "client_id": CLIENT_ID},
    ) as resp:
        resp.raise_for_status()
        token: str = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": CLIENT_ID, "redirect_uri": f"{BASE}/?auth_callback=1"}),
    ):
        async with session.post(f"{BASE}/api/onboarding/{step}", json=body, headers=headers):
            pass
    await drop_onboarding_extras(session, headers)
    return token


async def drop_onboarding_extras(session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    """Remove the internet services onboarding adds (weather, radio, Google TTS): offline here."""
    await asyncio.sleep(3)
    async with session.get(f"{BASE}/api/config/config_entries/entry", headers=headers) as resp:
        entries = await resp.json()
    for entry in entries:
        if entry["domain"] in ONBOARDING_EXTRAS:
            async with session.delete(
                f"{BASE}/api/config/config_entries/entry/{entry['entry_id']}", headers=headers
            ):
                pass


async def set_core_config(session: aiohttp.ClientSession, token: str) -> None:
    """HA's language, country, time zone and home, as the onboarding form would set them."""
    async with session.ws_connect(f"{BASE}/api/websocket") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()
        await ws.send_json({"id": 1, "type": "config/core/update", **CORE_CONFIG})
        reply = await ws.receive_json()
    if not reply.get("success"):
        raise SystemExit(f"config/core/update: {reply}")


async def subentry_ids(session: aiohttp.ClientSession, token: str, entry_id: str) -> dict[str, str]:
    """Titles to subentry ids of the station, over HA's websocket API."""
    async with session.ws_connect(f"{BASE}/api/websocket") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()
        await ws.send_json(
            {"id": 1, "type": "config_entries/subentries/list", "entry_id": entry_id}
        )
        reply = await ws.receive_json()
    return {sub["title"]: sub["subentry_id"] for sub in reply["result"]}


async def flow(
    session: aiohttp.ClientSession, token: str, path: str, handler: Any, *steps: dict[str, Any]
) -> dict[str, Any]:
    """Run a config or subentry flow through the REST API, one form per step."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(
        f"{BASE}/api/config/config_entries/{path}", json={"handler": handler}, headers=headers
    ) as resp:
        resp.raise_for_status()
        result: dict[str, Any] = await resp.json()
    shown: dict[str, str] = {}
    for data in steps:
        shown |= result.get("description_placeholders") or {}
        async with session.post(
            f"{BASE}/api/config/config_entries/{path}/{result['flow_id']}",
            json=data,
            headers=headers,
        ) as resp:
            resp.raise_for_status()
            result = await resp.json()
        if result.get("errors"):
            raise SystemExit(f"{handler}: {result['errors']}")
    if result["type"] != "create_entry":
        raise SystemExit(f"{handler}: flow ended with {result}")
    return {**result, "shown": shown}


async def call(
    session: aiohttp.ClientSession, token: str, action: str, data: dict[str, Any]
) -> None:
    """Call an action through the REST API."""
    async with session.post(
        f"{BASE}/api/services/{action}", json=data, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        resp.raise_for_status()


async def bell_automation(session: aiohttp.ClientSession, token: str) -> None:
    """The automation "bell pressed → record, announce, notify" from the shipped blueprint."""
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(30):  # the integration installs the blueprint on set-up
        async with session.get(
            f"{BASE}/api/states/event.chuong_tram_y_te_signal", headers=headers
        ) as resp:
            if resp.status == 200:
                break
        await asyncio.sleep(1)
    body = {
        "alias": "Chuông trạm y tế: ghi hình, phát loa, báo trực ban",
        "description": "",
        "use_blueprint": {
            "path": "anninh/bell_pressed_record_announce.yaml",
            "input": {
                "bell": "event.chuong_tram_y_te_signal",
                "language": "vi",
                "notify_action": "persistent_notification.create",
                "repeat_every": 30,
            },
        },
    }
    async with session.post(
        f"{BASE}/api/config/automation/config/anninh_demo_bell", json=body, headers=headers
    ) as resp:
        resp.raise_for_status()


async def demo_media_player(session: aiohttp.ClientSession, token: str) -> str:
    """A media player of HA's demo integration, to speak through."""
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(60):
        async with session.get(f"{BASE}/api/states", headers=headers) as resp:
            states = await resp.json()
        players = sorted(
            s["entity_id"] for s in states if s["entity_id"].startswith("media_player.")
        )
        if players:
            preferred = "media_player.living_room"
            return preferred if preferred in players else players[0]
        await asyncio.sleep(1)
    raise SystemExit("the demo integration made no media player")


async def offline_voice(session: aiohttp.ClientSession, token: str) -> str:
    """The station's offline voice (a tts entity of anninh), once the station has set it up."""
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(30):
        async with session.get(f"{BASE}/api/states", headers=headers) as resp:
            states = await resp.json()
        voices = sorted(
            s["entity_id"]
            for s in states
            if s["entity_id"].startswith("tts.") and s["entity_id"].endswith("_offline_voice")
        )
        if voices:
            return voices[0]
        await asyncio.sleep(1)
    raise SystemExit("the station has no offline voice (see Settings → Repairs)")


async def main(config: Path) -> None:
    """Onboard, then add the demo station and its devices."""
    make_variants(config / "media")
    async with aiohttp.ClientSession() as session:
        await wait_until_up(session)
        token = await onboard(session)
        await set_core_config(session, token)
        station = await flow(
            session,
            token,
            "flow",
            "anninh",
            {
                "name": "Công an xã Demo",
                "recordings_dir": str(config / "media" / ".anninh"),
                "retention_days": 30,
                "pre_event_seconds": 10,
            },
        )
        entry_id = station["result"]["entry_id"]
        await flow(
            session,
            token,
            "subentries/flow",
            [entry_id, "loudspeaker"],
            {
                "name": "Loa nhà văn hóa",
                "address": "Nhà văn hóa thôn Đông",
                "location": PLACES["loudspeaker"],
                "targets": [await demo_media_player(session, token)],
                "volume": 70,
                "language": "vi",
                # The station's offline voice: Vietnamese without the internet (the demo
                # integration's TTS engine speaks only English and German).
                "tts_engine": await offline_voice(session, token),
                "voice": "north",
            },
        )
        await flow(
            session,
            token,
            "subentries/flow",
            [entry_id, "camera"],
            {
                "name": "Ngã tư trung tâm",
                "address": "Ngã tư đường 208, thôn Đông",
                "location": PLACES["camera"],
                "donor_name": "Hộ ông Nguyễn Văn An",
                "donor_phone": "0987 654 321",
                "stream_url": str(config / "media" / "traffic_sequence.mp4"),
                "sub_stream_url": str(config / "media" / "traffic_small.mp4"),
            },
        )
        for camera in MORE_CAMERAS:
            path = config / "media" / str(camera["file"])
            fields = {k: v for k, v in camera.items() if k not in ("file", "gone")}
            await flow(
                session,
                token,
                "subentries/flow",
                [entry_id, "camera"],
                {**fields, "stream_url": str(path)},
            )
            if camera.get("gone"):
                # Emptied in place: the reader holds the file open (it loops by seeking).
                with path.open("r+b") as handle:
                    handle.truncate(0)
        ids = await subentry_ids(session, token, entry_id)
        bell = await flow(
            session,
            token,
            "subentries/flow",
            [entry_id, "bell"],
            {
                "name": "Chuông trạm y tế",
                "address": "Trạm y tế xã Demo",
                "location": PLACES["bell"],
                "source": "webhook",
                "linked_cameras": [ids["Ngã tư trung tâm"]],
                "linked_loudspeakers": [ids["Loa nhà văn hóa"]],
                "priority": "high",
            },
            {"local_only": True},
        )
        webhook_id = bell["shown"]["url"].rsplit("/", 1)[1]
        (config / "demo-bell-url.txt").write_text(f"{BASE}/api/webhook/{webhook_id}\n")
        await bell_automation(session, token)
    print(f"[develop] demo station seeded: {1 + len(MORE_CAMERAS)} cameras, 1 bell, 1 loudspeaker")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    asyncio.run(main(parser.parse_args().config.resolve()))
    sys.exit(0)
