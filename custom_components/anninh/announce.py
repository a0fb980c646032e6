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

The engine: the call's `tts_engine`, else the loudspeaker's own (its options), else Home
Assistant's default. The speech is rendered by HA's TTS (and its cache) *before* any target is
sent its URL - it starts at once and renders while the chime plays - so a failing engine (the cloud
one without a login answers "Not enough segments") is noticed instead of a target fetching an
error: the failure is logged, the station's offline voice speaks instead (status `fallback`, with
the error), and after `FAILURES_BEFORE_REPAIR` failures in a row of one engine a repair issue
says so. Only when no engine can speak is the announcement `failed`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

import voluptuous as vol
from homeassistant.components.media_player.const import (
    DOMAIN as MEDIA_PLAYER_DOMAIN,
)
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import (
    Event,
    EventStateChangedData,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import language as language_util
from homeassistant.util.json import JsonObjectType

from .const import DOMAIN, LANGUAGES
from .ids import EVENT_ANNOUNCEMENT
from .media_player import Loudspeaker
from .sounds import CHIME_BELL, CHIME_NONE, CHIMES, DURATIONS, chime_path
from .targets import async_targeted_entities
from .tts import offline_engine

_LOGGER = logging.getLogger(__name__)

SERVICE_ANNOUNCE: Final = "announce"

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
STATUS_FALLBACK: Final = "fallback"  # spoken, but by the offline voice: the engine failed
STATUS_FAILED: Final = "failed"
STATUS_UNAVAILABLE: Final = "unavailable"

RENDER_TIMEOUT: Final = 30.0  # s for an engine to deliver the speech
FAILURES_BEFORE_REPAIR: Final = 3  # failures in a row of one engine before a repair issue
DATA_FAILURES: Final = f"{DOMAIN}_tts_failures"

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
        # Empty (a blueprint's "no engine chosen"): the loudspeaker's own engine.
        vol.Optional(ATTR_TTS_ENGINE): vol.Any(None, "", cv.entity_domain("tts")),
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
    options: dict[str, str]
    spoken_language: str = "vi"  # ours: "vi" or "en"
    fallback: str | None = None  # the offline voice, when `engine` is another one
    fallback_options: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Spoken:
    """How an announcement was spoken: by which engine, and what failed first."""

    engine: str
    error: str | None = None  # set when the engine failed and the offline voice spoke


class SpeechFailed(HomeAssistantError):
    """No engine could speak the message."""


def speech_seconds(message: str) -> float:
    """Estimated length of the spoken message."""
    return SPEECH_SECONDS_BASE + len(message) / SPEECH_CHARS_PER_SECOND


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV file, None if it is not one."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            return float(wav.getnframes() / wav.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


# -- finding the loudspeakers ------------------------------------------------------------------
@callback
def _targets(hass: HomeAssistant, call: ServiceCall) -> list[Loudspeaker]:
    """The loudspeakers the call names, or all of them (no target)."""
    return [
        entity
        for entity in async_targeted_entities(
            hass,
            call,
            MEDIA_PLAYER_DOMAIN,
            every_one_untargeted=True,
            not_ours="not_a_loudspeaker",
            none_found="no_loudspeakers",
        )
        if isinstance(entity, Loudspeaker)
    ]


# -- TTS -------------------------------------------------------------------------------------------
def _engine_languages(hass: HomeAssistant, engine: str | None) -> tuple[str, list[str]] | None:
    """The engine (as given, or HA's default for None) and its languages, if it exists."""
    if "tts" not in hass.config.components:
        return None
    from homeassistant.components import tts  # noqa: PLC0415 - only when TTS is set up
    from homeassistant.components.tts.helper import get_engine_instance  # noqa: PLC0415

    resolved = tts.async_resolve_engine(hass, engine)
    if resolved is None or (instance := get_engine_instance(hass, resolved)) is None:
        return None
    return resolved, list(instance.supported_languages or [])


def _resolve_engine(
    hass: HomeAssistant, speaker: Loudspeaker, requested: str | None
) -> tuple[str, list[str]]:
    """The engine a loudspeaker speaks with, and the languages it speaks.

    The call's engine, else the loudspeaker's, else Home Assistant's default (the cloud one if
    there is one, else the first engine, which may be a station's offline voice). A loudspeaker's
    engine that is gone is logged and skipped.
    """
    if requested:
        if (found := _engine_languages(hass, requested)) is not None:
            return found
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="tts_engine_missing",
            translation_placeholders={"engine": requested},
        )
    configured = speaker.device.config.tts_engine
    if configured:
        if (found := _engine_languages(hass, configured)) is not None:
            return found
        _LOGGER.warning(
            "%s: its TTS engine %s is not there; using the default", speaker.entity_id, configured
        )
    if (found := _engine_languages(hass, None)) is not None:
        return found
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_tts_engine")


def _is_offline_voice(hass: HomeAssistant, engine: str) -> bool:
    entry = er.async_get(hass).async_get(engine)
    return entry is not None and entry.platform == DOMAIN and entry.domain == "tts"


