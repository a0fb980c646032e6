"""Setup, unload, reload and diagnostics of a station."""

from __future__ import annotations

import json

from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import DOMAIN, SUBENTRY_CAMERA
from custom_components.anninh.diagnostics import _redact_url

from .conftest import subentry


async def test_setup_unload_reload(
    hass: HomeAssistant, station: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """Every subentry gets a device under the station's device; unload releases the runtime."""
    assert await hass.config_entries.async_setup(station.entry_id)
    await hass.async_block_till_done()
    assert station.state is ConfigEntryState.LOADED
    runtime = station.runtime_data
    assert set(runtime.devices) == set(station.subentries)
    devices = dr.async_entries_for_config_entry(device_registry, station.entry_id)
    assert len(devices) == 4  # the station and its three devices

    assert await hass.config_entries.async_reload(station.entry_id)
    await hass.async_block_till_done()
    assert station.state is ConfigEntryState.LOADED
    assert station.runtime_data is not runtime
    assert not runtime.devices  # the old runtime let go of everything

    assert await hass.config_entries.async_unload(station.entry_id)
    await hass.async_block_till_done()
    assert station.state is ConfigEntryState.NOT_LOADED
    assert not hasattr(station, "runtime_data")


async def test_diagnostics_redacted(
    hass: HomeAssistant,
    station: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Passwords, usernames, phones, donors, addresses, positions and webhook ids never leak."""
    hass.config_entries.async_add_subentry(
        station,
        ConfigSubentry(
            **subentry(
                SUBENTRY_CAMERA,
                {
                    "name": "Cam có mật khẩu",
                    "address": "Số 12 đường Lê Lợi",
                    "location": {"latitude": 20.8, "longitude": 106.7},
                    "donor_name": "Hộ bà Trần Thị Bình",
                    "donor_phone": "0987654321",
                    "stream_url": "rtsp://cam.local:554/live?token=SECRET-TOKEN",
                    "sub_stream_url": "rtsp://user:INLINE-PW@cam.local/sub",
                    "username": "admin",
                    "password": "SUPER-SECRET",
                },
            )
        ),
    )
    assert await hass.config_entries.async_setup(station.entry_id)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, station)
    text = json.dumps(diagnostics, ensure_ascii=False)
    for secret in (
        "SUPER-SECRET",
        "INLINE-PW",
        "SECRET-TOKEN",
        "0987654321",
        "0912345678",
        "Trần Thị Bình",
        "Số 12 đường Lê Lợi",
        "bell-secret-webhook-id",
        "106.7",
        '"admin"',
    ):
        assert secret not in text, secret
    assert "rtsp://cam.local:554/live?**REDACTED**" in text
    assert "rtsp://cam.local/sub" in text
    assert diagnostics["runtime"]["settings"]["retention_days"] == 30
    assert len(diagnostics["runtime"]["devices"]) == 4
    kinds = {d["kind"]: d for d in diagnostics["runtime"]["devices"].values()}
    assert kinds["camera"]["state"] in ("streaming", "reconnecting", "offline")
    assert "buffer_seconds" in kinds["camera"]
    assert kinds["bell"]["alarm_active"] is False


def test_redact_url_keeps_files() -> None:
    """Local paths and empty values pass through; hosts and paths stay readable."""
    assert _redact_url("") == ""
    assert _redact_url("/media/demo.mp4") == "/media/demo.mp4"
    assert _redact_url("http://h:8080/mjpg") == "http://h:8080/mjpg"
    assert DOMAIN == "anninh"
