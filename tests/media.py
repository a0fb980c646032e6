"""Deterministic test video: H.264 in MP4, made with PyAV in well under a second.

The scene is a textured static background (smooth gradients plus fixed fine grain, so the encoder
has real detail to code and a detector has texture to ignore) and, optionally, a bright block that
moves left to right across the frame during `motion_window` (seconds). Frames are generated
directly in yuv420p (no RGB conversion); the same arguments always give the same pixels.

GOPs are closed with a known key-frame interval (`gop` frames, no scene-cut key frames, no
B-frames in the baseline profile), so tests can reason about key frames: frame `i` is a key frame
exactly when `i % gop == 0`.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BLOCK_LUMA = 235
BLOCK_CHROMA = (90, 200)  # U, V: a saturated orange-red block


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """The static luma background: gradients and blobs plus fixed grain, values 40-190."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    img = 70.0 + 50.0 * x + 30.0 * y
    for _ in range(6):
        fx, fy, phase = rng.uniform(1.0, 6.0), rng.uniform(1.0, 6.0), rng.uniform(0, 2 * np.pi)
        img = img + 9.0 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    img = img + rng.normal(0.0, 6.0, size=(height, width)).astype(np.float32)
    return np.clip(img, 40, 190).astype(np.uint8)


def block_box(
    t: float,
    width: int,
    height: int,
    motion_window: tuple[float, float],
) -> tuple[int, int, int, int] | None:
    """Where the moving block is at time `t` as (x, y, w, h), or None outside the window."""
    start, end = motion_window
    if not start <= t < end:
        return None
    size_w, size_h = max(8, width // 8) & ~1, max(8, height // 4) & ~1
    progress = (t - start) / (end - start)
    x = int(progress * (width - size_w)) & ~1
    y = ((height - size_h) // 2) & ~1
    return (x, y, size_w, size_h)


def make_h264_file(
    path: Path | str,
    width: int = 320,
    height: int = 180,
    fps: int = 15,
    seconds: float = 2.0,
    gop: int | None = None,
    moving_block: bool = True,
    motion_window: tuple[float, float] | None = None,
    bitrate: int | None = None,
    profile: str = "baseline",
    preset: str = "veryfast",
    noise: float = 0.0,
    seed: int = 0,
    b_frames: int = 0,
    slices: int = 1,
) -> Path:
    """Write an H.264 MP4 of the test scene and return its path.

    `gop` is the key-frame interval in frames (default: one per second). With `moving_block`, the
    block crosses the frame during `motion_window` (default: the whole clip); see `block_box`.
    `bitrate` in bit/s selects ABR, else constant quality (CRF 23). `noise` adds per-frame
    Gaussian sensor noise of that standard deviation (seeded, so still deterministic).
    `b_frames` > 0 (Main profile or higher) reorders frames as many real cameras do. `slices`
    per picture (one by default, whatever the machine's cores: encoder threads would otherwise
    cut one slice per core); many cameras send several.
    """
    if width % 2 or height % 2:
        raise ValueError("width and height must be even for yuv420p")
    path = Path(path)
    gop = gop or fps
    frames = max(1, round(seconds * fps))
    window = motion_window or (0.0, seconds)
    luma_bg = background(width, height, seed)
    rng = np.random.default_rng(seed + 1)

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps * 1000)
        options = {
            "preset": preset,
            "profile": profile,
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": str(b_frames),
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:slices={slices}:threads=1"
            ),
        }
        if bitrate:
            stream.bit_rate = bitrate
        else:
            options["crf"] = "23"
        stream.options = options
        stream.codec_context.gop_size = gop

        chroma_h, chroma_w = height // 2, width // 2
        for i in range(frames):
            t = i / fps
            luma = luma_bg.copy()
            u = np.full((chroma_h, chroma_w), 128, np.uint8)
            v = np.full((chroma_h, chroma_w), 128, np.uint8)
            box = block_box(t, width, height, window) if moving_block else None
            if box:
                x, y, w, h = box
                luma[y : y + h, x : x + w] = BLOCK_LUMA
                u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = BLOCK_CHROMA[0]
                v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = BLOCK_CHROMA[1]
            if noise:
                grain = rng.normal(0.0, noise, size=luma.shape)
                luma = np.clip(luma + grain, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([luma, u.reshape(-1, width), v.reshape(-1, width)]),
                format="yuv420p",
            )
            frame.pts = i * 1000
            frame.time_base = stream.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def make_mjpeg_file(path: Path | str, seconds: float = 2.0, fps: int = 15) -> Path:
    """An MJPEG AVI (320x180, each frame a flat grey that brightens): an old camera's stream."""
    path = Path(path)
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuvj420p"
        stream.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            image = np.full((180, 320, 3), (i * 7) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


class LoopingFile:
    """Real packets of a file in a loop, on one open container: one stream, like a camera.

    `reopen()` opens it again: a new stream object, as after a camera's reconnect.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._open()

    def _open(self) -> None:
        self.container = av.open(str(self.path))
        self.stream = self.container.streams.video[0]
        self.packets: Iterator[av.Packet] = iter(())

    def reopen(self, path: Path | str | None = None) -> None:
        self.container.close()
        self.path = Path(path or self.path)
        self._open()

    def next(self) -> av.Packet:
        for _ in range(2):
            for packet in self.packets:
                if packet.size:
                    return packet
            self.container.seek(0)
            self.packets = self.container.demux(self.stream)
        raise AssertionError(f"no packets in {self.path}")

    def close(self) -> None:
        self.container.close()