def _options(hass: HomeAssistant, engine: str, speaker: Loudspeaker) -> dict[str, str]:
    """The offline voice gets the loudspeaker's voice and is asked for WAV (no conversion)."""
    if _is_offline_voice(hass, engine):
        return {"voice": speaker.device.config.voice, "preferred_format": "wav"}
    return {}


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
async def async_announce(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    speakers = _targets(hass, call)
    message: str = call.data[ATTR_MESSAGE]
    plans: list[tuple[Loudspeaker, Announcement]] = []
    for speaker in speakers:
        config = speaker.device.config
        engine, supported = _resolve_engine(hass, speaker, call.data.get(ATTR_TTS_ENGINE))
        language = call.data.get(ATTR_LANGUAGE, config.language)
        entry = speaker.platform.config_entry
        offline = offline_engine(hass, entry.entry_id) if entry is not None else None
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
                    options=_options(hass, engine, speaker),
                    spoken_language=language,
                    fallback=offline if offline not in (None, engine) else None,
                    fallback_options=_options(hass, offline, speaker) if offline else None,
                ),
            )
        )

    results: dict[str, dict[str, str]] = {}
    tasks: dict[str, asyncio.Task[Spoken | None]] = {}
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
            elif outcome is not None and outcome.error is not None:
                results[entity_id]["status"] = STATUS_FALLBACK
                results[entity_id]["error"] = outcome.error
                results[entity_id]["engine"] = outcome.engine
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


def _log_failure(entity_id: str) -> Callable[[asyncio.Task[Spoken | None]], None]:
    def done(task: asyncio.Task[Spoken | None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.error("Announcement on %s failed: %s", entity_id, error)

    return done


async def _async_run(
    hass: HomeAssistant, speaker: Loudspeaker, announcement: Announcement, call: ServiceCall
) -> Spoken | None:
    """One loudspeaker's announcement, in its turn; dropped if the same one is already waiting."""
    key = (announcement.message, announcement.language, announcement.chime)
    async with speaker.device.async_turn(key) as mine:
        if not mine:
            _LOGGER.debug("%s: the same announcement is already waiting", speaker.entity_id)
            return None
        return await _async_speak(hass, speaker, announcement, call)


@dataclass(frozen=True, slots=True)
class _Rendered:
    media_id: str
    seconds: float | None  # the audio's length when it is known (WAV)
    spoken: Spoken


async def _async_render_with(
    hass: HomeAssistant, engine: str, language: str, options: dict[str, str], message: str
) -> tuple[str, float | None]:
    """Have HA's TTS render the speech (through its cache); raise if the engine fails."""
    from homeassistant.components import tts  # noqa: PLC0415

    stream = tts.async_create_stream(hass, engine, language, options)
    stream.async_set_message(message)
    async with asyncio.timeout(RENDER_TIMEOUT):
        data = b"".join([chunk async for chunk in stream.async_stream_result()])
    if not data:
        raise HomeAssistantError("the engine returned no audio")
    seconds = wav_seconds(data) if stream.extension == "wav" else None
    return stream.media_source_id, seconds


def _failure_issue_id(engine: str) -> str:
    return f"tts_engine_failing_{engine}"


@callback
def _record_speech(hass: HomeAssistant, engine: str, error: str | None) -> None:
    """Count an engine's failures in a row; a repair issue after `FAILURES_BEFORE_REPAIR`."""
    failures: dict[str, int] = hass.data.setdefault(DATA_FAILURES, {})
    if error is None:
        if failures.pop(engine, 0):
            ir.async_delete_issue(hass, DOMAIN, _failure_issue_id(engine))
        return
    failures[engine] = count = failures.get(engine, 0) + 1
    if count >= FAILURES_BEFORE_REPAIR:
        ir.async_create_issue(
            hass,
            DOMAIN,
            _failure_issue_id(engine),
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="tts_engine_failing",
            translation_placeholders={"engine": engine, "count": str(count), "error": error},
        )


async def _async_render(
    hass: HomeAssistant, speaker: Loudspeaker, announcement: Announcement
) -> _Rendered:
    """The announcement's speech, by its engine or else by the offline voice."""
    try:
        media_id, seconds = await _async_render_with(
            hass,
            announcement.engine,
            announcement.language,
            announcement.options,
            announcement.message,
        )
    except Exception as err:
        error = str(err) or type(err).__name__
        _record_speech(hass, announcement.engine, error)
        if announcement.fallback is None:
            _LOGGER.error(
                "%s: speech by %s failed: %s", speaker.entity_id, announcement.engine, error
            )
            raise SpeechFailed(f"{announcement.engine}: {error}") from err
        _LOGGER.warning(
            "%s: speech by %s failed (%s); the offline voice %s speaks instead",
            speaker.entity_id,
            announcement.engine,
            error,
            announcement.fallback,
        )
        try:
            media_id, seconds = await _async_render_with(
                hass,
                announcement.fallback,
                announcement.spoken_language,
                announcement.fallback_options or {},
                announcement.message,
            )
        except Exception as fallback_err:
            _LOGGER.error("%s: the offline voice failed too: %s", speaker.entity_id, fallback_err)
            raise SpeechFailed(f"{announcement.engine}: {error}; {fallback_err}") from err
        return _Rendered(media_id, seconds, Spoken(announcement.fallback, error))
    _record_speech(hass, announcement.engine, None)
    return _Rendered(media_id, seconds, Spoken(announcement.engine))


async def _async_speak(
    hass: HomeAssistant, speaker: Loudspeaker, announcement: Announcement, call: ServiceCall
) -> Spoken:
    """Event, volume, `repeat` x (chime, message), volume back; the lock is held."""
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
    # Rendered while the volume is set and the chime plays.
    rendering = hass.async_create_task(
        _async_render(hass, speaker, announcement), f"anninh speech {speaker.entity_id}"
    )
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
            rendered = await rendering
            await _async_play_and_wait(
                hass,
                speaker,
                rendered.media_id,
                rendered.seconds or speech_seconds(announcement.message),
                SPEECH_START_GRACE,
            )
        return (await rendering).spoken
    finally:
        if not rendering.done():
            rendering.cancel()
        elif not rendering.cancelled():
            rendering.exception()  # retrieved: raised above, or lost to a failed chime
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
