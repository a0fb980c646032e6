"""Loudspeakers: the media player that forwards to its targets, and the `anninh.announce` action.

Real Home Assistant with the real `media_player`, `media_source`, `tts`, `recorder` and `logbook`
components. Stand-ins only for third-party things: the target media players (a test platform
that records what it is asked to play and pretends to play it for 50 ms) and the TTS engine
(a TTS entity that speaks Vietnamese and English).
"""

from __future__ import annotations

import io
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from homeassistant.components import tts
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
)
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service import _load_services_file
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.anninh import PLATFORMS
from custom_components.anninh.const import CONF_LANGUAGE, CONF_TARGETS, DOMAIN, SUBENTRY_LOUDSPEAKER
from custom_components.anninh.sounds import DURATIONS, SAMPLE_RATE

from .conftest import loudspeaker_data, station_entry, subentry
from .standins import (
    BASE_URL,
    CHO,
    CONG_CHAO,
    ENGINE,
    ENGINE_EN,
    THON_3,
    RecordingPlayer,
    StandInEngine,
)

SPEAKER = "media_player.loa_nha_van_hoa"
SPEAKER_CHO = "media_player.loa_cho_xa"
MESSAGE = "Đã nhận tín hiệu báo động tại Trạm y tế xã. Công an đang đến."


