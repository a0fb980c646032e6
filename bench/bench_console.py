"""The console's 16-tile video wall: station CPU, first frame per tile, memory over a long watch.

Run: ``.venv/bin/python bench/bench_console.py [--cameras 16] [--seconds 60] [--minutes 30]``
(about ``minutes`` + 6 minutes; the clips are bench_pipeline.py's, cached in bench/.cache/).

* Home Assistant is a real ``hass`` process (bench_station.py's lean configuration, loopback
  only) with a station of N cameras added through the UI's REST flows, each a 1920x1080 25 fps
  main stream and a 640x360 15 fps sub-stream (motion analysed), the "busy" scene.
* The browser is Debian's Chromium (Playwright, headless, software decoding) logged in as a
  user, with the console open at the 16-tile layout.
* Phases, each a steady window of ``seconds`` after a warm-up: no one watching; the wall on the
  sub-streams (what the console does: relayed, nothing decoded or encoded for it at the
  station); the peer, in the same run: the same wall with every tile on the main stream, as a
  console without sub-streams would show it. CPU is /proc user + system time of the hass
  process and of every Chromium process, in % of one core.
* First frame per tile: from each tile's RTCPeerConnection to its first decoded frame
  (`getStats()` framesDecoded > 0), all tiles opened at once.
* Memory: the hass process's RSS, Chromium's total RSS and the page's JS heap, sampled each
  minute for ``minutes`` with the sub-stream wall playing; growth is last minus first sample.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_station import percentile, process_cpu, rss_mb, running_station  # noqa: E402

from tests.browser.harness import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PEER_CONNECTION_RECORDER,
    WEBRTC_STATS,
    first_frames,
)


def chromium_pids() -> list[int]:
    """Every running Chromium process (the bench starts the only one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if command.endswith(b"chromium") or b"/chromium/" in command:
                found.append(int(entry.name))
    return found


def chromium_cpu() -> float:
    """CPU seconds of all Chromium processes so far (those alive now)."""
    total = 0.0
    for pid in chromium_pids():
        try:
            total += process_cpu(pid)
        except OSError:
            continue
    return total


def chromium_rss() -> float:
    """Resident memory of all Chromium processes, MB (shared pages counted in each)."""
    total = 0.0
    for pid in chromium_pids():
        try:
            total += rss_mb(pid)
        except OSError:
            continue
    return total


def window(pid: int, seconds: float) -> tuple[float, float]:
    """(hass CPU, Chromium CPU), cores, over `seconds`."""
    hass0, browser0, wall0 = process_cpu(pid), chromium_cpu(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - wall0
    return (process_cpu(pid) - hass0) / wall, (chromium_cpu() - browser0) / wall


def _seconds(peers: list[dict[str, Any]]) -> list[float | None]:
    return [peer["first_frame_s"] for peer in peers]


def decoded_rate(page: Any, seconds: float = 10.0) -> float:
    """Frames decoded per second over all connected peers."""

    def total() -> int:
        stats = page.evaluate(WEBRTC_STATS)
        return sum(
            p["video"]["framesDecoded"]
            for p in stats["peers"]
            if p["video"] and p["state"] == "connected"
        )

    start = total()
    time.sleep(seconds)
    return (total() - start) / seconds


def run(cameras: int, seconds: float, minutes: float, warmup: float) -> dict[str, Any]:
    """Station up, three phases, the long watch; the figures."""
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"cameras": cameras}
    with running_station(cameras, "busy") as (hass, _statuses):
        assert hass.process is not None
        pid = hass.process.pid
        time.sleep(warmup)
        print("phase: no one watching", file=sys.stderr, flush=True)
        result["idle"] = window(pid, seconds)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            context.add_init_script(PEER_CONNECTION_RECORDER)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{hass.base}/")
            page.locator("input[name=username]").fill(hass.username)
            page.locator("input[name=password]").fill(hass.password)
            page.locator("input[name=password]").press("Enter")
            page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
            page.wait_for_load_state("networkidle")
            baseline = chromium_cpu()
            print("phase: the wall on sub-streams", file=sys.stderr, flush=True)
            console = page.locator("anninh-console")
            page.goto(f"{hass.base}/an-ninh")
            console.locator(".toolbar button", has_text="16").click()  # kept by the page
            page.reload()
            opened = 0.0  # every peer of the reloaded page: all tiles open at once
            tiles = min(cameras, 16)
            result["first_frames"] = _seconds(first_frames(page, opened, tiles, 20))
            time.sleep(warmup)
            result["sub_fps"] = decoded_rate(page)
            result["sub"] = window(pid, seconds)
            print("phase: the wall on main streams (peer)", file=sys.stderr, flush=True)
            # The same tiles, each showing its main stream (as without sub-streams).
            since = page.evaluate("performance.now()")
            console.evaluate(
                "c => { for (const v of c.shadowRoot.querySelectorAll('.grid video'))"
                " v.dataset.small = 'false'; c.syncStreams(); }"
            )
            result["main_first_frames"] = _seconds(first_frames(page, since, tiles, 20))
            time.sleep(warmup)
            result["main_fps"] = decoded_rate(page)
            result["main"] = window(pid, seconds)
            console.locator(".toolbar button", has_text="4").click()
            console.locator(".toolbar button", has_text="16").click()  # back to sub-streams
            time.sleep(warmup)
            print(f"phase: {minutes:g} min watch", file=sys.stderr, flush=True)
            samples = []
            for minute in range(int(minutes) + 1):
                heap = page.evaluate("() => performance.memory.usedJSHeapSize") / 2**20
                samples.append(
                    {
                        "minute": minute,
                        "hass_rss": rss_mb(pid),
                        "chromium_rss": chromium_rss(),
                        "js_heap": heap,
                        "streams": int(console.get_attribute("data-streams") or 0),
                    }
                )
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
                if minute < int(minutes):
                    time.sleep(60)
            result["samples"] = samples
            result["chromium_cpu_total"] = chromium_cpu() - baseline
            browser.close()
    return result


def main() -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    r = run(args.cameras, args.seconds, args.minutes, args.warmup)
    print(json.dumps(r), file=sys.stderr)
    n = r["cameras"]
    print(f"\n{n} busy cameras, {args.seconds:g} s windows, {os.cpu_count()} cores\n")
    print(
        "| phase | station (hass) CPU | wall's cost at the station | Chromium CPU "
        "| frames/s decoded |"
    )
    print("|---|---:|---:|---:|---:|")
    idle = r["idle"][0]
    print(f"| no one watching | {idle * 100:.1f} % | — | — | — |")
    for key, label in (
        ("sub", "16 tiles, sub-streams (ours)"),
        ("main", "16 tiles, main streams (peer)"),
    ):
        hass_cpu, browser_cpu = r[key]
        print(
            f"| {label} | {hass_cpu * 100:.1f} % | {(hass_cpu - idle) * 100:+.1f} % "
            f"| {browser_cpu * 100:.0f} % | {r[f'{key}_fps']:.0f} |"
        )
    sub_cost = max(r["sub"][0] - idle, 1e-9)
    print(
        f"\nbrowser CPU, sub-streams / main streams: {r['sub'][1] / max(r['main'][1], 1e-9):.2f}×;"
        f" station cost of the wall, main / sub: {(r['main'][0] - idle) / sub_cost:.2f}×"
    )
    for key, label in (("first_frames", "sub-streams"), ("main_first_frames", "main streams")):
        frames = [f for f in r[key] if f is not None]
        missing = len(r[key]) - len(frames)
        print(
            f"first frame per tile ({label}, {len(r[key])} tiles at once): "
            f"p50 {percentile(frames, 50):.2f} s, max {max(frames, default=0):.2f} s"
            + (f", {missing} without a frame" if missing else "")
        )
    samples = r["samples"]
    if len(samples) > 1:
        first, last = samples[0], samples[-1]
        minutes = last["minute"] - first["minute"]
        print(f"\nmemory over {minutes} min of the wall (first → last sample, growth):\n")
        print("| | first | last | growth | max |")
        print("|---|---:|---:|---:|---:|")
        for key, label in (
            ("hass_rss", "station RSS (MB)"),
            ("chromium_rss", "Chromium RSS (MB)"),
            ("js_heap", "page JS heap (MB)"),
        ):
            values = [s[key] for s in samples]
            print(
                f"| {label} | {first[key]:.0f} | {last[key]:.0f} | {last[key] - first[key]:+.1f} "
                f"| {max(values):.0f} |"
            )
        print(f"\nstreams open throughout: {sorted({s['streams'] for s in samples})}")
        tail = statistics.fmean(s["hass_rss"] for s in samples[-5:])
        print(f"station RSS, mean of the last 5 samples: {tail:.0f} MB")


if __name__ == "__main__":
    main()
