"""StreamSource parsing, credentials, FFmpeg options, probe and error mapping."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av.error
import pytest

from custom_components.anninh.engine.source import (
    SourceKind,
    StreamOpenError,
    StreamProblem,
    StreamSource,
    classify_error,
    probe,
    redact_url,
)
from tests.media import make_h264_file


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://cam/x",
        "rtsp://",
        "rtsp://:554/x",
        "rtsp://cam:99999/x",
        "rtsp://cam:port/x",
        "file://host/x.mp4",
        "file:relative.mp4",
        "cam.local/stream",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(StreamOpenError) as err:
        StreamSource.parse(url)
    assert err.value.problem is StreamProblem.INVALID_URL


def test_kinds_and_paths() -> None:
    assert StreamSource.parse(" /srv/a.mp4 ").kind is SourceKind.FILE
    assert StreamSource.parse("file:///srv/a%20b.mp4").path == Path("/srv/a b.mp4")
    assert StreamSource.parse("file://localhost/srv/a.mp4").url == "/srv/a.mp4"
    assert StreamSource.parse("RTSPS://cam:322/x").kind is SourceKind.RTSP
    assert StreamSource.parse("http://cam/mjpeg").kind is SourceKind.HTTP
    assert StreamSource.parse("https://cam/mjpeg").kind is SourceKind.HTTP


def test_credentials_with_special_characters() -> None:
    source = StreamSource.parse(
        "rtsp://old:x@cam.local:554/Streaming/101", "ad min", "p@ss:w/rd#?%"
    )
    assert source.av_url() == "rtsp://ad%20min:p%40ss%3Aw%2Frd%23%3F%25@cam.local:554/Streaming/101"
    assert StreamSource.parse("rtsp://cam/x", "user").av_url() == "rtsp://user@cam/x"
    assert StreamSource.parse("rtsp://u:p@cam/x").av_url() == "rtsp://u:p@cam/x"
    assert StreamSource.parse("/a.mp4", "u", "p").av_url() == "/a.mp4"
    assert "p@ss" not in repr(source.redacted_url)
    assert source.redacted_url == "rtsp://***:***@cam.local:554/Streaming/101"


def test_redact_url() -> None:
    assert redact_url("rtsp://cam/x") == "rtsp://cam/x"
    assert redact_url("rtsp://a:secret@cam:554/x?y=1") == "rtsp://***:***@cam:554/x?y=1"
    assert redact_url("http://a:b@c@cam/x") == "http://***:***@cam/x"


def test_av_options() -> None:
    rtsp = StreamSource.parse("rtsp://cam/x").av_options(2.0)
    assert rtsp["rtsp_transport"] == "tcp"
    assert int(rtsp["timeout"]) > 2_000_000  # longer than PyAV's own interrupt timeout
    assert "timeout" in StreamSource.parse("http://cam/x").av_options(2.0)
    assert StreamSource.parse("/a.mp4").av_options(2.0) == {}


def test_probe_file(tmp_path: Path) -> None:
    path = make_h264_file(tmp_path / "a.mp4", 320, 180, fps=15, seconds=0.5)
    result = probe(StreamSource.parse(str(path)))
    assert (result.codec, result.width, result.height) == ("h264", 320, 180)
    assert result.fps == pytest.approx(15)
    assert 0 < result.seconds < 5


def test_probe_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(str(tmp_path / "none.mp4")))
    assert err.value.problem is StreamProblem.NOT_FOUND
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(str(junk)))
    assert err.value.problem is StreamProblem.UNSUPPORTED_STREAM


def test_probe_audio_only_and_undecodable(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    with av.open(str(wav), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(str(wav)))
    assert err.value.problem is StreamProblem.UNSUPPORTED_STREAM
    # an MP4 whose video data is cut off: the container opens, no frame decodes
    good = make_h264_file(tmp_path / "b.mp4", 64, 48, seconds=0.3).read_bytes()
    cut = tmp_path / "cut.mp4"
    moov = good.find(b"moov")
    mdat = good.find(b"mdat")
    cut.write_bytes(good[: mdat + 4] + bytes(len(good) - mdat - 4) if mdat < moov else good)
    with pytest.raises(StreamOpenError):
        probe(StreamSource.parse(str(cut)))


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/401": 401, "/404": 404, "/403": 403}.get(self.path, 200)
        body = b"<html><body>camera login</body></html>" * 20
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server(socket_enabled: None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(2)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/", StreamProblem.UNSUPPORTED_STREAM),
        ("/401", StreamProblem.INVALID_AUTH),
        ("/403", StreamProblem.INVALID_AUTH),
        ("/404", StreamProblem.NOT_FOUND),
    ],
)
def test_probe_http_errors(http_server: str, path: str, problem: StreamProblem) -> None:
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(http_server + path), timeout=3)
    assert err.value.problem is problem


def test_probe_refused_and_silent(refused_port: int, silent_tcp_server) -> None:
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(f"rtsp://127.0.0.1:{refused_port}/cam"), timeout=2)
    assert err.value.problem is StreamProblem.CANNOT_CONNECT
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(silent_tcp_server.url()), timeout=1)
    assert err.value.problem is StreamProblem.TIMEOUT


def test_probe_rtsp_camera(rtsp_camera) -> None:
    camera = rtsp_camera(username="u", password="p w")
    result = probe(StreamSource.parse(camera.url, "u", "p w"), timeout=5)
    assert (result.width, result.height) == (320, 180)
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(camera.url, "u", "bad"), timeout=5)
    assert err.value.problem is StreamProblem.INVALID_AUTH
    with pytest.raises(StreamOpenError) as err:
        probe(StreamSource.parse(camera.url.replace("/cam", "/nope"), "u", "p w"), timeout=5)
    assert err.value.problem is StreamProblem.NOT_FOUND


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (StreamOpenError(StreamProblem.NOT_FOUND), StreamProblem.NOT_FOUND),
        (FileNotFoundError(), StreamProblem.NOT_FOUND),
        (TimeoutError(), StreamProblem.TIMEOUT),
        (ConnectionRefusedError(), StreamProblem.CANNOT_CONNECT),
        (OSError(errno.ETIMEDOUT, "t"), StreamProblem.TIMEOUT),
        (OSError(errno.EINVAL, "x"), StreamProblem.UNSUPPORTED_STREAM),
        (OSError(errno.EHOSTUNREACH, "x"), StreamProblem.CANNOT_CONNECT),
        (RuntimeError("?"), StreamProblem.UNSUPPORTED_STREAM),
    ],
)
def test_classify_error(error: BaseException, problem: StreamProblem) -> None:
    assert classify_error(error) is problem
    assert str(StreamOpenError(StreamProblem.TIMEOUT, "x")) == "timeout: x"
    assert str(StreamOpenError(StreamProblem.TIMEOUT)) == "timeout"
