"""Config flow for the station, and subentry flows for cameras, bells and loudspeakers."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import voluptuous as vol
from homeassistant.components import webhook
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import selector
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.util import slugify

from .const import (
    BELL_SOURCE_DOMAINS,
    CONF_ADDRESS,
    CONF_DONOR_NAME,
    CONF_DONOR_PHONE,
    CONF_FOLDER,
    CONF_HEARTBEAT_MINUTES,
    CONF_KEEP_CONTINUOUS_DAYS,
    CONF_KEEP_MOTION_DAYS,
    CONF_LANGUAGE,
    CONF_LINKED_CAMERAS,
    CONF_LINKED_LOUDSPEAKERS,
    CONF_LOCAL_ONLY,
    CONF_LOCATION,
    CONF_MIN_FREE_GB,
    CONF_MOTION_MASKS,
    CONF_MOTION_ZONES,
    CONF_PRE_EVENT_SECONDS,
    CONF_PRIORITY,
    CONF_RECORDING_MODE,
    CONF_RECORDINGS_DIR,
    CONF_RETENTION_DAYS,
    CONF_SOURCE,
    CONF_SOURCE_ENTITY,
    CONF_STREAM_URL,
    CONF_SUB_STREAM_URL,
    CONF_TARGETS,
    CONF_TTS_ENGINE,
    CONF_VOICE,
    CONF_VOLUME,
    CONF_WEBHOOK_ID,
    DEFAULT_KEEP_CONTINUOUS_DAYS,
    DEFAULT_KEEP_MOTION_DAYS,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_PRE_EVENT_SECONDS,
    DEFAULT_PRIORITY,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_VOICE,
    DEFAULT_VOLUME,
    DOMAIN,
    LANGUAGES,
    MAX_MIN_FREE_GB,
    MAX_PRE_EVENT_SECONDS,
    MAX_RETENTION_DAYS,
    PRIORITIES,
    PROBE_TIMEOUT_SECONDS,
    SOURCE_ENTITY,
    SOURCE_WEBHOOK,
    SUBENTRY_CAMERA,
    SUBENTRY_LOUDSPEAKER,
    VOICES,
)
from .engine.archive import RecordingMode
from .engine.source import (
    SourceKind,
    StreamOpenError,
    StreamProblem,
    StreamSource,
    probe,
)
from .engine.storage import camera_folder
from .folders import check_recordings_dir, default_recordings_dir
from .models import parse_polygons

_LOGGER = logging.getLogger(__name__)

CONF_REGENERATE_WEBHOOK = "regenerate_webhook"

TEXT = selector.TextSelector()
PASSWORD = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD, autocomplete="off")
)
URL = selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.URL))
PHONE = selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.TEL))
LOCATION = selector.LocationSelector(selector.LocationSelectorConfig(radius=False))
POLYGONS = selector.TextSelector(selector.TextSelectorConfig(multiline=True))


def _number(minimum: int, maximum: int, unit: str, mode: str = "box") -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            unit_of_measurement=unit,
            mode=selector.NumberSelectorMode(mode),
        )
    )


# --------------------------------------------------------------------------------------------
# Station
# --------------------------------------------------------------------------------------------
class AnNinhConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create one config entry per police station."""

    VERSION = 1
    MINOR_VERSION = 2  # 1.2: every camera subentry has its own folder (CONF_FOLDER)

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> AnNinhOptionsFlow:
        """Retention and pre-event seconds, applied without a restart."""
        return AnNinhOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Cameras, bells and loudspeakers donated to the station (`kinds.KINDS`)."""
        from .kinds import KINDS  # noqa: PLC0415 - the kinds list these flows

        return {kind: device_kind.flow for kind, device_kind in KINDS.items()}

    def _station_schema(self, defaults: Mapping[str, Any], *, with_options: bool) -> vol.Schema:
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, "")): TEXT,
            vol.Required(
                CONF_RECORDINGS_DIR,
                default=defaults.get(CONF_RECORDINGS_DIR, default_recordings_dir(self.hass)),
            ): TEXT,
        }
        if with_options:
            fields |= _options_fields(defaults)
        return vol.Schema(fields)

    async def _validate_station(self, user_input: dict[str, Any]) -> dict[str, str]:
        user_input[CONF_NAME] = user_input[CONF_NAME].strip()
        user_input[CONF_RECORDINGS_DIR] = user_input[CONF_RECORDINGS_DIR].strip()
        if not user_input[CONF_NAME]:
            return {CONF_NAME: "name_required"}
        error = await self.hass.async_add_executor_job(
            check_recordings_dir, self.hass, user_input[CONF_RECORDINGS_DIR]
        )
        return {CONF_RECORDINGS_DIR: error} if error else {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the station and choose where recordings go."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await self._validate_station(user_input)
            if not errors:
                await self.async_set_unique_id(slugify(user_input[CONF_NAME]))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=user_input[CONF_NAME],
                    data={
                        CONF_NAME: user_input[CONF_NAME],
                        CONF_RECORDINGS_DIR: user_input[CONF_RECORDINGS_DIR],
                    },
                    options={str(key): int(user_input[str(key)]) for key in _options_fields({})},
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self._station_schema(user_input or {}, with_options=True),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Rename the station or move its recordings folder."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await self._validate_station(user_input)
            if not errors:
                other = self.hass.config_entries.async_entry_for_domain_unique_id(
                    DOMAIN, slugify(user_input[CONF_NAME])
                )
                if other is not None and other.entry_id != entry.entry_id:
                    return self.async_abort(reason="already_configured")
                return self.async_update_and_abort(
                    entry,
                    unique_id=slugify(user_input[CONF_NAME]),
                    title=user_input[CONF_NAME],
                    data=user_input,
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self._station_schema(user_input or entry.data, with_options=False),
            errors=errors,
        )


def _options_fields(defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    return {
        vol.Required(
            CONF_KEEP_CONTINUOUS_DAYS,
            default=defaults.get(CONF_KEEP_CONTINUOUS_DAYS, DEFAULT_KEEP_CONTINUOUS_DAYS),
        ): _number(1, MAX_RETENTION_DAYS, "d"),
        vol.Required(
            CONF_KEEP_MOTION_DAYS,
            default=defaults.get(CONF_KEEP_MOTION_DAYS, DEFAULT_KEEP_MOTION_DAYS),
        ): _number(1, MAX_RETENTION_DAYS, "d"),
        vol.Required(
            CONF_RETENTION_DAYS,
            default=defaults.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
        ): _number(1, MAX_RETENTION_DAYS, "d"),
        vol.Required(
            CONF_MIN_FREE_GB,
            default=defaults.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB),
        ): _number(0, MAX_MIN_FREE_GB, "GB"),
        vol.Required(
            CONF_PRE_EVENT_SECONDS,
            default=defaults.get(CONF_PRE_EVENT_SECONDS, DEFAULT_PRE_EVENT_SECONDS),
        ): _number(0, MAX_PRE_EVENT_SECONDS, "s", "slider"),
    }


class AnNinhOptionsFlow(OptionsFlow):
    """Station options: retention days and default pre-event seconds."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form; the station applies the result live."""
        if user_input is not None:
            return self.async_create_entry(
                data={key: int(value) for key, value in user_input.items()}
            )
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(_options_fields(self.config_entry.options)),
        )


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------
def _place_fields(hass: HomeAssistant, defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    """Name, address and map position, asked of every device."""
    location = defaults.get(CONF_LOCATION) or {
        "latitude": hass.config.latitude,
        "longitude": hass.config.longitude,
    }
    return {
        vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, "")): TEXT,
        vol.Required(CONF_ADDRESS, default=defaults.get(CONF_ADDRESS, "")): TEXT,
        vol.Required(CONF_LOCATION, default=location): LOCATION,
    }


