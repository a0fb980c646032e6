"""Recording benchmark: pre-event ring memory, record() latency, stream-copy CPU.

Run: ``.venv/bin/python bench/bench_recording.py [--peer-seconds 20] [--no-peer] [--readme]``
(about three minutes; the peer needs the RTSP test camera's GStreamer packages, see tests/rtsp.py).
Prints a markdown table; with ``--readme`` also writes it under the "Recording" heading of
bench/README.md (other sections are kept).

* Source: a real 1920x1080 15 fps H.264 encode (PyAV/libx264, 2 Mbit/s ABR, 2 s GOP, sensor noise
  so the encoder has to spend the bits), 10 s long, demuxed in a loop like a looping camera.
* Memory: rings filled through `Recorder.on_packet` with real `av.Packet`s (payload copies, as on
  a camera's reader thread). Measured as Python allocations (tracemalloc: payload bytes plus all
  per-packet objects) and as the process RSS growth.
* Latency: a feeder thread delivers packets at the real frame rate; the time from `record()` to
  the first bytes of the clip's (temporary) MP4 on disk, over N calls.
* CPU: process CPU seconds (all threads) per recorded camera-second: feeding a ring and recording
  60 s by stream copy, minus feeding the ring alone, packets fed as fast as possible.
* Peer: the same 1080p file served over RTSP by the GStreamer test camera (tests/rtsp.py, on
  127.0.0.1), recorded in one process, one after the other, by our `StreamReader(decode=False)` +
  `Recorder` and by Home Assistant's own `stream` component (`create_stream` + `async_record`) in
  a real in-process Home Assistant (`http` bound to 127.0.0.1). Process CPU over each recording,
  per second of recording; the idle Home Assistant's CPU is measured first and subtracted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from custom_components.anninh.engine.recorder import Recorder  # noqa: E402
from custom_components.anninh.engine.source import StreamSource  # noqa: E402
from custom_components.anninh.engine.stream import StreamReader  # noqa: E402
from tests.media import LoopingFile, make_h264_file  # noqa: E402
from tests.rtsp import RtspCamera, gst_rtsp_problem  # noqa: E402

FPS = 15
BITRATE = 2_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rss() -> int:
    with open("/proc/self/statm") as handle:  # noqa: PTH123
        return int(handle.read().split()[1]) * 4096


def feed(recorder: Recorder, loop: LoopingFile, clock: Clock, seconds: float) -> None:
    for _ in range(round(seconds * FPS)):
        clock.now += 1 / FPS
        recorder.on_packet(loop.next())


def memory(video: Path, root: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for seconds in (10, 60):
        gc.collect()
        tracemalloc.start()
        before_rss, before = rss(), tracemalloc.get_traced_memory()[0]
        clock, loop = Clock(), LoopingFile(video)
        recorder = Recorder(root, "mem", pre_event=seconds, clock=clock)
        feed(recorder, loop, clock, seconds + 5)
        gc.collect()
        stats = recorder.stats()
        out[f"py_{seconds}"] = tracemalloc.get_traced_memory()[0] - before
        out[f"rss_{seconds}"] = rss() - before_rss
        out[f"payload_{seconds}"] = stats.bytes
        out[f"buffered_{seconds}"] = stats.seconds
        tracemalloc.stop()
        loop.close()
        del recorder
    gc.collect()
    tracemalloc.start()
    before_rss, before = rss(), tracemalloc.get_traced_memory()[0]
    recorders: list[Recorder] = []
    for index in range(60):
        clock, loop = Clock(), LoopingFile(video)
        recorder = Recorder(root, f"cam{index}", pre_event=10, clock=clock)
        feed(recorder, loop, clock, 12 + index % 3)
        loop.close()
        recorders.append(recorder)
    gc.collect()
    out["py_60x10"] = tracemalloc.get_traced_memory()[0] - before
    out["rss_60x10"] = rss() - before_rss
    out["payload_60x10"] = sum(r.stats().bytes for r in recorders)
    tracemalloc.stop()
    return out


def latency(video: Path, root: Path, calls: int) -> list[float]:
    recorder = Recorder(root, "lat", pre_event=2)
    loop = LoopingFile(video)
    stop = threading.Event()

    def feeder() -> None:
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            recorder.on_packet(loop.next())
            n += 1
            delay = start + n / FPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    thread = threading.Thread(target=feeder, daemon=True)
    thread.start()
    time.sleep(3)
    times: list[float] = []
    for _ in range(calls):
        called = time.perf_counter()
        handle = recorder.record(0.2)
        temp = handle.path.with_name(f".{handle.path.name}.tmp")
        while True:
            try:
                if temp.stat().st_size > 0:
                    break
            except FileNotFoundError:
                if handle.path.exists():
                    break
            time.sleep(0.0002)
        times.append(time.perf_counter() - called)
        handle.wait(10)
    stop.set()
    thread.join()
    recorder.stop()
    loop.close()
    return times


def cpu(video: Path, root: Path, seconds: float = 60) -> dict[str, float]:
    def run(record: bool) -> float:
        clock, loop = Clock(), LoopingFile(video)
        recorder = Recorder(root, "cpu", pre_event=2, clock=clock)
        feed(recorder, loop, clock, 3)
        started = time.process_time()
        handle = recorder.record(seconds) if record else None
        feed(recorder, loop, clock, seconds + 1)
        if handle is not None:
            handle.wait(60)
        used = time.process_time() - started
        recorder.stop()
        loop.close()
        return used

    base = min(run(False) for _ in range(3))
    total = min(run(True) for _ in range(3))
    return {"feed": base, "record": total, "per_s": max(0.0, total - base) / (seconds + 2)}


class FirstBytes:
    """Polls (every 1 ms) for the first bytes of a file: only in runs whose CPU is not measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.perf_counter()
        self.seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.001):
            try:
                if self.path.stat().st_size > 0:
                    self.seconds = time.perf_counter() - self.started
                    return
            except FileNotFoundError:
                continue

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.seconds


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clip_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts]
    return max(times) - min(times) + 1 / FPS if times else 0.0


