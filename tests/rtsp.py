"""Pytest fixtures: real RTSP test cameras and misbehaving servers, on 127.0.0.1 only.

Loaded by the root conftest with ``pytest_plugins = ["tests.rtsp"]`` (or ``-p tests.rtsp``).

* ``rtsp_camera(file=None, pattern=False, username=None, password=None, auth="basic")`` starts
  ``tests/rtsp_camera_server.py`` (GStreamer's RTSP server) under ``/usr/bin/python3`` and returns
  an `RtspCamera` (``.url`` without credentials, ``.port``, ``.stop()``, ``.kill()``,
  ``.restart()`` on the same port, ``.freeze()``/``.thaw()``). Without ``file`` or ``pattern`` it
  loops a generated 320x180 15 fps clip (`test_video`). Tests are skipped, with the reason, when
  the system interpreter cannot import GstRtspServer.
* ``garbage_proxy(upstream_port, after=1.0, duration=None, mode="payload")``: a framing-aware
  RTSP proxy that passes a camera through and, from ``after`` seconds into each connection (for
  ``duration`` seconds, or for good), corrupts what the camera sends: ``"payload"`` randomises the
  RTP payloads inside intact interleaved frames (decoder errors), ``"bytes"`` replaces every byte
  (the RTSP framing itself is lost).
* ``silent_tcp_server``: accepts connections and never sends a byte.
* ``refused_port``: a loopback port nothing listens on.

The fixtures that open sockets in the test process request pytest-socket's ``socket_enabled``:
the Home Assistant test plugin blocks creating sockets outright (not just non-loopback ones).
Every address used is 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.media import make_h264_file

LOOPBACK = "127.0.0.1"
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_camera_server.py")
READY_TIMEOUT = 10.0

_gst_problem: list[str | None] = []


def gst_rtsp_problem() -> str | None:
    """Why the RTSP test camera cannot run here, or None if it can (checked once)."""
    if not _gst_problem:
        check = (
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer"
        )
        try:
            result = subprocess.run(
                [SYSTEM_PYTHON, "-c", check],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            _gst_problem.append(f"{SYSTEM_PYTHON} not usable: {err}")
        else:
            _gst_problem.append(
                None
                if result.returncode == 0
                else f"{SYSTEM_PYTHON} cannot import GstRtspServer (install python3-gi, "
                f"gir1.2-gst-rtsp-server-1.0 and the gstreamer1.0 plugins; scripts/setup does): "
                f"{result.stderr.strip().splitlines()[-1:]}"
            )
    return _gst_problem[0]


class RtspCamera:
    """One GStreamer RTSP server subprocess; restartable on the same port."""

    def __init__(self, args: list[str], log_dir: Path) -> None:
        self._args = args
        self._log_dir = log_dir
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.revivals = 0  # times GStreamer died by itself and was started again
        self._wanted = False  # the test wants the camera up (not stopped, killed or frozen)
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """Spawn the server and keep it up: GStreamer's RTSP server can abort by itself.

        (Seen right after a restart: ``gst_rtsp_media_get_rates: assertion failed``.) A server
        that dies while the test wants it up is started again on the same port.
        """
        with self._lock:
            self._spawn()
            self._wanted = True
            process = self.process
        threading.Thread(target=self._watch, args=(process,), daemon=True).start()

    def _watch(self, process: subprocess.Popen[str] | None) -> None:
        if process is None:
            return
        process.wait()
        with self._lock:
            if not self._wanted or process is not self.process:
                return
            self.revivals += 1
            for _ in range(20):
                try:
                    self._spawn()
                    break
                except RuntimeError:
                    time.sleep(0.1)
            else:
                return
            process = self.process
        self._watch(process)

    def _spawn(self) -> None:
        """Spawn the server (on `self.port` if it has one) and wait for its READY line."""
        log = self._log_dir / f"rtsp-camera-{os.getpid()}-{id(self)}.log"
        with log.open("a") as stderr:
            process = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER_SCRIPT), *self._args, "--port", str(self.port)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.process = process
        assert process.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(READY_TIMEOUT)
        if not line or not line[0].startswith("READY "):
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            raise RuntimeError(f"RTSP test camera did not start: {log.read_text()[-2000:]!r}")
        self.url = line[0].split()[1]
        self.port = int(self.url.split(":")[2].split("/")[0])

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM: the camera goes away at once, like losing power."""
        with self._lock:  # not while a revival is starting one
            self._wanted = False
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            self._wait()

    def kill(self) -> None:
        """SIGKILL."""
        with self._lock:
            self._wanted = False
            self._signal(signal.SIGKILL)
            self._wait()

    def _wait(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.stdout:
                self.process.stdout.close()

    def restart(self) -> None:
        """Stop if running, then serve again on the same port."""
        self.stop()
        for attempt in range(20):
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 19:
                    raise
                time.sleep(0.1)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing arrives."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT."""
        self._signal(signal.SIGCONT)

    def url_with(self, username: str, password: str) -> str:
        """The URL with credentials embedded (percent-encode them yourself if needed)."""
        return self.url.replace("rtsp://", f"rtsp://{username}:{password}@", 1)


@pytest.fixture(scope="session")
def test_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s 320x180 15 fps H.264 clip, 1 s GOP, the block moving from 1 s to 2 s."""
    return make_h264_file(
        tmp_path_factory.mktemp("media") / "camera.mp4",
        width=320,
        height=180,
        fps=15,
        seconds=3.0,
        motion_window=(1.0, 2.0),
    )


@pytest.fixture
def rtsp_camera(
    test_video: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RtspCamera]]:
    """Factory of RTSP test cameras; all are killed at the end of the test."""
    problem = gst_rtsp_problem()
    if problem:
        if os.environ.get("CI"):  # CI installs GStreamer: a missing server is a failure there
            pytest.fail(problem)
        pytest.skip(problem)
    cameras: list[RtspCamera] = []
    log_dir = tmp_path_factory.mktemp("rtsp-logs")

    def factory(
        file: Path | None = None,
        pattern: bool = False,
        username: str | None = None,
        password: str | None = None,
        auth: str = "basic",
        path: str = "/cam",
        parameter_sets_per_slice: bool = False,
    ) -> RtspCamera:
        args = ["--pattern"] if pattern else ["--file", str(file or test_video)]
        args += ["--path", path]
        if parameter_sets_per_slice:
            args.append("--parameter-sets-per-slice")
        if username is not None:
            args += ["--username", username, "--password", password or "", "--auth", auth]
        camera = RtspCamera(args, log_dir)
        cameras.append(camera)
        return camera

    yield factory
    for camera in cameras:
        camera.thaw()
        camera.kill()


@dataclass
class LoopbackServer:
    """A TCP server on 127.0.0.1 run by the test process itself."""

    port: int
    sockets: list[socket.socket] = field(default_factory=list)
    connections: int = 0

    def url(self, scheme: str = "rtsp", path: str = "/cam") -> str:
        return f"{scheme}://{LOOPBACK}:{self.port}{path}"


def _listener() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((LOOPBACK, 0))
    server.listen(16)
    server.settimeout(0.2)
    return server


@pytest.fixture
def silent_tcp_server(socket_enabled: None) -> Iterator[LoopbackServer]:
    """Accepts TCP connections on 127.0.0.1 and never answers (holds them open)."""
    listener = _listener()
    info = LoopbackServer(listener.getsockname()[1], [listener])
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = listener.accept()
                info.sockets.append(conn)
                info.connections += 1

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield info
    done.set()
    thread.join(2)
    for sock in info.sockets:
        sock.close()


@pytest.fixture
def refused_port(socket_enabled: None) -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class GarbageProxy:
    """Relays 127.0.0.1:port to an upstream camera, corrupting its output on schedule."""

    def __init__(self, upstream_port: int, after: float, duration: float | None, mode: str):
        if mode not in ("payload", "bytes"):
            raise ValueError(mode)
        self.upstream_port, self.after, self.duration, self.mode = (
            upstream_port,
            after,
            duration,
            mode,
        )
        self._listener = _listener()
        self.port = int(self._listener.getsockname()[1])
        self.corrupted_bytes = 0
        self.connections = 0
        self._done = threading.Event()
        self._sockets: list[socket.socket] = []
        self._rng = random.Random(1)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, path: str = "/cam") -> str:
        return f"rtsp://{LOOPBACK}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=2)
            except OSError:
                client.close()
                continue
            self.connections += 1
            for sock in (client, upstream):
                sock.settimeout(0.2)
                self._sockets.append(sock)
            started = time.monotonic()
            for target, args in (
                (self._pump_up, (client, upstream)),
                (self._pump_down, (upstream, client, started)),
            ):
                thread = threading.Thread(target=target, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _recv(self, sock: socket.socket) -> bytes | None:
        while not self._done.is_set():
            try:
                return sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return None

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        while data := self._recv(client):
            with contextlib.suppress(OSError):
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_RDWR)

    def _corrupting(self, started: float) -> bool:
        elapsed = time.monotonic() - started
        return elapsed >= self.after and (
            self.duration is None or elapsed < self.after + self.duration
        )

    def _garble(self, data: bytes, keep: int) -> bytes:
        self.corrupted_bytes += len(data) - keep
        return data[:keep] + self._rng.randbytes(len(data) - keep)

    def _pump_down(self, upstream: socket.socket, client: socket.socket, started: float) -> None:
        buffer = b""
        while data := self._recv(upstream):
            buffer += data
            out: list[bytes] = []
            while buffer:
                if self.mode == "bytes" and self._corrupting(started):
                    out.append(self._garble(buffer, 0))
                    buffer = b""
                    break
                if buffer[0] == 0x24:  # '$' channel len16: an interleaved RTP/RTCP frame
                    if len(buffer) < 4:
                        break
                    end = 4 + int.from_bytes(buffer[2:4], "big")
                    if len(buffer) < end:
                        break
                    frame, buffer = buffer[:end], buffer[end:]
                    if frame[1] % 2 == 0 and self._corrupting(started):
                        frame = self._garble(frame, 4 + 12)  # keep framing and RTP header
                    out.append(frame)
                    continue
                head_end = buffer.find(b"\r\n\r\n")  # an RTSP response
                if head_end < 0:
                    break
                head = buffer[: head_end + 4]
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if len(buffer) < head_end + 4 + length:
                    break
                out.append(buffer[: head_end + 4 + length])
                buffer = buffer[head_end + 4 + length :]
            try:
                client.sendall(b"".join(out))
            except OSError:
                break
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(2)
        for sock in [self._listener, *self._sockets]:
            sock.close()


@pytest.fixture
def garbage_proxy(socket_enabled: None) -> Iterator[Callable[..., GarbageProxy]]:
    """Factory of `GarbageProxy`s in front of test cameras; closed at the end of the test."""
    proxies: list[GarbageProxy] = []

    def factory(
        upstream_port: int, after: float = 1.0, duration: float | None = None, mode: str = "payload"
    ) -> GarbageProxy:
        proxy = GarbageProxy(upstream_port, after, duration, mode)
        proxies.append(proxy)
        return proxy

    yield factory
    for proxy in proxies:
        proxy.close()