def _clean_place(user_input: dict[str, Any]) -> dict[str, str]:
    """Strip text fields; return errors for empty required ones."""
    for key in (CONF_NAME, CONF_ADDRESS):
        user_input[key] = str(user_input.get(key, "")).strip()
    return {CONF_NAME: "name_required"} if not user_input[CONF_NAME] else {}


class _DeviceSubentryFlow(ConfigSubentryFlow):
    """Shared user/reconfigure plumbing: one form, validated, then create or update."""

    def _current(self) -> Mapping[str, Any]:
        return self._get_reconfigure_subentry().data if self.source == "reconfigure" else {}

    def _finish(self, data: dict[str, Any]) -> SubentryFlowResult:
        if self.source == "reconfigure":
            return self.async_update_and_abort(
                self._get_entry(),
                self._get_reconfigure_subentry(),
                title=data[CONF_NAME],
                data=data,
            )
        return self.async_create_entry(title=data[CONF_NAME], data=data)

    def _subentry_options(self, kind: str) -> list[selector.SelectOptionDict]:
        return [
            selector.SelectOptionDict(value=sub.subentry_id, label=sub.title)
            for sub in self._get_entry().subentries.values()
            if sub.subentry_type == kind
        ]


# -- camera -----------------------------------------------------------------------------------
def _split_credentials(url: str, username: str, password: str) -> tuple[str, str, str]:
    """Move credentials typed into the URL into the username/password fields."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, username, password
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, pwd = userinfo.partition(":")
    return (
        urlunsplit(parts._replace(netloc=host)),
        username or unquote(user),
        password or unquote(pwd),
    )


async def _async_probe(hass: HomeAssistant, source: StreamSource) -> StreamProblem | None:
    """Open the stream once in an executor; the problem found, if any."""
    if source.kind is SourceKind.FILE and not await hass.async_add_executor_job(
        hass.config.is_allowed_path, source.url
    ):
        return StreamProblem.INVALID_URL
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS + 5):
            await hass.async_add_executor_job(probe, source, PROBE_TIMEOUT_SECONDS)
    except StreamOpenError as err:
        _LOGGER.debug("Probe of %s failed: %s", source.redacted_url, err.problem)
        return err.problem
    except TimeoutError:
        return StreamProblem.TIMEOUT
    return None


class CameraSubentryFlow(_DeviceSubentryFlow):
    """Add or change a donated camera; the stream is tested before it is saved."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Where the camera is, who donated it and how to reach its stream."""
        errors: dict[str, str] = {}
        current = self._current()
        if user_input is not None:
            errors = _clean_place(user_input)
            if not errors:
                errors = await self._validate(user_input, current)
            if not errors:
                user_input[CONF_FOLDER] = current.get(CONF_FOLDER) or camera_folder(
                    user_input[CONF_NAME],
                    (
                        sub.data.get(CONF_FOLDER, "")
                        for sub in self._get_entry().subentries.values()
                        if sub.subentry_type == SUBENTRY_CAMERA
                    ),
                )
                return self._finish(user_input)
        defaults = {**current, **(user_input or {})}
        defaults.pop(CONF_PASSWORD, None)
        return self.async_show_form(
            step_id="reconfigure" if self.source == "reconfigure" else "user",
            data_schema=self._schema(defaults),
            errors=errors,
            description_placeholders={"example": "rtsp://192.168.1.10:554/stream1"},
        )

    async_step_reconfigure = async_step_user

    def _schema(self, defaults: Mapping[str, Any]) -> vol.Schema:
        return vol.Schema(
            {
                **_place_fields(self.hass, defaults),
                # Optional: a camera the station owns has no donor household.
                vol.Optional(
                    CONF_DONOR_NAME, description={"suggested_value": defaults.get(CONF_DONOR_NAME)}
                ): TEXT,
                vol.Optional(
                    CONF_DONOR_PHONE,
                    description={"suggested_value": defaults.get(CONF_DONOR_PHONE)},
                ): PHONE,
                vol.Required(CONF_STREAM_URL, default=defaults.get(CONF_STREAM_URL, "")): URL,
                vol.Optional(
                    CONF_SUB_STREAM_URL,
                    description={"suggested_value": defaults.get(CONF_SUB_STREAM_URL)},
                ): URL,
                vol.Optional(
                    CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
                ): TEXT,
                vol.Optional(CONF_PASSWORD): PASSWORD,
                vol.Optional(
                    CONF_MOTION_ZONES,
                    description={"suggested_value": defaults.get(CONF_MOTION_ZONES)},
                ): POLYGONS,
                vol.Optional(
                    CONF_MOTION_MASKS,
                    description={"suggested_value": defaults.get(CONF_MOTION_MASKS)},
                ): POLYGONS,
                vol.Required(
                    CONF_RECORDING_MODE,
                    default=defaults.get(CONF_RECORDING_MODE, RecordingMode.CONTINUOUS.value),
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[mode.value for mode in RecordingMode],
                        translation_key=CONF_RECORDING_MODE,
                        mode=selector.SelectSelectorMode.LIST,
                    )
                ),
            }
        )

    async def _validate(
        self, user_input: dict[str, Any], current: Mapping[str, Any]
    ) -> dict[str, str]:
        """Normalise the input in place and probe the streams; errors by field."""
        for key in (
            CONF_DONOR_NAME,
            CONF_DONOR_PHONE,
            CONF_STREAM_URL,
            CONF_SUB_STREAM_URL,
            CONF_MOTION_ZONES,
            CONF_MOTION_MASKS,
        ):
            user_input[key] = str(user_input.get(key) or "").strip()
        for key in (CONF_MOTION_ZONES, CONF_MOTION_MASKS):
            try:
                parse_polygons(user_input[key])
            except ValueError:
                return {key: "invalid_polygons"}
        username = str(user_input.get(CONF_USERNAME) or "").strip()
        # A blank password on reconfigure keeps the stored one.
        password = str(user_input.get(CONF_PASSWORD) or "") or current.get(CONF_PASSWORD, "")
        url, username, password = _split_credentials(
            user_input[CONF_STREAM_URL], username, password
        )
        sub_url = user_input[CONF_SUB_STREAM_URL]
        if sub_url:
            sub_url, username, password = _split_credentials(sub_url, username, password)
        user_input.update(
            {
                CONF_STREAM_URL: url,
                CONF_SUB_STREAM_URL: sub_url,
                CONF_USERNAME: username,
                CONF_PASSWORD: password,
            }
        )
        for sub in self._get_entry().subentries.values():
            if (
                sub.subentry_type == SUBENTRY_CAMERA
                and sub.data.get(CONF_STREAM_URL) == url
                and (self.source != "reconfigure" or sub is not self._get_reconfigure_subentry())
            ):
                return {CONF_STREAM_URL: "already_configured"}
        for key, value in ((CONF_STREAM_URL, url), (CONF_SUB_STREAM_URL, sub_url)):
            if not value:
                continue
            try:
                source = StreamSource.parse(value, username, password)
            except StreamOpenError as err:
                return {key: err.problem.value}
            if problem := await _async_probe(self.hass, source):
                return {key: problem.value}
        return {}


