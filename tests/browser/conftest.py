"""Browser tests: a real `hass` process, real Chromium (Debian's), real RTSP cameras; loopback only.

One Home Assistant serves all the browser tests (package-scoped fixtures: start and onboarding
take ~10 s, and it is gone before the rest of the suite runs); every test gets
its own browser context (language, fresh storage) and logs in through HA's own login page.
Screenshots of every step land in `harness.SCREENSHOTS` (``ANNINH_SCREENSHOTS`` overrides it).

The root conftest's fixtures are for the pytest `hass` fixture (an in-process HA); they are
overridden here so these tests never start one. pytest-socket (from the HA test plugin) stays in
force: sockets may connect to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from tests.media import make_h264_file
from tests.rtsp import RtspCamera, gst_rtsp_problem

from .harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PEER_CONNECTION_RECORDER,
    SCREENSHOTS,
    HassServer,
    Shots,
)

LIVE_FPS = {"no_bframes": 25, "bframes": 25, "footage": 30}  # frame rate of each camera kind
DEMO_FOOTAGE = Path(__file__).resolve().parents[2] / "demo" / "traffic_sequence.mp4"


def _needs(problem: str | None) -> None:
    """Skip for a missing tool, but fail under CI, which installs everything."""
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def chromium_problem() -> str | None:
    """Why Chromium or Playwright cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} missing: install Debian's chromium package (scripts/setup does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"Playwright for Python missing ({err}): scripts/setup installs the test group"
    return None


# -- the root conftest's in-process HA, switched off ----------------------------------------------
@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No pytest `hass` here: the integration runs in a real `hass` process."""


@pytest.fixture(autouse=True)
def verify_cleanup() -> None:
    """The HA plugin's per-test thread/task check is about its in-process HA; not used here."""


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Not used: Playwright's sync API runs its own event loop."""


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Sockets on (pytest-socket still refuses any host but 127.0.0.1)."""


# -- Home Assistant -------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def hass_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HassServer]:
    """A real, onboarded Home Assistant with anninh, shared by all the browser tests."""
    _needs(chromium_problem())
    pytest_socket.enable_socket()
    server = HassServer(tmp_path_factory.mktemp("hass") / "config")
    try:
        server.start()
        server.onboard()
        yield server
    finally:
        server.stop()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in ("home-assistant.log", "hass.stdout.log"):
            if (server.config / name).exists():
                shutil.copyfile(server.config / name, SCREENSHOTS / name)


# -- cameras ---------------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def camera_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each kind of camera's file.

    640x360 25 fps H.264 with a 1 s GOP, Constrained Baseline and Main with B-frames (made by
    `tests.media.make_h264_file`), and the demo's real footage of a crossroads (704x576 30 fps,
    Main with B-frames, as household cameras send).
    """
    folder = tmp_path_factory.mktemp("live-media")
    common: dict[str, Any] = {
        "width": 640,
        "height": 360,
        "fps": LIVE_FPS["no_bframes"],
        "seconds": 8.0,
        "bitrate": 800_000,
        "noise": 2.0,
    }
    return {
        "no_bframes": make_h264_file(folder / "baseline.mp4", profile="baseline", **common),
        "bframes": make_h264_file(folder / "main-b.mp4", profile="main", b_frames=3, **common),
        "footage": DEMO_FOOTAGE,
    }


@pytest.fixture(scope="package")
def rtsp_cameras(
    camera_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RtspCamera]]:
    """A real RTSP camera (GStreamer) per kind of stream, for the whole session."""
    _needs(gst_rtsp_problem())
    pytest_socket.enable_socket()
    log_dir = tmp_path_factory.mktemp("rtsp-logs")
    cameras = {
        kind: RtspCamera(["--file", str(path), "--path", f"/{kind}"], log_dir)
        for kind, path in camera_files.items()
    }
    yield cameras
    for camera in cameras.values():
        camera.kill()


