"""Offline speech: libespeak-ng (from the `espeakng-loader` wheel) driven through ctypes.

`Speech().open()` loads the shared library and its voice data, `synthesize(text, "vi", "south")`
returns a 16-bit mono WAV (22 050 Hz) of the normalised text (`vi_text.normalize`), and `close()`
ends the worker thread. Nothing here imports Home Assistant.

espeak-ng is licensed GPL-3.0-or-later. It is not part of this code base: it is a separately
installed shared library (the `espeakng-loader` wheel, or a path given in `ANNINH_ESPEAK_LIBRARY`)
opened at run time with `ctypes`, like any other system library.

**One thread for every espeak call.** The library keeps global state (the current voice and
parameters, the synthesis callback, its output buffer), so every call runs on one worker thread
per `Speech`, and a process-wide lock serialises the calls of all `Speech` objects sharing a
library; each synthesis sets voice, rate and pitch before it speaks. Initialisation happens once
per process and library (`espeak_ng_Initialize` also sets `LC_CTYPE` to a UTF-8 locale so that
it classifies Vietnamese letters; an existing UTF-8 locale is put back).

**Failing cleanly.** Anything that prevents speech - the wheel not installed, no library for this
machine (musl, an unsupported CPU), a file that is not a loadable library, a library without the
espeak-ng functions, missing or broken voice data, no Vietnamese voice - raises
`SpeechUnavailable` from `open()` with a one-line reason, and nothing is half set up: the worker
thread is gone again. The voice data is checked before espeak-ng sees it, and only the `espeak_ng_*`
API is used, which returns status codes (the old `espeak_Initialize` may call `exit()`).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import locale
import os
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .vi_text import normalize

ENV_LIBRARY: Final = "ANNINH_ESPEAK_LIBRARY"
ENV_DATA: Final = "ANNINH_ESPEAK_DATA"

# Voices by language: our id -> espeak-ng voice name. The first of each language is its default.
VOICES: Final[dict[str, dict[str, str]]] = {
    "vi": {"north": "vi", "central": "vi-vn-x-central", "south": "vi-vn-x-south"},
    "en": {"en-gb": "en", "en-us": "en-us"},
}
VOICE_NAMES: Final[dict[str, str]] = {
    "north": "Miền Bắc (Northern)",
    "central": "Miền Trung (Central)",
    "south": "Miền Nam (Southern)",
    "en-gb": "English (British)",
    "en-us": "English (American)",
}
# Which way numbers are read for a voice ("nghìn"/"linh" or "ngàn"/"lẻ").
REGIONS: Final[dict[str, str]] = {"south": "south"}
LANGUAGES: Final = tuple(VOICES)

RATE_MIN: Final = 80  # words (Vietnamese: syllables) a minute, espeak-ng's range
RATE_MAX: Final = 450
DEFAULT_RATE: Final = 150  # a little slower than espeak's 175: loudspeakers outdoors echo
PITCH_MIN: Final = 0
PITCH_MAX: Final = 100
DEFAULT_PITCH: Final = 50

SYNTH_TIMEOUT: Final = 30.0
MAX_TEXT_BYTES: Final = 20_000

# espeak-ng constants (espeak_ng.h, speak_lib.h, API revision 12).
_ENS_OK: Final = 0
_ENOUTPUT_MODE_SYNCHRONOUS: Final = 0x0001
_POS_CHARACTER: Final = 1
_ESPEAK_CHARS_UTF8: Final = 1
_ESPEAK_ENDPAUSE: Final = 0x1000
_ESPEAK_RATE: Final = 1
_ESPEAK_PITCH: Final = 3
_SAMPLE_WIDTH: Final = 2  # 16-bit samples

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class SpeechUnavailable(Exception):
    """The library cannot be used on this machine; `str()` says why, in one line."""


class SpeechError(Exception):
    """One synthesis failed (the library itself works)."""


@dataclass(frozen=True, slots=True)
class Synthesis:
    """A rendered message."""

    wav: bytes
    seconds: float  # length of the audio
    cpu_seconds: float  # CPU time the synthesis took (on the worker thread)
    text: str  # what was spoken, after normalisation


def default_paths() -> tuple[str, str]:
    """The library and its data: `ANNINH_ESPEAK_LIBRARY`/`_DATA`, else the espeakng-loader wheel."""
    library = os.environ.get(ENV_LIBRARY)
    data = os.environ.get(ENV_DATA)
    if library and data:
        return library, data
    try:
        import espeakng_loader  # noqa: PLC0415 - optional: its absence is a handled state
    except ImportError as err:
        if library and not data:
            raise SpeechUnavailable(f"{ENV_LIBRARY} is set but {ENV_DATA} is not") from err
        raise SpeechUnavailable("the espeakng-loader package is not installed") from err
    package = Path(espeakng_loader.__file__).parent
    return library or str(package / "libespeak-ng.so"), data or str(package / "espeak-ng-data")


class _Library:
    """A loaded and initialised libespeak-ng: one per process and path (its state is global)."""

    def __init__(self, path: str, data: str) -> None:
        self.path = path
        self.data = data
        self.buffer: list[bytes] = []
        try:
            lib = ctypes.CDLL(path)
        except OSError as err:
            raise SpeechUnavailable(f"cannot load {path}: {err}") from err
        try:
            lib.espeak_ng_InitializePath.argtypes = [ctypes.c_char_p]
            lib.espeak_ng_InitializePath.restype = None
            lib.espeak_ng_Initialize.argtypes = [ctypes.c_void_p]
            lib.espeak_ng_InitializeOutput.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
            lib.espeak_ng_GetSampleRate.restype = ctypes.c_int
            lib.espeak_ng_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_ng_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_ng_Synthesize.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            lib.espeak_ng_Synchronize.argtypes = []
            lib.espeak_ng_GetStatusCodeMessage.argtypes = [
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ]
            lib.espeak_ng_GetStatusCodeMessage.restype = None
            lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
            lib.espeak_SetSynthCallback.restype = None
            lib.espeak_Info.argtypes = [ctypes.c_void_p]
            lib.espeak_Info.restype = ctypes.c_char_p
        except AttributeError as err:
            raise SpeechUnavailable(f"{path} is not libespeak-ng: {err}") from err
        self.lib = lib
        self.version = (lib.espeak_Info(None) or b"?").decode(errors="replace")
        self._initialise()

    def _initialise(self) -> None:
        folder = Path(self.data)
        previous = locale.setlocale(locale.LC_CTYPE)
        self.lib.espeak_ng_InitializePath(str(folder).encode())
        self._check(self.lib.espeak_ng_Initialize(None), "initialise", unavailable=True)
        if "utf-8" in previous.lower().replace("utf8", "utf-8"):
            with contextlib.suppress(locale.Error):
                locale.setlocale(locale.LC_CTYPE, previous)
        self._check(
            self.lib.espeak_ng_InitializeOutput(_ENOUTPUT_MODE_SYNCHRONOUS, 0, None),
            "open its output",
            unavailable=True,
        )
        self.sample_rate = int(self.lib.espeak_ng_GetSampleRate())
        # Kept referenced here: the library calls it for every chunk of audio.
        self._callback = _SynthCallback(self._receive)
        self.lib.espeak_SetSynthCallback(self._callback)
        for voices in VOICES.values():
            for name in voices.values():
                self._check(
                    self.lib.espeak_ng_SetVoiceByName(name.encode()),
                    f"find the voice {name}",
                    unavailable=True,
                )

    def _receive(self, wav: ctypes._Pointer[ctypes.c_short], samples: int, _events: int) -> int:
        if samples > 0 and wav:
            self.buffer.append(ctypes.string_at(wav, samples * _SAMPLE_WIDTH))
        return 0  # go on

    def _message(self, status: int) -> str:
        text = ctypes.create_string_buffer(512)
        self.lib.espeak_ng_GetStatusCodeMessage(status, text, len(text))
        return text.value.decode(errors="replace") or f"status {status:#x}"

    def _check(self, status: int, doing: str, *, unavailable: bool = False) -> None:
        if status != _ENS_OK:
            message = f"espeak-ng could not {doing}: {self._message(status)}"
            raise SpeechUnavailable(message) if unavailable else SpeechError(message)

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> bytes:
        """PCM samples of `text` (the caller holds the process-wide lock)."""
        self._check(self.lib.espeak_ng_SetVoiceByName(voice.encode()), f"select {voice}")
        self._check(self.lib.espeak_ng_SetParameter(_ESPEAK_RATE, rate, 0), "set the rate")
        self._check(self.lib.espeak_ng_SetParameter(_ESPEAK_PITCH, pitch, 0), "set the pitch")
        encoded = text.encode()
        self.buffer = []
        try:
            self._check(
                self.lib.espeak_ng_Synthesize(
                    encoded,
                    len(encoded) + 1,
                    0,
                    _POS_CHARACTER,
                    0,
                    _ESPEAK_CHARS_UTF8 | _ESPEAK_ENDPAUSE,
                    None,
                    None,
                ),
                "speak",
            )
            self._check(self.lib.espeak_ng_Synchronize(), "finish speaking")
            return b"".join(self.buffer)
        finally:
            self.buffer = []


_LOCK = threading.Lock()  # every espeak call of the process, whichever `Speech` makes it
_LIBRARIES: dict[str, _Library] = {}


def _load_library(path: str, data: str) -> _Library:
    """The process's instance of the library at `path` (loaded and initialised once)."""
    folder = Path(data)
    for needed in ("phontab", "phonindex", "phondata", "intonations", "vi_dict"):
        if not (folder / needed).is_file():
            raise SpeechUnavailable(f"espeak-ng voice data incomplete: no {folder / needed}")
    key = os.path.realpath(path)
    if (found := _LIBRARIES.get(key)) is not None:
        if found.data != data:
            raise SpeechUnavailable(f"{path} is already in use with the voice data {found.data}")
        return found
    if not Path(path).is_file():
        raise SpeechUnavailable(f"cannot load {path}: no such file")
    loaded = _Library(path, data)
    _LIBRARIES[key] = loaded
    return loaded


