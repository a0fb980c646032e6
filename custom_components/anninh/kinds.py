"""The kinds of donated device, each in one entry: its subentry type, config, runtime and flow.

Adding a kind is one `DeviceKind` here, its config model (`models.py`), its runtime
(`devices/<kind>.py`), its subentry flow (`config_flow.py`), its entities in the platforms it uses
and its texts in both translation files. Nothing else looks a kind up by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from homeassistant.config_entries import ConfigSubentry, ConfigSubentryFlow
from homeassistant.core import HomeAssistant

from .config_flow import BellSubentryFlow, CameraSubentryFlow, LoudspeakerSubentryFlow
from .const import SUBENTRY_BELL, SUBENTRY_CAMERA, SUBENTRY_LOUDSPEAKER
from .devices.base import Device
from .devices.bell import BellDevice
from .devices.camera import CameraDevice
from .devices.loudspeaker import LoudspeakerDevice
from .models import BellConfig, CameraConfig, DeviceConfig, LoudspeakerConfig


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """Everything the station needs to run one kind of device."""

    subentry_type: str
    read_config: Callable[[ConfigSubentry], DeviceConfig]
    runtime: type[Device]
    flow: type[ConfigSubentryFlow]
    # Home Assistant translates a device's name but not its model: the model is written in HA's
    # language at set-up (and rewritten at every set-up).
    model: Mapping[str, str]


KINDS: Final[Mapping[str, DeviceKind]] = {
    kind.subentry_type: kind
    for kind in (
        DeviceKind(
            SUBENTRY_CAMERA,
            CameraConfig.from_subentry,
            CameraDevice,
            CameraSubentryFlow,
            {"vi": "Camera an ninh", "en": "Security camera"},
        ),
        DeviceKind(
            SUBENTRY_BELL,
            BellConfig.from_subentry,
            BellDevice,
            BellSubentryFlow,
            {"vi": "Chuông báo động", "en": "Alarm bell"},
        ),
        DeviceKind(
            SUBENTRY_LOUDSPEAKER,
            LoudspeakerConfig.from_subentry,
            LoudspeakerDevice,
            LoudspeakerSubentryFlow,
            {"vi": "Loa an ninh", "en": "Security loudspeaker"},
        ),
    )
}
STATION_MODEL: Final = {"vi": "Đơn vị công an", "en": "Police station"}


def _language(hass: HomeAssistant) -> str:
    return "vi" if hass.config.language.lower().startswith("vi") else "en"


def station_model(hass: HomeAssistant) -> str:
    """The station's device model, in HA's language."""
    return STATION_MODEL[_language(hass)]


def device_model(hass: HomeAssistant, subentry_type: str) -> str:
    """A device kind's model, in HA's language."""
    return KINDS[subentry_type].model[_language(hass)]


def device_config(subentry: ConfigSubentry) -> DeviceConfig:
    """The typed view of any device subentry."""
    return KINDS[subentry.subentry_type].read_config(subentry)
