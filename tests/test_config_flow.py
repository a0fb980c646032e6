"""The station's config flow, reconfigure flow and options flow, on a real Home Assistant."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.anninh.const import (
    CONF_KEEP_CONTINUOUS_DAYS,
    CONF_KEEP_MOTION_DAYS,
    CONF_MIN_FREE_GB,
    CONF_PRE_EVENT_SECONDS,
    CONF_RECORDINGS_DIR,
    CONF_RETENTION_DAYS,
    DOMAIN,
)

from .conftest import STATION_NAME, assert_translated, station_entry


def _station_input(folder: Path | str, name: str = STATION_NAME) -> dict[str, object]:
    return {
        CONF_NAME: name,
        CONF_RECORDINGS_DIR: str(folder),
        CONF_KEEP_CONTINUOUS_DAYS: 5,
        CONF_KEEP_MOTION_DAYS: 20,
        CONF_RETENTION_DAYS: 45,
        CONF_MIN_FREE_GB: 2,
        CONF_PRE_EVENT_SECONDS: 15,
    }


async def test_user_flow_creates_station(hass: HomeAssistant, media_dir: Path) -> None:
    """The happy path: the folder is made, data and options stored, the station loads."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, "config")
    schema = result["data_schema"]({CONF_NAME: "x"})
    assert schema[CONF_RECORDINGS_DIR] == str(media_dir / ".anninh")
    assert schema[CONF_KEEP_CONTINUOUS_DAYS] == 7
    assert schema[CONF_KEEP_MOTION_DAYS] == 30
    assert schema[CONF_RETENTION_DAYS] == 90
    assert schema[CONF_MIN_FREE_GB] == 10
    assert schema[CONF_PRE_EVENT_SECONDS] == 10

    folder = media_dir / ".anninh"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _station_input(folder, f"  {STATION_NAME} ")
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == STATION_NAME
    assert entry.data == {CONF_NAME: STATION_NAME, CONF_RECORDINGS_DIR: str(folder)}
    assert entry.options == {
        CONF_KEEP_CONTINUOUS_DAYS: 5,
        CONF_KEEP_MOTION_DAYS: 20,
        CONF_RETENTION_DAYS: 45,
        CONF_MIN_FREE_GB: 2,
        CONF_PRE_EVENT_SECONDS: 15,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert folder.is_dir()
    # The write test left nothing behind: only the 24/7 recorder's index is there.
    assert {p.name for p in folder.iterdir()} <= {
        ".index.sqlite3",
        ".index.sqlite3-wal",
        ".index.sqlite3-shm",
    }
    assert entry.runtime_data.settings.policy.min_free_bytes == 2 * 1024**3
    assert entry.runtime_data.settings.pre_event_seconds == 15


@pytest.mark.parametrize(
    ("folder", "name", "error"),
    [
        ("relative/anninh", STATION_NAME, {CONF_RECORDINGS_DIR: "path_not_absolute"}),
        ("/etc/anninh", STATION_NAME, {CONF_RECORDINGS_DIR: "path_not_allowed"}),
        ("{media}/.a-file/anninh", STATION_NAME, {CONF_RECORDINGS_DIR: "path_not_writable"}),
        ("{media}/anninh", STATION_NAME, {CONF_RECORDINGS_DIR: "path_in_my_media"}),
        ("{media}", STATION_NAME, {CONF_RECORDINGS_DIR: "path_in_my_media"}),
        ("{media}/.anninh", "   ", {CONF_NAME: "name_required"}),
    ],
)
async def test_user_flow_errors(
    hass: HomeAssistant, media_dir: Path, folder: str, name: str, error: dict[str, str]
) -> None:
    """Each bad input gets its translated error, and the flow recovers."""
    (media_dir / ".a-file").write_text("not a folder")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _station_input(folder.format(media=media_dir), name)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    assert_translated(result, "config")
    assert not Path("/etc/anninh").exists()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _station_input(media_dir / ".ok")
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_duplicate_station_refused(hass: HomeAssistant, media_dir: Path) -> None:
    """A second station with the same name is refused."""
    station_entry(media_dir).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _station_input(media_dir / ".other", STATION_NAME.upper())
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_translated(result, "config")


async def test_reconfigure_station(hass: HomeAssistant, loaded_station: object) -> None:
    """Renaming the station and moving its folder reloads it with the new settings."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    old_runtime = entry.runtime_data
    new_folder = Path(hass.config.media_dirs["local"]) / ".station2"
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, "config")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_NAME: "Công an phường Đông Hải", CONF_RECORDINGS_DIR: str(new_folder)},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert_translated(result, "config")
    assert entry.title == "Công an phường Đông Hải"
    assert entry.unique_id == "cong_an_phuong_dong_hai"
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not old_runtime
    assert entry.runtime_data.settings.recordings_dir == new_folder


async def test_reconfigure_to_taken_name(
    hass: HomeAssistant, media_dir: Path, loaded_station: object
) -> None:
    """Renaming onto another station's name is refused; bad folders get errors."""
    other = station_entry(media_dir)
    other.add_to_hass(hass)
    hass.config_entries.async_update_entry(other, unique_id="tram_2", title="Trạm 2")
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: STATION_NAME, CONF_RECORDINGS_DIR: "/etc/x"}
    )
    assert result["errors"] == {CONF_RECORDINGS_DIR: "path_not_allowed"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Trạm 2", CONF_RECORDINGS_DIR: str(media_dir / ".x")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_apply_live(hass: HomeAssistant, loaded_station: object) -> None:
    """Retention and pre-event seconds change without reloading the station."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    runtime = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, "options")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_KEEP_CONTINUOUS_DAYS: 3.0,
            CONF_KEEP_MOTION_DAYS: 14.0,
            CONF_RETENTION_DAYS: 90.0,
            CONF_MIN_FREE_GB: 0.0,
            CONF_PRE_EVENT_SECONDS: 20.0,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_KEEP_CONTINUOUS_DAYS: 3,
        CONF_KEEP_MOTION_DAYS: 14,
        CONF_RETENTION_DAYS: 90,
        CONF_MIN_FREE_GB: 0,
        CONF_PRE_EVENT_SECONDS: 20,
    }
    assert entry.runtime_data is runtime
    assert runtime.settings.retention_days == 90
    assert runtime.archive is not None
    assert runtime.archive.policy.continuous_days == 3  # the 24/7 recorder's tiers, live
    assert runtime.settings.pre_event_seconds == 20