async def _station(
    hass: HomeAssistant, media_dir: Path, *speakers: dict[str, Any]
) -> MockConfigEntry:
    entry = station_entry(media_dir, [subentry(SUBENTRY_LOUDSPEAKER, data) for data in speakers])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def speakers(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> MockConfigEntry:
    """Two loudspeakers: one on two targets (Vietnamese), one on a third (English)."""
    return await _station(
        hass,
        media_dir,
        loudspeaker_data(**{CONF_TARGETS: [THON_3, CONG_CHAO]}),
        loudspeaker_data("Loa chợ xã", **{CONF_TARGETS: [CHO], CONF_LANGUAGE: "en"}),
    )


def _urls(player: RecordingPlayer) -> list[str]:
    return [call["id"] for call in player.played]


def _translated(err: HomeAssistantError, key: str) -> str:
    """The error names its translation key, and its text is the translated message."""
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    text = str(err)
    assert text
    assert text != key
    return text


# -- the media player ----------------------------------------------------------------------------
def test_media_player_is_a_platform() -> None:
    """The integration sets up its media_player platform."""
    assert Platform.MEDIA_PLAYER in PLATFORMS


async def test_entity(
    hass: HomeAssistant, speakers: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Named after the device, a speaker, with the features `tts.speak` and announcements need."""
    state = hass.states.get(SPEAKER)
    assert state is not None
    assert state.name == "Loa nhà văn hóa"
    assert state.attributes["device_class"] == "speaker"
    features = MediaPlayerEntityFeature(state.attributes["supported_features"])
    for feature in (
        MediaPlayerEntityFeature.PLAY_MEDIA,
        MediaPlayerEntityFeature.MEDIA_ANNOUNCE,
        MediaPlayerEntityFeature.VOLUME_SET,
        MediaPlayerEntityFeature.TURN_ON,
        MediaPlayerEntityFeature.TURN_OFF,
    ):
        assert feature in features
    assert state.attributes["targets"] == [THON_3, CONG_CHAO]
    assert state.attributes["latitude"] == 20.83
    entry = entity_registry.async_get(SPEAKER)
    assert entry is not None
    assert entry.platform == DOMAIN
    assert entry.config_subentry_id in speakers.subentries


async def test_play_media_announce_resolved_for_every_target(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    media_dir: Path,
) -> None:
    """A media-source id is resolved once into a URL each target can fetch, sent with announce."""
    (media_dir / "canh_bao.mp3").write_bytes(b"ID3" + bytes(100))
    await async_setup_component(hass, "media_source", {})
    await hass.services.async_call(
        "media_player",
        "play_media",
        {
            "entity_id": SPEAKER,
            "media_content_id": "media-source://media_source/local/canh_bao.mp3",
            "media_content_type": "music",
            "announce": True,
        },
        blocking=True,
    )
    for target in (THON_3, CONG_CHAO):
        (call,) = players[target].played
        assert call["announce"] is True
        assert call["id"].startswith(f"{BASE_URL}/media/local/canh_bao.mp3?authSig=")
        assert call["type"] == "audio/mpeg"
    assert players[THON_3].played[0]["id"] == players[CONG_CHAO].played[0]["id"]
    assert not players[CHO].played


async def test_tts_speak_on_the_loudspeaker(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """`tts.speak` targets the loudspeaker; both its media players get the spoken URL."""
    await hass.services.async_call(
        "tts",
        "speak",
        {
            "entity_id": ENGINE,
            "media_player_entity_id": SPEAKER,
            "message": "Xin chào bà con",
            "language": "vi",
        },
        blocking=True,
    )
    for target in (THON_3, CONG_CHAO):
        (call,) = players[target].played
        assert call["announce"] is True
        assert call["id"].startswith(f"{BASE_URL}/api/tts_proxy/")


async def test_volume_and_power_forwarded(
    hass: HomeAssistant, speakers: MockConfigEntry, players: dict[str, RecordingPlayer]
) -> None:
    """Volume, on and off reach every target; the loudspeaker shows their average volume."""
    assert hass.states.get(SPEAKER).attributes["volume_level"] == 0.4  # (0.3 + 0.5) / 2
    await hass.services.async_call(
        "media_player", "volume_set", {"entity_id": SPEAKER, "volume_level": 0.8}, blocking=True
    )
    assert players[THON_3].volumes == players[CONG_CHAO].volumes == [0.8]
    assert hass.states.get(SPEAKER).attributes["volume_level"] == 0.8
    await hass.services.async_call(
        "media_player", "turn_off", {"entity_id": SPEAKER}, blocking=True
    )
    assert players[THON_3].power == players[CONG_CHAO].power == ["off"]
    assert hass.states.get(SPEAKER).state == "off"
    await hass.services.async_call("media_player", "turn_on", {"entity_id": SPEAKER}, blocking=True)
    assert players[THON_3].power == ["off", "on"]
    assert hass.states.get(SPEAKER).state == "idle"
    assert not players[CHO].volumes
    assert not players[CHO].power


async def test_state_mirrors_targets(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    media_dir: Path,
) -> None:
    """Most active state of the available targets; unavailable when no target is there."""
    assert hass.states.get(SPEAKER).state == "idle"
    players[CONG_CHAO].set(MediaPlayerState.PLAYING)
    await hass.async_block_till_done()
    assert hass.states.get(SPEAKER).state == "playing"
    players[CONG_CHAO].set(MediaPlayerState.OFF)
    players[THON_3].set(MediaPlayerState.OFF)
    await hass.async_block_till_done()
    assert hass.states.get(SPEAKER).state == "off"

    hass.states.async_set(THON_3, STATE_UNAVAILABLE)
    hass.states.async_set(CONG_CHAO, STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert hass.states.get(SPEAKER).state == STATE_UNAVAILABLE
    players[THON_3].set(MediaPlayerState.PAUSED)
    await hass.async_block_till_done()
    assert hass.states.get(SPEAKER).state == "paused"

    await _station(
        hass,
        media_dir / "2",
        loudspeaker_data("Loa mất", **{CONF_TARGETS: ["media_player.khong_co"]}),
    )
    assert hass.states.get("media_player.loa_mat").state == STATE_UNAVAILABLE


async def test_never_forwards_to_a_loudspeaker(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    media_dir: Path,
) -> None:
    """A loudspeaker listed as another's target is skipped: no loops, no double announcements."""
    await _station(
        hass,
        media_dir / "2",
        loudspeaker_data("Loa vòng", **{CONF_TARGETS: [SPEAKER, CHO]}),
    )
    await hass.services.async_call(
        "media_player",
        "play_media",
        {
            "entity_id": "media_player.loa_vong",
            "media_content_id": f"{BASE_URL}/local/coi.mp3",
            "media_content_type": "music",
            "announce": True,
        },
        blocking=True,
    )
    assert len(players[CHO].played) == 1
    assert not players[THON_3].played
    assert not players[CONG_CHAO].played


async def test_one_broken_target_does_not_silence_the_others(
    hass: HomeAssistant, speakers: MockConfigEntry, players: dict[str, RecordingPlayer]
) -> None:
    """A failing target is logged and skipped; only when every target fails is it an error."""
    data = {
        "entity_id": SPEAKER,
        "media_content_id": f"{BASE_URL}/local/coi.mp3",
        "media_content_type": "music",
    }
    players[THON_3].broken = True
    await hass.services.async_call("media_player", "play_media", data, blocking=True)
    assert len(players[CONG_CHAO].played) == 1
    players[CONG_CHAO].broken = True
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("media_player", "play_media", data, blocking=True)
    assert "speaker does not answer" in _translated(err.value, "targets_failed")


# -- the announce action ---------------------------------------------------------------------------
async def test_announce_end_to_end(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
    hass_client_no_auth: ClientSessionGenerator,
    hass_admin_user: MockUser,
) -> None:
    """Volume set, chime, message (repeated), volume restored; event and sensor."""
    events = async_capture_events(hass, "anninh_announcement")
    start = dt_util.utcnow()
    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"entity_id": SPEAKER, "message": MESSAGE, "repeat": 2, "volume": 90, "wait": True},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert response == {
        "loudspeakers": {SPEAKER: {"name": "Loa nhà văn hóa", "language": "vi", "status": "done"}}
    }
    for target, before in ((THON_3, 0.3), (CONG_CHAO, 0.5)):
        player = players[target]
        assert player.volumes == [0.9, before]  # set for the announcement, then restored
        urls = _urls(player)
        assert len(urls) == 4  # chime, message, chime, message
        assert urls[0] == urls[2] == f"{BASE_URL}/api/anninh/chime/bell.wav"
        assert urls[1].startswith(f"{BASE_URL}/api/tts_proxy/")
        assert urls[3].startswith(f"{BASE_URL}/api/tts_proxy/")
        assert all(call["announce"] is True for call in player.played)
    assert not players[CHO].played
    assert hass.states.get(THON_3).attributes["volume_level"] == 0.3

    # The chime is a real WAV any device can fetch without logging in.
    client = await hass_client_no_auth()
    reply = await client.get("/api/anninh/chime/bell.wav")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(await reply.read())) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        assert wav.getnframes() / SAMPLE_RATE == pytest.approx(DURATIONS["bell"], abs=0.01)

    await hass.async_block_till_done()
    (event,) = events
    assert event.data["entity_id"] == SPEAKER
    assert event.data["message"] == MESSAGE
    assert event.data["language"] == "vi"
    assert event.data["chime"] == "bell"
    assert event.data["address"] == "Nhà văn hóa thôn 3"
    assert event.data["user_id"] == hass_admin_user.id

    sensor = hass.states.get("sensor.loa_nha_van_hoa_last_announcement")
    assert sensor is not None
    assert sensor.state == MESSAGE
    assert sensor.attributes["chime"] == "bell"
    assert sensor.attributes["language"] == "vi"
    assert sensor.attributes["user"] == hass_admin_user.name
    when = dt_util.parse_datetime(sensor.attributes["time"])
    assert when is not None
    assert when >= start - timedelta(seconds=1)

    # What the targets fetch is the message spoken by the engine, in the loudspeaker's language.
    reply = await client.get(URL(urls[1]).path)
    assert reply.status == 200
    assert (await reply.read()).startswith(b"ID3")
    assert (MESSAGE, "vi") in engines[ENGINE].spoken


