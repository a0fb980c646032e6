"""Shared fixtures: a real Home Assistant (from the pytest plugin), a station, test video."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.anninh.const import (
    CONF_ADDRESS,
    CONF_DONOR_NAME,
    CONF_DONOR_PHONE,
    CONF_LANGUAGE,
    CONF_LOCAL_ONLY,
    CONF_LOCATION,
    CONF_PRE_EVENT_SECONDS,
    CONF_PRIORITY,
    CONF_RECORDINGS_DIR,
    CONF_RETENTION_DAYS,
    CONF_SOURCE,
    CONF_STREAM_URL,
    CONF_TARGETS,
    CONF_VOLUME,
    CONF_WEBHOOK_ID,
    DOMAIN,
    SOURCE_WEBHOOK,
    SUBENTRY_BELL,
    SUBENTRY_CAMERA,
    SUBENTRY_LOUDSPEAKER,
)

from .media import make_h264_file

pytest_plugins = ["tests.rtsp", "tests.standins"]

STATION_NAME = "Công an xã Ngũ Đoan"
BELL_BLUEPRINT = "anninh/bell_pressed_record_announce.yaml"
LOCATION = {"latitude": 20.83, "longitude": 106.72}


async def wait_until(predicate: Callable[[], object], within: float = 30.0) -> None:
    """Wait until `predicate` holds: reader and writer threads run in real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/anninh in every test."""


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A fresh configuration folder per test (blueprints and TTS caches are written there)."""
    folder = tmp_path / "config"
    folder.mkdir()
    hass.config.config_dir = str(folder)
    return folder


@pytest.fixture
def media_dir(hass: HomeAssistant, tmp_path: Path, config_dir: Path) -> Path:
    """An allowed, writable media folder for the test's Home Assistant."""
    media = tmp_path / "media"
    media.mkdir()
    hass.config.media_dirs = {"local": str(media)}
    hass.config.allowlist_external_dirs = {str(media)}
    return media


@pytest.fixture
def video_file(media_dir: Path) -> Path:
    """A real H.264 MP4 inside the allowed media folder (a demo-style local camera)."""
    return make_h264_file(media_dir / "street.mp4", seconds=2.0)


async def async_use_blueprint(
    hass: HomeAssistant, path: str, inputs: dict[str, Any], alias: str | None = None
) -> None:
    """Set up one automation from a shipped blueprint (`anninh/<file>.yaml`) with `inputs`."""
    from homeassistant.setup import async_setup_component

    automation = {"alias": alias or path, "use_blueprint": {"path": path, "input": inputs}}
    assert await async_setup_component(hass, "automation", {"automation": automation})
    await hass.async_block_till_done()


def entity_id_of(hass: HomeAssistant, subentry_id: str, domain: str, key: str) -> str:
    """The entity id of one of a device's entities (unique id `<subentry id>-<key>`)."""
    from custom_components.anninh.ids import entity_id_of as lookup

    entity_id = lookup(hass, domain, subentry_id, key)
    assert entity_id is not None, f"no {domain} {key} for {subentry_id}"
    return entity_id


def camera_data(url: str, name: str = "Ngã ba chợ", **extra: Any) -> dict[str, Any]:
    """Subentry data of a camera."""
    return {
        CONF_NAME: name,
        CONF_ADDRESS: "Thôn 3, xã Ngũ Đoan",
        CONF_LOCATION: LOCATION,
        CONF_DONOR_NAME: "Hộ ông Nguyễn Văn An",
        CONF_DONOR_PHONE: "0912345678",
        CONF_STREAM_URL: url,
        **extra,
    }


def bell_data(name: str = "Trạm y tế xã", **extra: Any) -> dict[str, Any]:
    """Subentry data of a webhook bell."""
    return {
        CONF_NAME: name,
        CONF_ADDRESS: "Trạm y tế xã Ngũ Đoan",
        CONF_LOCATION: LOCATION,
        CONF_SOURCE: SOURCE_WEBHOOK,
        CONF_WEBHOOK_ID: "bell-secret-webhook-id-0123456789abcdef",
        CONF_LOCAL_ONLY: True,
        CONF_PRIORITY: "high",
        **extra,
    }


def loudspeaker_data(name: str = "Loa nhà văn hóa", **extra: Any) -> dict[str, Any]:
    """Subentry data of a loudspeaker."""
    return {
        CONF_NAME: name,
        CONF_ADDRESS: "Nhà văn hóa thôn 3",
        CONF_LOCATION: LOCATION,
        CONF_TARGETS: ["media_player.loa_thon_3"],
        CONF_VOLUME: 70,
        CONF_LANGUAGE: "vi",
        **extra,
    }


def subentry(kind: str, data: dict[str, Any]) -> ConfigSubentryData:
    """A subentry for `MockConfigEntry(subentries_data=...)`."""
    return ConfigSubentryData(data=data, subentry_type=kind, title=data[CONF_NAME], unique_id=None)


def station_entry(
    media_dir: Path, subentries: list[ConfigSubentryData] | None = None
) -> MockConfigEntry:
    """A station config entry (not yet added to hass); its recordings folder exists."""
    (media_dir / ".anninh").mkdir(parents=True, exist_ok=True)
    return MockConfigEntry(
        domain=DOMAIN,
        title=STATION_NAME,
        unique_id="cong_an_xa_ngu_doan",
        data={CONF_NAME: STATION_NAME, CONF_RECORDINGS_DIR: str(media_dir / ".anninh")},
        options={CONF_RETENTION_DAYS: 30, CONF_PRE_EVENT_SECONDS: 10},
        subentries_data=subentries or [],
    )


@pytest.fixture
def station(hass: HomeAssistant, media_dir: Path, video_file: Path) -> MockConfigEntry:
    """A station with one camera (local file), one webhook bell and one loudspeaker."""
    entry = station_entry(
        media_dir,
        [
            subentry(SUBENTRY_CAMERA, camera_data(str(video_file))),
            subentry(SUBENTRY_BELL, bell_data()),
            subentry(SUBENTRY_LOUDSPEAKER, loudspeaker_data()),
        ],
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_station(hass: HomeAssistant, station: MockConfigEntry) -> MockConfigEntry:
    """The station, set up."""
    assert await hass.config_entries.async_setup(station.entry_id)
    await hass.async_block_till_done()
    return station


@pytest.fixture
def translations() -> Generator[dict[str, dict[str, Any]]]:
    """Both languages' translation files."""
    import json

    folder = Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations"
    return {lang: json.loads((folder / f"{lang}.json").read_text()) for lang in ("en", "vi")}


def _lookup(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        assert isinstance(node, dict), f"{dotted}: {part} is not a section"
        assert part in node, f"translation {dotted!r} is missing"
        node = node[part]
    return node


def assert_translated(result: Any, section: str) -> None:
    """Every step, error and abort a flow result names exists in English and Vietnamese.

    `section` is `config`, `options` or `config_subentries.<kind>`.
    """
    import json

    folder = Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations"
    for lang in ("en", "vi"):
        tree = json.loads((folder / f"{lang}.json").read_text())
        if result["type"] == "form":
            step = _lookup(tree, f"{section}.step.{result['step_id']}")
            for field in result["data_schema"].schema:
                _lookup(step, f"data.{field}")
            for error in (result.get("errors") or {}).values():
                _lookup(tree, f"{section}.error.{error}")
        elif result["type"] == "abort":
            _lookup(tree, f"{section}.abort.{result['reason']}")
