"""The 24/7 recorder against FFmpeg's segment muxer (what Frigate runs per camera).

Run: ``.venv/bin/python bench/bench_archive.py [--cameras 60] [--seconds 40] [--readme]``
(about 6 minutes; needs Debian's ``ffmpeg`` for the peer: ``apt-get install ffmpeg``). Prints
markdown tables; with ``--readme`` also writes them under the "24/7 recorder" heading of
bench/README.md.

1. Recording. N cameras, each a 1920x1080 25 fps 2 Mbit/s H.264 file (bench_pipeline's main
   stream, 2 s GOP) read at its own rate by a `StreamReader(decode=False)` into a `Recorder`
   (10 s pre-event ring), as a station runs them. Measured twice in one process over the same
   window: the ring alone, then the ring plus the 24/7 `Archive` (fragmented MP4 segments, index,
   fsync every 2 s). CPU on top = (second - first) / N; memory on top from RSS. Peer, in the same
   run: N ``ffmpeg -re -stream_loop -1 -i clip -c copy -f segment -segment_time 10
   -segment_format mp4 -reset_timestamps 1`` processes (Frigate's recording command), CPU and RSS
   from /proc. Bytes written / bytes received from the files on disk and the packets read.
2. Export of one hour of one camera (written beforehand at full speed, 60 segments) into an
   evidence ZIP with its SHA-256 manifest; peer: ``ffmpeg -f concat -c copy`` of the same
   segments into one MP4 (no ZIP, no hashes). Timeline of a day: one camera's segments, gaps and
   motion from an index of 60 cameras x 1440 segments; peer: listing and parsing the day's folder.
3. kill -9 while 8 cameras record: seconds of video lost per camera (last playable frame before
   the kill), time until every camera records again after a restart; peer: the same for FFmpeg's
   segment muxer (a plain MP4 being written has no index until it is closed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import MAIN  # noqa: E402

from custom_components.anninh.engine.archive import (  # noqa: E402
    Archive,
    ArchiveIndex,
    RecordingMode,
    SegmentRow,
    cut_evidence,
)
from custom_components.anninh.engine.evidence import export_evidence  # noqa: E402
from custom_components.anninh.engine.recorder import CameraMetadata, Recorder  # noqa: E402
from custom_components.anninh.engine.source import StreamSource  # noqa: E402
from custom_components.anninh.engine.stream import StreamReader  # noqa: E402

HEADING = "## 24/7 recorder"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.mp4"))


# ------------------------------------------------------------------------------ 1. recording
def bench_recording(cameras: int, seconds: float, warmup: float) -> list[list[str]]:
    clip = MAIN.clip("busy")
    work = Path(tempfile.mkdtemp(prefix="anninh-archive-"))
    try:
        ours = _ours(clip, work / "ours", cameras, seconds, warmup)
        peer = _ffmpeg(clip, work / "ffmpeg", cameras, seconds, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    on_top = (ours["cpu_archive"] - ours["cpu_ring"]) / cameras
    total = ours["cpu_archive"] / cameras
    return [
        ["CPU per camera on top of the pre-event buffer", f"{on_top:.3f} %", "-", "<= 0.3 %"],
        [
            "CPU per camera, reading + buffer + recording",
            f"{total:.3f} %",
            f"{peer['cpu'] / cameras:.3f} %",
            f"{total / (peer['cpu'] / cameras):.2f}×",
        ],
        [
            "bytes written / bytes received",
            f"{ours['amplification']:.4f}",
            f"{peer['amplification']:.4f}",
            "<= 1.02",
        ],
        [
            "memory per camera on top of the buffer (RSS)",
            f"{ours['rss_archive'] / cameras:.2f} MB",
            f"{peer['rss'] / cameras:.2f} MB",
            "-",
        ],
        [
            "fsync per camera per minute",
            f"{ours['fsyncs'] * 60 / seconds / cameras:.1f}",
            "0 (never)",
            "-",
        ],
        ["segments opened per camera per hour", f"{3600 / 60:.0f}", f"{3600 / 10:.0f}", "-"],
    ]


def _ours(clip: Path, root: Path, cameras: int, seconds: float, warmup: float) -> dict[str, float]:
    root.mkdir(parents=True)
    recorders = [Recorder(root, f"cam{n:02d}", pre_event=10) for n in range(cameras)]
    readers = [
        StreamReader(
            StreamSource.parse(str(clip)), name=f"cam{n:02d}", on_packet=r.on_packet, decode=False
        )
        for n, r in enumerate(recorders)
    ]
    for reader in readers:
        reader.start()
    time.sleep(warmup)

    def window() -> float:
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(seconds)
        return (time.process_time() - cpu) / (time.monotonic() - wall) * 100

    cpu_ring = window()
    rss_ring = _rss_mb()
    archive = Archive(root)
    archive.start()
    cams = []
    for recorder in recorders:
        cam = archive.add_camera(
            recorder.camera, recorder.ring, RecordingMode.CONTINUOUS, recorder.wall
        )
        recorder.archive_feed = cam.feed
        cams.append(cam)
    time.sleep(warmup)
    fsyncs = archive.fsyncs
    cpu_archive = window()
    fsyncs = archive.fsyncs - fsyncs
    rss_archive = _rss_mb() - rss_ring
    for reader in readers:
        reader.stop()
    archive.stop()
    received = sum(cam.bytes_received for cam in cams)
    written = _size(root)
    return {
        "cpu_ring": cpu_ring,
        "cpu_archive": cpu_archive,
        "rss_archive": rss_archive,
        "fsyncs": fsyncs,
        "amplification": written / max(1, received),
    }


def _ffmpeg(
    clip: Path, root: Path, cameras: int, seconds: float, warmup: float
) -> dict[str, float]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("the peer needs Debian's ffmpeg: apt-get install ffmpeg")
    procs = []
    for n in range(cameras):
        out = root / f"cam{n:02d}"
        out.mkdir(parents=True)
        procs.append(
            subprocess.Popen(
                [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                 "-i", str(clip), "-c", "copy", "-f", "segment", "-segment_time", "10",
                 "-segment_format", "mp4", "-reset_timestamps", "1", str(out / "%05d.mp4")],
                stdin=subprocess.DEVNULL,
            )
        )  # fmt: skip
    time.sleep(warmup)
    cpu = sum(_cpu_seconds(p.pid) for p in procs)
    wall = time.monotonic()
    time.sleep(seconds)
    cpu = (sum(_cpu_seconds(p.pid) for p in procs) - cpu) / (time.monotonic() - wall) * 100
    rss = sum(_rss_mb(p.pid) for p in procs)
    for proc in procs:
        proc.send_signal(signal.SIGINT)  # ffmpeg finishes its segment
    for proc in procs:
        proc.wait(30)
    elapsed = warmup + seconds + (time.monotonic() - wall - seconds)
    received = clip.stat().st_size / _duration(clip) * elapsed * cameras
    return {"cpu": cpu, "rss": rss, "amplification": _size(root) / received}


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1e6


# ------------------------------------------------------------------------------ 2. export, timeline
class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write_hour(root: Path, clip: Path) -> tuple[Archive, float]:
    """One hour of one camera at full speed (a fake clock); returns the archive and its start."""
    clock = _Clock()
    wall0 = time.time() - 7200
    archive = Archive(root, clock=clock, wallclock=lambda: wall0 + clock.now)
    recorder = Recorder(root, "cam", pre_event=10, clock=clock, wallclock=archive.wallclock)
    cam = archive.add_camera("cam", recorder.ring, RecordingMode.CONTINUOUS, recorder.wall)
    recorder.archive_feed = cam.feed
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        step = 1 / float(stream.average_rate or 25)
        n = 0
        while clock.now < 1000 + 3600 + 2:
            for packet in packets:
                clock.now += step
                recorder.on_packet(packet)
                n += 1
                if n % 6 == 0:
                    archive.drain()
            container.seek(0)
            packets = [p for p in container.demux(stream) if p.size]
    archive.drain(stopping=True)
    return archive, wall0 + 1000


def bench_export(clip: Path) -> list[list[str]]:
    work = Path(tempfile.mkdtemp(prefix="anninh-export-"))
    try:
        archive, start = _write_hour(work, clip)
        rows = archive.index.segments("cam")
        begin, end = start + 1, start + 3601
        dest = work / "exports" / "hour.zip"
        dest.parent.mkdir()
        started = time.monotonic()
        files, entry = cut_evidence(
            work, archive.index, "cam", begin, end, work / "exports" / ".work",
            CameraMetadata(name="Cam"), "bench",
        )  # fmt: skip
        cut_s = time.monotonic() - started
        export_evidence(work, [], dest, "Bench", "bench", extra=files, ranges=[entry])
        ours = time.monotonic() - started
        listing = work / "list.txt"
        listing.write_text("".join(f"file '{work / r.path}'\n" for r in rows))
        started = time.monotonic()
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
             str(listing), "-c", "copy", str(work / "peer.mp4")],
            check=True,
        )  # fmt: skip
        peer = time.monotonic() - started
        size_mb = dest.stat().st_size / 1e6
        timeline_ours, timeline_peer = _bench_timeline(work / "timeline")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        [
            f"export 1 hour (60 segments, {size_mb:.0f} MB) into a verified ZIP",
            f"{ours:.2f} s (cut {cut_s:.2f} s)",
            f"{peer:.2f} s (concat only)",
            "<= 3 s",
        ],
        [
            "timeline of a day (1 of 60 cameras x 1440 segments)",
            f"{timeline_ours * 1000:.1f} ms",
            f"{timeline_peer * 1000:.1f} ms (folder listing)",
            "<= 100 ms",
        ],
    ]


def _bench_timeline(root: Path) -> tuple[float, float]:
    root.mkdir()
    index = ArchiveIndex(root)
    day0 = time.time() - 86400
    rows = [
        SegmentRow(f"cam{c:02d}", f"cam{c:02d}/.rec/d/{s}.mp4", day0 + s * 60, day0 + s * 60 + 60,
                   15_000_000, tuple(float(k) for k in range(0, 60, 2)), True)
        for c in range(60)
        for s in range(1440)
    ]  # fmt: skip
    index.put_segments(rows)
    for c in range(60):
        for m in range(200):
            index.add_motion(f"cam{c:02d}", day0 + m * 400, day0 + m * 400 + 30)
    folder = root / "day"
    folder.mkdir()
    for s in range(1440):
        (folder / f"20261201T{s // 60:02d}{s % 60:02d}00.000Z.mp4").touch()
    ours = statistics.median(
        _timed(lambda: index.timeline("cam07", day0, day0 + 86400)) for _ in range(20)
    )

    def listing() -> None:
        from custom_components.anninh.engine.archive import parse_segment_name

        sorted(parse_segment_name(e.name) for e in os.scandir(folder))

    peer = statistics.median(_timed(listing) for _ in range(20))
    index.close_all()
    return ours, peer


def _timed(work: object) -> float:
    started = time.perf_counter()
    work()  # type: ignore[operator]
    return time.perf_counter() - started


# ------------------------------------------------------------------------------ 3. kill -9
_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {project!r})
    from pathlib import Path
    from custom_components.anninh.engine.archive import Archive, RecordingMode
    from custom_components.anninh.engine.recorder import Recorder
    from custom_components.anninh.engine.source import StreamSource
    from custom_components.anninh.engine.stream import StreamReader

    archive = Archive(Path({root!r}))
    archive.start()
    for n in range({cameras}):
        recorder = Recorder(archive.root, f"cam{{n}}", pre_event=10)
        cam = archive.add_camera(recorder.camera, recorder.ring, RecordingMode.CONTINUOUS,
                                 recorder.wall)
        recorder.archive_feed = cam.feed
        StreamReader(StreamSource.parse({clip!r}), name=f"cam{{n}}", on_packet=recorder.on_packet,
                     decode=False).start()
    print("recording", flush=True)
    time.sleep(3600)
    """
)


