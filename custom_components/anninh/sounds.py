"""The chimes played before an announcement, generated here (no downloaded assets).

Each chime is synthesised deterministically with numpy as 16 kHz mono 16-bit PCM WAV and served
without authentication at `/api/anninh/chime/<name>.wav`: loudspeakers (cast devices, DLNA
speakers, ESPHome boxes) fetch the URL themselves and cannot log in. Only the three names below
are served. Durations are fixed and known, so an announcement can wait for the chime to finish.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.network import NoURLAvailableError, get_url

SAMPLE_RATE: Final = 16_000
CHIME_NONE: Final = "none"
CHIME_BELL: Final = "bell"
CHIME_GONG: Final = "gong"
CHIME_SIREN: Final = "siren"
CHIME_PATH: Final = "/api/anninh/chime/"

type Signal = npt.NDArray[np.float64]


def _time(seconds: float) -> Signal:
    return np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE


def _strike(
    frequency: float, seconds: float, partials: tuple[tuple[float, float, float], ...]
) -> Signal:
    """A struck tone: (ratio to `frequency`, amplitude, decay time in s) per partial."""
    t = _time(seconds)
    tone = np.zeros_like(t)
    for ratio, amplitude, decay in partials:
        tone += amplitude * np.sin(2 * np.pi * frequency * ratio * t) * np.exp(-t / decay)
    attack = np.minimum(t / 0.004, 1.0)  # 4 ms attack: no click
    result: Signal = tone * attack
    return result


def _bell() -> Signal:
    """A two-note "ding-dong" (E5, then C5), like a doorbell: 1.6 s."""
    partials = ((1.0, 1.0, 0.45), (2.0, 0.35, 0.25), (3.0, 0.12, 0.12), (4.2, 0.05, 0.08))
    out = np.zeros(round(1.6 * SAMPLE_RATE))
    ding = _strike(659.25, 0.9, partials)
    dong = _strike(523.25, 1.05, partials)
    out[: ding.size] += ding
    start = round(0.55 * SAMPLE_RATE)
    out[start : start + dong.size] += dong
    return out


def _gong() -> Signal:
    """A pitched bronze gong (chiêng) struck once, with a slow shimmer: 2.5 s."""
    t = _time(2.5)
    partials = (
        (1.0, 1.0, 1.1),
        (1.52, 0.45, 0.7),
        (2.03, 0.3, 0.55),
        (2.74, 0.18, 0.35),
        (3.9, 0.08, 0.2),
    )
    tone = _strike(196.0, 2.5, partials)
    shimmer = 1.0 + 0.08 * np.sin(2 * np.pi * 4.5 * t)
    return tone * shimmer


def _siren() -> Signal:
    """A soft rising and falling two-cycle siren (600-1100 Hz), faded in and out: 2.4 s."""
    t = _time(2.4)
    sweep = 850.0 + 250.0 * np.sin(2 * np.pi * (t / 1.2) - np.pi / 2)
    phase = 2 * np.pi * np.cumsum(sweep) / SAMPLE_RATE
    tone = np.sin(phase) + 0.25 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    envelope = np.minimum(np.minimum(t / 0.15, 1.0), np.minimum((t[-1] - t) / 0.3, 1.0))
    result: Signal = tone * envelope
    return result


GENERATORS: Final[dict[str, Callable[[], Signal]]] = {
    CHIME_BELL: _bell,
    CHIME_GONG: _gong,
    CHIME_SIREN: _siren,
}
# Length of each chime in seconds, known without generating it.
DURATIONS: Final[dict[str, float]] = {CHIME_BELL: 1.6, CHIME_GONG: 2.5, CHIME_SIREN: 2.4}
# The choices of the `chime` field.
CHIMES: Final = (CHIME_NONE, *GENERATORS)


@cache
def chime_wav(name: str) -> bytes:
    """The chime as WAV bytes (cached: the same bytes every time)."""
    signal = GENERATORS[name]()
    fade = min(signal.size, round(0.05 * SAMPLE_RATE))
    signal[-fade:] *= np.linspace(1.0, 0.0, fade)  # end in silence: no click
    signal = signal / np.max(np.abs(signal)) * 0.8
    pcm = np.round(signal * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()


def chime_path(name: str) -> str:
    """The chime's path on Home Assistant's HTTP server."""
    return f"{CHIME_PATH}{name}.wav"


@callback
def absolute_url(hass: HomeAssistant, path: str) -> str:
    """`path` on Home Assistant's URL as devices on the network reach it; the path if unknown."""
    try:
        return f"{get_url(hass, allow_external=False, allow_ip=True)}{path}"
    except NoURLAvailableError:
        try:
            return f"{get_url(hass)}{path}"
        except NoURLAvailableError:
            return path


class ChimeView(HomeAssistantView):
    """Serves the chimes to media players, which cannot authenticate."""

    url = CHIME_PATH + "{filename}"
    name = "api:anninh:chime"
    requires_auth = False

    async def get(self, request: web.Request, filename: str) -> web.Response:
        """The chime named in `filename` (`bell.wav`, `gong.wav`, `siren.wav`), else 404."""
        name, dot, extension = filename.partition(".")
        if not dot or extension != "wav" or name not in GENERATORS:
            return web.Response(status=404)
        body = await request.app[KEY_HASS].async_add_executor_job(chime_wav, name)
        return web.Response(
            body=body,
            content_type="audio/wav",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    head = get


@callback
def async_register_view(hass: HomeAssistant) -> None:
    """Serve the chimes (HTTP is a dependency of the integration, so it is up)."""
    hass.http.register_view(ChimeView())