async def measured(awaitable: object) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) spent while `awaitable` ran."""
    cpu0, wall0 = time.process_time(), time.monotonic()
    await awaitable  # type: ignore[misc]
    return time.process_time() - cpu0, time.monotonic() - wall0


async def compare_with_ha(url: str, folder: Path, seconds: int) -> dict[str, float]:
    """Record `url` with ours, then with Home Assistant's stream component, in one process."""
    from homeassistant.components.camera import DynamicStreamSettings
    from homeassistant.components.stream import create_stream
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import async_test_home_assistant

    out: dict[str, float] = {}
    (folder / "ha-config").mkdir()
    async with async_test_home_assistant(config_dir=str(folder / "ha-config")) as hass:
        hass.config.allowlist_external_dirs = {str(folder)}
        http = {"server_host": ["127.0.0.1"], "server_port": free_port()}
        assert await async_setup_component(hass, "http", {"http": http})
        assert await async_setup_component(hass, "stream", {})
        await hass.async_block_till_done()
        out["load_start"] = os.getloadavg()[0]
        cpu, wall = await measured(asyncio.sleep(10))
        out["idle"] = cpu / wall

        # Ours: the main-stream reader and ring run all the time; a clip is cut from them.
        recorder = Recorder(folder / "ours", "rtsp", pre_event=10)
        reader = StreamReader(
            StreamSource(url), name="rtsp main", on_packet=recorder.on_packet, decode=False
        )
        reader.start()
        await asyncio.sleep(12)  # the 10 s ring is full
        cpu, wall = await measured(asyncio.sleep(10))
        out["ours_ring"] = cpu / wall
        handle = await hass.async_add_executor_job(recorder.record, seconds)
        cpu, wall = await measured(hass.async_add_executor_job(handle.wait, seconds + 30))
        out["ours"], out["ours_wall"] = cpu / wall, wall
        out["ours_clip"] = clip_seconds(handle.path)
        handle = await hass.async_add_executor_job(recorder.record, 2)
        temp = handle.path.with_name(f".{handle.path.name}.tmp")
        first = FirstBytes(temp)
        await hass.async_add_executor_job(handle.wait, 30)
        out["ours_first"] = first.stop() or float("nan")
        await hass.async_add_executor_job(reader.stop)
        await hass.async_add_executor_job(recorder.stop)

        # Home Assistant: no HLS session runs, so the worker starts with the call (no lookback).
        ha_clip = folder / "ha" / "clip.mp4"
        stream = create_stream(hass, url, {}, DynamicStreamSettings())
        cpu, wall = await measured(stream.async_record(str(ha_clip), duration=seconds, lookback=10))
        await stream.stop()
        out["ha"], out["ha_wall"] = cpu / wall, wall
        out["ha_clip"] = clip_seconds(ha_clip)
        ha_clip2 = folder / "ha" / "clip2.mp4"
        first = FirstBytes(Path(f"{ha_clip2}.tmp"))
        await stream.async_record(str(ha_clip2), duration=2, lookback=10)
        await stream.stop()
        out["ha_first"] = first.stop() or float("nan")
        out["load_end"] = os.getloadavg()[0]
        await hass.async_stop(force=True)
    return out