# -- bell -------------------------------------------------------------------------------------
class BellSubentryFlow(_DeviceSubentryFlow):
    """Add or change an alarm bell: where it is, how it signals, what it sets off."""

    def __init__(self) -> None:
        """Hold the first step's answers until the source step."""
        self._data: dict[str, Any] = {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Place, signal source, linked cameras and loudspeakers, priority."""
        current = self._current()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _clean_place(user_input)
            if not errors:
                user_input[CONF_HEARTBEAT_MINUTES] = int(user_input[CONF_HEARTBEAT_MINUTES])
                self._data = {**current, **user_input}
                if user_input[CONF_SOURCE] == SOURCE_WEBHOOK:
                    return await self.async_step_webhook()
                return await self.async_step_entity()
        defaults = {**current, **(user_input or {})}
        schema = vol.Schema(
            {
                **_place_fields(self.hass, defaults),
                vol.Required(
                    CONF_SOURCE, default=defaults.get(CONF_SOURCE, SOURCE_WEBHOOK)
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=[SOURCE_WEBHOOK, SOURCE_ENTITY],
                        translation_key=CONF_SOURCE,
                        mode=selector.SelectSelectorMode.LIST,
                    )
                ),
                vol.Optional(
                    CONF_LINKED_CAMERAS, default=list(defaults.get(CONF_LINKED_CAMERAS, []))
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=self._subentry_options(SUBENTRY_CAMERA), multiple=True
                    )
                ),
                vol.Optional(
                    CONF_LINKED_LOUDSPEAKERS,
                    default=list(defaults.get(CONF_LINKED_LOUDSPEAKERS, [])),
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=self._subentry_options(SUBENTRY_LOUDSPEAKER), multiple=True
                    )
                ),
                vol.Required(
                    CONF_PRIORITY, default=defaults.get(CONF_PRIORITY, DEFAULT_PRIORITY)
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(PRIORITIES),
                        translation_key=CONF_PRIORITY,
                        mode=selector.SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Required(
                    CONF_HEARTBEAT_MINUTES, default=defaults.get(CONF_HEARTBEAT_MINUTES, 0)
                ): _number(0, 1440, "min"),
            }
        )
        return self.async_show_form(
            step_id="reconfigure" if self.source == "reconfigure" else "user",
            data_schema=schema,
            errors=errors,
        )

    async_step_reconfigure = async_step_user

    async def async_step_webhook(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show the webhook URL to program into the bell; local-only by default."""
        if not self._data.get(CONF_WEBHOOK_ID):
            self._data[CONF_WEBHOOK_ID] = secrets.token_urlsafe(24)
        if user_input is not None:
            if user_input.pop(CONF_REGENERATE_WEBHOOK, False):
                self._data[CONF_WEBHOOK_ID] = secrets.token_urlsafe(24)
                self._data[CONF_LOCAL_ONLY] = user_input[CONF_LOCAL_ONLY]
                return self._show_webhook()
            data = {**self._data, **user_input}
            data.pop(CONF_SOURCE_ENTITY, None)
            return self._finish(data)
        return self._show_webhook()

    def _show_webhook(self) -> SubentryFlowResult:
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_LOCAL_ONLY, default=self._data.get(CONF_LOCAL_ONLY, True)): bool,
        }
        if self.source == "reconfigure":
            fields[vol.Optional(CONF_REGENERATE_WEBHOOK, default=False)] = bool
        return self.async_show_form(
            step_id="webhook",
            data_schema=vol.Schema(fields),
            description_placeholders={
                "url": webhook_url(self.hass, self._data[CONF_WEBHOOK_ID]),
            },
        )

    async def async_step_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Follow an existing HA entity (a bell paired through another integration)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            entity_id = user_input[CONF_SOURCE_ENTITY]
            entry = er.async_get(self.hass).async_get(entity_id)
            if entry is not None and entry.platform == DOMAIN:
                errors[CONF_SOURCE_ENTITY] = "source_loop"
            else:
                data = {**self._data, **user_input}
                for key in (CONF_WEBHOOK_ID, CONF_LOCAL_ONLY):
                    data.pop(key, None)
                return self._finish(data)
        return self.async_show_form(
            step_id="entity",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_SOURCE_ENTITY,
                        default=self._data.get(CONF_SOURCE_ENTITY, vol.UNDEFINED),
                    ): selector.EntitySelector(
                        selector.EntitySelectorConfig(domain=list(BELL_SOURCE_DOMAINS))
                    ),
                }
            ),
            errors=errors,
        )


