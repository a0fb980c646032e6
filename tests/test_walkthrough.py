"""The walkthrough's findings: one language, no personal data in the device registry, a camera
without a donor, the password hint only where it applies, the demo's map."""

from __future__ import annotations

import importlib.util
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.anninh.const import (
    CONF_DONOR_NAME,
    CONF_DONOR_PHONE,
    DOMAIN,
    MANUFACTURER,
    SUBENTRY_BELL,
    SUBENTRY_CAMERA,
    SUBENTRY_LOUDSPEAKER,
)
from custom_components.anninh.ids import offline_issue_id
from custom_components.anninh.kinds import KINDS, STATION_MODEL

from .conftest import (
    bell_data,
    camera_data,
    loudspeaker_data,
    station_entry,
    subentry,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]


def _demo_seed() -> Any:
    spec = importlib.util.spec_from_file_location("anninh_demo_seed", ROOT / "scripts/demo_seed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_demo_is_vietnamese_and_its_devices_apart(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """The demo's core settings are accepted by HA as they are; its devices are ≥ 100 m apart."""
    seed = _demo_seed()
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "config/core/update", **seed.CORE_CONFIG})
    reply = await client.receive_json()
    assert reply["success"], reply
    assert hass.config.language == "vi"
    assert hass.config.country == "VN"

    places = [seed.PLACE, *seed.PLACES.values()]
    for index, a in enumerate(places):
        for b in places[index + 1 :]:
            north = (a["latitude"] - b["latitude"]) * 111_000
            east = (a["longitude"] - b["longitude"]) * 111_000 * math.cos(math.radians(20.8))
            assert math.hypot(north, east) >= 100, (a, b)


async def test_devices_in_the_stations_language_without_the_donor(
    hass: HomeAssistant, media_dir: Path, device_registry: dr.DeviceRegistry
) -> None:
    """Models in HA's language; the donor's name is never the manufacturer, and devices
    registered by an earlier version with it are rewritten on set-up."""
    hass.config.language = "vi"
    entry = station_entry(
        media_dir,
        [
            subentry(SUBENTRY_CAMERA, camera_data(str(media_dir / "none.mp4"))),
            subentry(SUBENTRY_BELL, bell_data()),
            subentry(SUBENTRY_LOUDSPEAKER, loudspeaker_data()),
        ],
    )
    entry.add_to_hass(hass)
    camera_id = next(s for s, v in entry.subentries.items() if v.subentry_type == SUBENTRY_CAMERA)
    # What an earlier version registered: the donor household as the manufacturer.
    old = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=camera_id,
        identifiers={(DOMAIN, camera_id)},
        name="Ngã ba chợ",
        manufacturer="Hộ ông Nguyễn Văn An",
        model="Camera an ninh",
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    camera = device_registry.async_get(old.id)
    assert camera is not None
    assert camera.manufacturer == MANUFACTURER
    for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
        assert device.manufacturer == MANUFACTURER
        assert "Nguyễn Văn An" not in str(device.dict_repr)
    models = {
        kind: device_registry.async_get_device(identifiers={(DOMAIN, sid)})
        for kind, sid in [("station", entry.entry_id)]
        + [(v.subentry_type, s) for s, v in entry.subentries.items()]
    }
    assert {kind: d.model for kind, d in models.items() if d} == {
        "station": STATION_MODEL["vi"],
        **{kind: KINDS[kind].model["vi"] for kind in KINDS},
    }
    await hass.config_entries.async_unload(entry.entry_id)


async def test_camera_owned_by_the_station(
    hass: HomeAssistant,
    media_dir: Path,
    video_file: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No donor household: the flow accepts it, and the offline repair speaks of the station's
    own camera instead of an empty donor."""
    entry = station_entry(media_dir)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    data = camera_data(str(video_file), name="Cổng đơn vị")
    del data[CONF_DONOR_NAME], data[CONF_DONOR_PHONE]
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    (camera,) = entry.subentries.values()
    assert camera.data[CONF_DONOR_NAME] == ""
    assert camera.data[CONF_NAME] == "Cổng đơn vị"

    # A station-owned camera that stays without video raises the "owned" repair.
    offline = station_entry(
        media_dir,
        [subentry(SUBENTRY_CAMERA, {**camera_data(str(media_dir / "gone.mp4")), "donor_name": ""})],
    )
    offline.add_to_hass(hass)
    assert await hass.config_entries.async_setup(offline.entry_id)
    await hass.async_block_till_done()
    (device,) = offline.runtime_data.devices.values()
    await wait_until(lambda: device.health.state.value != "streaming")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, offline_issue_id(device.subentry_id))
    assert issue is not None
    assert issue.translation_key == "camera_offline_owned"
    assert "donor" not in (issue.translation_placeholders or {})
    for entry_ in (entry, offline):
        await hass.config_entries.async_unload(entry_.entry_id)


def test_texts_a_vietnamese_station_reads(translations: dict[str, dict[str, Any]]) -> None:
    """The password hint only on a change; a donor is optional; the station's own wording."""
    for lang, keep in (("en", "keep the stored password"), ("vi", "giữ mật khẩu đã lưu")):
        steps = translations[lang]["config_subentries"]["camera"]["step"]
        assert keep not in steps["user"]["data_description"]["password"]
        assert keep in steps["reconfigure"]["data_description"]["password"]
        assert "donor_required" not in translations[lang]["config_subentries"]["camera"]["error"]
        for key in ("camera_offline_owned", "camera_offline_auth_owned"):
            assert "{donor}" not in translations[lang]["issues"][key]["description"]
        # The frontend's "Add hub" button reads the integration's own initiate_flow text.
        assert translations[lang]["config"]["initiate_flow"]["user"]
    vi = translations["vi"]
    assert vi["config"]["initiate_flow"]["user"] == "Thêm đơn vị công an"
    assert "truyền hình" not in vi["entity"]["sensor"]["status"]["state"]["streaming"]
