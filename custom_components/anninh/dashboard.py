"""The duty officer's dashboard: alarms first, then the map, the cameras and the latest activity.

It is a storage-mode Lovelace dashboard that the integration registers itself (it is created by
`anninh.create_dashboard`, offered once after set-up through a repair), so officers and admins can
still edit it in the UI; running the action again regenerates it from the station's devices.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import frontend
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.components.lovelace.dashboard import LovelaceStorage
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .const import DOMAIN

URL_PATH = "an-ninh"
DASHBOARD_ID = "anninh_duty_officer"
ICON = "mdi:shield-star"
STORAGE_KEY = f"{DOMAIN}.dashboard"
OFFER_ISSUE_ID = "create_dashboard"

LABELS = {
    "en": {
        "title": "Security",
        "overview": "Duty",
        "alarms": "Alarms",
        "map": "Map",
        "cameras": "Cameras",
        "activity": "Latest activity",
        "recordings": "Recordings",
        "recordings_text": "Clips and snapshots: [Media → An Ninh](/media-browser/browser/"
        "app%2Cmedia-source%3A%2F%2Fanninh).",
        "announcements": "Announcements",
    },
    "vi": {
        "title": "An ninh",
        "overview": "Trực ban",
        "alarms": "Báo động",
        "map": "Bản đồ",
        "cameras": "Camera",
        "activity": "Hoạt động gần đây",
        "recordings": "Bản ghi",
        "recordings_text": "Bản ghi hình và ảnh chụp: [Phương tiện → An Ninh](/media-browser/"
        "browser/app%2Cmedia-source%3A%2F%2Fanninh).",
        "announcements": "Thông báo trên loa",
    },
}


def _labels(hass: HomeAssistant) -> dict[str, str]:
    return LABELS["vi" if hass.config.language.startswith("vi") else "en"]


def _entities(hass: HomeAssistant) -> dict[str, list[str]]:
    """The station's entity ids by translation key (camera, motion, alarm, ...)."""
    registry = er.async_get(hass)
    found: dict[str, list[str]] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        for reg in er.async_entries_for_config_entry(registry, entry.entry_id):
            if reg.disabled_by is None:
                key = reg.translation_key or reg.domain
                found.setdefault(key, []).append(reg.entity_id)
    return {key: sorted(ids) for key, ids in found.items()}


def build_dashboard(hass: HomeAssistant) -> dict[str, Any]:
    """The Lovelace config for the station's current devices."""
    text = _labels(hass)
    ids = _entities(hass)
    alarms, buttons = ids.get("alarm", []), ids.get("acknowledge", [])
    cameras = ids.get("camera", [])
    active_alarm_cards = [
        {
            "type": "conditional",
            "conditions": [{"condition": "state", "entity": alarm, "state": "on"}],
            "card": {
                "type": "entities",
                "state_color": True,
                "entities": [alarm, button],
            },
        }
        for alarm, button in zip(alarms, buttons, strict=False)
    ]
    duty_cards: list[dict[str, Any]] = [
        *active_alarm_cards,
        {
            "type": "map",
            "title": text["map"],
            "entities": [*cameras, *ids.get("event", [])],
            "hours_to_show": 0,
        },
        {
            "type": "entities",
            "title": text["alarms"],
            "state_color": True,
            "entities": [*alarms, *ids.get("connectivity", [])],
        },
        {
            "type": "logbook",
            "title": text["activity"],
            "hours_to_show": 24,
            "target": {
                "entity_id": [
                    *ids.get("event", []),
                    *alarms,
                    *ids.get("motion", []),
                    *ids.get("last_announcement", []),
                ]
            },
        },
        {
            "type": "entities",
            "title": text["recordings"],
            "entities": ids.get("last_recording", []),
        },
        {"type": "markdown", "content": text["recordings_text"]},
        {
            "type": "entities",
            "title": text["announcements"],
            "entities": [*ids.get("last_announcement", []), *ids.get("loudspeaker", [])],
        },
    ]
    camera_cards = [
        {
            "type": "picture-entity",
            "entity": camera,
            "camera_view": "auto",
            "show_state": False,
        }
        for camera in cameras
    ]
    return {
        "title": text["title"],
        "views": [
            {
                "title": text["overview"],
                "path": "truc-ban",
                "icon": ICON,
                "cards": duty_cards,
            },
            {
                "title": text["cameras"],
                "path": "camera",
                "icon": "mdi:cctv",
                "cards": [{"type": "grid", "columns": 3, "square": False, "cards": camera_cards}],
            },
        ],
    }


def _register(hass: HomeAssistant) -> LovelaceStorage:
    """Make the dashboard known to Lovelace and the sidebar."""
    if LOVELACE_DATA not in hass.data:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="dashboard_unavailable")
    title = _labels(hass)["title"]
    dashboards = hass.data[LOVELACE_DATA].dashboards
    storage = dashboards.get(URL_PATH)
    if not isinstance(storage, LovelaceStorage):
        storage = LovelaceStorage(
            hass,
            {
                "id": DASHBOARD_ID,
                "url_path": URL_PATH,
                "title": title,
                "icon": ICON,
                "show_in_sidebar": True,
                "require_admin": False,
                "mode": "storage",
            },
        )
        dashboards[URL_PATH] = storage
    frontend.async_register_built_in_panel(
        hass,
        "lovelace",
        sidebar_title=title,
        sidebar_icon=ICON,
        frontend_url_path=URL_PATH,
        config={"mode": "storage"},
        update=True,
    )
    return storage


async def async_create_dashboard(hass: HomeAssistant) -> str:
    """(Re)generate the dashboard from the station's devices; returns its URL path."""
    storage = _register(hass)
    await storage.async_save(build_dashboard(hass))
    store = _store(hass)
    await store.async_save({"created": True, "offered": True})
    ir.async_delete_issue(hass, DOMAIN, OFFER_ISSUE_ID)
    return f"/{URL_PATH}"


def _store(hass: HomeAssistant) -> Store[dict[str, bool]]:
    return Store(hass, 1, STORAGE_KEY)


async def async_setup_dashboard(hass: HomeAssistant) -> None:
    """Re-register a dashboard created before; else offer it once."""
    store = _store(hass)
    state = await store.async_load() or {}
    if state.get("created") and LOVELACE_DATA in hass.data:
        _register(hass)
    elif not state.get("offered"):
        ir.async_create_issue(
            hass,
            DOMAIN,
            OFFER_ISSUE_ID,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=OFFER_ISSUE_ID,
        )
        await store.async_save({**state, "offered": True})
