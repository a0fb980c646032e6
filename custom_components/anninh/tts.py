"""The station's offline voice: a `tts` entity speaking Vietnamese (and English) with espeak-ng.

Works without the internet and without add-ons: the library and its voice data come with the
`espeakng-loader` requirement (`engine/speech.py`). Options: `voice` (north, central, south for
Vietnamese; en-gb, en-us for English), `rate` (80-450 words a minute, 150) and `pitch` (0-100,
50). The audio is WAV (16-bit mono, 22 050 Hz); HA's TTS cache keeps it like any engine's, and
converts it to MP3 only for callers that do not ask for `preferred_format: wav`.

One engine (one worker thread) serves every station of this Home Assistant; it is opened with
the first station and closed with the last one, or when Home Assistant stops. Where the library
cannot load (HA OS and Container are musl-based, the wheel has no build for the machine, ...),
the station sets up without this entity and a repair issue says what to use instead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from homeassistant.components.tts import ATTR_VOICE, TextToSpeechEntity, TtsAudioType, Voice
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .engine.speech import (
    DEFAULT_PITCH,
    DEFAULT_RATE,
    VOICE_NAMES,
    VOICES,
    Speech,
    SpeechError,
    SpeechUnavailable,
)
from .station import AnNinhConfigEntry

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

ATTR_RATE: Final = "rate"
ATTR_PITCH: Final = "pitch"
UNIQUE_ID_SUFFIX: Final = "offline_voice"
ISSUE_UNAVAILABLE: Final = "offline_voice_unavailable"
PIPER_URL: Final = "https://www.home-assistant.io/integrations/wyoming/"

DATA_SPEECH: HassKey[SharedSpeech] = HassKey(f"{DOMAIN}_speech")


@dataclass
class SharedSpeech:
    """The engine of this Home Assistant and the stations using it."""

    speech: Speech
    users: set[str] = field(default_factory=set)
    unsubscribe_stop: CALLBACK_TYPE | None = None


async def async_acquire_speech(hass: HomeAssistant, user: str) -> Speech | None:
    """The open engine for `user` (a config entry id), or None with a repair issue raised."""
    shared = hass.data.get(DATA_SPEECH)
    if shared is None:
        speech = Speech()
        try:
            await hass.async_add_executor_job(speech.open)
        except SpeechUnavailable as err:
            _LOGGER.warning("The offline voice is unavailable: %s", err)
            ir.async_create_issue(
                hass,
                DOMAIN,
                ISSUE_UNAVAILABLE,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_UNAVAILABLE,
                translation_placeholders={"reason": str(err), "piper_url": PIPER_URL},
                learn_more_url=PIPER_URL,
            )
            return None
        ir.async_delete_issue(hass, DOMAIN, ISSUE_UNAVAILABLE)
        _LOGGER.debug("Offline voice: espeak-ng %s", speech.version)
        shared = hass.data[DATA_SPEECH] = SharedSpeech(speech)

        async def _async_stop(_event: Event) -> None:
            shared.unsubscribe_stop = None
            shared.users.clear()
            await _async_close(hass, shared)

        shared.unsubscribe_stop = hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop)
    shared.users.add(user)
    return shared.speech


async def async_release_speech(hass: HomeAssistant, user: str) -> None:
    """`user` no longer needs the engine; the last one closes it."""
    shared = hass.data.get(DATA_SPEECH)
    if shared is None:
        return
    shared.users.discard(user)
    if not shared.users:
        if shared.unsubscribe_stop is not None:
            shared.unsubscribe_stop()
            shared.unsubscribe_stop = None
        await _async_close(hass, shared)


async def _async_close(hass: HomeAssistant, shared: SharedSpeech) -> None:
    if hass.data.get(DATA_SPEECH) is shared:
        del hass.data[DATA_SPEECH]
    await hass.async_add_executor_job(shared.speech.close)


@callback
def offline_engine(hass: HomeAssistant, entry_id: str) -> str | None:
    """The entity id of a station's offline voice, if it is set up and working."""
    entity_id = er.async_get(hass).async_get_entity_id(
        Platform.TTS, DOMAIN, f"{entry_id}-{UNIQUE_ID_SUFFIX}"
    )
    if entity_id is None or DATA_SPEECH not in hass.data:
        return None
    from homeassistant.components.tts.helper import get_engine_instance  # noqa: PLC0415

    return entity_id if get_engine_instance(hass, entity_id) is not None else None


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The station's offline voice, when the library loads on this machine."""
    speech = await async_acquire_speech(hass, entry.entry_id)
    if speech is None:
        return

    async def _async_release() -> None:
        await async_release_speech(hass, entry.entry_id)

    entry.async_on_unload(_async_release)
    async_add_entities([OfflineVoice(entry, speech)])


class OfflineVoice(TextToSpeechEntity):
    """Vietnamese (and English) speech made on this machine."""

    _attr_has_entity_name = True
    _attr_translation_key = UNIQUE_ID_SUFFIX
    _attr_default_language = "vi"

    def __init__(self, entry: AnNinhConfigEntry, speech: Speech) -> None:
        """An entity of the station's device."""
        self._speech = speech
        self._attr_supported_languages = list(VOICES)
        self._attr_supported_options = [ATTR_VOICE, ATTR_RATE, ATTR_PITCH]
        self._attr_default_options = {ATTR_RATE: DEFAULT_RATE, ATTR_PITCH: DEFAULT_PITCH}
        self._attr_unique_id = f"{entry.entry_id}-{UNIQUE_ID_SUFFIX}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry.entry_id)})

    @property
    def available(self) -> bool:
        """Unavailable once the engine is closed (Home Assistant stopping)."""
        return self._speech.available

    @callback
    def async_get_supported_voices(self, language: str) -> list[Voice] | None:
        """North, Central and South for Vietnamese; British and American for English."""
        if language not in VOICES:
            return None
        return [Voice(voice_id, VOICE_NAMES[voice_id]) for voice_id in VOICES[language]]

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        """WAV of the message; a clear error for a bad option or a failed synthesis."""
        try:
            future = self._speech.submit(
                message,
                language,
                options.get(ATTR_VOICE),
                options.get(ATTR_RATE, DEFAULT_RATE),
                options.get(ATTR_PITCH, DEFAULT_PITCH),
            )
            result = await asyncio.wrap_future(future)
        except (ValueError, SpeechError, SpeechUnavailable) as err:
            raise HomeAssistantError(f"Offline voice: {err}") from err
        return "wav", result.wav
