"""A bell is pressed: the alarm shows on the duty officer's dashboard until someone acknowledges it.

The bell's webhook (the URL the bell flow shows) gets a real HTTP POST; the officer has the
station's dashboard open ("An ninh" in the sidebar, made by `anninh.create_dashboard`), sees the
alarm card appear, presses the bell's "Acknowledge alarm" button there and sees the card go.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from playwright.sync_api import expect

from .harness import HassServer, open_from_sidebar, text, ui


def test_bell_alarm_shows_and_is_acknowledged(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """POST → the alarm card on the dashboard; Acknowledge alarm → it clears, state off."""
    lang = "vi"
    bell = station["entities"][station["bell_name"]]
    alarm_id, button_id = bell["alarm"], bell["acknowledge"]
    hass_server.set_language(lang)
    hass_server.rest("POST", "/api/services/anninh/create_dashboard", {})
    page, shot = open_page(lang)

    open_from_sidebar(page, "An ninh", "/an-ninh")
    page.locator("hui-entities-card").first.wait_for()
    alarm_card = page.locator("hui-conditional-card").filter(
        has=page.locator("hui-button-entity-row")
    )
    button_name = f"{station['bell_name']} {text(lang, 'entity.button.acknowledge.name')}"
    expect(page.get_by_text(button_name, exact=True)).to_have_count(0)
    shot("dashboard-quiet")

    pressed = time.monotonic()
    request = urllib.request.Request(station["bell_url"], data=b"type=press", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    card = alarm_card.filter(has_text=station["bell_name"]).first
    card.get_by_text(button_name, exact=True).wait_for(timeout=5_000)
    shown_after = time.monotonic() - pressed
    shot("alarm-on-screen")
    assert hass_server.state(alarm_id)["state"] == "on"  # type: ignore[index]
    print(f"alarm on screen {shown_after * 1000:.0f} ms after the POST")
    assert shown_after < 2.0, f"the alarm took {shown_after:.1f} s to show"

    card.locator("hui-button-entity-row").get_by_role(
        "button", name=ui(lang, "ui.card.button.press")
    ).click()
    expect(card.get_by_text(button_name, exact=True)).to_have_count(0, timeout=5_000)
    shot("alarm-acknowledged")
    hass_server.wait_for(
        lambda: hass_server.state(alarm_id)["state"] == "off",  # type: ignore[index]
        within=5,
        what=f"{alarm_id} off",
    )
    last_press = hass_server.state(button_id)
    assert last_press is not None
    assert last_press["state"] not in ("unknown", "unavailable"), last_press
