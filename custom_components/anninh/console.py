"""The duty officer's console: a sidebar panel the integration serves, and its WebSocket API.

The panel (`frontend/anninh-console.js`, a web component with no build step and nothing fetched
from the internet) is the page an officer keeps open all shift: the video wall, alarms, playback
and export, announcements. Everything it shows comes from Home Assistant over the user's own
authenticated WebSocket, so a reloaded page shows the same alarms:

* ``anninh/console/subscribe``: every running station and its devices (``snapshot``), then each
  device that changes (``device``), coalesced to at most one message per `PUSH_DELAY`; a new
  snapshot when devices are added, removed or reconfigured.
* ``anninh/live/subscribe``: a WebRTC session on a camera's relay (the sub-stream for a tile when
  the camera has one); the answer is the subscription's first event and ending the subscription
  (or the WebSocket) closes the session.
* ``anninh/alarm/acknowledge``: who (the connection's user) and an optional note.
* ``anninh/console/presets`` and ``.../presets/save``: the station's saved announcements.

Evidence ZIPs made by ``anninh.export_evidence`` download from `ExportView` (authenticated; the
panel signs the path, as a download cannot carry the token).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import voluptuous as vol
from aiohttp import web
from homeassistant.components import frontend, websocket_api
from homeassistant.components.http import StaticPathConfig
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND
from homeassistant.components.websocket_api.decorators import async_response, websocket_command
from homeassistant.components.websocket_api.messages import event_message
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .devices.base import Device
from .devices.bell import BellDevice
from .devices.camera import CameraDevice
from .engine.live import LiveError
from .engine.storage import EXPORTS_FOLDER
from .ids import SIGNAL_DEVICES_CHANGED
from .station import AnNinhConfigEntry, Station

_LOGGER = logging.getLogger(__name__)

PANEL_PATH: Final = "an-ninh"
PANEL_ELEMENT: Final = "anninh-console"
PANEL_ICON: Final = "mdi:shield-star"
PANEL_TITLES: Final = {"vi": "An ninh", "en": "Security"}
STATIC_URL: Final = "/anninh_console"
FRONTEND_DIR: Final = Path(__file__).parent / "frontend"
MODULE: Final = "anninh-console.js"
EXPORT_URL: Final = "/api/anninh/export"
PUSH_DELAY: Final = 0.1  # s: device changes within this window go out as one message each
PRESETS_KEY: Final = f"{DOMAIN}.presets"
MAX_PRESETS: Final = 50
MAX_NOTE: Final = 500
_EXPORT_NAME = re.compile(r"[\w-]{1,120}\.zip")


def _stations(hass: HomeAssistant) -> list[Station]:
    entries: list[AnNinhConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return [
        entry.runtime_data
        for entry in entries
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_IN_PROGRESS)
        and isinstance(getattr(entry, "runtime_data", None), Station)
        and entry.runtime_data.running
    ]


def _device[D: Device](hass: HomeAssistant, subentry_id: str, kind: type[D]) -> D:
    for station in _stations(hass):
        device = station.devices.get(subentry_id)
        if isinstance(device, kind):
            return device
    raise KeyError(subentry_id)


def _snapshot(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        {
            "entry_id": station.entry.entry_id,
            "name": station.settings.name,
            "devices": [device.as_console() for device in station.devices.values()],
        }
        for station in _stations(hass)
    ]


# -- the panel ---------------------------------------------------------------------------------
OLD_DASHBOARD_STORES: Final = (f"{DOMAIN}.dashboard", "lovelace.anninh_duty_officer")
OLD_DASHBOARD_ISSUE: Final = "create_dashboard"


async def _async_retire_dashboard(hass: HomeAssistant) -> None:
    """Versions before the console generated a Lovelace dashboard at this path: it goes."""
    ir.async_delete_issue(hass, DOMAIN, OLD_DASHBOARD_ISSUE)
    for key in OLD_DASHBOARD_STORES:
        store: Store[Any] = Store(hass, 1, key)
        if await store.async_load() is not None:
            await store.async_remove()
            _LOGGER.info("The generated dashboard (%s) is replaced by the console", key)


def _module_version() -> str:
    """A hash of the panel's files: a new version is fetched, never an old one from a cache."""
    digest = hashlib.sha256()
    for path in sorted(FRONTEND_DIR.glob("*.js")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def async_setup_console(hass: HomeAssistant) -> None:
    """Serve the panel's files, put the panel in the sidebar, register its API."""
    await _async_retire_dashboard(hass)
    version = await hass.async_add_executor_job(_module_version)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(FRONTEND_DIR), cache_headers=True)]
    )
    module_url = f"{STATIC_URL}/{MODULE}?v={version}"

    @callback
    def register_panel(_event: Event | None = None) -> None:
        # A custom panel's sidebar title is not translated per user: it follows HA's language.
        title = PANEL_TITLES["vi" if hass.config.language.startswith("vi") else "en"]
        frontend.async_register_built_in_panel(
            hass,
            "custom",
            sidebar_title=title,
            sidebar_icon=PANEL_ICON,
            frontend_url_path=PANEL_PATH,
            config={
                "_panel_custom": {
                    "name": PANEL_ELEMENT,
                    "module_url": module_url,
                    "embed_iframe": False,
                    "trust_external": False,
                }
            },
            require_admin=False,
            update=True,
        )

    register_panel()
    hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, register_panel)
    hass.http.register_view(ExportView(hass))
    for command in (
        ws_subscribe,
        ws_live,
        ws_acknowledge,
        ws_presets,
        ws_save_presets,
    ):
        websocket_api.async_register_command(hass, command)