def ha_peer(video: Path, folder: Path, seconds: int) -> dict[str, float] | str:
    """The comparison with Home Assistant's recording, or why it could not run."""
    problem = gst_rtsp_problem()
    if problem:
        return problem
    camera = RtspCamera(["--file", str(video)], folder)
    try:
        return asyncio.run(compare_with_ha(camera.url, folder, seconds))
    finally:
        camera.kill()


def peer_rows(peer: dict[str, float] | str | None, seconds: int) -> list[str]:
    """The rows comparing with Home Assistant's recording (CPU net of the idle process)."""
    name = "Home Assistant `stream` recording, same RTSP stream"
    if peer is None:
        return [f"| {name} | not run (`--no-peer`) |"]
    if isinstance(peer, str):
        return [f"| {name} | not measured: {peer} |"]
    idle = peer["idle"]
    ours, ha, ring = peer["ours"] - idle, peer["ha"] - idle, peer["ours_ring"] - idle
    ours_clip = ours * peer["ours_wall"] / peer["ours_clip"]
    ha_clip = ha * peer["ha_wall"] / peer["ha_clip"]
    return [
        f"| Over RTSP (GStreamer test camera on 127.0.0.1, same file): ours, reader + 10 s ring, "
        f"not recording | {ring * 100:.2f} % of one core |",
        f"| Over RTSP: ours, `record({seconds})` (reader + ring + clip writer) | "
        f"{ours * 100:.2f} % of one core over the {peer['ours_wall']:.1f} s call; clip "
        f"{peer['ours_clip']:.1f} s (10 s pre-event) |",
        f"| Over RTSP: Home Assistant `stream.async_record(duration={seconds}, lookback=10)` | "
        f"{ha * 100:.2f} % of one core over the {peer['ha_wall']:.1f} s call; clip "
        f"{peer['ha_clip']:.1f} s (no lookback: no HLS session running) |",
        f"| CPU ratio, Home Assistant / ours | {ha / ours:.1f}x while recording; "
        f"{ha_clip / ours_clip:.1f}x per second of clip written |",
        f"| Record call to first MP4 bytes on disk, over RTSP (one call each) | ours "
        f"{peer['ours_first'] * 1000:.1f} ms; Home Assistant {peer['ha_first']:.2f} s |",
    ]