class TestLogbook:
    """With the recorder, which must start before Home Assistant does."""

    @pytest.fixture
    def mock_recorder_before_hass(self, recorder_db_url: str) -> None:
        """Prepare the recorder's database before `hass` exists."""

    async def test_announcement_in_logbook(
        self,
        recorder_mock: Any,
        hass: HomeAssistant,
        speakers: MockConfigEntry,
        players: dict[str, RecordingPlayer],
        hass_client: ClientSessionGenerator,
        hass_admin_user: MockUser,
    ) -> None:
        """The logbook names the loudspeaker and the message, and who made the announcement."""
        assert await async_setup_component(hass, "logbook", {})
        start = dt_util.utcnow() - timedelta(seconds=1)
        await hass.services.async_call(
            DOMAIN,
            "announce",
            {"entity_id": SPEAKER, "message": MESSAGE, "chime": "none", "wait": True},
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )
        await async_wait_recording_done(hass)
        client = await hass_client()
        reply = await client.get(f"/api/logbook/{start.isoformat()}")
        assert reply.status == 200
        entries = [e for e in await reply.json() if e.get("domain") == DOMAIN]
        assert len(entries) == 1
        assert entries[0]["name"] == "Loa nhà văn hóa"
        assert entries[0]["entity_id"] == SPEAKER
        assert MESSAGE in entries[0]["message"]
        assert entries[0]["context_user_id"] == hass_admin_user.id


