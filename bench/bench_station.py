"""N cameras inside a real Home Assistant: CPU per camera, the event loop's lag, GC pauses.

Run: ``.venv/bin/python bench/bench_station.py [--cameras 10 20] [--scene busy] [--seconds 60]
[--warmup 20]`` (about 3 minutes per camera count; the first run also encodes the clips, cached
in bench/.cache/ by bench_pipeline.py).

* Home Assistant is a real ``python -m homeassistant`` process (the browser tests' harness) with
  only ``http``, ``frontend``, anninh and the bench's probe (``bench/anninh_probe``), on loopback.
  The station and its N cameras are added through the UI's REST flows. Each camera is a
  1920x1080 25 fps 2 Mbit/s main stream (recorded into the pre-event buffer, live view ready) and
  a 640x360 15 fps sub-stream analysed for motion, as bench_pipeline.py's clips: "busy" has a
  block crossing the picture for 90 % of each 10 s loop, "quiet" none.
* CPU: the hass process's user + system time (/proc) over the window, in % of one core.
  Loop lag: a timer asks to run every 50 ms; how late it runs (p50, p99, max). GC: every
  collection's pause (`gc.callbacks`), the longest of each generation. API: round trips of
  ``GET /api/`` every 200 ms from outside (p50, p99, max). Memory: the process's RSS.
* Peer, in the same run: the same N cameras wired the same way by the engine alone, no Home
  Assistant (bench_pipeline.py's `measure`), after hass has stopped: what HA adds per camera.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import MAIN, SUB, measure  # noqa: E402

from tests.browser.harness import LOOPBACK, HassServer  # noqa: E402

PROBE = ROOT / "bench" / "anninh_probe"


class BenchHass(HassServer):
    """The harness's hass with a lean configuration: no demo platforms, the probe loaded."""

    def prepare(self) -> None:
        """Configuration with http, frontend (onboarding), anninh and the probe."""
        super().prepare()
        link = self.config / "custom_components" / "anninh_probe"
        if not link.exists():
            link.symlink_to(PROBE, target_is_directory=True)
        (self.config / "configuration.yaml").write_text(
            f"""\
homeassistant:
  name: Bench
  time_zone: Asia/Ho_Chi_Minh
  country: VN
  language: en
  internal_url: http://{LOOPBACK}:{self.port}
  media_dirs:
    local: {self.config / "media"}
http:
  server_host: {LOOPBACK}
  server_port: {self.port}
frontend:
anninh_probe:
logger:
  default: warning
""",
            encoding="utf-8",
        )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def running_station(n: int, scene: str) -> Iterator[tuple[BenchHass, list[str]]]:
    """A hass with a station of `n` cameras (bench_pipeline.py's clips of `scene`), added
    through the REST flows and all streaming; (hass, the status sensors). Stopped after."""
    sub_clip, main_clip = SUB.clip(scene), MAIN.clip(scene)
    with tempfile.TemporaryDirectory(prefix="anninh-bench-") as tmp:
        hass = BenchHass(Path(tmp) / "config")
        hass.prepare()
        media = hass.config / "media" / "cameras"
        media.mkdir(parents=True)
        hass.start()
        try:
            hass.onboard()
            station = hass.flow(
                "flow",
                "anninh",
                {
                    "name": "Bench",
                    "recordings_dir": str(hass.config / "media" / ".anninh"),
                    "retention_days": 30,
                    "pre_event_seconds": 10,
                },
            )
            entry_id = station["result"]["entry_id"]
            for index in range(n):
                main, sub = media / f"cam{index}_main.mp4", media / f"cam{index}_sub.mp4"
                os.link(main_clip, main)
                os.link(sub_clip, sub)
                hass.flow(
                    "subentries/flow",
                    [entry_id, "camera"],
                    {
                        "name": f"Camera {index + 1}",
                        "address": f"Thôn {index + 1}",
                        "location": {"latitude": 20.84, "longitude": 106.69},
                        "stream_url": str(main),
                        "sub_stream_url": str(sub),
                    },
                )
            statuses = hass.wait_for(
                lambda: (
                    found
                    if len(found := hass.entity_ids(r"sensor\.camera_\d+_status")) == n
                    and all((hass.state(e) or {}).get("state") == "streaming" for e in found)
                    else None
                ),
                within=180,
                what=f"{n} cameras streaming",
            )
            yield hass, statuses
        finally:
            hass.stop()


