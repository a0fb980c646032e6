"""The duty officer's console ("An ninh" in the sidebar) in a real browser, on a real station.

Three real RTSP cameras, a webhook bell linked to one of them, a loudspeaker on a demo media
player (the package's `station`). What the officer does all shift:

* the wall: every tile decodes frames (its own peer connection's `framesDecoded` > 0) within 2 s;
  an enlarged tile plays; tiles on another page, or in a hidden tab, end their sessions;
* an alarm: a real HTTP POST to the bell's webhook takes over the page within 1 s, with the alarm
  sounding and the linked camera live; it is still there after a reload; acknowledging it with a
  note clears it, and Home Assistant keeps who and the note;
* playback: a past minute of the 24/7 recording plays from the timeline at 4x; a range dragged on
  the timeline exports an evidence ZIP that downloads and that `scripts/verify_evidence` accepts;
* an announcement from a saved message plays on the loudspeaker.

Vietnamese labels under a Vietnamese user, English under an English one.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from custom_components.anninh.engine.evidence import verify

from .harness import HassServer, first_frames, open_from_sidebar

TILE_FIRST_FRAME = 2.0  # s from a tile's offer to its first decoded frame
BANNER_WITHIN = 1.0  # s from the bell's POST to the banner on screen
CONSOLE = "anninh-console"


def _console(page: Any) -> Any:
    return page.locator(CONSOLE)


def _open_console(page: Any, lang: str) -> Any:
    open_from_sidebar(page, {"vi": "An ninh", "en": "Security"}[lang], "/an-ninh")
    console = _console(page)
    console.locator("nav .tab").first.wait_for()
    return console


def _until(page: Any, console: Any, predicate: str, within: float = 5.0) -> None:
    """Wait until `predicate` (JS, given the console element) holds."""
    page.wait_for_function(predicate, arg=console.element_handle(), timeout=within * 1000)


def _streams(console: Any) -> int:
    return int(console.get_attribute("data-streams") or 0)


def test_the_wall_plays_every_camera(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """Each tile decodes within 2 s; enlarge plays the main stream; hidden tiles stop."""
    for name in station["camera_names"].values():  # a station that has been running a while
        status = station["entities"][name]["status"]
        hass_server.wait_for(
            lambda status=status: (hass_server.state(status) or {}).get("state") == "streaming",  # type: ignore[misc]
            within=60,
            what=f"{name} streaming",
        )
    page, shot = open_page("vi")
    opened = page.evaluate("performance.now()")
    console = _open_console(page, "vi")
    expect(console.locator("nav .tab")).to_have_text(["Màn hình camera", "Xem lại", "Phát thanh"])
    tiles = console.locator(".wall .grid .tile")
    expect(tiles).to_have_count(3)
    for name in station["camera_names"].values():
        expect(tiles.filter(has_text=name)).to_have_count(1)
    peers = first_frames(page, opened, 3, TILE_FIRST_FRAME)
    shot("wall")
    print(f"wall tiles: {[(p['codec'] or {}).get('mimeType') for p in peers]}")
    print(f"first frame per tile (s): {[p['first_frame_s'] for p in peers]}")
    assert len(peers) == 3, peers
    for peer in peers:
        assert peer["first_frame_s"] is not None, f"a tile decoded nothing: {peers}"
        assert peer["first_frame_s"] <= TILE_FIRST_FRAME, peers
    assert _streams(console) == 3

    # Enlarged: one more session; closed again, and the wall keeps its three.
    before = page.evaluate("performance.now()")
    tiles.filter(has_text=station["camera_names"]["footage"]).click()
    enlarged = console.locator(".enlarged .tile video")
    enlarged.wait_for()
    [big] = first_frames(page, before, 1, TILE_FIRST_FRAME)
    assert big["first_frame_s"] is not None, big
    assert big["video"]["frameWidth"] == 704  # the demo footage's main stream
    expect(enlarged).to_have_js_property("paused", False)
    shot("enlarged")
    console.locator(".enlarged button", has_text="Đóng").click()
    expect(console.locator(".enlarged")).to_have_count(0)

    # One tile a page: the other two sessions end.
    console.locator(".toolbar button", has_text="1").first.click()
    expect(console.locator(".wall .grid .tile")).to_have_count(1)
    _until(page, console, "c => c.dataset.streams === '1'")
    console.locator(".toolbar button", has_text="▶").click()
    expect(console.locator(".toolbar .page")).to_have_text("Trang 2/3")
    shot("one-tile-page-2")

    # A hidden tab watches nothing.
    page.evaluate(
        """() => { Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                  document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    assert _streams(console) == 0
    page.wait_for_function(
        "() => window.__anninhPeers.every(({pc}) => pc.connectionState === 'closed')",
        timeout=5_000,
    )
    page.evaluate(
        """() => { delete document.hidden;
                  document.dispatchEvent(new Event('visibilitychange')); }"""
    )
    assert _streams(console) == 1


def test_an_alarm_takes_over_the_page_until_acknowledged(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """POST → banner ≤ 1 s, sounding, linked camera live; survives a reload; ack with a note."""
    lang = "vi"
    bell = station["entities"][station["bell_name"]]
    page, shot = open_page(lang)
    console = _open_console(page, lang)
    expect(console.locator(".banner")).to_have_count(0)
    console.locator(".wall .grid .tile").first.wait_for()
    shot("quiet")

    pressed = time.monotonic()
    request = urllib.request.Request(station["bell_url"], data=b"type=press", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    banner = console.locator(".banner")
    banner.wait_for(timeout=5_000)
    shown_after = time.monotonic() - pressed
    print(f"alarm banner {shown_after * 1000:.0f} ms after the POST")
    assert shown_after <= BANNER_WITHIN, f"the alarm took {shown_after:.2f} s to show"
    expect(banner.locator(".bell-name")).to_have_text(station["bell_name"])
    expect(banner).to_contain_text("BÁO ĐỘNG")
    expect(banner).to_contain_text("Ngân hàng xã")  # the bell's address
    expect(banner.locator(".pill")).to_have_text("Cao")  # priority high
    linked = console.locator(".alarm-cameras .tile")
    expect(linked).to_have_count(1)
    expect(linked).to_contain_text(station["camera_names"]["no_bframes"])
    _until(page, console, "c => c.shadowRoot.querySelector('.alarm-cameras video').videoWidth > 0")
    expect(console.locator(".alarm-side svg.map")).to_have_count(1)
    _until(page, console, "c => Number(c.dataset.beeps || 0) >= 2")
    assert console.get_attribute("data-sounding") == "true"
    shot("alarm")

    page.reload()
    console = _console(page)
    console.locator(".banner .bell-name").wait_for(timeout=10_000)
    expect(console.locator(".banner .bell-name")).to_have_text(station["bell_name"])
    shot("alarm-after-reload")

    note = "Đã cử tổ tuần tra đến ngân hàng"
    console.locator(".banner .note").fill(note)
    console.locator(".banner .acknowledge").click()
    expect(console.locator(".banner")).to_have_count(0, timeout=5_000)
    assert console.get_attribute("data-sounding") == "false"
    expect(console.locator(".status .last-ack")).to_contain_text(note)
    shot("acknowledged")
    state = hass_server.state(bell["alarm"])
    assert state is not None
    assert state["state"] == "off"
    assert state["attributes"]["acknowledged_note"] == note
    assert state["attributes"]["acknowledged_by"] == "Demo"


def test_playback_from_the_timeline_and_an_evidence_download(
    open_page: Any, hass_server: HassServer, station: dict[str, Any], tmp_path: Path
) -> None:
    """A past minute plays at 4x from a click; a dragged range downloads a verified ZIP."""
    camera_name = station["camera_names"]["no_bframes"]
    page, shot = open_page("en")
    console = _open_console(page, "en")
    expect(console.locator("nav .tab")).to_have_text(["Video wall", "Playback", "Announce"])
    console.locator("nav .tab[data-tab=playback]").click()
    console.locator(".pb-camera").select_option(label=camera_name)
    console.locator(".pb-zoom button[data-zoom='600']").click()
    bar = console.locator(".tl-bar")
    bar.locator(".tl-rec").first.wait_for(timeout=10_000)

    def window() -> tuple[float, float]:
        lo, hi = console.evaluate("c => c.window()")
        return float(lo), float(hi)

    def x_at(moment: float) -> float:
        box = bar.bounding_box()
        lo, hi = window()
        return float(box["x"] + (moment - lo) / (hi - lo) * box["width"])

    timeline = hass_server.rest(
        "GET",
        f"/api/anninh/timeline/{station['entry_id']}/"
        + console.evaluate("c => c.device(c.playback.camera).folder")
        + f"?start={time.time() - 3600}&end={time.time()}",
    )
    recorded_from = timeline["segments"][0]["start"]
    hass_server.wait_for(lambda: time.time() - recorded_from > 45, within=60, what="45 s recorded")
    middle = bar.bounding_box()["y"] + 20
    page.mouse.click(x_at(recorded_from + 5), middle)
    video = console.locator(".pb-video")
    _until(page, console, "c => c.shadowRoot.querySelector('.pb-video').currentTime > 1", 15)
    console.locator(".pb-speed button[data-rate='4']").click()
    expect(video).to_have_js_property("playbackRate", 4)
    expect(video).to_have_js_property("paused", False)
    assert video.evaluate("v => v.videoWidth") == 640
    shot("playing")

    page.mouse.move(x_at(recorded_from + 10), middle)
    page.mouse.down()
    page.mouse.move(x_at(recorded_from + 40), middle, steps=8)
    page.mouse.up()
    expect(console.locator(".pb-range")).to_contain_text("Range:")
    console.locator(".pb-case").fill("VV-2026-118")
    console.locator(".pb-reason").fill("Motorbike collision at the market gate")
    with page.expect_download(timeout=60_000) as download:
        console.locator(".pb-export").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    expect(console.locator(".pb-result")).to_contain_text("Downloaded")
    shot("exported")
    assert saved.name.endswith("_VV-2026-118.zip"), saved.name
    report = verify(saved)
    assert report.ok, report.problems
    assert report.manifest["case_number"] == "VV-2026-118"
    assert report.manifest["reason"] == "Motorbike collision at the market gate"
    [covered] = report.manifest["ranges"]
    assert covered["camera"] == camera_name


def test_an_announcement_from_a_saved_message(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """A built-in message on the loudspeaker: the page says when it played."""
    page, shot = open_page("vi")
    console = _open_console(page, "vi")
    console.locator("nav .tab[data-tab=announce]").click()
    console.locator(".an-preset").select_option(label="Cảnh giác trộm cắp")
    expect(console.locator(".an-message")).to_have_value(
        "Công an xã thông báo: đề nghị bà con khóa cửa, cất giữ tài sản cẩn thận, phát hiện "
        "người lạ khả nghi báo ngay cho công an xã."
    )
    console.locator(".an-chime").select_option("none")
    console.locator(".an-send").click()
    played = console.locator(".an-played")
    played.wait_for(timeout=60_000)
    expect(console.locator(".an-result")).to_contain_text("Loa chợ")
    shot("announced")
    assert "lỗi" not in console.locator(".an-result").inner_text()
