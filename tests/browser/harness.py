"""A real Home Assistant process and a real Chromium, on 127.0.0.1 only, for the browser tests.

`HassServer` writes a configuration folder like the one `scripts/develop` makes (no
`default_config`: no go2rtc, zeroconf, ssdp, met or radio browser; `demo:` for offline media
players), links the integration into `<config>/custom_components/anninh`, starts
``python -m homeassistant -c <config> --skip-pip`` on a free loopback port and does HA's onboarding
over HTTP with `scripts/demo_seed.py`'s own functions. ``--skip-pip``: Home Assistant must find
every requirement already installed by `scripts/setup` (a fresh install that would need to
download something at runtime fails here instead of reaching the internet).

The helpers for the page: `login`, `set_language`, the `RTCPeerConnection` recorder
(`PEER_CONNECTION_RECORDER`, `webrtc_stats`) and `Shots` (a numbered screenshot of every step).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "anninh"
LOOPBACK = "127.0.0.1"
CHROMIUM = os.environ.get("ANNINH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-dev-shm-usage",  # containers often have a small /dev/shm
    "--autoplay-policy=no-user-gesture-required",
    # Loopback only: no host name resolves (map tiles and brand icons stay missing).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = Path(
    os.environ.get("ANNINH_SCREENSHOTS", str(ROOT / "tests" / "browser" / "screenshots"))
)
TRANSLATIONS = {
    lang: json.loads((INTEGRATION / "translations" / f"{lang}.json").read_text(encoding="utf-8"))
    for lang in ("en", "vi")
}


def _frontend_translations(lang: str) -> dict[str, str]:
    """The HA frontend's own strings for `lang` (flat dotted keys), from hass_frontend."""
    import hass_frontend

    folder = Path(hass_frontend.__file__).parent / "static" / "translations"
    strings: dict[str, str] = {}
    for path in sorted(folder.rglob(f"{lang}-*.json")):
        if re.fullmatch(rf"{lang}-[0-9a-f]{{32}}\.json", path.name):
            strings.update(json.loads(path.read_text(encoding="utf-8")))
    return strings


FRONTEND: dict[str, dict[str, str]] = {}


def ui(lang: str, key: str) -> str:
    """The frontend's text for `key` in `lang` (e.g. ``ui.common.submit``: "Submit", "Gửi đi")."""
    if lang not in FRONTEND:
        FRONTEND[lang] = _frontend_translations(lang)
    return FRONTEND[lang][key]


