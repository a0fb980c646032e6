"""The duty officer's dashboard (offered through a repair) and the blueprints installed on setup."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models as blueprint_models
from homeassistant.components.frontend import DATA_PANELS
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import parse_yaml
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh import blueprints as blueprint_installer
from custom_components.anninh.const import DOMAIN
from custom_components.anninh.dashboard import OFFER_ISSUE_ID, URL_PATH, async_setup_dashboard

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "blueprints" / "automation" / DOMAIN


def _cards(config: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


async def test_dashboard_offered_and_created(
    hass: HomeAssistant,
    station: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The offer appears once; confirming it creates an editable dashboard in the sidebar."""
    assert await async_setup_component(hass, "lovelace", {})
    assert await async_setup_component(hass, "repairs", {})
    assert await hass.config_entries.async_setup(station.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, OFFER_ISSUE_ID) is not None

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": OFFER_ISSUE_ID}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()

    assert URL_PATH in hass.data[DATA_PANELS]
    config = await hass.data[LOVELACE_DATA].dashboards[URL_PATH].async_load(False)
    cards = _cards(config)
    camera = next(c["entity"] for c in cards if c["type"] == "picture-entity")
    assert camera.startswith("camera.")
    map_card = next(c for c in cards if c["type"] == "map")
    assert camera in map_card["entities"]
    assert any(e.startswith("event.") for e in map_card["entities"])
    conditional = next(c for c in cards if c["type"] == "conditional")
    assert conditional["conditions"][0]["entity"].startswith("binary_sensor.")
    assert config["title"] == "Security"
    assert issue_registry.async_get_issue(DOMAIN, OFFER_ISSUE_ID) is None

    # Not offered again; re-registered after a restart.
    hass.data[DATA_PANELS].pop(URL_PATH)
    await async_setup_dashboard(hass)
    assert URL_PATH in hass.data[DATA_PANELS]
    assert issue_registry.async_get_issue(DOMAIN, OFFER_ISSUE_ID) is None


async def test_create_dashboard_action_vietnamese(
    hass: HomeAssistant, loaded_station: MockConfigEntry
) -> None:
    """The action regenerates the dashboard, with Vietnamese labels for a Vietnamese HA."""
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "create_dashboard", {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "dashboard_unavailable"

    assert await async_setup_component(hass, "lovelace", {})
    hass.config.language = "vi"
    response = await hass.services.async_call(
        DOMAIN, "create_dashboard", {}, blocking=True, return_response=True
    )
    assert response == {"url_path": f"/{URL_PATH}"}
    config = await hass.data[LOVELACE_DATA].dashboards[URL_PATH].async_load(False)
    assert config["title"] == "An ninh"
    assert [view["title"] for view in config["views"]] == ["Trực ban", "Camera"]


def test_shipped_blueprints_match_packaged() -> None:
    """The repository's blueprints are the ones the integration installs."""
    shipped = sorted(p.name for p in SHIPPED.glob("*.yaml"))
    assert shipped == [
        "bell_pressed_record_announce.yaml",
        "device_offline_notify.yaml",
        "motion_after_hours_record_notify.yaml",
    ]
    for name in shipped:
        assert (SHIPPED / name).read_bytes() == (blueprint_installer.SOURCE / name).read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("*.yaml")))
def test_blueprints_are_valid(name: str) -> None:
    """HA's blueprint machinery accepts each blueprint and its inputs with defaults."""

    data = parse_yaml((SHIPPED / name).read_text())
    blueprint = blueprint_models.Blueprint(
        data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert blueprint.metadata["source_url"].endswith(name)
    required = {
        key: "event.bell" if key == "bell" else ["binary_sensor.motion"]
        for key, spec in blueprint.inputs.items()
        if spec is None or "default" not in spec
    }
    inputs = blueprint_models.BlueprintInputs(
        blueprint, {"use_blueprint": {"path": name, "input": required}}
    )
    inputs.validate()
    substituted = inputs.async_substitute()
    assert substituted["triggers"]


async def test_blueprints_installed_without_overwriting_user_edits(
    hass: HomeAssistant, loaded_station: MockConfigEntry
) -> None:
    """Setup installs them; an edited file is kept; an untouched old version is updated."""
    target = Path(hass.config.path("blueprints", "automation", DOMAIN))
    bell = target / "bell_pressed_record_announce.yaml"
    motion = target / "motion_after_hours_record_notify.yaml"
    assert bell.read_bytes() == (SHIPPED / bell.name).read_bytes()

    bell.write_text(bell.read_text() + "\n# edited by the station's admin\n")
    await blueprint_installer.async_install_blueprints(hass)
    assert bell.read_text().endswith("# edited by the station's admin\n")

    # Simulate an update of the shipped file: the user's untouched copy follows it.
    new_source = Path(hass.config.path("new-blueprints"))
    shutil.copytree(blueprint_installer.SOURCE, new_source)
    (new_source / motion.name).write_text(motion.read_text() + "\n# v2\n")
    original = blueprint_installer.SOURCE
    blueprint_installer.SOURCE = new_source
    try:
        await blueprint_installer.async_install_blueprints(hass)
    finally:
        blueprint_installer.SOURCE = original
    assert motion.read_text().endswith("# v2\n")
    assert bell.read_text().endswith("# edited by the station's admin\n")
    shutil.rmtree(new_source)
