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

from .announce import EVENT_ANNOUNCEMENT
from .const import DOMAIN

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


DESCRIBERS: Final[dict[str, Describer]] = {
    EVENT_ANNOUNCEMENT: describe_announcement,
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
