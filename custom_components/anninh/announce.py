"""Action `anninh.announce`: chime, spoken message, repeated, then the volume put back.

Targets are loudspeaker entities (`entity_id`, or devices/areas that hold them); without a target
every loudspeaker of every loaded station speaks. Everything that can be wrong with the call
(unknown target, no TTS engine, a language the engine cannot speak) is checked before any
loudspeaker makes a sound, and raised as a translated `ServiceValidationError`.

Blocking: by default the action returns as soon as the announcements have started (they then run
as background tasks of their station's config entry), so an automation - the bell blueprint -
goes straight on to its recording and notification steps. With `wait: true` it returns when every
loudspeaker has finished; either way, asked for a response it says per loudspeaker what happened
(`started`, `done`, `failed` with the error, `unavailable`).

Per loudspeaker, one announcement at a time (a second one waits its turn; one identical to an
announcement already waiting is dropped, so a blueprint repeating faster than the loudspeaker
speaks cannot pile them up): fire the
`anninh_announcement` event (logbook, "last announcement" sensor), remember the targets'
volumes, set the announcement volume, then `repeat` times: chime (its length is known) and the
message spoken by HA's TTS, both played with `announce: true`; finally restore the volumes.
A play counts as finished when the targets that reported `playing` stop (capped), or - for
targets that never report it - after the known or estimated length.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

import voluptuous as vol
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.const import ATTR_ENTITY_ID, ENTITY_MATCH_ALL
from homeassistant.core import (
    Event,
    EventStateChangedData,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.service import async_extract_entity_ids
from homeassistant.util import language as language_util
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN, LANGUAGES, SUBENTRY_LOUDSPEAKER
from .media_player import Loudspeaker
from .sounds import CHIME_BELL, CHIME_NONE, CHIMES, DURATIONS, async_register_view, chime_path

_LOGGER = logging.getLogger(__name__)

SERVICE_ANNOUNCE: Final = "announce"
EVENT_ANNOUNCEMENT: Final = "anninh_announcement"

ATTR_MESSAGE: Final = "message"
ATTR_LANGUAGE: Final = "language"
ATTR_CHIME: Final = "chime"
ATTR_REPEAT: Final = "repeat"
ATTR_VOLUME: Final = "volume"
ATTR_TTS_ENGINE: Final = "tts_engine"
ATTR_WAIT: Final = "wait"

MAX_MESSAGE_LENGTH: Final = 1000
MAX_REPEAT: Final = 5

# Waiting for a play to finish. Devices take a moment to fetch and start; speech length is
# estimated from the text (Vietnamese is spoken at roughly 12-15 characters a second).
CHIME_START_GRACE: Final = 0.5
SPEECH_START_GRACE: Final = 2.0
SPEECH_SECONDS_BASE: Final = 1.0
SPEECH_CHARS_PER_SECOND: Final = 12.0
MAX_PLAY_SECONDS: Final = 120.0
PAUSE_BETWEEN: Final = 0.3

STATUS_STARTED: Final = "started"
STATUS_DONE: Final = "done"
STATUS_FAILED: Final = "failed"
STATUS_UNAVAILABLE: Final = "unavailable"

# Like an entity service's schema, except that the target is optional (none: every loudspeaker).
ANNOUNCE_SCHEMA: Final = vol.Schema(
    {
        **cv.ENTITY_SERVICE_FIELDS,
        vol.Remove("metadata"): dict,
        vol.Required(ATTR_MESSAGE): vol.All(
            cv.string, vol.Strip, vol.Length(min=1, max=MAX_MESSAGE_LENGTH)
        ),
        vol.Optional(ATTR_LANGUAGE): vol.In(LANGUAGES),
        vol.Optional(ATTR_CHIME, default=CHIME_BELL): vol.In(CHIMES),
        vol.Optional(ATTR_REPEAT, default=1): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=MAX_REPEAT)
        ),
        vol.Optional(ATTR_VOLUME): vol.All(vol.Coerce(int), vol.Range(min=0, max=100)),
        vol.Optional(ATTR_TTS_ENGINE): cv.entity_domain("tts"),
        vol.Optional(ATTR_WAIT, default=False): cv.boolean,
    }
)


@dataclass(frozen=True, slots=True)
class Announcement:
    """One loudspeaker's part of an `anninh.announce` call, validated."""

    message: str
    language: str  # as the engine names it, e.g. "vi" or "vi-VN"
    chime: str
    repeat: int
    volume: int
    engine: str


