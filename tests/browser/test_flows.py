"""Add a station and each kind of device through HA's UI, as an admin does: English, Vietnamese.

Settings → Devices & services → Add integration → An Ninh; then, on the station's row, "Add
loudspeaker", "Add camera" (first with a stream nothing answers: the translated error shows at
the field) and "Add alarm bell" (its webhook URL is shown; a POST to it raises the alarm). Every
text the test looks for comes from the integration's translation files or the frontend's own, in
the user's language, so an untranslated string fails the Vietnamese run.
"""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.rtsp import RtspCamera

from .harness import HassServer, free_port, text, ui

NAMES = {
    "en": {
        "station": "Ngu Doan commune police",
        "loudspeaker": "Village hall loudspeaker",
        "camera": "Market crossroads",
        "bell": "Health station bell",
    },
    "vi": {
        "station": "Công an xã Ngũ Đoan",
        "loudspeaker": "Loa nhà văn hóa",
        "camera": "Ngã ba chợ",
        "bell": "Chuông trạm y tế",
    },
}


def submit(dialog: Any, lang: str) -> None:
    """Press the flow's Submit button, in the user's language."""
    dialog.get_by_role(
        "button", name=ui(lang, "ui.panel.config.integrations.config_flow.submit"), exact=True
    ).click()


def finish(dialog: Any, lang: str, shot: Any, what: str) -> None:
    """The flow's closing step: "Device created" (skip the area) or "Success" (Finish)."""
    done = dialog.get_by_role(
        "button",
        name=re.compile(
            "^("
            + re.escape(ui(lang, "ui.panel.config.integrations.config_flow.finish"))
            + "|"
            + re.escape(ui(lang, "ui.panel.config.integrations.config_flow.finish_skip"))
            + ")$"
        ),
    )
    done.wait_for()
    shot(f"{what}-created")
    done.click()
    done.wait_for(state="detached")


