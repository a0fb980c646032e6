"""The station's offline voice (espeak-ng) on a real Home Assistant: the `tts` entity, announcements
spoken with it end to end, failing engines falling back to it, and machines where it cannot load.

Real `tts`, `media_source`, `media_player` and repairs; the real libespeak-ng of the
espeakng-loader wheel. Stand-ins only for third-party things (tests/standins.py): the target
media players, and a TTS engine that can fail like HA's cloud engine without a login.
"""

from __future__ import annotations

import io
import logging
import wave
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.tts.const import DATA_TTS_MANAGER
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.anninh.announce import FAILURES_BEFORE_REPAIR
from custom_components.anninh.const import (
    CONF_LANGUAGE,
    CONF_TARGETS,
    CONF_TTS_ENGINE,
    CONF_VOICE,
    DOMAIN,
    SUBENTRY_LOUDSPEAKER,
)
from custom_components.anninh.tts import ISSUE_UNAVAILABLE

from .conftest import assert_translated, loudspeaker_data, station_entry, subentry
from .standins import BASE_URL, CHO, ENGINE, THON_3, RecordingPlayer, StandInEngine

VOICE = "tts.cong_an_xa_ngu_doan_offline_voice"
SPEAKER = "media_player.loa_nha_van_hoa"
MESSAGE = "Lúc 21:30, đã nhận tín hiệu báo động tại Trạm y tế xã. Công an đang đến."


async def _station(hass: HomeAssistant, media_dir: Path, **speaker: Any) -> MockConfigEntry:
    entry = station_entry(media_dir, [subentry(SUBENTRY_LOUDSPEAKER, loudspeaker_data(**speaker))])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        return wav.getnframes() / wav.getframerate()


@pytest.fixture
def tts_cache(hass: HomeAssistant, tmp_path: Path) -> Path:
    """HA's TTS cache folder of this test (set once `tts` is set up)."""
    return tmp_path / "config" / "tts"


def _broken_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a musl or unsupported machine sees: the library file exists but cannot be loaded."""
    fake = tmp_path / "libespeak-ng.so"
    fake.write_bytes(b"\x7fELF not really a library")
    monkeypatch.setenv("ANNINH_ESPEAK_LIBRARY", str(fake))


async def test_entity_speaks_vietnamese(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The station has a tts entity: vi and en, three Vietnamese voices; `tts.speak` works."""
    await _station(hass, media_dir, **{CONF_TARGETS: [THON_3]})
    state = hass.states.get(VOICE)
    assert state is not None
    entity = er.async_get(hass).async_get(VOICE)
    assert entity is not None
    assert entity.platform == DOMAIN
    instance = hass.data["tts"].get_entity(VOICE)
    assert instance.supported_languages == ["vi", "en"]
    assert [v.voice_id for v in instance.async_get_supported_voices("vi")] == [
        "north",
        "central",
        "south",
    ]
    assert instance.async_get_supported_voices("fr") is None

    await hass.services.async_call(
        "tts",
        "speak",
        {
            "entity_id": VOICE,
            "media_player_entity_id": SPEAKER,
            "message": MESSAGE,
            "language": "vi",
            "options": {"voice": "central", "preferred_format": "wav"},
        },
        blocking=True,
    )
    (played,) = players[THON_3].played
    client = await hass_client_no_auth()
    reply = await client.get(URL(played["id"]).path)
    assert reply.status == 200
    assert 4.0 < _wav_seconds(await reply.read()) < 15.0


