"""Where a camera's video comes from, and how PyAV opens it.

A `StreamSource` is the one place that knows URL schemes, where credentials go and which FFmpeg
options each protocol needs; `probe` opens a source once and names what went wrong in terms an
admin can act on (`StreamProblem`), for the config flow and for the reader's health.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import av
import av.error

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
SHARE_SCHEME = "anninh-share"


class SourceKind(StrEnum):
    """How the bytes arrive."""

    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"
    PUSH = "push"  # a camera a household's HA shares, pushed to the station (`share.py`)


class StreamProblem(StrEnum):
    """Why a source could not be read; values double as config-flow error keys."""

    INVALID_URL = "invalid_url"
    CANNOT_CONNECT = "cannot_connect"
    INVALID_AUTH = "invalid_auth"
    NOT_FOUND = "not_found"
    UNSUPPORTED_STREAM = "unsupported_stream"
    TIMEOUT = "timeout"
    DECODE_ERROR = "decode_error"


class StreamOpenError(Exception):
    """A source could not be opened or read; `problem` says why."""

    def __init__(self, problem: StreamProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class StreamSource:
    """A video source: a network URL with optional credentials, or a local file."""

    url: str
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str, username: str = "", password: str = "") -> StreamSource:
        """Validate `url` (rtsp/rtsps/http/https, file:// or an absolute path)."""
        url = url.strip()
        if url.startswith(f"{SHARE_SCHEME}:"):
            if not url.removeprefix(f"{SHARE_SCHEME}:").isalnum():
                raise StreamOpenError(StreamProblem.INVALID_URL, "bad share id")
            return cls(url=url)
        if url.startswith("/"):
            return cls(url=url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file":
            path = unquote(parts.path)
            if not path.startswith("/") or parts.netloc not in ("", "localhost"):
                raise StreamOpenError(StreamProblem.INVALID_URL, "file URLs need an absolute path")
            return cls(url=path)
        if scheme not in NETWORK_SCHEMES or not parts.hostname:
            raise StreamOpenError(StreamProblem.INVALID_URL, "unsupported scheme or no host")
        try:
            _ = parts.port
        except ValueError as err:
            raise StreamOpenError(StreamProblem.INVALID_URL, "bad port") from err
        return cls(url=url, username=username, password=password)

    @property
    def kind(self) -> SourceKind:
        """Protocol family of this source."""
        if self.url.startswith("/"):
            return SourceKind.FILE
        if self.url.startswith(f"{SHARE_SCHEME}:"):
            return SourceKind.PUSH
        if urlsplit(self.url).scheme.lower().startswith("rtsp"):
            return SourceKind.RTSP
        return SourceKind.HTTP

    @property
    def path(self) -> Path:
        """The file of a FILE source."""
        return Path(self.url)

    @property
    def redacted_url(self) -> str:
        """The URL with any embedded password replaced, safe for logs and diagnostics."""
        return redact_url(self.url)

    def av_url(self) -> str:
        """The URL handed to FFmpeg: separate credentials go into the userinfo part."""
        if self.kind is SourceKind.FILE or not self.username:
            return self.url
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        userinfo = quote(self.username, safe="")
        if self.password:
            userinfo += ":" + quote(self.password, safe="")
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))

    def av_options(self, timeout: float) -> dict[str, str]:
        """FFmpeg options: TCP transport, socket timeouts and a short probe for live sources.

        FFmpeg's own socket timeout is set a little longer than `timeout`, so PyAV's interrupt
        (`ExitError`, a clear timeout) fires first: FFmpeg's RTSP code reports a silent peer as
        "invalid data" when its socket timeout wins.
        """
        micros = str(int((timeout * 1.5 + 1.0) * 1_000_000))
        if self.kind is SourceKind.RTSP:
            return {
                "rtsp_transport": "tcp",
                "timeout": micros,
                "analyzeduration": "1000000",
                "probesize": "1000000",
                "fflags": "nobuffer",
            }
        if self.kind is SourceKind.HTTP:
            return {"timeout": micros, "analyzeduration": "1000000", "probesize": "2000000"}
        return {}

    def open(
        self, timeout: float, read_timeout: float | None = None
    ) -> av.container.InputContainer:
        """Open with PyAV; raises `StreamOpenError` naming the problem.

        `timeout` bounds the open (connect, handshake, probe); `read_timeout` (default: the same)
        bounds each later packet read.
        """
        if self.kind is SourceKind.FILE and not self.path.is_file():
            raise StreamOpenError(StreamProblem.NOT_FOUND, "no such file")
        if self.kind is SourceKind.PUSH:
            from .share import open_push  # noqa: PLC0415 - share.py reads sources itself

            share_id = self.url.removeprefix(f"{SHARE_SCHEME}:")
            pushed: av.container.InputContainer = open_push(
                share_id, timeout, timeout if read_timeout is None else read_timeout
            )
            return pushed
        started = time.monotonic()
        try:
            return av.open(
                self.av_url(),
                mode="r",
                options=self.av_options(timeout),
                timeout=(timeout, timeout if read_timeout is None else read_timeout),
            )
        except Exception as err:
            problem = classify_error(err)
            if (
                self.kind is not SourceKind.FILE
                and problem in (StreamProblem.UNSUPPORTED_STREAM, StreamProblem.CANNOT_CONNECT)
                and time.monotonic() - started >= 0.95 * timeout
            ):
                problem = StreamProblem.TIMEOUT  # the peer went silent, whatever FFmpeg says
            raise StreamOpenError(problem, type(err).__name__) from err


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe found in the first decoded video frame."""

    codec: str
    width: int
    height: int
    fps: float | None
    seconds: float


def probe(source: StreamSource, timeout: float = 10.0) -> ProbeResult:
    """Open `source` and decode one video frame, within about `timeout` seconds.

    Blocking: call it from an executor thread.
    """
    started = time.monotonic()
    container = source.open(timeout)
    try:
        if not container.streams.video:
            raise StreamOpenError(StreamProblem.UNSUPPORTED_STREAM, "no video stream")
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                rate: Fraction | None = stream.average_rate or stream.guessed_rate
                return ProbeResult(
                    codec=stream.codec_context.name,
                    width=frame.width,
                    height=frame.height,
                    fps=float(rate) if rate else None,
                    seconds=time.monotonic() - started,
                )
        except StreamOpenError:
            raise
        except Exception as err:
            raise StreamOpenError(classify_error(err), type(err).__name__) from err
        raise StreamOpenError(StreamProblem.UNSUPPORTED_STREAM, "no decodable video frame")
    finally:
        container.close()


def classify_error(err: BaseException) -> StreamProblem:
    """Map a PyAV/OS error to the problem an admin can act on."""
    if isinstance(err, StreamOpenError):
        return err.problem
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return StreamProblem.INVALID_AUTH
    if isinstance(err, av.error.HTTPNotFoundError | FileNotFoundError):
        return StreamProblem.NOT_FOUND
    if isinstance(err, av.error.ExitError | TimeoutError):
        return StreamProblem.TIMEOUT
    if isinstance(err, av.error.InvalidDataError | av.error.DecoderNotFoundError):
        return StreamProblem.UNSUPPORTED_STREAM
    if isinstance(err, av.error.HTTPError | ConnectionError):
        return StreamProblem.CANNOT_CONNECT
    if isinstance(err, OSError):
        if err.errno in (errno.ETIMEDOUT,):
            return StreamProblem.TIMEOUT
        if err.errno in (errno.EINVAL, errno.ENOSYS, errno.ENOEXEC):
            return StreamProblem.UNSUPPORTED_STREAM
        return StreamProblem.CANNOT_CONNECT
    return StreamProblem.UNSUPPORTED_STREAM


def redact_url(url: str) -> str:
    """Replace the password (and user) embedded in a URL with `***`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***:***@{host}"))
