"""A loudspeaker while the station runs: announcements take turns on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from homeassistant.core import HomeAssistant

from ..ids import entity_id_of
from ..models import LoudspeakerConfig, StationSettings
from .base import Device

type AnnouncementKey = tuple[str, str, str]  # message, language, chime


class LoudspeakerDevice(Device):
    """A loudspeaker: forwards to HA media players (the entity), one announcement at a time."""

    config: LoudspeakerConfig

    def __init__(
        self, hass: HomeAssistant, kind: str, config: LoudspeakerConfig, settings: StationSettings
    ) -> None:
        """Nothing waits yet."""
        super().__init__(hass, kind, config, settings)
        self._turn = asyncio.Lock()
        self._waiting: set[AnnouncementKey] = set()

    def as_console(self) -> dict[str, Any]:
        """The loudspeaker as the announce box lists it."""
        return {
            **super().as_console(),
            "entity_id": entity_id_of(self.hass, "media_player", self.subentry_id, "loudspeaker"),
            "language": self.config.language,
        }

    @contextlib.asynccontextmanager
    async def async_turn(self, key: AnnouncementKey) -> AsyncIterator[bool]:
        """Wait for this loudspeaker's turn; yields False at once when the same one waits already.

        A blueprint that repeats faster than the loudspeaker speaks would otherwise queue the
        same message over and over.
        """
        if key in self._waiting:
            yield False
            return
        self._waiting.add(key)
        try:
            await self._turn.acquire()
        finally:
            self._waiting.discard(key)
        try:
            yield True
        finally:
            self._turn.release()
