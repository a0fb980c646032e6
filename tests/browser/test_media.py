"""Media → An Ninh → station → camera → day → a clip plays in the browser.

The clip is recorded first with the `anninh.record` action over the REST API (from the real RTSP
camera's pre-event buffer), then found and played the way an officer does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .harness import HassServer, open_from_sidebar, ui


def test_play_a_recorded_clip_from_the_media_browser(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """Record 3 s, browse to it, press play: the video advances and has a picture."""
    lang = "vi"
    camera_id = station["cameras"]["no_bframes"]
    camera_name = station["camera_names"]["no_bframes"]
    reply = hass_server.rest(
        "POST",
        "/api/services/anninh/record?return_response",
        {"entity_id": camera_id, "duration": 3, "pre_event": 2, "reason": "Kiểm tra"},
    )
    clip = reply["service_response"]["clips"][0]
    path = Path(clip["paths"][0])
    hass_server.wait_for(
        lambda: path.exists() and path.with_suffix(".json").exists(),
        within=30,
        what=f"the clip {path}",
    )
    day = path.parent.name

    page, shot = open_page(lang)
    open_from_sidebar(page, ui(lang, "panel.media_browser"), "/media-browser")
    browser = page.locator("ha-media-player-browse")
    for title in ("An Ninh", "Công an phường Thử nghiệm", camera_name, day):
        item = browser.get_by_text(title, exact=True).filter(visible=True).first
        item.wait_for()
        shot(f"browse-{title}")
        item.click()
    clip_item = browser.locator(".child, ha-card, mwc-list-item, ha-list-item").filter(
        has_text="Kiểm tra"
    )
    clip_item.first.wait_for()
    shot("clips-of-the-day")
    clip_item.first.click()

    video = page.locator("video").first
    video.wait_for(state="attached")
    deadline = time.monotonic() + 10
    first: list[float] = []
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = video.evaluate(
            "v => ({t: v.currentTime, w: v.videoWidth, h: v.videoHeight, paused: v.paused, "
            "error: v.error && v.error.message, ready: v.readyState})"
        )
        if state["w"] > 0 and state["t"] > 0:
            first = first or [state["t"]]
            if state["t"] - first[0] >= 1.0:
                break
        time.sleep(0.2)
    shot("clip-playing")
    print(f"clip {clip['clip_ids'][0]}: {state}")
    assert state.get("error") is None, state
    assert state["w"] > 0, f"no picture: {state}"
    assert first, f"the clip does not play: {state}"
    assert state["t"] - first[0] >= 1.0, f"the clip does not play on: {state}"