def table(
    mem: dict[str, float],
    lat: list[float],
    use: dict[str, float],
    bitrate: float,
    peer: list[str],
) -> str:
    mib = 1024 * 1024
    lat_ms = sorted(x * 1000 for x in lat)
    p99 = lat_ms[min(len(lat_ms) - 1, round(0.99 * (len(lat_ms) - 1)))]
    rows = [
        "| Measure | Value |",
        "|---|---|",
        f"| Source | 1920x1080 H.264, {FPS} fps, 2 s GOP, {bitrate / 1e6:.2f} Mbit/s measured |",
        *(
            f"| Ring, 1 camera, pre-event {s} s (buffer holds {mem[f'buffered_{s}']:.1f} s) | "
            f"{mem[f'py_{s}'] / mib:.1f} MiB Python objects "
            f"({mem[f'payload_{s}'] / mib:.1f} MiB payload), RSS +{mem[f'rss_{s}'] / mib:.1f} MiB |"
            for s in (10, 60)
        ),
        f"| Ring, 60 cameras x 10 s (target well under 300 MB) | "
        f"{mem['py_60x10'] / mib:.0f} MiB Python objects "
        f"({mem['payload_60x10'] / mib:.0f} MiB payload), RSS +{mem['rss_60x10'] / mib:.0f} MiB |",
        f"| `record()` to first MP4 bytes on disk (N={len(lat)}) | "
        f"median {statistics.median(lat_ms):.1f} ms, p99 {p99:.1f} ms |",
        f"| CPU, recording 1 camera by stream copy | "
        f"{use['per_s'] * 1000:.2f} ms CPU per recorded second "
        f"({use['per_s'] * 100:.2f} % of one core) |",
        *peer,
    ]
    return "\n".join(rows)


def write_readme(text: str) -> None:
    readme = ROOT / "bench" / "README.md"
    current = readme.read_text() if readme.exists() else "# Benchmarks\n"
    section = f"## Recording\n\n{text}\n"
    if "## Recording" in current:
        head, _, rest = current.partition("## Recording")
        tail = rest.find("\n## ")
        current = head + section + (rest[tail + 1 :] if tail >= 0 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + section
    readme.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--peer-seconds", type=int, default=20, help="duration of each recording")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("encoding 10 s of 1080p H.264 ...", file=sys.stderr)
        video = make_h264_file(
            folder / "1080p.mp4",
            width=1920,
            height=1080,
            fps=FPS,
            seconds=10,
            gop=2 * FPS,
            bitrate=BITRATE,
            preset="ultrafast",
            noise=3.0,
        )
        with av.open(str(video)) as container:
            size = sum(p.size for p in container.demux(container.streams.video[0]))
        bitrate = size * 8 / 10
        mem = memory(video, folder / "rec")
        lat = latency(video, folder / "rec", args.calls)
        use = cpu(video, folder / "rec")
        peer = None if args.no_peer else ha_peer(video, folder, args.peer_seconds)
    text = table(mem, lat, use, bitrate, peer_rows(peer, args.peer_seconds))
    note = (
        "\nMeasured by `bench/bench_recording.py` on the 2-core dev machine (shared with other "
        "jobs). Python objects = tracemalloc (payload copies plus every per-packet object); "
        "RSS = process growth. CPU = process CPU (all threads) of feeding + recording minus "
        "feeding alone, packets fed as fast as possible.\n\n"
        "Peer rows: both recorders in one process, one after the other, inside a real "
        "Home Assistant (`async_test_home_assistant`, `http` on 127.0.0.1, `stream` set up); the "
        "RTSP server is a separate process and not counted. CPU = process CPU over each call "
        "minus the idle Home Assistant's (measured first), per second of the call. Lookback: "
        "ours cuts the clip from its always-on 10 s ring (its cost is the not-recording row); "
        "Home Assistant's worker keeps segments for lookback only while an HLS session runs "
        "(someone watching, or the camera's preload-stream option), so with none running, as "
        "here, `lookback=10` is ignored and its worker starts with the call: its first-bytes "
        "time is a cold start (RTSP connect and probe, then the first segment is written once "
        "the second 2 s segment completes), which is what such a call costs in practice; with an "
        "HLS session it would write at once, at the cost of the worker running all the time. "
        "Its worker only demuxes and remuxes (no decoding), like ours.\n"
    )
    if isinstance(peer, dict):
        note += (
            f"\nLoad average during the peer runs: {peer['load_start']:.2f} at start, "
            f"{peer['load_end']:.2f} at end; idle Home Assistant {peer['idle'] * 100:.3f} % "
            "of a core.\n"
        )
    print(text)
    print(note)
    if args.readme:
        write_readme(text + "\n" + note)


if __name__ == "__main__":
    main()