def webhook_url(hass: HomeAssistant, webhook_id: str) -> str:
    """The full URL a bell calls, or its path when HA knows no URL for itself."""
    try:
        return webhook.async_generate_url(hass, webhook_id, prefer_external=False, allow_ip=True)
    except NoURLAvailableError:
        return webhook.async_generate_path(webhook_id)


# -- loudspeaker ------------------------------------------------------------------------------
class LoudspeakerSubentryFlow(_DeviceSubentryFlow):
    """Add or change a loudspeaker: the media players it speaks through."""

    def _default_engine(self) -> str | None:
        """A new loudspeaker speaks with the station's offline voice, when it has one."""
        from .tts import offline_engine  # noqa: PLC0415 - loads HA's tts component

        return offline_engine(self.hass, self._get_entry().entry_id)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Place, target media players, default volume, spoken language, engine and voice."""
        current = self._current()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _clean_place(user_input)
            registry = er.async_get(self.hass)
            if not errors and not user_input[CONF_TARGETS]:
                errors[CONF_TARGETS] = "targets_required"
            elif not errors and any(
                (ent := registry.async_get(target)) is not None and ent.platform == DOMAIN
                for target in user_input[CONF_TARGETS]
            ):
                errors[CONF_TARGETS] = "target_loop"
            if not errors:
                user_input[CONF_VOLUME] = int(user_input[CONF_VOLUME])
                user_input[CONF_TTS_ENGINE] = user_input.get(CONF_TTS_ENGINE) or ""
                return self._finish(user_input)
        defaults = {**current, **(user_input or {})}
        engine = defaults.get(CONF_TTS_ENGINE)
        if engine is None and self.source != "reconfigure":
            engine = self._default_engine()
        schema = vol.Schema(
            {
                **_place_fields(self.hass, defaults),
                vol.Required(
                    CONF_TARGETS, default=list(defaults.get(CONF_TARGETS, []))
                ): selector.EntitySelector(
                    selector.EntitySelectorConfig(domain="media_player", multiple=True)
                ),
                vol.Required(
                    CONF_VOLUME, default=defaults.get(CONF_VOLUME, DEFAULT_VOLUME)
                ): _number(0, 100, "%", "slider"),
                vol.Required(
                    CONF_LANGUAGE, default=defaults.get(CONF_LANGUAGE, LANGUAGES[0])
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(LANGUAGES), translation_key=CONF_LANGUAGE
                    )
                ),
                vol.Optional(
                    CONF_TTS_ENGINE, description={"suggested_value": engine or None}
                ): selector.EntitySelector(selector.EntitySelectorConfig(domain="tts")),
                vol.Required(
                    CONF_VOICE, default=defaults.get(CONF_VOICE, DEFAULT_VOICE)
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(options=list(VOICES), translation_key=CONF_VOICE)
                ),
            }
        )
        return self.async_show_form(
            step_id="reconfigure" if self.source == "reconfigure" else "user",
            data_schema=schema,
            errors=errors,
        )

    async_step_reconfigure = async_step_user
