"""Live view in a real browser: first frame, frames decoded and freezes in Chromium, and CPU.

Run: ``.venv/bin/python bench/bench_live.py [--seconds 30] [--footage PATH]`` (about 3 minutes
with the defaults). Needs Debian's ``chromium`` (scripts/setup installs it) and Playwright for
Python (the test group). Loopback only: the page, the signalling and the media stay on 127.0.0.1.

* The camera is the project's own `StreamReader` (packets only, as the main stream is read) on
  real footage looped at its native rate, feeding a `LiveRelay` of its own (with its own ring;
  in the integration the recorder feeds it).
  Footage: the demo's ``demo/traffic_sequence.mp4`` (704x576 30 fps, H.264 Main **with B-frames**,
  real camera footage, MIT), and the same footage re-encoded once without B-frames (constrained
  baseline) for the "no B-frames" camera; ``--footage`` takes another file.
* The viewer is headless Chromium: a page opens an `RTCPeerConnection` (recvonly video), posts its
  offer to a small aiohttp endpoint that calls `LiveRelay.answer`, and reads its own
  `getStats()` every 250 ms: `framesDecoded`, `framesDropped`, `freezeCount`,
  `totalFreezesDuration`, frame size, and the codec.
* First frame: from the offer being sent to `framesDecoded` > 0. Decoded: frames decoded over the
  window / source frames in the window (source rate × window). Freezes: Chromium's own count and
  the longest gap between two 250 ms samples in which no frame was decoded.
* Peer, in the same run: the same B-frame camera relayed as it is (what anninh did before, and what
  a pass-through relay does), by turning off the relay's B-frame detection.
* Network: the run re-executes itself in a network namespace of its own (``unshare --net``, only
  ``lo`` up; needs root), Chromium gathers loopback candidates (``--allow-loopback-in-peer-
  connection``, mDNS hiding off) and aioice offers 127.0.0.1: no packet leaves loopback.
* CPU: this process's CPU time (reader + relay or re-encoder; Chromium excluded) per second of
  viewing, in % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custom_components.anninh.engine import live  # noqa: E402
from custom_components.anninh.engine.live import LiveRelay  # noqa: E402
from custom_components.anninh.engine.source import StreamSource  # noqa: E402
from custom_components.anninh.engine.stream import StreamReader  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PAGE = """<!doctype html><html><body><video id=v autoplay muted playsinline></video><script>
window.samples = [];
async function start() {
  const pc = new RTCPeerConnection({iceServers: []});
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.ontrack = (e) => { document.getElementById('v').srcObject = e.streams[0] ||
                        new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
  window.offerSent = performance.now();
  const res = await fetch('/offer', {method: 'POST', body: pc.localDescription.sdp});
  await pc.setRemoteDescription({type: 'answer', sdp: await res.text()});
  setInterval(async () => {
    const stats = await pc.getStats();
    let s = {t: performance.now() - window.offerSent};
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(s, {
        decoded: r.framesDecoded || 0, dropped: r.framesDropped || 0,
        freezes: r.freezeCount || 0, freezeSeconds: r.totalFreezesDuration || 0,
        width: r.frameWidth || 0, codecId: r.codecId});
    });
    stats.forEach((r) => { if (r.type === 'codec' && r.id === s.codecId) s.codec = r.mimeType; });
    window.samples.push(s);
  }, 250);
}
start();
</script></body></html>"""


def no_b_frames_copy(path: Path, out: Path) -> Path:
    """The footage re-encoded once as constrained baseline (no B-frames), same size and rate."""
    if out.exists():
        return out
    with av.open(str(path)) as source, av.open(str(out), "w") as target:
        stream_in = source.streams.video[0]
        rate = stream_in.average_rate or 30
        stream = target.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        gop = round(float(rate))
        stream.options = {
            "preset": "veryfast",
            "crf": "21",
            "bf": "0",
            "profile": "baseline",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        for frame in source.decode(stream_in):
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out


async def view(path: Path, seconds: float, as_is: bool) -> dict[str, Any]:
    """One camera, one Chromium viewer, `seconds` of watching; the figures."""
    from playwright.async_api import async_playwright

    with av.open(str(path)) as container:
        fps = float(container.streams.video[0].average_rate or 30)
    loop = asyncio.get_running_loop()
    relay = LiveRelay("bench", loop)
    reader = StreamReader(StreamSource.parse(str(path)), name="bench", decode=False)
    reader.add_packet_listener(relay.on_packet)
    original = live._ReorderWatch.reordered
    if as_is:
        live._ReorderWatch.reordered = lambda self, packet, new_stream: False  # type: ignore[method-assign]
    reader.start()

    async def offer(request: web.Request) -> web.Response:
        return web.Response(text=await relay.answer(await request.text()))

    app = web.Application()
    app.router.add_get("/", lambda _r: web.Response(text=PAGE, content_type="text/html"))
    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await asyncio.sleep(2.0)  # a few GOPs in: B-frames seen, as on a camera that runs
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--autoplay-policy=no-user-gesture-required",
                    "--allow-loopback-in-peer-connection",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                ],
            )
            page = await browser.new_page()
            cpu0, wall0 = time.process_time(), time.monotonic()
            await page.goto(f"http://127.0.0.1:{port}/")
            await asyncio.sleep(seconds)
            samples: list[dict[str, Any]] = await page.evaluate("window.samples")
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            stats = relay.stats()
            await browser.close()
    finally:
        live._ReorderWatch.reordered = original  # type: ignore[method-assign]
        await relay.close()
        await runner.cleanup()
        await loop.run_in_executor(None, reader.stop)
    return summarise(samples, fps, stats, cpu)


def summarise(
    samples: list[dict[str, Any]], fps: float, stats: dict[str, Any], cpu: float
) -> dict[str, Any]:
    """First frame, share of source frames decoded, freezes."""
    decoded = [s for s in samples if s.get("decoded")]
    if not decoded:
        return {
            "first": None,
            "decoded": 0.0,
            "freezes": "-",
            "longest": None,
            "mode": "-",
            "codec": "-",
            "size": "-",
            "cpu": cpu,
        }
    first = decoded[0]
    last = samples[-1]
    window = (last["t"] - first["t"]) / 1000
    longest, stalled_since = 0.0, first["t"]
    for before, after in itertools.pairwise(decoded):
        if after["decoded"] > before["decoded"]:
            longest = max(longest, (after["t"] - stalled_since) / 1000)
            stalled_since = after["t"]
    return {
        "first": first["t"] / 1000,
        "decoded": (last["decoded"] - first["decoded"]) / max(1.0, fps * window),
        "frames": last["decoded"],
        "dropped": last.get("dropped", 0),
        "freezes": last.get("freezes", 0),
        "freeze_s": last.get("freezeSeconds", 0.0),
        "longest": longest,
        "mode": ",".join(stats["modes"]) or "-",
        "codec": first.get("codec", "?"),
        "size": f"{first.get('width', 0)}",
        "cpu": cpu,
    }


def in_own_network() -> None:
    """Re-run this script inside a network namespace with only loopback (root needed)."""
    if os.environ.get("ANNINH_BENCH_NETNS") == "1":
        import aioice.ice

        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        return
    if os.geteuid() != 0 or not shutil.which("unshare"):
        sys.exit("bench_live.py needs root and unshare(1): it runs in a loopback-only namespace")
    inner = f"ip link set lo up && exec {sys.executable} {' '.join(map(str, sys.argv))}"
    env = {**os.environ, "ANNINH_BENCH_NETNS": "1"}
    sys.exit(subprocess.call(["unshare", "--net", "sh", "-c", inner], env=env))


async def run_all(runs: list[tuple[str, str, Path, bool]], seconds: float) -> list[Any]:
    """Every run in one event loop (aiortc and aioice keep state bound to their first loop)."""
    return [(camera, who, await view(path, seconds, as_is)) for camera, who, path, as_is in runs]


def main() -> None:
    in_own_network()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--footage", type=Path, default=ROOT / "demo" / "traffic_sequence.mp4")
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "anninh-bench-live"
    cache.mkdir(exist_ok=True)
    no_b = no_b_frames_copy(args.footage, cache / f"{args.footage.stem}-no-b.mp4")
    runs = [
        ("no B-frames", "anninh", no_b, False),
        ("B-frames", "anninh", args.footage, False),
        ("B-frames", "peer: relayed as it is", args.footage, True),
    ]
    print(f"Live view in Chromium, {args.seconds:.0f} s per run, footage {args.footage.name}\n")
    print(
        "| camera | who | path | first frame | frames decoded | Chromium freezes (total s) "
        "| longest stall | CPU (this process) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    results = asyncio.run(run_all(runs, args.seconds))
    for camera, who, r in results:
        first = f"{r['first'] * 1000:.0f} ms" if r["first"] is not None else "never"
        longest = f"{r['longest']:.2f} s" if r["longest"] is not None else "-"
        print(
            f"| {camera} | {who} | {r['mode']} | {first} | {r['decoded'] * 100:.0f} % "
            f"| {r['freezes']} ({r.get('freeze_s', 0):.1f}) | {longest} | {r['cpu'] * 100:.1f} % |"
        )
    print("\n" + json.dumps([{"camera": c, "who": w, **r} for c, w, r in results], default=str))


if __name__ == "__main__":
    main()