async def test_announce_chime_then_offline_speech(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    tts_cache: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A loudspeaker set to the offline voice: chime, then WAV speech in its voice, cached."""
    await _station(hass, media_dir, **{CONF_TARGETS: [THON_3], CONF_TTS_ENGINE: VOICE})
    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"entity_id": SPEAKER, "message": MESSAGE, "wait": True},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "loudspeakers": {SPEAKER: {"name": "Loa nhà văn hóa", "language": "vi", "status": "done"}}
    }
    chime, speech = (call["id"] for call in players[THON_3].played)
    assert chime == f"{BASE_URL}/api/anninh/chime/bell.wav"
    assert speech.startswith(f"{BASE_URL}/api/tts_proxy/")
    assert URL(speech).path.endswith(".wav")
    client = await hass_client_no_auth()
    reply = await client.get(URL(speech).path)
    assert reply.status == 200
    assert reply.headers["Content-Type"] in ("audio/x-wav", "audio/wav")
    assert 4.0 < _wav_seconds(await reply.read()) < 15.0

    # HA's TTS cache keeps it on disk, named after the engine, like any engine's speech.
    await hass.async_block_till_done()
    cached = [p.name for p in tts_cache.iterdir()]
    assert any(name.endswith(f"_{VOICE}.wav") for name in cached), cached
    assert hass.data[DATA_TTS_MANAGER].file_cache


async def test_failing_engine_falls_back_to_the_offline_voice(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
    caplog: pytest.LogCaptureFixture,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """An engine that fails ("Not enough segments") is reported, and the offline voice speaks."""
    await _station(hass, media_dir, **{CONF_TARGETS: [CHO], CONF_TTS_ENGINE: ENGINE})
    engines[ENGINE].broken = True
    issue_id = f"tts_engine_failing_{ENGINE}"
    client = await hass_client_no_auth()
    for count in range(1, FAILURES_BEFORE_REPAIR + 1):
        players[CHO].played.clear()
        response = await hass.services.async_call(
            DOMAIN,
            "announce",
            {"entity_id": SPEAKER, "message": f"{MESSAGE} ({count})", "wait": True},
            blocking=True,
            return_response=True,
        )
        result = response["loudspeakers"][SPEAKER]
        assert result["status"] == "fallback"
        assert result["engine"] == VOICE
        assert "Not enough segments" in result["error"]
        chime, speech = (call["id"] for call in players[CHO].played)
        assert chime.endswith("/api/anninh/chime/bell.wav")
        reply = await client.get(URL(speech).path)
        assert reply.status == 200
        assert _wav_seconds(await reply.read()) > 3.0
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert (issue is not None) == (count >= FAILURES_BEFORE_REPAIR)
    assert issue is not None
    assert issue.translation_placeholders["engine"] == ENGINE
    assert "Not enough segments" in issue.translation_placeholders["error"]
    assert f"speech by {ENGINE} failed" in caplog.text

    # The engine works again: done, and the repair issue goes away.
    engines[ENGINE].broken = False
    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"entity_id": SPEAKER, "message": "Thử loa", "wait": True},
        blocking=True,
        return_response=True,
    )
    assert response["loudspeakers"][SPEAKER]["status"] == "done"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert ("Thử loa", "vi") in engines[ENGINE].spoken


async def test_offline_voice_unavailable(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No loadable library: the station still sets up, without the entity, with a repair issue;
    a failing engine then has nothing to fall back to, and the announcement says `failed`."""
    _broken_library(monkeypatch, tmp_path)
    caplog.set_level(logging.WARNING)
    entry = await _station(hass, media_dir, **{CONF_TARGETS: [CHO], CONF_TTS_ENGINE: ENGINE})
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(SPEAKER) is not None
    assert hass.states.get(VOICE) is None
    assert er.async_get(hass).async_get(VOICE) is None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_UNAVAILABLE)
    assert issue is not None
    assert issue.translation_key == ISSUE_UNAVAILABLE
    assert "cannot load" in issue.translation_placeholders["reason"]
    assert "The offline voice is unavailable" in caplog.text

    engines[ENGINE].broken = True
    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"entity_id": SPEAKER, "message": MESSAGE, "wait": True},
        blocking=True,
        return_response=True,
    )
    result = response["loudspeakers"][SPEAKER]
    assert result["status"] == "failed"
    assert "Not enough segments" in result["error"]
    (chime,) = (call["id"] for call in players[CHO].played)  # no speech URL was sent
    assert chime.endswith("/api/anninh/chime/bell.wav")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "announce",
            {"entity_id": SPEAKER, "message": "Thử", "wait": True, "chime": "none"},
            blocking=True,
        )
    assert err.value.translation_key == "announce_failed"


async def test_unavailable_and_no_other_engine(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Without the offline voice and without any other engine, announcing is refused clearly."""
    _broken_library(monkeypatch, tmp_path)
    await _station(hass, media_dir, **{CONF_TARGETS: [CHO]})
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {"message": "Thử"}, blocking=True)
    assert err.value.translation_key == "no_tts_engine"


async def test_loudspeaker_flow_offers_the_offline_voice(
    hass: HomeAssistant, media_dir: Path, players: dict[str, RecordingPlayer]
) -> None:
    """A new loudspeaker speaks with the offline voice by default; engine and voice are options."""
    entry = await _station(hass, media_dir, **{CONF_TARGETS: [THON_3]})
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_LOUDSPEAKER), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, "config_subentries.loudspeaker")
    schema = {str(key): key for key in result["data_schema"].schema}
    assert schema[CONF_TTS_ENGINE].description == {"suggested_value": VOICE}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Loa đình",
            "address": "Chợ xã",
            "location": {"latitude": 20.8, "longitude": 106.7},
            CONF_TARGETS: [CHO],
            "volume": 60,
            CONF_LANGUAGE: "vi",
            CONF_TTS_ENGINE: VOICE,
            CONF_VOICE: "south",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    added = next(s for s in entry.subentries.values() if s.title == "Loa đình")
    assert added.data[CONF_TTS_ENGINE] == VOICE
    assert added.data[CONF_VOICE] == "south"
    await hass.async_block_till_done()

    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"entity_id": "media_player.loa_dinh", "message": MESSAGE, "wait": True},
        blocking=True,
        return_response=True,
    )
    assert response["loudspeakers"]["media_player.loa_dinh"]["status"] == "done"
    assert len(players[CHO].played) == 2


async def test_engine_stops_with_home_assistant(
    hass: HomeAssistant, media_dir: Path, players: dict[str, RecordingPlayer]
) -> None:
    """Unloading the last station closes the engine (the plugin checks no thread is left)."""
    entry = await _station(hass, media_dir, **{CONF_TARGETS: [THON_3]})
    assert await async_setup_component(hass, "tts", {})
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert "anninh_speech" not in hass.data
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(VOICE).state != "unavailable"


def test_requirement_pinned_and_installed() -> None:
    """The manifest pins the espeakng-loader whose Linux wheels (x86_64, aarch64) carry the library.

    0.2.3's x86_64 wheel has no libespeak-ng at all, and 0.2.1's needs glibc 2.34; 0.2.4 has a
    library in both wheels (glibc 2.29).
    """
    import json
    from importlib.metadata import version

    manifest = json.loads(
        (Path(__file__).parent.parent / "custom_components" / DOMAIN / "manifest.json").read_text()
    )
    assert "espeakng-loader==0.2.4" in manifest["requirements"]
    assert version("espeakng-loader") == "0.2.4"