@pytest.fixture(scope="package")
def station(hass_server: HassServer, rtsp_cameras: dict[str, RtspCamera]) -> dict[str, Any]:
    """A station made through the REST flows: two RTSP cameras, a loudspeaker and a bell.

    Returns entry_id, camera entity ids by kind, the bell's entities and webhook URL.
    """
    hass = hass_server
    hass.set_language("vi")  # a Vietnamese station: its entities are named in Vietnamese
    result = hass.flow(
        "flow",
        "anninh",
        {
            "name": "Công an phường Thử nghiệm",
            "recordings_dir": str(hass.config / "media" / ".anninh"),
            "retention_days": 30,
            "pre_event_seconds": 5,
        },
    )
    entry_id = result["result"]["entry_id"]
    place = {"location": {"latitude": 20.84, "longitude": 106.69}}
    names = {"no_bframes": "Cổng chợ", "bframes": "Ngã ba đê", "footage": "Ngã tư trung tâm"}
    for kind, camera in rtsp_cameras.items():
        hass.flow(
            "subentries/flow",
            [entry_id, "camera"],
            {
                "name": names[kind],
                "address": f"Thôn {kind}",
                **place,
                "donor_name": "Hộ bà Trần Thị Bình",
                "stream_url": camera.url,
            },
        )
    players = hass.wait_for(lambda: hass.entity_ids(r"media_player\..*"), what="demo players")
    hass.flow(
        "subentries/flow",
        [entry_id, "loudspeaker"],
        {
            "name": "Loa chợ",
            "address": "Chợ phường",
            **place,
            "targets": [players[0]],
            "volume": 60,
            "language": "en",
        },
    )
    ids = {sub["title"]: sub["subentry_id"] for sub in hass.subentries(entry_id)}
    bell = hass.flow(
        "subentries/flow",
        [entry_id, "bell"],
        {
            "name": "Chuông ngân hàng",
            "address": "Ngân hàng xã",
            **place,
            "source": "webhook",
            "linked_cameras": [ids[names["no_bframes"]]],
            "linked_loudspeakers": [ids["Loa chợ"]],
            "priority": "high",
            "heartbeat_minutes": 0,
        },
        {"local_only": True},
    )
    bell_url = bell["shown"]["url"]  # what the flow shows, to program into the bell
    assert bell_url.startswith(f"{hass.base}/api/webhook/"), bell_url

    def all_entities() -> dict[str, dict[str, str]] | None:
        found = hass.device_entities(entry_id)
        every = [*names.values(), "Loa chợ", "Chuông ngân hàng"]
        return found if all(name in found for name in every) else None

    entities: dict[str, dict[str, str]] = hass.wait_for(all_entities, what="the entities")
    cameras = {kind: entities[name]["camera"] for kind, name in names.items()}
    for entity_id in cameras.values():
        hass.wait_for(
            lambda entity_id=entity_id: (hass.state(entity_id) or {}).get("state")  # type: ignore[misc]
            not in (None, "unavailable"),
            what=f"{entity_id} available",
        )
    return {
        "entry_id": entry_id,
        "cameras": cameras,
        "camera_names": names,
        "entities": entities,
        "bell_name": "Chuông ngân hàng",
        "bell_url": bell_url,
    }


# -- the browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def browser(hass_server: HassServer) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(trylast=True)  # after the coverage report, just before pytest's closing line
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the screenshot folder in pytest's summary (before its closing line)."""
    if Shots.taken:
        terminalreporter.write_sep("-", "browser tests")
        terminalreporter.write_line(f"screenshots of every step: {SCREENSHOTS}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the page fixture can shoot a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def open_page(
    browser: Any, hass_server: HassServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., tuple[Any, Shots]]]:
    """Factory: `open_page(language="en")` → (logged-in page, its screenshot taker).

    The user's profile language and HA's language are set first; the browser context has the
    matching locale, the Asia/Ho_Chi_Minh time zone and the RTCPeerConnection recorder.
    """
    contexts: list[Any] = []
    shots: list[Shots] = []

    def factory(language: str = "en", name: str | None = None) -> tuple[Any, Shots]:
        hass_server.set_language(language)
        context = browser.new_context(
            locale={"en": "en-US", "vi": "vi-VN"}[language],
            timezone_id="Asia/Ho_Chi_Minh",
            viewport={"width": 1280, "height": 860},
        )
        context.add_init_script(PEER_CONNECTION_RECORDER)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        shot = Shots(page, name or request.node.name)
        shots.append(shot)
        login(page, hass_server, shot)
        return page, shot

    yield factory
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        for shot in shots:
            try:
                shot("FAILED")
            except Exception as err:  # the page may be gone; the failure itself matters more
                print(f"no failure screenshot: {err}")
    for context in contexts:
        context.close()


def login(page: Any, hass: HassServer, shot: Shots) -> None:
    """HA's own login page: username, password, Enter; then wait for the overview."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.goto(f"{hass.base}/")
    page.locator("input[name=username]").fill(hass.username)
    page.locator("input[name=password]").fill(hass.password)
    shot("login")
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    try:  # the overview: the frontend is connected and has its data
        page.locator("hui-root").wait_for()
    except PlaywrightTimeoutError as err:
        loading = page.get_by_text("Loading data").is_visible()
        raise AssertionError(
            "the UI did not load after login"
            + (' (still "Loading data": see HA\'s log beside the screenshots)' if loading else "")
        ) from err
    page.wait_for_load_state("networkidle")
