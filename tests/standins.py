"""Stand-ins for third-party devices, shared by tests: media players that record what they are
asked to play, and a TTS engine speaking Vietnamese and English. Loaded as a pytest plugin.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.media_player import MediaPlayerEntity
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.components.tts import TextToSpeechEntity
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_config_flow,
    mock_integration,
    mock_platform,
    setup_test_component_platform,
)

BASE_URL = "http://127.0.0.1:8123"
THON_3 = "media_player.loa_thon_3"
CONG_CHAO = "media_player.loa_cong_chao"
CHO = "media_player.loa_cho"
ENGINE = "tts.giong_doc_thu"
ENGINE_EN = "tts.english_only"


# -- stand-ins for third-party devices ---------------------------------------------------------
class RecordingPlayer(MediaPlayerEntity):
    """A networked speaker: records every call, "plays" for 50 ms, reports its state."""

    _attr_should_poll = False
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.TURN_ON
        | MediaPlayerEntityFeature.TURN_OFF
    )

    def __init__(self, entity_id: str, volume: float) -> None:
        """Idle, at `volume`."""
        self.entity_id = entity_id
        self._attr_unique_id = entity_id
        self._attr_name = entity_id.split(".")[1]
        self._attr_state = MediaPlayerState.IDLE
        self._attr_volume_level = volume
        self.played: list[dict[str, Any]] = []
        self.volumes: list[float] = []
        self.power: list[str] = []
        self.play_seconds = 0.05
        self.broken = False

    async def async_play_media(
        self, media_type: MediaType | str, media_id: str, **kwargs: Any
    ) -> None:
        """Record, then play for a moment."""
        if self.broken:
            raise HomeAssistantError("speaker does not answer")
        self.played.append({"type": media_type, "id": media_id, **kwargs})
        self._attr_state = MediaPlayerState.PLAYING
        self.async_write_ha_state()
        self.hass.loop.call_later(self.play_seconds, self._finished)

    def _finished(self) -> None:
        self._attr_state = MediaPlayerState.IDLE
        self.async_write_ha_state()

    async def async_set_volume_level(self, volume: float) -> None:
        """Record and apply."""
        self.volumes.append(volume)
        self._attr_volume_level = volume
        self.async_write_ha_state()

    async def async_turn_on(self) -> None:
        """Record and apply."""
        self.power.append("on")
        self._attr_state = MediaPlayerState.IDLE
        self.async_write_ha_state()

    async def async_turn_off(self) -> None:
        """Record and apply."""
        self.power.append("off")
        self._attr_state = MediaPlayerState.OFF
        self.async_write_ha_state()

    def set(self, state: MediaPlayerState) -> None:
        """Change state as the device would by itself."""
        self._attr_state = state
        self.async_write_ha_state()


class StandInEngine(TextToSpeechEntity):
    """A TTS engine speaking the given languages (returns a few bytes of "mp3")."""

    def __init__(self, entity_id: str, languages: list[str]) -> None:
        """Speak `languages`, the first by default."""
        self.entity_id = entity_id
        self._attr_unique_id = entity_id
        self._attr_name = entity_id.split(".")[1]
        self._attr_supported_languages = languages
        self._attr_default_language = languages[0]
        self.spoken: list[tuple[str, str]] = []
        self.broken = False  # fail like HA's cloud engine without a login

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tuple[str | None, bytes | None]:
        """Record what would be spoken."""
        if self.broken:
            raise HomeAssistantError("Not enough segments")
        self.spoken.append((message, language))
        return "mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00"


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
async def players(hass: HomeAssistant) -> dict[str, RecordingPlayer]:
    """Three target media players of a third-party integration."""
    found = {
        THON_3: RecordingPlayer(THON_3, 0.3),
        CONG_CHAO: RecordingPlayer(CONG_CHAO, 0.5),
        CHO: RecordingPlayer(CHO, 0.4),
    }
    setup_test_component_platform(hass, "media_player", list(found.values()))
    assert await async_setup_component(hass, "media_player", {"media_player": {"platform": "test"}})
    await hass.config.async_update(internal_url=BASE_URL)
    await hass.async_block_till_done()
    return found


class _EngineFlow(ConfigFlow):
    """Config flow of the stand-in engine's integration (never run, but must exist)."""


@pytest.fixture
async def engines(hass: HomeAssistant, tmp_path: Path) -> AsyncGenerator[dict[str, StandInEngine]]:
    """A TTS engine speaking Vietnamese and English, and one speaking only English."""
    found = {
        ENGINE: StandInEngine(ENGINE, ["vi", "en"]),
        ENGINE_EN: StandInEngine(ENGINE_EN, ["en"]),
    }

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.TTS])
        return True

    mock_integration(hass, MockModule("test", async_setup_entry=setup_entry))
    mock_platform(hass, "test.config_flow")
    setup_test_component_platform(hass, "tts", list(found.values()), from_config_entry=True)
    assert await async_setup_component(hass, "tts", {})
    # Rendered speech is cached in the test's folder, not in the shared testing config folder.
    (tmp_path / "tts").mkdir()
    hass.data[DATA_TTS_MANAGER].cache_dir = str(tmp_path / "tts")
    assert await async_setup_component(hass, "media_source", {})
    entry = MockConfigEntry(domain="test")
    entry.add_to_hass(hass)
    with mock_config_flow("test", _EngineFlow):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield found
