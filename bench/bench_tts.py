"""Offline voice: time to audio ready for a 25-word Vietnamese announcement, and its CPU cost.

Run: ``.venv/bin/python bench/bench_tts.py [--runs N]`` (about 30 s on 2 cores). Prints a markdown
table. Peer in the same run: Debian's ``espeak-ng`` command-line program (``apt-get install
espeak-ng``; the row is skipped with a note when it is not installed) given the same normalised
text, voice and rate, writing a WAV file. Piper is not measured: it needs a voice model (about
60 MB) downloaded from the internet, which this machine does not have.

Rows:

* **engine** - ``Speech.synthesize`` (engine/speech.py): from the call to the WAV bytes in hand,
  for each voice. CPU = the worker thread's CPU time for the synthesis (``time.thread_time``).
* **announce** - ``anninh.announce`` on a real Home Assistant in this process
  (``async_test_home_assistant``: real ``http``, ``tts``, ``media_source``, ``media_player`` and
  the station with its offline voice), ``chime: none``, a loudspeaker whose target is a stand-in
  media player: from the action call to the stand-in's ``play_media`` receiving the speech URL.
  The speech is fully rendered (through HA's TTS cache machinery) before the URL is sent, so this
  is "announce call to audio ready", including HA's own overhead. Each run speaks a different
  message (a number appended), so nothing comes from the cache; a second row repeats one message
  (served from HA's memory cache).
* **espeak-ng CLI** - the Debian program started as a subprocess with ``-w out.wav``: from the
  start to its exit (file written). CPU = the child's user + system time (``RUSAGE_CHILDREN``).

Audio = length of the produced WAV; CPU per second of speech = CPU / audio length.
Figures are the median over ``--runs`` runs (p95 in brackets for the wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from homeassistant import loader, runner  # noqa: E402
from homeassistant.const import CONF_NAME  # noqa: E402
from homeassistant.core import CoreState, HomeAssistant  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
    setup_test_component_platform,
)

from custom_components.anninh.const import (  # noqa: E402
    CONF_ADDRESS,
    CONF_LANGUAGE,
    CONF_RECORDINGS_DIR,
    CONF_TARGETS,
    CONF_TTS_ENGINE,
    CONF_VOICE,
    CONF_VOLUME,
    DOMAIN,
    SUBENTRY_LOUDSPEAKER,
)
from custom_components.anninh.engine.speech import DEFAULT_RATE, VOICES, Speech  # noqa: E402
from custom_components.anninh.engine.vi_text import normalize  # noqa: E402
from tests.standins import RecordingPlayer  # noqa: E402

LOOPBACK = "127.0.0.1"
# 25 words (Vietnamese words are syllables), as a station would announce after a bell press.
MESSAGE = (
    "Công an xã thông báo: đã nhận tín hiệu báo động tại trạm y tế xã. "
    "Đề nghị bà con giữ bình tĩnh, đóng cửa."
)
assert len(MESSAGE.split()) == 25, len(MESSAGE.split())
PLAYER = "media_player.loa_bench"
VOICE_ENTITY = "tts.cong_an_xa_bench_offline_voice"


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def row(name: str, walls: list[float], audio: list[float], cpu: list[float] | None) -> str:
    wall = statistics.median(walls) * 1000
    seconds = statistics.median(audio)
    cpu_text = "—"
    if cpu:
        cpu_text = (
            f"{statistics.median(c / a for c, a in zip(cpu, audio, strict=True)) * 1000:.1f} ms"
        )
    return f"| {name} | {wall:.1f} ms ({p95(walls) * 1000:.1f}) | {seconds:.2f} s | {cpu_text} |"


def bench_engine(runs: int) -> list[str]:
    speech = Speech()
    speech.open()
    rows = []
    try:
        speech.synthesize(MESSAGE)  # warm-up
        for voice in VOICES["vi"]:
            walls, audio, cpu = [], [], []
            for _ in range(runs):
                started = time.perf_counter()
                result = speech.synthesize(MESSAGE, "vi", voice)
                walls.append(time.perf_counter() - started)
                audio.append(result.seconds)
                cpu.append(result.cpu_seconds)
            rows.append(row(f"anninh engine, `{voice}`", walls, audio, cpu))
    finally:
        speech.close()
    return rows


def bench_cli(runs: int, folder: Path) -> list[str]:
    program = shutil.which("espeak-ng")
    if program is None:
        return ["| espeak-ng CLI | not installed (`apt-get install espeak-ng`) | — | — |"]
    version = subprocess.run(
        [program, "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    text = normalize(MESSAGE)
    rows = []
    for voice, name in VOICES["vi"].items():
        walls, audio, cpu = [], [], []
        for index in range(runs + 1):
            out = folder / f"cli-{voice}-{index}.wav"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [program, "-v", name, "-s", str(DEFAULT_RATE), "-w", str(out), text], check=True
            )
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if index == 0:
                continue  # warm-up (page cache)
            walls.append(wall)
            audio.append(wav_seconds(out.read_bytes()))
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        label = f"espeak-ng CLI {version[3] if len(version) > 3 else ''}, `{name}`"
        rows.append(row(label, walls, audio, cpu))
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def bench_announce(runs: int, folder: Path) -> list[str]:
    config_dir = folder / "config"
    config_dir.mkdir()
    media = folder / "media"
    media.mkdir()
    port = free_port()
    async with async_test_home_assistant(
        config_dir=str(config_dir), initial_state=CoreState.not_running
    ) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # load custom_components/anninh
        hass.config.media_dirs = {"local": str(media)}
        hass.config.allowlist_external_dirs = {str(media)}
        await hass.config.async_update(internal_url=f"http://{LOOPBACK}:{port}")
        assert await async_setup_component(
            hass, "http", {"http": {"server_host": LOOPBACK, "server_port": port}}
        )
        player = RecordingPlayer(PLAYER, 0.3)
        player.play_seconds = 0.0
        received: list[float] = []
        original = player.async_play_media

        async def timed(media_type: str, media_id: str, **kwargs: Any) -> None:
            received.append(time.perf_counter())
            await original(media_type, media_id, **kwargs)

        player.async_play_media = timed  # type: ignore[method-assign]
        setup_test_component_platform(hass, "media_player", [player])
        assert await async_setup_component(
            hass, "media_player", {"media_player": {"platform": "test"}}
        )
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Công an xã Bench",
            unique_id="bench",
            data={CONF_NAME: "Công an xã Bench", CONF_RECORDINGS_DIR: str(media / "anninh")},
            subentries_data=[
                {
                    "data": {
                        CONF_NAME: "Loa nhà văn hóa",
                        CONF_ADDRESS: "Thôn 3",
                        CONF_TARGETS: [PLAYER],
                        CONF_VOLUME: 70,
                        CONF_LANGUAGE: "vi",
                        CONF_TTS_ENGINE: VOICE_ENTITY,
                        CONF_VOICE: "north",
                    },
                    "subentry_type": SUBENTRY_LOUDSPEAKER,
                    "title": "Loa nhà văn hóa",
                    "unique_id": None,
                }
            ],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_start()
        await hass.async_block_till_done()
        assert hass.states.get(VOICE_ENTITY) is not None, "no offline voice"
        speaker = "media_player.loa_nha_van_hoa"

        async def announce(message: str) -> tuple[float, float]:
            received.clear()
            started = time.perf_counter()
            await hass.services.async_call(
                DOMAIN,
                "announce",
                {"entity_id": speaker, "message": message, "chime": "none", "wait": True},
                blocking=True,
            )
            (url,) = [call["id"] for call in player.played[-1:]]
            token = url.rsplit("/", 1)[-1].split("?")[0]
            data = await _fetch(hass, token)
            return received[0] - started, wav_seconds(data)

        await announce(f"{MESSAGE} 0")  # warm-up
        rows = []
        walls, audio = [], []
        for index in range(1, runs + 1):
            wall, seconds = await announce(f"{MESSAGE} {index}")
            walls.append(wall)
            audio.append(seconds)
        rows.append(
            row("`anninh.announce` → speech URL sent (rendered, not cached)", walls, audio, None)
        )
        walls, audio = [], []
        for _ in range(runs):
            wall, seconds = await announce(f"{MESSAGE} 1")
            walls.append(wall)
            audio.append(seconds)
        rows.append(
            row("`anninh.announce`, same message again (HA's TTS cache)", walls, audio, None)
        )
        await hass.async_stop(force=True)
    return rows


async def _fetch(hass: HomeAssistant, token: str) -> bytes:
    from homeassistant.components.tts import async_get_stream

    stream = async_get_stream(hass, token)
    assert stream is not None
    return b"".join([chunk async for chunk in stream.async_stream_result()])


def main() -> None:
    """Parse, run, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("homeassistant.helpers.service").setLevel(logging.ERROR)
    asyncio.set_event_loop_policy(runner.HassEventLoopPolicy(False))
    rows = [
        "| path | audio ready: median (p95) | audio | CPU per second of speech |",
        "|---|---:|---:|---:|",
    ]
    rows += bench_engine(args.runs)
    with (
        tempfile.TemporaryDirectory(prefix="bench-tts-") as tmp,
        patch("homeassistant.components.network.util.async_get_source_ip", return_value=LOOPBACK),
    ):
        rows += asyncio.run(bench_announce(args.runs, Path(tmp)))
        rows += bench_cli(args.runs, Path(tmp))
    print("\n".join(rows))
    print(
        f"\n25-word Vietnamese message ({len(MESSAGE)} characters), rate {DEFAULT_RATE} words a "
        f"minute, N={args.runs} runs each after one warm-up, on the {os.cpu_count()}-core dev "
        f"machine (shared with other jobs), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at the end."
    )


if __name__ == "__main__":
    main()