def open_subentry_flow(page: Any, lang: str, station: str, kind: str) -> Any:
    """The station row's menu → "Add camera" / "Add alarm bell" / "Add loudspeaker"."""
    row = page.locator("ha-config-entry-row").filter(has_text=station).first
    row.locator("ha-dropdown ha-icon-button[slot=trigger]").first.click()
    label = text(lang, f"config_subentries.{kind}.initiate_flow.user")
    row.locator("ha-dropdown-item").filter(has_text=label).click()
    dialog = page.locator("dialog-data-entry-flow")
    dialog.get_by_text(text(lang, f"config_subentries.{kind}.step.user.title")).first.wait_for()
    return dialog


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_add_station_and_devices_through_the_ui(
    lang: str,
    open_page: Any,
    hass_server: HassServer,
    rtsp_cameras: dict[str, RtspCamera],
) -> None:
    """Station, loudspeaker, camera (bad URL first), webhook bell: all through the UI."""
    names = NAMES[lang]
    page, shot = open_page(lang)

    # Settings → Devices & services → Add integration → An Ninh
    page.locator("ha-sidebar").get_by_text(ui(lang, "panel.config"), exact=True).click()
    page.get_by_text(ui(lang, "ui.panel.config.dashboard.devices.main"), exact=True).first.click()
    page.wait_for_url(re.compile(r"/config/integrations"))
    page.get_by_role(
        "button", name=ui(lang, "ui.panel.config.integrations.add_integration")
    ).click()
    search = page.locator("dialog-add-integration search-input input")
    search.fill("An Ninh")
    shot("add-integration-search")
    page.locator("dialog-add-integration").get_by_text("An Ninh", exact=True).click()

    dialog = page.locator("dialog-data-entry-flow")
    dialog.get_by_text(text(lang, "config.step.user.title")).first.wait_for()
    dialog.get_by_text(text(lang, "config.step.user.description")).first.wait_for()
    dialog.locator("input[name=name]").fill(names["station"])
    dialog.locator("input[name=recordings_dir]").fill(
        str(hass_server.config / "media" / f".{lang}")
    )
    shot("station-form")
    submit(dialog, lang)
    finish(dialog, lang, shot, "station")
    # the An Ninh card → the integration's page, with the station's row
    page.locator("ha-integration-card").filter(has_text="An Ninh").first.click()
    page.wait_for_url(re.compile(r"/config/integrations/integration/anninh"))
    page.locator("ha-config-entry-row").filter(has_text=names["station"]).first.wait_for()
    shot("station-added")

    # Add loudspeaker: a demo media player as its target
    dialog = open_subentry_flow(page, lang, names["station"], "loudspeaker")
    dialog.locator("input[name=name]").fill(names["loudspeaker"])
    dialog.locator("input[name=address]").fill("Nhà văn hóa thôn Đông")
    dialog.locator("ha-entity-picker").first.click()
    page.locator("ha-picker-combo-box input").first.fill("Living Room")
    page.locator("ha-combo-box-item").filter(has_text="Living Room").first.click()
    dialog.locator("ha-entity-picker").filter(has_text="Living Room").first.wait_for()
    shot("loudspeaker-form")
    submit(dialog, lang)
    finish(dialog, lang, shot, "loudspeaker")

    # Add camera: first a stream nothing answers, then the real RTSP camera
    dialog = open_subentry_flow(page, lang, names["station"], "camera")
    dialog.locator("input[name=name]").fill(names["camera"])
    dialog.locator("input[name=address]").fill("Ngã ba chợ, thôn Đông")
    dialog.locator("input[name=donor_name]").fill("Hộ ông Nguyễn Văn An")
    dialog.locator("input[name=stream_url]").fill(f"rtsp://127.0.0.1:{free_port()}/stream1")
    submit(dialog, lang)
    error = dialog.get_by_text(text(lang, "config_subentries.camera.error.cannot_connect")).first
    error.wait_for()
    error.scroll_into_view_if_needed()
    shot("camera-bad-url")
    if lang != "en":
        english = text("en", "config_subentries.camera.error.cannot_connect")
        assert dialog.get_by_text(english).count() == 0, "the error is shown in English"
    dialog.locator("input[name=stream_url]").fill(rtsp_cameras["no_bframes"].url)
    shot("camera-good-url")
    submit(dialog, lang)
    finish(dialog, lang, shot, "camera")

    # Add alarm bell: a webhook bell linked to the camera and the loudspeaker
    dialog = open_subentry_flow(page, lang, names["station"], "bell")
    dialog.locator("input[name=name]").fill(names["bell"])
    dialog.locator("input[name=address]").fill("Trạm y tế xã")
    for kind in ("camera", "loudspeaker"):  # one at a time: the form re-renders on each
        box = dialog.get_by_role("checkbox", name=names[kind], exact=True)
        box.check()
        expect(box).to_be_checked()
    for kind in ("camera", "loudspeaker"):
        expect(dialog.get_by_role("checkbox", name=names[kind], exact=True)).to_be_checked()
    shot("bell-form")
    submit(dialog, lang)
    dialog.get_by_text(text(lang, "config_subentries.bell.step.webhook.title")).first.wait_for()
    url_text = dialog.get_by_text(re.compile(r"/api/webhook/[A-Za-z0-9_-]{20,}")).first
    url_text.wait_for()
    shot("bell-webhook-url")
    url = re.search(r"https?://\S+/api/webhook/[A-Za-z0-9_-]+", url_text.inner_text()).group(0)  # type: ignore[union-attr]
    submit(dialog, lang)
    finish(dialog, lang, shot, "bell")

    # the station's row lists its four devices
    row = page.locator("ha-config-entry-row").filter(has_text=names["station"]).first
    for kind in ("loudspeaker", "camera", "bell"):
        row.get_by_text(names[kind], exact=True).first.wait_for()
    shot("station-with-devices")

    # the entities have names in the station's language
    motion = f"{names['camera']} {text(lang, 'entity.binary_sensor.motion.name')}"
    alarm = f"{names['bell']} {text(lang, 'entity.binary_sensor.alarm.name')}"
    alarm_id = hass_server.wait_for(
        lambda: _entity(hass_server, alarm), what=f"an entity named {alarm!r}"
    )
    assert _entity(hass_server, motion), f"no entity named {motion!r}"

    # the URL shown in the flow is the bell's: a POST raises its alarm
    assert url.startswith(hass_server.base), url
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")) as resp:
        assert resp.status == 200
    hass_server.wait_for(
        lambda: (hass_server.state(alarm_id) or {}).get("state") == "on",
        within=10,
        what=f"{alarm_id} on after the POST",
    )


def _entity(hass: HassServer, friendly_name: str) -> str | None:
    for state in hass.states():
        if state["attributes"].get("friendly_name") == friendly_name:
            return str(state["entity_id"])
    return None