# -- the station, pushed ------------------------------------------------------------------------
@websocket_command({vol.Required("type"): "anninh/console/subscribe"})
@callback
def ws_subscribe(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Send the stations now, then what changes (see the module docstring)."""
    msg_id: int = msg["id"]
    sent: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    watching: list[CALLBACK_TYPE] = []
    flush: list[CALLBACK_TYPE] = []

    @callback
    def send_snapshot() -> None:
        for stop in watching:
            stop()
        watching.clear()
        pending.clear()
        stations = _snapshot(hass)
        sent.clear()
        sent.update({d["id"]: d for s in stations for d in s["devices"]})
        for station in _stations(hass):
            for device in station.devices.values():
                watching.append(device.async_add_listener(_changed(device)))
        connection.send_message(event_message(msg_id, {"type": "snapshot", "stations": stations}))

    def _changed(device: Device) -> Callable[[], None]:
        @callback
        def changed() -> None:
            pending.add(device.subentry_id)
            if not flush:
                flush.append(async_call_later(hass, PUSH_DELAY, send_changes))

        return changed

    @callback
    def send_changes(_now: object) -> None:
        flush.clear()
        for station in _stations(hass):
            for subentry_id in pending & station.devices.keys():
                payload = station.devices[subentry_id].as_console()
                if sent.get(subentry_id) != payload:
                    sent[subentry_id] = payload
                    connection.send_message(
                        event_message(
                            msg_id,
                            {
                                "type": "device",
                                "entry_id": station.entry.entry_id,
                                "device": payload,
                            },
                        )
                    )
        pending.clear()

    @callback
    def unsubscribe() -> None:
        stop_signal()
        for stop in [*watching, *flush]:
            stop()

    stop_signal = async_dispatcher_connect(hass, SIGNAL_DEVICES_CHANGED, send_snapshot)
    connection.subscriptions[msg_id] = unsubscribe
    connection.send_result(msg_id)
    send_snapshot()


# -- live video ---------------------------------------------------------------------------------
@websocket_command(
    {
        vol.Required("type"): "anninh/live/subscribe",
        vol.Required("camera"): str,
        vol.Required("offer"): vol.All(str, vol.Length(max=20000)),
        vol.Optional("small", default=True): bool,
    }
)
@async_response
async def ws_live(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Answer the browser's complete offer; the session lasts as long as the subscription."""
    try:
        camera = _device(hass, msg["camera"], CameraDevice)
    except KeyError:
        connection.send_error(msg["id"], ERR_NOT_FOUND, "No such camera")
        return
    relay = camera.live_relay(msg["small"])
    if relay is None:
        connection.send_error(msg["id"], "not_running", "The camera is not running")
        return
    try:
        session_id = f"console-{msg['id']}-{id(connection):x}"
        answer = await relay.answer(msg["offer"], session_id)
    except LiveError as err:
        connection.send_error(msg["id"], err.reason, str(err))
        return

    @callback
    def close() -> None:
        hass.async_create_task(relay.close_session(session_id), eager_start=True)

    connection.subscriptions[msg["id"]] = close
    connection.send_result(msg["id"])
    connection.send_message(
        event_message(msg["id"], {"answer": answer, "small": relay is not camera.live})
    )


# -- alarms -------------------------------------------------------------------------------------
@websocket_command(
    {
        vol.Required("type"): "anninh/alarm/acknowledge",
        vol.Required("bell"): str,
        vol.Optional("note", default=""): vol.All(str, vol.Strip, vol.Length(max=MAX_NOTE)),
    }
)
@callback
def ws_acknowledge(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """The officer on this connection takes charge of a bell's alarm."""
    try:
        bell = _device(hass, msg["bell"], BellDevice)
    except KeyError:
        connection.send_error(msg["id"], ERR_NOT_FOUND, "No such bell")
        return
    user = connection.user
    bell.async_acknowledge(user.name if user else None, msg["note"])
    connection.send_result(msg["id"])


# -- saved announcements ------------------------------------------------------------------------
PRESET_SCHEMA: Final = vol.Schema(
    {
        vol.Required("title"): vol.All(str, vol.Strip, vol.Length(min=1, max=80)),
        vol.Required("message"): vol.All(str, vol.Strip, vol.Length(min=1, max=1000)),
        vol.Optional("language"): vol.In(("vi", "en")),
        vol.Optional("chime"): str,
    }
)


def _presets_store(hass: HomeAssistant) -> Store[dict[str, Any]]:
    return Store(hass, 1, PRESETS_KEY)


@websocket_command({vol.Required("type"): "anninh/console/presets"})
@async_response
async def ws_presets(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """The saved announcements (none yet: the panel offers its built-in ones)."""
    stored = await _presets_store(hass).async_load()
    connection.send_result(msg["id"], {"presets": (stored or {}).get("presets")})


@websocket_command(
    {
        vol.Required("type"): "anninh/console/presets/save",
        vol.Required("presets"): vol.All([PRESET_SCHEMA], vol.Length(max=MAX_PRESETS)),
    }
)
@async_response
async def ws_save_presets(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Replace the saved announcements."""
    await _presets_store(hass).async_save({"presets": msg["presets"]})
    connection.send_result(msg["id"])


# -- evidence downloads -------------------------------------------------------------------------
def export_url(entry_id: str, path: Path) -> str:
    """Where an evidence ZIP of the station downloads (the path is to be signed)."""
    return f"{EXPORT_URL}/{entry_id}/{path.name}"


class ExportView(HomeAssistantView):
    """An evidence ZIP from the station's exports folder, as a download."""

    url = EXPORT_URL + "/{entry_id}/{name}"
    name = "api:anninh:export"

    def __init__(self, hass: HomeAssistant) -> None:
        """Bind to hass."""
        self.hass = hass

    async def get(self, request: web.Request, entry_id: str, name: str) -> web.FileResponse:
        """The file, if it is a ZIP of that station's exports folder (no other path)."""
        entry: AnNinhConfigEntry | None = self.hass.config_entries.async_get_entry(entry_id)
        if (
            entry is None
            or entry.domain != DOMAIN
            or not isinstance(getattr(entry, "runtime_data", None), Station)
            or not _EXPORT_NAME.fullmatch(name)
        ):
            raise web.HTTPNotFound
        path = entry.runtime_data.settings.recordings_dir / EXPORTS_FOLDER / name
        if not await self.hass.async_add_executor_job(path.is_file):
            raise web.HTTPNotFound
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "application/zip",
                # A case number may hold Vietnamese letters: RFC 6266's UTF-8 form, plus ASCII.
                "Content-Disposition": "attachment; filename=\"{}\"; filename*=UTF-8''{}".format(
                    name.encode("ascii", "replace").decode().replace("?", "_"), quote(name)
                ),
            },
        )
