"""The offline speech engine on the real libespeak-ng of the espeakng-loader wheel."""

from __future__ import annotations

import _ctypes
import io
import threading
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from custom_components.anninh.engine.speech import (
    VOICES,
    Speech,
    SpeechUnavailable,
    default_paths,
)

# 28 words (syllables) of a typical announcement.
MESSAGE = (
    "Công an xã thông báo: đã nhận tín hiệu báo động tại trạm y tế xã. "
    "Đề nghị bà con giữ bình tĩnh, không tụ tập đông người."
)


@pytest.fixture
def speech() -> object:
    """An open engine, closed (its worker thread ended) after the test."""
    engine = Speech()
    engine.open()
    yield engine
    engine.close()


def _wav(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data)) as wav:
        return (
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.getframerate(),
            wav.getnframes() / wav.getframerate(),
        )


@pytest.mark.parametrize(
    ("language", "voice"), [(lang, voice) for lang, voices in VOICES.items() for voice in voices]
)
def test_every_voice_speaks_for_a_plausible_time(speech: Speech, language: str, voice: str) -> None:
    """Each voice gives a 16-bit mono 22 050 Hz WAV as long as the message takes to say."""
    text = MESSAGE if language == "vi" else "The police are on their way. Please stay calm."
    result = speech.synthesize(text, language, voice)
    channels, width, rate, seconds = _wav(result.wav)
    assert (channels, width, rate) == (1, 2, 22050)
    assert seconds == pytest.approx(result.seconds)
    # 28 syllables at 150 a minute is 11 s of speech, plus pauses; English 9 words about 3 s.
    low, high = (5.0, 20.0) if language == "vi" else (1.5, 8.0)
    assert low < seconds < high, seconds
    assert 0 < result.cpu_seconds < seconds  # far faster than real time
    samples = memoryview(result.wav[44:]).cast("h")
    assert max(abs(s) for s in samples) > 3000  # speech, not silence


def test_voices_differ_and_rate_and_pitch_apply(speech: Speech) -> None:
    """The three regions are three different voices; rate changes the length, pitch the sound."""
    renders = {voice: speech.synthesize(MESSAGE, "vi", voice) for voice in VOICES["vi"]}
    assert len({r.wav for r in renders.values()}) == 3
    slow = speech.synthesize(MESSAGE, "vi", "north", rate=100)
    fast = speech.synthesize(MESSAGE, "vi", "north", rate=300)
    assert slow.seconds > 2 * fast.seconds
    low = speech.synthesize(MESSAGE, "vi", "north", pitch=10)
    assert low.wav != renders["north"].wav


def test_text_is_normalised_before_speaking(speech: Speech) -> None:
    """Digits and abbreviations are read as words (the South reads "ngàn")."""
    result = speech.synthesize("UBND xã phạt 1.500.000đ lúc 21:30", "vi", "south")
    assert result.text == (
        "Ủy ban nhân dân xã phạt một triệu năm trăm ngàn đồng lúc hai mươi mốt giờ ba mươi phút"
    )
    english = speech.synthesize("Call 113", "en")
    assert english.text == "Call 113"  # only Vietnamese is normalised


def test_bad_options_are_refused(speech: Speech) -> None:
    """Unknown language, rate or pitch outside espeak-ng's range, non-numbers: ValueError."""
    for kwargs in (
        {"language": "fr"},
        {"rate": 20},
        {"rate": 1000},
        {"pitch": 101},
        {"rate": "fast"},
    ):
        with pytest.raises(ValueError):
            speech.synthesize("Thử", **kwargs)  # type: ignore[arg-type]
    # A voice of another language falls back to the language's default voice.
    other = speech.synthesize(MESSAGE, "vi", "en-us").seconds
    assert other == pytest.approx(speech.synthesize(MESSAGE).seconds, rel=0.01)


def test_calls_from_many_threads_are_serialised(speech: Speech) -> None:
    """Voice and parameters are global in espeak-ng: parallel callers still get their own voice.

    espeak-ng varies its output slightly from call to call (a random flutter), so each result is
    compared by length with the same request made alone: the voices and rates differ by more.
    """
    jobs = [("north", 150), ("south", 150), ("central", 250), ("north", 300)] * 3
    alone = {job: speech.synthesize(MESSAGE, "vi", job[0], rate=job[1]).seconds for job in jobs}
    assert len({round(seconds, 1) for seconds in alone.values()}) == 4
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda job: speech.synthesize(MESSAGE, "vi", job[0], rate=job[1]), jobs)
        )
    for job, result in zip(jobs, results, strict=True):
        assert result.seconds == pytest.approx(alone[job], rel=0.01), job
    workers = [t for t in threading.enumerate() if t.name.startswith("anninh-speech")]
    assert len(workers) == 1


def test_close_ends_the_worker_and_open_again_works() -> None:
    """No thread is left after close; the engine can be opened again."""
    engine = Speech()
    engine.open()
    assert engine.version.startswith("1.52")
    assert engine.sample_rate == 22050
    engine.close()
    assert not engine.available
    assert not [t for t in threading.enumerate() if t.name.startswith("anninh-speech")]
    with pytest.raises(SpeechUnavailable):
        engine.synthesize("Thử")
    engine.open()
    assert engine.synthesize("Thử loa").seconds > 0.3
    engine.close()


def _data() -> str:
    return default_paths()[1]


@pytest.mark.parametrize(
    ("library", "data", "reason"),
    [
        ("/nonexistent/libespeak-ng.so", None, "no such file"),
        (__file__, None, "cannot load"),  # a file that is not a shared library: dlopen fails
        (_ctypes.__file__, None, "is not libespeak-ng"),  # a library without espeak-ng
        (None, "/nonexistent/espeak-ng-data", "voice data incomplete"),
    ],
)
def test_unavailable_library_fails_cleanly(
    library: str | None, data: str | None, reason: str
) -> None:
    """What cannot load raises SpeechUnavailable with the reason and leaves no thread behind."""
    engine = Speech(library, data)
    with pytest.raises(SpeechUnavailable, match=reason):
        engine.open()
    assert not engine.available
    assert not [t for t in threading.enumerate() if t.name.startswith("anninh-speech")]


def test_voice_data_without_vietnamese(tmp_path: Path) -> None:
    """Voice data lacking the Vietnamese dictionary is refused before espeak-ng reads it."""
    data = Path(_data())
    partial = tmp_path / "espeak-ng-data"
    partial.mkdir()
    for name in ("phontab", "phonindex", "phondata", "intonations"):
        (partial / name).write_bytes((data / name).read_bytes())
    with pytest.raises(SpeechUnavailable, match="vi_dict"):
        Speech(None, str(partial)).open()


def test_environment_overrides_the_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """ANNINH_ESPEAK_LIBRARY points at another library (e.g. a system one)."""
    monkeypatch.setenv("ANNINH_ESPEAK_LIBRARY", "/nonexistent/libespeak-ng.so.1")
    assert default_paths()[0] == "/nonexistent/libespeak-ng.so.1"
    with pytest.raises(SpeechUnavailable, match="no such file"):
        Speech().open()
