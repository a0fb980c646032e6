"""A loudspeaker: one media player that speaks through the media players it targets.

`tts.speak`, `media_player.play_media` (with `announce: true`), volume and power reach every
target. Media-source ids (TTS, local media) are resolved to URLs here, once per call, so each
target gets a URL it can fetch, whatever integration it belongs to. The state and volume mirror
the targets; the loudspeaker is unavailable when none of its targets is.
"""

from __future__ import annotations

import asyncio
import logging
from statistics import fmean
from typing import Any

from homeassistant.components import media_source
from homeassistant.components.media_player import MediaPlayerDeviceClass, MediaPlayerEntity
from homeassistant.components.media_player.browse_media import async_process_play_media_url
from homeassistant.components.media_player.const import (
    ATTR_MEDIA_ANNOUNCE,
    ATTR_MEDIA_CONTENT_ID,
    ATTR_MEDIA_CONTENT_TYPE,
    ATTR_MEDIA_EXTRA,
    ATTR_MEDIA_VOLUME_LEVEL,
    SERVICE_PLAY_MEDIA,
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.components.media_player.const import (
    DOMAIN as MEDIA_PLAYER_DOMAIN,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_LATITUDE,
    ATTR_LONGITUDE,
    ATTR_SUPPORTED_FEATURES,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    SERVICE_VOLUME_SET,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event

from .const import CONF_ADDRESS, CONF_LANGUAGE, CONF_TARGETS, DOMAIN
from .devices.loudspeaker import LoudspeakerDevice
from .entity import AnNinhEntity, async_add_device_entities
from .sounds import CHIME_PATH, absolute_url
from .station import AnNinhConfigEntry

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

# The loudspeaker shows the most active state among its targets, in this order.
_STATE_ORDER = (
    MediaPlayerState.PLAYING,
    MediaPlayerState.BUFFERING,
    MediaPlayerState.PAUSED,
    MediaPlayerState.IDLE,
    MediaPlayerState.ON,
    MediaPlayerState.OFF,
)
# Target states that count as off ("standby" is deprecated in HA but integrations still report it).
_OFF_LIKE = {"off", "standby"}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AnNinhConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A media player for every loudspeaker, now and as loudspeakers are added."""
    async_add_device_entities(
        entry, async_add_entities, LoudspeakerDevice, lambda d: [Loudspeaker(d)]
    )


@callback
def playable_url(hass: HomeAssistant, url: str) -> str:
    """A URL a device on the network can fetch: absolute, signed when HA needs it signed."""
    if url.startswith(CHIME_PATH):
        return absolute_url(hass, url)  # served without authentication: no signature needed
    try:
        return async_process_play_media_url(hass, url)
    except HomeAssistantError:
        # HA knows no URL of its own; players inside HA's frontend still understand a path.
        _LOGGER.warning("No Home Assistant URL is configured; sending %s as a relative URL", url)
        return async_process_play_media_url(hass, url, allow_relative_url=True)


class Loudspeaker(AnNinhEntity, MediaPlayerEntity):
    """A donated loudspeaker: forwards to its target media players."""

    device: LoudspeakerDevice

    _attr_name = None
    _attr_device_class = MediaPlayerDeviceClass.SPEAKER
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.TURN_ON
        | MediaPlayerEntityFeature.TURN_OFF
    )

    def __init__(self, device: LoudspeakerDevice) -> None:
        """Bind to the loudspeaker device."""
        super().__init__(device, "loudspeaker")

    # -- targets ----------------------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        """The configured targets, without any anninh loudspeaker (that would loop)."""
        registry = er.async_get(self.hass)
        return [
            target
            for target in self.device.config.targets
            if target != self.entity_id
            and ((entry := registry.async_get(target)) is None or entry.platform != DOMAIN)
        ]

    def _target_states(self) -> list[State]:
        """States of the targets that are there and available."""
        states = (self.hass.states.get(target) for target in self.targets)
        return [s for s in states if s is not None and s.state != STATE_UNAVAILABLE]

    def active_targets(self, feature: MediaPlayerEntityFeature | None = None) -> list[str]:
        """Available targets, optionally only those supporting `feature`."""
        return [
            state.entity_id
            for state in self._target_states()
            if feature is None or int(state.attributes.get(ATTR_SUPPORTED_FEATURES, 0)) & feature
        ]

    def target_volumes(self) -> dict[str, float]:
        """The volume of each available target that reports one and can be set."""
        volumes: dict[str, float] = {}
        for state in self._target_states():
            level = state.attributes.get(ATTR_MEDIA_VOLUME_LEVEL)
            features = int(state.attributes.get(ATTR_SUPPORTED_FEATURES, 0))
            if isinstance(level, int | float) and features & MediaPlayerEntityFeature.VOLUME_SET:
                volumes[state.entity_id] = float(level)
        return volumes

    # -- mirrored state ------------------------------------------------------------------------
    async def async_added_to_hass(self) -> None:
        """Follow the targets' state changes."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_track_state_change_event(
                self.hass, list(self.device.config.targets), self._handle_target_change
            )
        )

    @callback
    def _handle_target_change(self, event: Event[EventStateChangedData]) -> None:
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Unavailable when none of the targets exists or is available."""
        return bool(self._target_states())

    @property
    def state(self) -> MediaPlayerState | None:
        """The most active state among the available targets."""
        found: set[MediaPlayerState] = set()
        for state in self._target_states():
            if state.state in _OFF_LIKE:
                found.add(MediaPlayerState.OFF)
            elif state.state != STATE_UNKNOWN:
                try:
                    found.add(MediaPlayerState(state.state))
                except ValueError:
                    continue
        return next((s for s in _STATE_ORDER if s in found), None)

    @property
    def volume_level(self) -> float | None:
        """The average volume of the targets that report one."""
        levels = [
            float(level)
            for state in self._target_states()
            if isinstance(level := state.attributes.get(ATTR_MEDIA_VOLUME_LEVEL), int | float)
        ]
        return round(fmean(levels), 2) if levels else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Where the loudspeaker is, what it speaks through, its default language."""
        config = self.device.config
        attributes: dict[str, Any] = {
            CONF_ADDRESS: config.address,
            CONF_TARGETS: list(config.targets),
            CONF_LANGUAGE: config.language,
        }
        if config.latitude is not None and config.longitude is not None:
            attributes[ATTR_LATITUDE] = config.latitude
            attributes[ATTR_LONGITUDE] = config.longitude
        return attributes

    # -- forwarding ----------------------------------------------------------------------------
    async def _async_forward(
        self, service: str, feature: MediaPlayerEntityFeature, data: dict[str, Any]
    ) -> None:
        """Call `service` on each target supporting `feature`; fail only if every target does."""
        targets = self.active_targets(feature)
        if not targets:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="no_target_available",
                translation_placeholders={"name": self.device.config.name},
            )
        results = await asyncio.gather(
            *(
                self.hass.services.async_call(
                    MEDIA_PLAYER_DOMAIN,
                    service,
                    {ATTR_ENTITY_ID: target, **data},
                    blocking=True,
                    context=self._context,
                )
                for target in targets
            ),
            return_exceptions=True,
        )
        errors = [(t, r) for t, r in zip(targets, results, strict=True) if isinstance(r, Exception)]
        for target, error in errors:
            _LOGGER.warning("%s: %s on %s failed: %s", self.entity_id, service, target, error)
        if len(errors) == len(targets):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="targets_failed",
                translation_placeholders={
                    "name": self.device.config.name,
                    "error": str(errors[0][1]),
                },
            ) from errors[0][1]

    async def async_play_media(
        self, media_type: MediaType | str, media_id: str, **kwargs: Any
    ) -> None:
        """Resolve the media once, then play it on every target (as an announcement if asked)."""
        if media_source.is_media_source_id(media_id):
            item = await media_source.async_resolve_media(self.hass, media_id, self.entity_id)
            media_id = item.url
            media_type = item.mime_type or media_type
        data: dict[str, Any] = {
            ATTR_MEDIA_CONTENT_ID: playable_url(self.hass, media_id),
            ATTR_MEDIA_CONTENT_TYPE: media_type,
        }
        if kwargs.get(ATTR_MEDIA_ANNOUNCE):
            data[ATTR_MEDIA_ANNOUNCE] = True
        if extra := kwargs.get(ATTR_MEDIA_EXTRA):
            data[ATTR_MEDIA_EXTRA] = extra
        await self._async_forward(SERVICE_PLAY_MEDIA, MediaPlayerEntityFeature.PLAY_MEDIA, data)

    async def async_set_volume_level(self, volume: float) -> None:
        """Set every target's volume."""
        await self._async_forward(
            SERVICE_VOLUME_SET,
            MediaPlayerEntityFeature.VOLUME_SET,
            {ATTR_MEDIA_VOLUME_LEVEL: volume},
        )

    async def async_set_target_volumes(self, volumes: dict[str, float]) -> None:
        """Give each target its own volume back (after an announcement); failures are logged."""
        for target, volume in volumes.items():
            try:
                await self.hass.services.async_call(
                    MEDIA_PLAYER_DOMAIN,
                    SERVICE_VOLUME_SET,
                    {ATTR_ENTITY_ID: target, ATTR_MEDIA_VOLUME_LEVEL: volume},
                    blocking=True,
                    context=self._context,
                )
            except HomeAssistantError as err:
                _LOGGER.warning(
                    "%s: restoring the volume of %s failed: %s", self.entity_id, target, err
                )

    async def async_turn_on(self) -> None:
        """Turn every target on."""
        await self._async_forward(SERVICE_TURN_ON, MediaPlayerEntityFeature.TURN_ON, {})

    async def async_turn_off(self) -> None:
        """Turn every target off."""
        await self._async_forward(SERVICE_TURN_OFF, MediaPlayerEntityFeature.TURN_OFF, {})