async def test_announce_everywhere_without_waiting(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """No target: every loudspeaker, each in its language; by default the call returns at once."""
    response = await hass.services.async_call(
        DOMAIN,
        "announce",
        {"message": "Test loa", "chime": "gong"},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "loudspeakers": {
            SPEAKER: {"name": "Loa nhà văn hóa", "language": "vi", "status": "started"},
            SPEAKER_CHO: {"name": "Loa chợ xã", "language": "en", "status": "started"},
        }
    }
    await hass.async_block_till_done(wait_background_tasks=True)
    for player in players.values():
        urls = _urls(player)
        assert len(urls) == 2
        assert urls[0].endswith("/api/anninh/chime/gong.wav")
    assert players[CHO].volumes == [0.7, 0.4]  # the loudspeaker's own volume, then restored
    assert hass.states.get("sensor.loa_cho_xa_last_announcement").state == "Test loa"


async def test_announce_language_and_no_chime(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """`language` overrides the loudspeaker's; `chime: none` plays only the message."""
    await hass.services.async_call(
        DOMAIN,
        "announce",
        {
            "entity_id": SPEAKER_CHO,
            "message": "Thông báo mất điện",
            "language": "vi",
            "chime": "none",
            "tts_engine": ENGINE,
            "wait": True,
        },
        blocking=True,
    )
    (url,) = _urls(players[CHO])
    assert "/api/tts_proxy/" in url
    state = hass.states.get("sensor.loa_cho_xa_last_announcement")
    assert state.attributes["language"] == "vi"
    assert state.attributes["chime"] == "none"
    assert state.attributes["user"] is None


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"entity_id": THON_3}, "not_a_loudspeaker"),
        ({"entity_id": SPEAKER, "tts_engine": "tts.khong_co"}, "tts_engine_missing"),
        ({"entity_id": SPEAKER, "tts_engine": ENGINE_EN}, "language_unsupported"),
    ],
)
async def test_announce_errors(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    data: dict[str, Any],
    key: str,
) -> None:
    """Wrong targets and engines are refused before any loudspeaker makes a sound."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"message": "Thử", **data}, blocking=True
        )
    text = _translated(err.value, key)
    assert data.get("tts_engine", data["entity_id"]) in text
    assert not any(p.played or p.volumes for p in players.values())


async def test_announce_invalid_fields(hass: HomeAssistant, speakers: MockConfigEntry) -> None:
    """Schema: message required, repeat 1-5, volume 0-100, known chimes and languages only."""
    for data in (
        {},
        {"message": ""},
        {"message": "x", "repeat": 6},
        {"message": "x", "volume": 101},
        {"message": "x", "chime": "trumpet"},
        {"message": "x", "language": "fr"},
    ):
        with pytest.raises(vol.Invalid):
            await hass.services.async_call(DOMAIN, "announce", data, blocking=True)


async def test_announce_without_loudspeakers_or_tts(
    hass: HomeAssistant,
    media_dir: Path,
    players: dict[str, RecordingPlayer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No loudspeaker at all, or no TTS engine at all: clear, translated errors.

    No engine at all means the station's offline voice cannot load either (a file that is not
    a shared library stands for a machine without a usable libespeak-ng).
    """
    monkeypatch.setenv("ANNINH_ESPEAK_LIBRARY", __file__)
    await _station(hass, media_dir)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {"message": "Thử"}, blocking=True)
    _translated(err.value, "no_loudspeakers")

    await _station(hass, media_dir / "2", loudspeaker_data())
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {"message": "Thử"}, blocking=True)
    _translated(err.value, "no_tts_engine")