def bench_kill(clip: Path, cameras: int = 8, seconds: float = 25) -> list[list[str]]:
    work = Path(tempfile.mkdtemp(prefix="anninh-kill-"))
    try:
        root = work / "ours"
        root.mkdir()
        script = _WRITER.format(project=str(ROOT), root=str(root), cameras=cameras, clip=str(clip))
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(seconds)
        killed = time.time()
        proc.kill()
        proc.wait()
        restarted = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        index = None
        while time.monotonic() - restarted < 60:
            time.sleep(0.05)
            with_index = root / ".index.sqlite3"
            if not with_index.exists():
                continue
            index = index or ArchiveIndex(root)
            fresh = [index.segments(f"cam{n}", killed + 0.5) for n in range(cameras)]
            if all(fresh):
                break
        back = time.monotonic() - restarted
        proc.kill()
        proc.wait()
        assert index is not None
        lost = [killed - index.segments(f"cam{n}", end=killed)[-1].end for n in range(cameras)]
        index.close_all()
        peer_lost = _ffmpeg_kill(clip, work / "ffmpeg", cameras, seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        [
            f"video lost per camera at kill -9 ({cameras} cameras), mean / max",
            f"{statistics.mean(lost):.2f} / {max(lost):.2f} s",
            f"{statistics.mean(peer_lost):.2f} / {max(peer_lost):.2f} s",
            "<= 2 s",
        ],
        ["recording again after the restart (all cameras)", f"{back:.2f} s", "-", "-"],
    ]