def run_station(n: int, scene: str, warmup: float, seconds: float) -> dict[str, Any]:
    """Start hass with a station of `n` cameras, measure a steady window."""
    with running_station(n, scene) as (hass, statuses):
        time.sleep(warmup)
        assert hass.process is not None
        pid = hass.process.pid
        hass.rest("POST", "/api/anninh_probe")
        round_trips: list[float] = []
        stop = threading.Event()

        def poll_api() -> None:
            request = urllib.request.Request(
                f"{hass.base}/api/", headers={"Authorization": f"Bearer {hass.token}"}
            )
            while not stop.wait(0.2):
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                round_trips.append(time.perf_counter() - started)

        poller = threading.Thread(target=poll_api, daemon=True)
        cpu0, wall0 = process_cpu(pid), time.monotonic()
        poller.start()
        time.sleep(seconds)
        cpu1, wall1 = process_cpu(pid), time.monotonic()
        stop.set()
        poller.join()
        probe = hass.rest("GET", "/api/anninh_probe?types=1")
        memory = rss_mb(pid)
        streaming = sum((hass.state(e) or {}).get("state") == "streaming" for e in statuses)
    lags = [lag * 1000 for lag in probe["lags"]]
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for generation, pause in probe["gc"]:
        pauses[generation].append(pause * 1000)
    cpu = (cpu1 - cpu0) / (wall1 - wall0)
    print(f"GC-tracked objects: {probe['tracked']}, by type: {probe['types']}", file=sys.stderr)
    return {
        "tracked": probe["tracked"],
        "cameras": n,
        "streaming": streaming,
        "cpu_cores": cpu,
        "cpu_per_camera": cpu / n,
        "rss_mb": memory,
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
        "lag_max": max(lags, default=0.0),
        "gc_counts": [len(pauses[g]) for g in (0, 1, 2)],
        "gc_max": [max(pauses[g], default=0.0) for g in (0, 1, 2)],
        "api_p50": percentile(round_trips, 50) * 1000,
        "api_p99": percentile(round_trips, 99) * 1000,
        "api_max": max(round_trips, default=0.0) * 1000,
    }


def main() -> None:
    """Measure each camera count in hass, then the engine alone; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--scene", choices=("busy", "quiet"), default="busy")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    args = parser.parse_args()
    rows = []
    for n in args.cameras:
        print(f"{n} {args.scene} cameras in Home Assistant ...", file=sys.stderr, flush=True)
        station = run_station(n, args.scene, args.warmup, args.seconds)
        print(f"{n} {args.scene} cameras, engine alone ...", file=sys.stderr, flush=True)
        engine = measure("ours", args.scene, n, args.warmup, args.seconds)
        station["engine_per_camera"] = engine.total / engine.wall / n
        rows.append(station)
        print(json.dumps(station), file=sys.stderr, flush=True)
    print(f"\n{args.scene} cameras, {args.seconds:g} s window, {os.cpu_count()} cores\n")
    print(
        "| cameras | streaming | CPU (cores) | CPU / camera | engine alone / camera | HA adds "
        "| RSS | loop lag p50 / p99 / max | GC gen 0 / 1 / 2 (longest) | API p50 / p99 / max |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        gc_text = " / ".join(
            f"{count}× ({longest:.1f} ms)"
            for count, longest in zip(r["gc_counts"], r["gc_max"], strict=True)
        )
        print(
            f"| {r['cameras']} | {r['streaming']} | {r['cpu_cores']:.2f} "
            f"| {r['cpu_per_camera'] * 100:.2f} % | {r['engine_per_camera'] * 100:.2f} % "
            f"| {r['cpu_per_camera'] / max(r['engine_per_camera'], 1e-9):.2f}× "
            f"| {r['rss_mb']:.0f} MB "
            f"| {r['lag_p50']:.1f} / {r['lag_p99']:.1f} / {r['lag_max']:.1f} ms | {gc_text} "
            f"| {r['api_p50']:.1f} / {r['api_p99']:.1f} / {r['api_max']:.1f} ms |"
        )
    if rows:
        mean = statistics.fmean(r["cpu_per_camera"] for r in rows)
        print(f"\n60 cameras at this rate: {mean * 60:.2f} cores")


if __name__ == "__main__":
    main()