async def test_announce_unavailable_loudspeaker(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """A loudspeaker whose media players are all gone is reported, not waited for."""
    hass.states.async_set(CHO, STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"entity_id": SPEAKER_CHO, "message": "Thử"}, blocking=True
        )
    assert "Loa chợ xã" in _translated(err.value, "loudspeakers_unavailable")


async def test_announcements_queue_per_loudspeaker(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """Two announcements on one loudspeaker play one after the other; volumes end as they began."""
    for message in ("Một", "Hai"):
        await hass.services.async_call(
            DOMAIN,
            "announce",
            {"entity_id": SPEAKER, "message": message, "volume": 100, "chime": "siren"},
            blocking=True,
        )
    await hass.async_block_till_done(wait_background_tasks=True)
    urls = _urls(players[THON_3])
    assert [u.rsplit("/", 1)[-1] for u in urls[::2]] == ["siren.wav", "siren.wav"]
    assert players[THON_3].volumes == [1.0, 0.3, 1.0, 0.3]
    assert hass.states.get("sensor.loa_nha_van_hoa_last_announcement").state == "Hai"


async def test_identical_waiting_announcement_not_queued_twice(
    hass: HomeAssistant,
    speakers: MockConfigEntry,
    players: dict[str, RecordingPlayer],
    engines: dict[str, StandInEngine],
) -> None:
    """A blueprint repeating faster than the loudspeaker speaks does not pile up announcements."""
    events = async_capture_events(hass, "anninh_announcement")
    for _ in range(3):
        await hass.services.async_call(
            DOMAIN,
            "announce",
            {"entity_id": SPEAKER_CHO, "message": "Công an đang đến"},
            blocking=True,
        )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert (
        len(events) == 2
    )  # the one playing, and one waiting; the third was the same as the second
    assert len(players[CHO].played) == 4


async def test_chime_view_rejects_other_names(
    hass: HomeAssistant, speakers: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """Only the three chimes are served; every chime is a valid 1-3 s WAV."""
    client = await hass_client_no_auth()
    for name in ("bell", "gong", "siren"):
        reply = await client.get(f"/api/anninh/chime/{name}.wav")
        assert reply.status == 200
        with wave.open(io.BytesIO(await reply.read())) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        assert 1.0 <= seconds <= 3.0
        assert seconds == pytest.approx(DURATIONS[name], abs=0.01)
    for bad in ("none.wav", "bell.mp3", "bell", "..%2Fmanifest.json", "BELL.wav", "bell.wav.wav"):
        reply = await client.get(f"/api/anninh/chime/{bad}")
        assert reply.status in (400, 404), bad


def test_generate_media_source_id_is_public() -> None:
    """The TTS helper the announcement relies on (guards against HA renaming it)."""
    assert callable(tts.generate_media_source_id)
    assert callable(tts.async_resolve_engine)


async def test_action_description(hass: HomeAssistant, speakers: MockConfigEntry) -> None:
    """services.yaml passes HA's own schema (which drops an invalid file): fields and target."""
    integration = await async_get_integration(hass, DOMAIN)
    descriptions = await hass.async_add_executor_job(_load_services_file, integration)
    assert isinstance(descriptions, dict)
    announce = descriptions["announce"]
    assert set(announce["fields"]) == {
        "message",
        "language",
        "chime",
        "repeat",
        "volume",
        "tts_engine",
        "wait",
    }
    assert announce["fields"]["message"]["required"] is True
    assert announce["target"]["entity"][0]["integration"] == DOMAIN