def _ffmpeg_kill(clip: Path, root: Path, cameras: int, seconds: float) -> list[float]:
    procs, outs = [], []
    for n in range(cameras):
        out = root / f"cam{n}"
        out.mkdir(parents=True)
        outs.append(out)
        procs.append(
            subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                 "-i", str(clip), "-c", "copy", "-f", "segment", "-segment_time", "10",
                 "-segment_format", "mp4", "-reset_timestamps", "1", str(out / "%05d.mp4")],
                stdin=subprocess.DEVNULL,
            )
        )  # fmt: skip
    started = time.time()
    time.sleep(seconds)
    killed = time.time()
    for proc in procs:
        proc.kill()
        proc.wait()
    lost = []
    for out in outs:
        playable = 0.0
        for path in sorted(out.glob("*.mp4")):
            try:
                playable += _duration(path)
            except av.error.FFmpegError:
                break
        lost.append(killed - started - playable)
    return lost


# ------------------------------------------------------------------------------ main
def table(rows: list[list[str]]) -> str:
    head = "| | anninh | FFmpeg (Frigate's way) | target |\n|---|---:|---:|---|\n"
    return head + "".join(f"| {' | '.join(row)} |\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    clip = MAIN.clip("busy")
    rows = bench_recording(args.cameras, args.seconds, args.warmup)
    rows += bench_export(clip)
    rows += bench_kill(clip)
    text = (
        f"{args.cameras} cameras × 1920×1080 25 fps 2 Mbit/s, {os.cpu_count()} cores, "
        f"{args.seconds:g} s windows.\n\n{table(rows)}"
    )
    print(text)
    if args.readme:
        readme = ROOT / "bench" / "README.md"
        content = readme.read_text(encoding="utf-8")
        start = content.find(HEADING)
        section = f"{HEADING}\n\n{__doc__.split(chr(10), 1)[1].strip()}\n\n{text}\n"
        if start < 0:
            content = content.rstrip() + "\n\n" + section
        else:
            nxt = content.find("\n## ", start + len(HEADING))
            content = content[:start] + section + (content[nxt + 1 :] if nxt >= 0 else "")
        readme.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main()
