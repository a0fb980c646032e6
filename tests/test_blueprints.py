"""The blueprints installed on setup."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models as blueprint_models
from homeassistant.core import HomeAssistant
from homeassistant.util.yaml import parse_yaml
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.anninh import blueprints as blueprint_installer
from custom_components.anninh.const import DOMAIN

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "blueprints" / "automation" / DOMAIN


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
