"""Bench-only integration: how late HA's event loop runs its timers, and the GC's pauses.

Loaded by `bench/bench_station.py` into the Home Assistant it measures (never shipped). A timer
asks to run every `TICK` seconds; how late it runs is the loop's lag. `gc.callbacks` time every
collection. `GET /api/anninh_probe` returns both since the last `POST` (which resets them);
with `?types=1` also the objects the collector tracks, by type.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from typing import Any

from aiohttp import web
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant
from homeassistant.helpers.typing import ConfigType

DOMAIN = "anninh_probe"
TICK = 0.05


class _Probe:
    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.lags: list[float] = []
        self.gc: list[tuple[int, float]] = []
        self._gc_start = 0.0
        self._due = 0.0

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self._due = time.monotonic() + TICK
        self.hass.loop.call_later(TICK, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self.lags.append(max(0.0, now - self._due))
        self._due = now + TICK
        self.hass.loop.call_later(TICK, self._tick)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc.append((int(info["generation"]), time.perf_counter() - self._gc_start))

    def reset(self) -> None:
        self.lags, self.gc = [], []


class ProbeView(HomeAssistantView):
    """GET: the figures; POST: start again."""

    url = "/api/anninh_probe"
    name = "api:anninh_probe"

    def __init__(self, probe: _Probe) -> None:
        self.probe = probe

    async def get(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"lags": self.probe.lags, "gc": self.probe.gc}
        if request.query.get("types"):  # what the collector walks, by type (slow: once)
            counts = Counter(type(o).__qualname__ for o in gc.get_objects())
            body["tracked"] = sum(counts.values())
            body["types"] = counts.most_common(25)
        return self.json(body)

    async def post(self, request: web.Request) -> web.Response:
        self.probe.reset()
        return self.json({})


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    probe = _Probe(hass)
    probe.start()
    hass.http.register_view(ProbeView(probe))
    return True
