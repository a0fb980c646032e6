"""How the station's events read in the logbook, in Vietnamese and English."""

from __future__ import annotations

import pytest
from homeassistant.core import Event, HomeAssistant

from custom_components.anninh.ids import (
    EVENT_ALARM_ACKNOWLEDGED,
    EVENT_BELL_PRESSED,
    EVENT_RECORDING_FINISHED,
)
from custom_components.anninh.logbook import DESCRIBERS, async_describe_events


@pytest.mark.parametrize(
    ("language", "event_type", "data", "name", "message"),
    [
        (
            "vi",
            EVENT_BELL_PRESSED,
            {"name": "Chuông trạm y tế", "address": "Trạm y tế xã", "type": "press"},
            "Chuông trạm y tế",
            "được bấm tại Trạm y tế xã",
        ),
        (
            "en",
            EVENT_BELL_PRESSED,
            {"name": "Bell", "address": "", "type": "tamper", "entity_id": "event.bell"},
            "Bell",
            "tampered with",
        ),
        (
            "vi",
            EVENT_ALARM_ACKNOWLEDGED,
            {"name": "Chuông", "user": "Trung úy Hùng"},
            "Chuông",
            "báo động đã được xác nhận bởi Trung úy Hùng",
        ),
        ("en", EVENT_ALARM_ACKNOWLEDGED, {"name": "Bell"}, "Bell", "alarm acknowledged"),
        (
            "vi",
            EVENT_RECORDING_FINISHED,
            {"camera": "Ngã ba chợ", "duration": 31.6, "clip_id": "nga_ba_cho/d/1_bell"},
            "Ngã ba chợ",
            "đã ghi hình 32 giây (nga_ba_cho/d/1_bell)",
        ),
        (
            "en",
            EVENT_RECORDING_FINISHED,
            {"camera": "Gate", "duration": 4, "clip_id": "gate/d/2_manual"},
            "Gate",
            "recorded 4 s (gate/d/2_manual)",
        ),
    ],
)
async def test_describers(
    hass: HomeAssistant,
    language: str,
    event_type: str,
    data: dict[str, object],
    name: str,
    message: str,
) -> None:
    """Each event reads as the duty officer would say it."""
    hass.config.language = language
    described = DESCRIBERS[event_type](hass, Event(event_type, data))
    assert described["name"] == name
    assert described["message"] == message


async def test_every_event_is_registered(hass: HomeAssistant) -> None:
    """The logbook platform describes every event the station fires."""
    registered: dict[str, object] = {}
    async_describe_events(hass, lambda domain, event, fn: registered.setdefault(event, fn))
    assert set(registered) == set(DESCRIBERS)
    describe = registered[EVENT_BELL_PRESSED]
    assert callable(describe)
    assert describe(Event(EVENT_BELL_PRESSED, {"name": "B", "type": "test"}))["message"]
