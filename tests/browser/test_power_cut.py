"""A power cut (`kill -9` of the real hass): the open alarm is still open after the restart,
and the 24/7 recording of every camera has lost at most 2 s and records again soon after.

The same cut is used to turn the station into one set up by an earlier version, whose recordings
folder Media → My media shows (`<media>/anninh`): after the restart, Settings → Repairs offers to
hide it, and the officer's click renames it to `<media>/.anninh`, recordings and all.

This test kills the shared Home Assistant and starts it again; it runs last of the browser tests
(files run in name order) and leaves the server running for anything after it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .harness import HassServer, text, ui


def _power_cut(hass: HassServer) -> None:
    assert hass.process is not None
    hass.process.send_signal(signal.SIGKILL)
    hass.process.wait(10)


def _as_an_earlier_version(hass: HassServer, entry_id: str) -> tuple[Path, Path]:
    """While HA is down: the station's folder becomes `<media>/anninh` (visible in My media)."""
    entries_file = hass.config / ".storage" / "core.config_entries"
    stored = json.loads(entries_file.read_text(encoding="utf-8"))
    (entry,) = [e for e in stored["data"]["entries"] if e["entry_id"] == entry_id]
    hidden = Path(entry["data"]["recordings_dir"])
    visible = hidden.with_name(hidden.name.lstrip("."))
    hidden.rename(visible)
    entry["data"]["recordings_dir"] = str(visible)
    entries_file.write_text(json.dumps(stored), encoding="utf-8")
    return visible, hidden


def _last_ends(index: Path) -> dict[str, tuple[float, float, int]]:
    """Per camera folder: (newest end, newest start, open segments) from the 24/7 index."""
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT camera, MAX(end), MAX(start), SUM(complete = 0) FROM segments GROUP BY camera"
        ).fetchall()
    return {camera: (end, start, open_) for camera, end, start, open_ in rows}


def _issue_ids(hass: HassServer) -> list[str]:
    issues = hass.ws({"type": "repairs/list_issues"})[0]["issues"]
    return [issue["issue_id"] for issue in issues if issue["domain"] == "anninh"]


def test_alarm_survives_a_power_cut_and_the_folder_is_hidden(
    open_page: Any, hass_server: HassServer, station: dict[str, Any]
) -> None:
    """Press → kill -9 → restart: alarm on; the repair hides the recordings folder."""
    lang = "vi"
    alarm = station["entities"][station["bell_name"]]["alarm"]
    request = urllib.request.Request(station["bell_url"], data=b"type=press", method="POST")
    posted = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    hass_server.wait_for(
        lambda: (hass_server.state(alarm) or {}).get("state") == "on", what="the alarm on"
    )
    pressed_at = hass_server.state(alarm)["attributes"]["pressed_at"]  # type: ignore[index]
    on_disk = hass_server.config / ".storage" / "anninh.alarms"
    hass_server.wait_for(
        lambda: on_disk.exists() and pressed_at in on_disk.read_text(encoding="utf-8"),
        within=10,
        what="the alarm on disk",
    )
    print(f"alarm on disk {time.monotonic() - posted:.3f} s after the press")
    index = hass_server.config / "media" / ".anninh" / ".index.sqlite3"
    cameras = len(station["cameras"])
    hass_server.wait_for(
        lambda: index.exists() and len(_last_ends(index)) == cameras,
        within=30,
        what="every camera recording 24/7",
    )

    _power_cut(hass_server)
    killed_at = time.time()
    visible, hidden = _as_an_earlier_version(hass_server, station["entry_id"])
    restarted = time.time()
    hass_server.start()

    restored = hass_server.wait_for(
        lambda: (state := hass_server.state(alarm)) and state["state"] != "unavailable" and state,
        within=60,
        what="the alarm sensor back",
    )
    assert restored["state"] == "on", restored
    assert restored["attributes"]["pressed_at"] == pressed_at

    issue_id = f"recordings_in_my_media_{station['entry_id']}"
    assert issue_id in _issue_ids(hass_server)

    page, shot = open_page(lang)
    page.goto(f"{hass_server.base}/config/repairs")
    title = text(lang, "issues.recordings_in_my_media.title")
    page.get_by_text(title, exact=True).click()
    dialog = page.locator("dialog-repair-flow, dialog-data-entry-flow").first
    expect(dialog.get_by_text(str(hidden), exact=False).first).to_be_visible()
    shot("repair-offered")
    dialog.get_by_role(
        "button", name=ui(lang, "ui.panel.config.integrations.config_flow.submit"), exact=True
    ).click()
    expect(page.get_by_text(ui(lang, "ui.dialogs.repair_flow.success.description"))).to_be_visible()
    shot("repair-done")

    assert hidden.is_dir()
    assert not visible.exists()
    hass_server.wait_for(lambda: issue_id not in _issue_ids(hass_server), what="the repair gone")
    entries = hass_server.entries()
    assert [e["state"] for e in entries if e["entry_id"] == station["entry_id"]] == ["loaded"]

    # The 24/7 recording: what was open at the cut is indexed again, and recording resumed.
    after = hass_server.wait_for(
        lambda: (ends := _last_ends(index))
        and all(start > restarted for _end, start, _open in ends.values())
        and ends,
        within=60,
        what="every camera recording again",
    )
    resumed = max(start for _end, start, _open in after.values()) - restarted
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        for camera in after:
            (before_cut,) = db.execute(
                "SELECT MAX(end) FROM segments WHERE camera = ? AND start < ? AND complete = 1",
                (camera, killed_at),
            ).fetchone()
            lost = killed_at - before_cut
            print(f"{camera}: {lost:.2f} s lost at the cut; recording {resumed:.1f} s after start")
            assert lost <= 2.0
