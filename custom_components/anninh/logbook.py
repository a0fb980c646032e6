"""How the station's events read in the logbook.

One describer per event type in `DESCRIBERS`; to add an event, write a describer and list it.
Logbook entries are plain text (HA does not translate them), so each describer words its entry
in the instance's language: Vietnamese when Home Assistant is set to Vietnamese, else English.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN
from .ids import (
    EVENT_ALARM_ACKNOWLEDGED,
    EVENT_ANNOUNCEMENT,
    EVENT_BELL_PRESSED,
    EVENT_RECORDING_FINISHED,
)

type Describer = Callable[[HomeAssistant, Event], dict[str, Any]]

CHIME_WORDS: Final = {
    "vi": {"none": "không chuông", "bell": "chuông", "gong": "tiếng chiêng", "siren": "còi hụ"},
    "en": {"none": "no chime", "bell": "bell", "gong": "gong", "siren": "siren"},
}


def _vietnamese(hass: HomeAssistant) -> bool:
    return hass.config.language.lower().startswith("vi")


def describe_announcement(hass: HomeAssistant, event: Event) -> dict[str, Any]:
    """`anninh_announcement`: <loudspeaker> announced "<message>" (<chime>)."""
    data = event.data
    lang = "vi" if _vietnamese(hass) else "en"
    chime = CHIME_WORDS[lang].get(data.get("chime", ""), data.get("chime", ""))
    message = data.get("message", "")
    if lang == "vi":
        text = f'đã phát thông báo "{message}" ({chime})'
    else:
        text = f'announced "{message}" ({chime})'
    return {
        LOGBOOK_ENTRY_NAME: data.get("name") or data.get(ATTR_ENTITY_ID, DOMAIN),
        LOGBOOK_ENTRY_MESSAGE: text,
        LOGBOOK_ENTRY_ENTITY_ID: data.get(ATTR_ENTITY_ID),
    }


PRESS_WORDS: Final = {
    "vi": {
        "press": "được bấm",
        "long_press": "được bấm giữ",
        "test": "được bấm thử",
        "tamper": "bị phá",
    },
    "en": {
        "press": "pressed",
        "long_press": "long-pressed",
        "test": "tested",
        "tamper": "tampered with",
    },
}


def describe_bell_pressed(hass: HomeAssistant, event: Event) -> dict[str, Any]:
    """`anninh_bell_pressed`: <bell> pressed at <address>."""
    data = event.data
    lang = "vi" if _vietnamese(hass) else "en"
    what = PRESS_WORDS[lang].get(data.get("type", ""), data.get("type", ""))
    where = data.get("address") or ""
    text = f"{what} tại {where}" if lang == "vi" else f"{what} at {where}"
    return {
        LOGBOOK_ENTRY_NAME: data.get("name") or DOMAIN,
        LOGBOOK_ENTRY_MESSAGE: text if where else what,
        LOGBOOK_ENTRY_ENTITY_ID: data.get(ATTR_ENTITY_ID),
    }


def describe_alarm_acknowledged(hass: HomeAssistant, event: Event) -> dict[str, Any]:
    """`anninh_alarm_acknowledged`: alarm at <bell> acknowledged by <user>."""
    data = event.data
    user, note = data.get("user") or "", data.get("note") or ""
    if _vietnamese(hass):
        text = "báo động đã được xác nhận" + (f" bởi {user}" if user else "")
        text += f': "{note}"' if note else ""
    else:
        text = "alarm acknowledged" + (f" by {user}" if user else "")
        text += f': "{note}"' if note else ""
    return {
        LOGBOOK_ENTRY_NAME: data.get("name") or DOMAIN,
        LOGBOOK_ENTRY_MESSAGE: text,
        LOGBOOK_ENTRY_ENTITY_ID: data.get(ATTR_ENTITY_ID),
    }


def describe_recording_finished(hass: HomeAssistant, event: Event) -> dict[str, Any]:
    """`anninh_recording_finished`: <camera> recorded <n> s (<clip id>)."""
    data = event.data
    seconds = round(float(data.get("duration") or 0))
    if _vietnamese(hass):
        text = f"đã ghi hình {seconds} giây ({data.get('clip_id', '')})"
    else:
        text = f"recorded {seconds} s ({data.get('clip_id', '')})"
    return {
        LOGBOOK_ENTRY_NAME: data.get("camera") or DOMAIN,
        LOGBOOK_ENTRY_MESSAGE: text,
        LOGBOOK_ENTRY_ENTITY_ID: data.get(ATTR_ENTITY_ID),
    }


DESCRIBERS: Final[dict[str, Describer]] = {
    EVENT_ANNOUNCEMENT: describe_announcement,
    EVENT_BELL_PRESSED: describe_bell_pressed,
    EVENT_ALARM_ACKNOWLEDGED: describe_alarm_acknowledged,
    EVENT_RECORDING_FINISHED: describe_recording_finished,
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, Any]]], None],
) -> None:
    """Describe every anninh event type for the logbook."""
    for event_type, describer in DESCRIBERS.items():

        @callback
        def describe(event: Event, describer: Describer = describer) -> dict[str, Any]:
            return describer(hass, event)

        async_describe_event(DOMAIN, event_type, describe)