def check_options(
    language: str, voice: str | None, rate: object, pitch: object
) -> tuple[str, int, int]:
    """Validated (espeak voice name, rate, pitch); ValueError names what is wrong.

    `voice` may be None or a voice of another language: the language's default voice is used.
    """
    if language not in VOICES:
        raise ValueError(f"language {language!r} is not spoken (only {', '.join(VOICES)})")
    voices = VOICES[language]
    name = voices.get(voice or "", next(iter(voices.values())))
    try:
        rate_value = int(str(rate))
        pitch_value = int(str(pitch))
    except ValueError as err:
        raise ValueError(f"rate and pitch must be whole numbers, not {rate!r}/{pitch!r}") from err
    if not RATE_MIN <= rate_value <= RATE_MAX:
        raise ValueError(f"rate {rate_value} is outside {RATE_MIN}-{RATE_MAX}")
    if not PITCH_MIN <= pitch_value <= PITCH_MAX:
        raise ValueError(f"pitch {pitch_value} is outside {PITCH_MIN}-{PITCH_MAX}")
    return name, rate_value, pitch_value


class Speech:
    """The offline speech engine: a worker thread in front of libespeak-ng."""

    def __init__(self, library: str | None = None, data: str | None = None) -> None:
        """Nothing is loaded until `open`; paths default to `default_paths()`."""
        self._paths = (library, data)
        self._library: _Library | None = None
        self._worker: ThreadPoolExecutor | None = None

    @property
    def available(self) -> bool:
        """Whether `open` succeeded (and `close` was not called since)."""
        return self._library is not None

    @property
    def version(self) -> str:
        """The library's version, e.g. "1.52.0"."""
        return self._open_library().version

    @property
    def sample_rate(self) -> int:
        """Samples a second of the WAV produced (22 050)."""
        return self._open_library().sample_rate

    def _open_library(self) -> _Library:
        if self._library is None:
            raise SpeechUnavailable("not open")
        return self._library

    def _run[T](self, job: Callable[[], T], timeout: float = SYNTH_TIMEOUT) -> T:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="anninh-speech")
        return self._worker.submit(job).result(timeout)

    def open(self) -> None:
        """Load and initialise the library on the worker thread. Blocking.

        Raises SpeechUnavailable (and leaves no thread behind) when it cannot be used.
        """
        if self._library is not None:
            return
        library, data = self._paths
        if library is None or data is None:
            found_library, found_data = default_paths()
            library, data = library or found_library, data or found_data

        def load() -> _Library:
            with _LOCK:
                return _load_library(library, data)

        try:
            self._library = self._run(load)
        except BaseException:
            self.close()
            raise

    def submit(
        self,
        text: str,
        language: str = "vi",
        voice: str | None = None,
        rate: object = DEFAULT_RATE,
        pitch: object = DEFAULT_PITCH,
    ) -> Future[Synthesis]:
        """Queue `text`, normalised for `language`, for synthesis into WAV bytes.

        Raises ValueError at once for a bad language, voice, rate or pitch; the future raises
        SpeechError if espeak-ng fails.
        """
        library = self._open_library()
        worker = self._worker
        if worker is None:
            raise SpeechUnavailable("not open")
        name, rate_value, pitch_value = check_options(language, voice, rate, pitch)
        region = REGIONS.get(voice or "", "north")
        spoken = normalize(text, region=region) if language == "vi" else text
        if len(spoken.encode()) > MAX_TEXT_BYTES:
            raise ValueError(f"text longer than {MAX_TEXT_BYTES} bytes")

        def job() -> Synthesis:
            with _LOCK:
                started = time.thread_time()
                samples = library.synthesize(spoken, name, rate_value, pitch_value)
                cpu = time.thread_time() - started
            if not samples:
                raise SpeechError(f"espeak-ng produced no audio for {text[:40]!r}")
            out = io.BytesIO()
            with wave.open(out, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(_SAMPLE_WIDTH)
                wav.setframerate(library.sample_rate)
                wav.writeframes(samples)
            seconds = len(samples) / _SAMPLE_WIDTH / library.sample_rate
            return Synthesis(wav=out.getvalue(), seconds=seconds, cpu_seconds=cpu, text=spoken)

        return worker.submit(job)

    def synthesize(
        self,
        text: str,
        language: str = "vi",
        voice: str | None = None,
        rate: object = DEFAULT_RATE,
        pitch: object = DEFAULT_PITCH,
    ) -> Synthesis:
        """`submit` and wait. Blocking: call it off the event loop."""
        return self.submit(text, language, voice, rate, pitch).result(SYNTH_TIMEOUT)

    def close(self) -> None:
        """End the worker thread (waits for a synthesis in progress). `open` may be called again.

        The library stays loaded in the process: a shared library cannot be safely unloaded.
        """
        worker, self._worker = self._worker, None
        self._library = None
        if worker is not None:
            worker.shutdown(wait=True)