def speech_seconds(message: str) -> float:
    """Estimated length of the spoken message."""
    return SPEECH_SECONDS_BASE + len(message) / SPEECH_CHARS_PER_SECOND


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register `anninh.announce` and serve the chimes it plays."""
    async_register_view(hass)

    async def handle(call: ServiceCall) -> ServiceResponse:
        return await _async_announce(hass, call)

    hass.services.async_register(
        DOMAIN,
        SERVICE_ANNOUNCE,
        handle,
        schema=ANNOUNCE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


# -- finding the loudspeakers ------------------------------------------------------------------
_TARGET_KEYS: Final = (ATTR_ENTITY_ID, "device_id", "area_id", "floor_id", "label_id")


def _all_loudspeakers(hass: HomeAssistant) -> dict[str, Loudspeaker]:
    """entity_id -> loudspeaker entity, over every loaded station."""
    speakers: dict[str, Loudspeaker] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        for device in entry.runtime_data.devices_of(SUBENTRY_LOUDSPEAKER):
            for entity in device.entities:
                if isinstance(entity, Loudspeaker) and entity.entity_id:
                    speakers[entity.entity_id] = entity
    return speakers


async def _async_targets(hass: HomeAssistant, call: ServiceCall) -> list[Loudspeaker]:
    """The loudspeakers the call names, or all of them; a clear error for anything else.

    Entities named by `entity_id` must be loudspeakers; of devices, areas, floors and labels
    only the loudspeakers count.
    """
    speakers = _all_loudspeakers(hass)
    explicit = call.data.get(ATTR_ENTITY_ID)
    if explicit == ENTITY_MATCH_ALL or not any(call.data.get(key) for key in _TARGET_KEYS):
        if not speakers:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_loudspeakers"
            )
        return list(speakers.values())
    for entity_id in explicit if isinstance(explicit, list) else ():
        if entity_id not in speakers:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_loudspeaker",
                translation_placeholders={"entity_id": entity_id},
            )
    selected = sorted(e for e in await async_extract_entity_ids(call) if e in speakers)
    if not selected:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_loudspeakers")
    return [speakers[e] for e in selected]


# -- TTS -------------------------------------------------------------------------------------------
def _resolve_engine(hass: HomeAssistant, requested: str | None) -> tuple[str, list[str]]:
    """The engine (the chosen one, or HA's default) and the languages it speaks."""
    if "tts" in hass.config.components:
        from homeassistant.components import tts  # noqa: PLC0415 - only when TTS is set up
        from homeassistant.components.tts.helper import get_engine_instance  # noqa: PLC0415

        engine = tts.async_resolve_engine(hass, requested)
        if engine is not None and (instance := get_engine_instance(hass, engine)) is not None:
            return engine, list(instance.supported_languages or [])
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="tts_engine_missing" if requested else "no_tts_engine",
        translation_placeholders={"engine": requested or ""},
    )


def _engine_language(language: str, engine: str, supported: list[str]) -> str:
    """The engine's own tag for `language` ("vi" may be "vi-VN" to the engine)."""
    if language in supported:
        return language
    if matches := language_util.matches(language, supported):
        return matches[0]
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="language_unsupported",
        translation_placeholders={"language": language, "engine": engine},
    )


# -- the action ------------------------------------------------------------------------------------
async def _async_announce(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    speakers = await _async_targets(hass, call)
    engine, supported = _resolve_engine(hass, call.data.get(ATTR_TTS_ENGINE))
    message: str = call.data[ATTR_MESSAGE]
    plans: list[tuple[Loudspeaker, Announcement]] = []
    for speaker in speakers:
        config = speaker.device.config
        language = call.data.get(ATTR_LANGUAGE, config.language)
        plans.append(
            (
                speaker,
                Announcement(
                    message=message,
                    language=_engine_language(language, engine, supported),
                    chime=call.data[ATTR_CHIME],
                    repeat=call.data[ATTR_REPEAT],
                    volume=call.data.get(ATTR_VOLUME, config.volume),
                    engine=engine,
                ),
            )
        )

    results: dict[str, dict[str, str]] = {}
    tasks: dict[str, asyncio.Task[None]] = {}
    for speaker, announcement in plans:
        result: dict[str, str] = {
            "name": speaker.device.config.name,
            ATTR_LANGUAGE: announcement.language,
        }
        results[speaker.entity_id] = result
        if not speaker.available:
            result["status"] = STATUS_UNAVAILABLE
            continue
        result["status"] = STATUS_STARTED
        entry = speaker.platform.config_entry
        assert entry is not None
        tasks[speaker.entity_id] = entry.async_create_background_task(
            hass,
            _async_run(hass, speaker, announcement, call),
            f"anninh announce {speaker.entity_id}",
        )
    if not tasks:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="loudspeakers_unavailable",
            translation_placeholders={"names": ", ".join(r["name"] for r in results.values())},
        )

    if call.data[ATTR_WAIT]:
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for entity_id, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                results[entity_id]["status"] = STATUS_FAILED
                results[entity_id]["error"] = str(outcome) or type(outcome).__name__
            else:
                results[entity_id]["status"] = STATUS_DONE
        failed = [r for r in results.values() if r["status"] == STATUS_FAILED]
        if failed and len(failed) == len(tasks) and not call.return_response:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="announce_failed",
                translation_placeholders={
                    "names": ", ".join(r["name"] for r in failed),
                    "error": failed[0]["error"],
                },
            )
    else:
        for entity_id, task in tasks.items():
            task.add_done_callback(_log_failure(entity_id))

    if call.return_response:
        return cast("JsonObjectType", {"loudspeakers": results})
    return None