def text(lang: str, dotted: str) -> str:
    """The integration's own translation of `dotted` (e.g. ``config.step.user.title``)."""
    node: Any = TRANSLATIONS[lang]
    for part in dotted.split("."):
        node = node[part]
    return str(node)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def run[T](factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh event loop in its own thread.

    Playwright's sync API owns the test thread's event loop, so asyncio code (aiohttp, and
    `scripts/demo_seed.py`'s functions) runs beside it.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="browser-tests-asyncio")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def load_demo_seed(base: str) -> ModuleType:
    """`scripts/demo_seed.py` as a private module whose functions talk to `base`."""
    path = ROOT / "scripts" / "demo_seed.py"
    spec = importlib.util.spec_from_file_location(f"anninh_demo_seed_{abs(hash(base))}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setattr(module, "BASE", base)  # noqa: B010 (its functions read these globals at call time)
    setattr(module, "CLIENT_ID", f"{base}/")  # noqa: B010
    return module


def configuration_yaml(config: Path, port: int, language: str) -> str:
    """What `scripts/develop` writes, on a chosen port (no default_config, loopback only)."""
    return f"""\
homeassistant:
  name: Công an xã Thử nghiệm
  latitude: 20.8449
  longitude: 106.6881
  elevation: 5
  unit_system: metric
  time_zone: Asia/Ho_Chi_Minh
  country: VN
  currency: VND
  language: {language}
  # HA listens on loopback only; without this, URLs it shows (the bell's webhook) would carry
  # the machine's LAN address, where nothing answers.
  internal_url: http://{LOOPBACK}:{port}
  media_dirs:
    local: {config / "media"}

http:
  server_host: {LOOPBACK}
  server_port: {port}

frontend:
config:
automation: !include automations.yaml
history:
logbook:
media_source:
stream:
webhook:
sun:
system_health:
demo:

logger:
  default: warning
  logs:
    custom_components.anninh: debug
"""


class HassServer:
    """`python -m homeassistant` in a subprocess, onboarded, with a bearer token."""

    def __init__(self, config: Path, language: str = "en") -> None:
        self.config = config
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.log = config / "hass.stdout.log"
        self.language = language
        self.process: subprocess.Popen[bytes] | None = None
        self.seed = load_demo_seed(self.base)
        self.username: str = self.seed.USER
        self.password: str = self.seed.PASSWORD
        self.token = ""
        self.up_after = 0.0

    # -- life cycle ------------------------------------------------------------------------
    def prepare(self) -> None:
        """The configuration folder, with the integration linked in."""
        (self.config / "custom_components").mkdir(parents=True, exist_ok=True)
        (self.config / "media").mkdir(exist_ok=True)
        link = self.config / "custom_components" / "anninh"
        if not link.exists():
            link.symlink_to(INTEGRATION, target_is_directory=True)
        shutil.copyfile(ROOT / "demo" / "traffic_sequence.mp4", self.config / "media" / "demo.mp4")
        (self.config / "automations.yaml").write_text("[]\n")
        (self.config / "configuration.yaml").write_text(
            configuration_yaml(self.config, self.port, self.language), encoding="utf-8"
        )

    def start(self, timeout: float = 120.0) -> None:
        """Start Home Assistant and wait until its HTTP server answers."""
        self.prepare()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("COV_CORE_SOURCE", None)
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "homeassistant", "-c", str(self.config), "--skip-pip"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # In the configuration folder: HA finds custom integrations through the
                # `custom_components` package, which the project's root would otherwise shadow.
                cwd=self.config,
                start_new_session=True,
            )
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited: {self.log_tail()}")
            # Before onboarding its views answer; after it (a restart) they are gone: the API
            # answers our token.
            probe = urllib.request.Request(
                f"{self.base}/api/" if self.token else f"{self.base}/api/onboarding",
                headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
            )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(probe, timeout=2) as resp,
            ):
                if resp.status == 200:
                    break
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"Home Assistant did not answer in {timeout} s")
            time.sleep(0.3)
        self.up_after = time.monotonic() - started

    def onboard(self) -> None:
        """HA's onboarding, as the frontend does it (`scripts/demo_seed.py`'s `onboard`)."""

        async def go() -> str:
            async with aiohttp.ClientSession() as session:
                token: str = await self.seed.onboard(session)
                return token

        self.token = run(go)

    def stop(self) -> None:
        """SIGTERM (HA stops cleanly), SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_text(self) -> str:
        """Home Assistant's log so far."""
        path = self.config / "home-assistant.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process output, for failure messages."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    # -- APIs --------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        """Call HA's REST API with the bearer token; the decoded JSON answer."""
        request = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """An entity's state object, or None."""
        try:
            result: dict[str, Any] = self.rest("GET", f"/api/states/{entity_id}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return result

    def states(self) -> list[dict[str, Any]]:
        """Every state."""
        result: list[dict[str, Any]] = self.rest("GET", "/api/states")
        return result

    def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """Send websocket commands in order; their results (an error raises)."""

        async def go() -> list[Any]:
            results = []
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"{self.base}/api/websocket") as sock,
            ):
                await sock.receive_json()
                await sock.send_json({"type": "auth", "access_token": self.token})
                auth = await sock.receive_json()
                assert auth["type"] == "auth_ok", auth
                for number, message in enumerate(messages, start=1):
                    await sock.send_json({"id": number, **message})
                    while True:
                        reply = await sock.receive_json()
                        if reply.get("id") == number and reply["type"] == "result":
                            break
                    if not reply["success"]:
                        raise RuntimeError(f"{message['type']}: {reply['error']}")
                    results.append(reply.get("result"))
            return results

        return run(go)

    def set_language(self, language: str) -> None:
        """The user's profile language (what the frontend shows) and HA's own language."""
        self.ws(
            {
                "type": "frontend/set_user_data",
                "key": "language",
                "value": {
                    "language": language,
                    "number_format": "language",
                    "time_format": "language",
                    "date_format": "language",
                    "first_weekday": "language",
                    "time_zone": "local",
                },
            },
            {"type": "config/core/update", "language": language},
        )

    def flow(self, path: str, handler: Any, *steps: dict[str, Any]) -> dict[str, Any]:
        """A config or subentry flow over REST (`scripts/demo_seed.py`'s `flow`)."""

        async def go() -> dict[str, Any]:
            async with aiohttp.ClientSession() as session:
                result: dict[str, Any] = await self.seed.flow(
                    session, self.token, path, handler, *steps
                )
                return result

        return run(go)

    def entries(self, domain: str = "anninh") -> list[dict[str, Any]]:
        """Config entries of `domain`."""
        entries: list[dict[str, Any]] = self.rest("GET", "/api/config/config_entries/entry")
        return [entry for entry in entries if entry["domain"] == domain]

    def subentries(self, entry_id: str) -> list[dict[str, Any]]:
        """The station's subentries."""
        result: list[dict[str, Any]] = self.ws(
            {"type": "config_entries/subentries/list", "entry_id": entry_id}
        )[0]
        return result

    def device_entities(self, entry_id: str) -> dict[str, dict[str, str]]:
        """The station's entity ids: {subentry title: {translation key: entity id}}."""
        titles = {sub["subentry_id"]: sub["title"] for sub in self.subentries(entry_id)}
        registry: list[dict[str, Any]] = self.ws({"type": "config/entity_registry/list"})[0]
        found: dict[str, dict[str, str]] = {}
        for entity in registry:
            if entity["config_entry_id"] == entry_id and entity.get("config_subentry_id"):
                title = titles.get(entity["config_subentry_id"])
                if title is not None:
                    key = entity.get("translation_key") or entity["entity_id"].split(".")[0]
                    found.setdefault(title, {})[key] = entity["entity_id"]
        return found

    def entity_ids(self, pattern: str) -> list[str]:
        """Entity ids matching the regular expression `pattern`, sorted."""
        return sorted(
            s["entity_id"] for s in self.states() if re.fullmatch(pattern, s["entity_id"])
        )

    def wait_for(
        self, predicate: Callable[[], Any], within: float = 30.0, what: str = "a condition"
    ) -> Any:
        """Poll `predicate` until it returns something truthy."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            time.sleep(0.2)


# -- the page -------------------------------------------------------------------------------------
PEER_CONNECTION_RECORDER = """
(() => {
  const Original = window.RTCPeerConnection;
  if (!Original || window.__anninhPeers) return;
  window.__anninhPeers = [];
  class Recorded extends Original {
    constructor(...args) {
      super(...args);
      window.__anninhPeers.push({pc: this, created: performance.now()});
    }
  }
  window.RTCPeerConnection = Recorded;
})();
"""

WEBRTC_STATS = """
async () => {
  const out = [];
  for (const {pc, created} of window.__anninhPeers || []) {
    const entry = {created, state: pc.connectionState, video: null, codec: null};
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((r) => byId.set(r.id, r));
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && (r.kind === 'video' || r.mediaType === 'video')) {
        entry.video = {
          framesDecoded: r.framesDecoded || 0, framesDropped: r.framesDropped || 0,
          framesReceived: r.framesReceived || 0, freezeCount: r.freezeCount || 0,
          totalFreezesDuration: r.totalFreezesDuration || 0, frameWidth: r.frameWidth || 0,
          frameHeight: r.frameHeight || 0, packetsLost: r.packetsLost || 0,
          keyFramesDecoded: r.keyFramesDecoded || 0,
        };
        const codec = byId.get(r.codecId);
        entry.codec = codec ? {mimeType: codec.mimeType, sdpFmtpLine: codec.sdpFmtpLine} : null;
      }
    });
    out.push(entry);
  }
  return {now: performance.now(), peers: out};
}
"""


def first_frames(page: Any, since: float, count: int, within: float) -> list[dict[str, Any]]:
    """Peers made after `since` (page ms), each with `first_frame_s`: from its creation to its
    first decoded frame (None if none came within `within` s).
    """
    first: dict[int, float] = {}
    deadline = time.monotonic() + within + 5
    peers: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        stats = page.evaluate(WEBRTC_STATS)
        peers = [p for p in stats["peers"] if p["created"] >= since]
        for index, peer in enumerate(peers):
            if index not in first and peer["video"] and peer["video"]["framesDecoded"] > 0:
                first[index] = stats["now"]
        if len(peers) >= count and len(first) >= len(peers):
            break
        time.sleep(0.05)
    return [
        {**peer, "first_frame_s": (first[i] - peer["created"]) / 1000 if i in first else None}
        for i, peer in enumerate(peers)
    ]


def shadow_query_js(selector: str) -> str:
    """JS that finds the first element matching `selector` through every open shadow root."""
    return f"""
