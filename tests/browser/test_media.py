"""Media → An Ninh → station → camera → day → a clip (a mark of the 24/7 recording) plays in the
browser; so does an hour of the 24/7 recording.

The clip is recorded first with the `anninh.record` action over the REST API (from the real RTSP
camera's pre-event buffer), then found and played the way an officer does.
"""

from __future__ import annotations

import re
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

    state = _wait_until_it_plays(page.locator("video").first, within=10)
    shot("clip-playing")
    print(f"clip {clip['clip_ids'][0]}: {state}")
    _assert_played(state)


def test_play_an_hour_of_the_24_7_recording(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """Camera → 24/7 recording → today → the hour: it plays, from the segments, in the browser."""
    lang = "vi"
    camera_name = station["camera_names"]["no_bframes"]
    page, shot = open_page(lang)
    open_from_sidebar(page, ui(lang, "panel.media_browser"), "/media-browser")
    browser = page.locator("ha-media-player-browse")
    for title in ("An Ninh", "Công an phường Thử nghiệm", camera_name):
        item = browser.get_by_text(title, exact=True).filter(visible=True).first
        item.wait_for()
        item.click()
    folder = (
        browser.get_by_text(re.compile(r"\s*(Ghi hình 24/7|24/7 recording)\s*$"))
        .filter(visible=True)
        .first
    )
    folder.wait_for()
    shot("camera-with-24-7")
    folder.click()
    day = browser.get_by_text(re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")).filter(visible=True).first
    day.wait_for()
    shot("24-7-days")
    day.click()
    hour = browser.get_by_text(re.compile(r"^\s*\d{2}:00–\d{2}:00")).filter(visible=True).last
    hour.wait_for()
    shot("24-7-hours")
    hour.click()

    video = page.locator("video").first
    state = _wait_until_it_plays(video, within=20)
    shot("hour-playing")
    print(f"24/7 hour: {state}")
    _assert_played(state)
    # Seeking works (range requests): jump near the start and it plays from there.
    video.evaluate("v => { v.currentTime = 0.5; }")
    page.wait_for_timeout(1500)
    assert video.evaluate("v => v.currentTime") >= 0.5


def _wait_until_it_plays(video: Any, within: float) -> dict[str, Any]:
    """Poll a <video> until it has a picture and has played on for a second (or time is up)."""
    video.wait_for(state="attached")
    deadline = time.monotonic() + within
    state: dict[str, Any] = {"first": None}
    while time.monotonic() < deadline:
        state |= video.evaluate(
            "v => ({t: v.currentTime, w: v.videoWidth, h: v.videoHeight, d: v.duration, "
            "error: v.error && v.error.message, ready: v.readyState})"
        )
        if state["w"] > 0 and state["t"] > 0:
            state["first"] = state["first"] if state["first"] is not None else state["t"]
            if state["t"] - state["first"] >= 1.0:
                break
        time.sleep(0.2)
    return state


def _assert_played(state: dict[str, Any]) -> None:
    assert state.get("error") is None, state
    assert state["w"] > 0, f"no picture: {state}"
    assert state["first"] is not None, f"it does not play: {state}"
    assert state["t"] - state["first"] >= 1.0, f"it does not play on: {state}"