def _log_failure(entity_id: str) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.error("Announcement on %s failed: %s", entity_id, error)

    return done


async def _async_run(
    hass: HomeAssistant, speaker: Loudspeaker, announcement: Announcement, call: ServiceCall
) -> None:
    """One loudspeaker's announcement, in its turn; dropped if the same one is already waiting."""
    key = (announcement.message, announcement.language, announcement.chime)
    if key in speaker.announcements_waiting:
        _LOGGER.debug("%s: the same announcement is already waiting", speaker.entity_id)
        return
    speaker.announcements_waiting.add(key)
    try:
        await speaker.announce_lock.acquire()
    finally:
        speaker.announcements_waiting.discard(key)
    try:
        await _async_speak(hass, speaker, announcement, call)
    finally:
        speaker.announce_lock.release()


async def _async_speak(
    hass: HomeAssistant, speaker: Loudspeaker, announcement: Announcement, call: ServiceCall
) -> None:
    """Event, volume, `repeat` x (chime, message), volume back; the lock is held."""
    from homeassistant.components import tts  # noqa: PLC0415

    config = speaker.device.config
    hass.bus.async_fire(
        EVENT_ANNOUNCEMENT,
        {
            ATTR_ENTITY_ID: speaker.entity_id,
            "device_id": speaker.device_entry.id if speaker.device_entry else None,
            "name": config.name,
            "address": config.address,
            ATTR_MESSAGE: announcement.message,
            ATTR_LANGUAGE: announcement.language,
            ATTR_CHIME: announcement.chime,
            ATTR_REPEAT: announcement.repeat,
            ATTR_VOLUME: announcement.volume,
            "user_id": call.context.user_id,
        },
        context=call.context,
    )
    speaker.async_set_context(call.context)
    previous = speaker.target_volumes()
    try:
        if speaker.active_targets(MediaPlayerEntityFeature.VOLUME_SET):
            await speaker.async_set_volume_level(announcement.volume / 100)
        for index in range(announcement.repeat):
            if index:
                await asyncio.sleep(PAUSE_BETWEEN)
            if announcement.chime != CHIME_NONE:
                await _async_play_and_wait(
                    hass,
                    speaker,
                    chime_path(announcement.chime),
                    DURATIONS[announcement.chime],
                    CHIME_START_GRACE,
                )
            media_id = tts.generate_media_source_id(
                hass,
                announcement.message,
                engine=announcement.engine,
                language=announcement.language,
            )
            await _async_play_and_wait(
                hass,
                speaker,
                media_id,
                speech_seconds(announcement.message),
                SPEECH_START_GRACE,
            )
    finally:
        if previous:
            await speaker.async_set_target_volumes(previous)


async def _async_play_and_wait(
    hass: HomeAssistant, speaker: Loudspeaker, media_id: str, expected: float, grace: float
) -> None:
    """Play `media_id` as an announcement on the speaker's targets and wait until it is over.

    Targets that report `playing` are followed until they stop (at most twice the expected
    length plus 10 s). When none does (many players report nothing for announcements, or
    were playing music all along), the expected length is waited instead.
    """
    targets = speaker.active_targets()
    playing_before = {
        t for t in targets if (s := hass.states.get(t)) and s.state == MediaPlayerState.PLAYING
    }
    watched = [t for t in targets if t not in playing_before]
    started: set[str] = set()
    began = asyncio.Event()
    ended = asyncio.Event()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state == MediaPlayerState.PLAYING:
            started.add(event.data["entity_id"])
            began.set()
        if started and not any(
            (s := hass.states.get(t)) and s.state == MediaPlayerState.PLAYING for t in started
        ):
            ended.set()

    unsubscribe = async_track_state_change_event(hass, watched, changed)
    try:
        await speaker.async_play_media(MediaType.MUSIC, media_id, announce=True)
        try:
            async with asyncio.timeout(expected + grace):
                await began.wait()
        except TimeoutError:
            return  # nothing reported playing: the expected length has passed
        try:
            async with asyncio.timeout(min(MAX_PLAY_SECONDS, max(2 * expected, expected + 10))):
                await ended.wait()
        except TimeoutError:
            _LOGGER.debug("%s: still playing %s; going on", speaker.entity_id, media_id)
    finally:
        unsubscribe()
