#!/usr/bin/python3
"""A stand-in household camera for tests: GStreamer's RTSP server on 127.0.0.1.

Run ONLY with the system interpreter, ``/usr/bin/python3``: PyGObject (``gi``) and the
GstRtspServer typelib come from Debian's packages (python3-gi, gir1.2-gst-rtsp-server-1.0) and
cannot be imported from the project's virtual environment. The pytest fixtures in
``tests/rtsp.py`` start it as a subprocess.

It binds 127.0.0.1 only (port 0 = a free port unless ``--port`` is given, which a restart uses to
come back on the same port) and prints exactly one line ``READY rtsp://127.0.0.1:PORT/PATH`` once
it listens. It serves either

* ``--file X.mp4``: an H.264 MP4, looped forever. The media is shared by all clients and uses the
  CLOCK_AND_OFFSET publish clock, so it looks live and unseekable like a real camera (a new client's
  ``PLAY Range: npt=0-`` would otherwise rewind everybody). Looping seeks qtdemux itself with a
  SEGMENT seek, re-issued on every SEGMENT_DONE (a seek sent to the pipeline never reaches the
  demuxer), and shifts the parser's sink pad by the length of each loop so timestamps keep rising
  instead of repeating at the loop point; or
* ``--pattern``: a live ``videotestsrc`` (moving ball) encoded by x264 with
  ``sliced-threads=false`` (sliced key frames make FFmpeg see two packets with one PTS).

``--username/--password`` require Basic (default) or Digest (``--auth digest``) credentials;
wrong or missing ones get 401, a wrong path 404. SIGTERM/SIGKILL end it at once (like a camera
losing power); SIGSTOP freezes it (the TCP connection stays up and nothing arrives).
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)  # before subclassing RTSPMedia, or its vfuncs cannot be registered

ROLE = "anninh-test"


class LoopingMedia(GstRtspServer.RTSPMedia):
    """Plays its file forever: segment seeks on the demuxer, rising timestamps across loops."""

    def __init__(self) -> None:
        super().__init__()
        self._demux: Gst.Element | None = None
        self._parse_sink: Gst.Pad | None = None
        self._offset = 0
        self._last_pts = 0
        self._started = False

    def _find_elements(self) -> bool:
        if self._demux is None:
            pipeline = self.get_element()
            self._demux = pipeline.get_by_name("demux")
            self._parse_sink = pipeline.get_by_name("parse").get_static_pad("sink")
            queue_sink = pipeline.get_by_name("q").get_static_pad("sink")
            queue_sink.add_probe(Gst.PadProbeType.BUFFER, self._remember_pts)
        return self._demux is not None

    def _remember_pts(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        pts = info.get_buffer().pts
        if pts != Gst.CLOCK_TIME_NONE:
            self._last_pts = max(self._last_pts, pts)
        return Gst.PadProbeReturn.OK

    def _segment_seek(self, flush: bool) -> None:
        flags = Gst.SeekFlags.SEGMENT | (Gst.SeekFlags.FLUSH if flush else Gst.SeekFlags.NONE)
        self._demux.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1)

    def do_prepared(self) -> None:
        # Prerolled: restart as a looping segment, so the end gives SEGMENT_DONE instead of EOS.
        if not self._started and self._find_elements():
            self._started = True
            self._segment_seek(flush=True)

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.SEGMENT_DONE and self._demux is not None:
            _fmt, end = message.parse_segment_done()
            # qtdemux starts the next loop at the running time of the last frame (a duplicate
            # timestamp); shift the parser's input by the missing frame duration each loop.
            if end > self._last_pts:
                self._offset += end - self._last_pts
            self._last_pts = 0
            self._parse_sink.set_offset(self._offset)
            self._segment_seek(flush=False)
            return True
        return GstRtspServer.RTSPMedia.do_handle_message(self, message)


def launch_line(args: argparse.Namespace) -> str:
    # Parameter sets once per key-frame access unit, before its first slice (as the standard
    # says); rtph264pay's own config-interval puts them before every IDR slice instead, which
    # splits a multi-slice key frame into one "picture" per slice for FFmpeg: kept as an option,
    # since a camera may send that too.
    pay = (
        "h264parse name=parse ! rtph264pay name=pay0 pt=96 config-interval=-1"
        if args.parameter_sets_per_slice
        else "h264parse name=parse config-interval=-1 "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! rtph264pay name=pay0 pt=96"
    )
    if args.file:
        location = args.file.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f'( filesrc location="{location}" ! qtdemux name=demux demux.video_0 ! queue name=q '
            f"! {pay} )"
        )
    return (
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        f"! x264enc tune=zerolatency sliced-threads=false speed-preset=ultrafast "
        f"key-int-max={args.fps} ! video/x-h264,profile=baseline "
        f"! {pay} )"
    )


def add_auth(
    server: GstRtspServer.RTSPServer,
    factory: GstRtspServer.RTSPMediaFactory,
    args: argparse.Namespace,
) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    if args.auth == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.username, args.password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.username, args.password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="H.264 MP4 to loop")
    source.add_argument("--pattern", action="store_true", help="live test pattern")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--username")
    parser.add_argument("--password", default="")
    parser.add_argument("--auth", choices=("basic", "digest"), default="basic")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument(
        "--parameter-sets-per-slice",
        action="store_true",
        help="SPS/PPS before every IDR slice (rtph264pay config-interval), not once per picture",
    )
    args = parser.parse_args(argv)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(True)
    factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if args.file:
        factory.set_media_gtype(LoopingMedia.__gtype__)
    if args.username:
        add_auth(server, factory, args)
    path = args.path if args.path.startswith("/") else "/" + args.path
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