(() => {{
  const walk = (root) => {{
    const hit = root.querySelector({json.dumps(selector)});
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {{
      if (el.shadowRoot) {{ const found = walk(el.shadowRoot); if (found) return found; }}
    }}
    return null;
  }};
  return walk(document);
}})()
"""


class Shots:
    """Numbered screenshots of every step of one test, in SCREENSHOTS/<test>/."""

    taken: ClassVar[list[Path]] = []  # this session's folders, named in pytest's summary

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", name)
        self.taken.append(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, step: str) -> Path:
        """Save a screenshot of the page now, named after `step`."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^\w.-]+', '-', step)}.png"
        self.page.screenshot(path=str(path))
        return path


def open_from_sidebar(page: Any, label: str, path: str) -> None:
    """Click the sidebar item `label` and wait until the URL contains `path`.

    The sidebar re-renders while panels register (a just-made dashboard), which can swallow a
    click; a person clicks again, and so does this.
    """
    item = page.locator("ha-sidebar").get_by_text(label, exact=True)
    for _ in range(3):
        item.click()
        try:
            page.wait_for_url(lambda url: path in url, timeout=4_000, wait_until="commit")
            page.wait_for_timeout(300)
        except Exception:  # Playwright's TimeoutError; try once more
            continue
        if path in page.url:
            return
    raise AssertionError(f"the sidebar item {label!r} did not open {path}")
