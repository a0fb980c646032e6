"""Recorder rows and logbook lines per camera-hour of motion.

Run: ``.venv/bin/python bench/bench_recorder_rows.py [--minutes M] [--readme]``. Prints a markdown
table; with ``--readme`` also writes it under the "Recorder rows" heading of bench/README.md
(other sections are kept).

A real Home Assistant in this process (`async_test_home_assistant`) with the real ``recorder``
(SQLite file in a temporary folder, commit interval 1 s) and ``logbook`` components and an
anninh station with two cameras, each a local H.264 file (320x180, 15 fps, 1 s GOP) looped at its
native rate:

* **continuous**: a bright block crosses the picture for the whole 4 s clip, and jumps back when
  the file loops, so the camera sees motion without a break: one motion event lasting the whole
  run;
* **events**: a 12 s clip with the block crossing during its first 3 s, then 9 s of still
  picture: a motion event every 12 s (300 an hour), each ended by the detector's 5 s clear time.

After the cameras stream and the first event has started (warm-up, not counted), the run watches
``M`` minutes (default 60) and then counts, per entity, the rows the recorder wrote into
``states`` in that window (``last_updated_ts`` inside it), the new ``state_attributes`` rows,
and the lines HA's own logbook query (``EventProcessor``, what the Activity panel shows) returns
for the window; motion events are counted from the motion sensor's off -> on changes.

Per camera-hour = count x 60 / M. With M < 60 this is an extrapolation: linear for per-second
writes and for per-event writes, but the last-motion picture's slow refresh (once every
``LONG_EVENT_REFRESH`` seconds of one unbroken event) then shows in proportion only if M spans
at least one refresh; the table says which.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from homeassistant import loader  # noqa: E402
from homeassistant.components.logbook.helpers import async_determine_event_types  # noqa: E402
from homeassistant.components.logbook.processor import EventProcessor  # noqa: E402
from homeassistant.components.recorder import get_instance  # noqa: E402
from homeassistant.const import CONF_NAME, STATE_ON  # noqa: E402
from homeassistant.core import CoreState, Event, EventStateChangedData, callback  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402
from homeassistant.helpers import recorder as recorder_helper  # noqa: E402
from homeassistant.helpers.event import async_track_state_change_event  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.anninh.const import (  # noqa: E402
    CONF_ADDRESS,
    CONF_LOCATION,
    CONF_PRE_EVENT_SECONDS,
    CONF_RECORDINGS_DIR,
    CONF_RETENTION_DAYS,
    CONF_STREAM_URL,
    DOMAIN,
    SUBENTRY_CAMERA,
)
from tests.media import make_h264_file  # noqa: E402

try:  # the slow refresh of the last-motion picture (absent before it existed)
    from custom_components.anninh.engine.pipeline import LONG_EVENT_REFRESH
except ImportError:  # pragma: no cover
    LONG_EVENT_REFRESH = None  # type: ignore[assignment]

HEADING = "## Recorder rows"
SCENES = {
    # name: (clip seconds, motion window)
    "continuous": (4.0, (0.0, 4.0)),
    "events": (12.0, (0.0, 3.0)),
}
_LOGGER = logging.getLogger("bench_recorder_rows")


def station_entry(media: Path, files: dict[str, Path]) -> MockConfigEntry:
    """A station with one camera per scene."""
    subentries: list[dict[str, Any]] = [
        {
            "subentry_id": f"cam_{scene}",
            "subentry_type": SUBENTRY_CAMERA,
            "title": scene,
            "unique_id": None,
            "data": {
                CONF_NAME: scene,
                CONF_ADDRESS: "Thôn 3",
                CONF_LOCATION: {"latitude": 20.83, "longitude": 106.72 + index / 1000},
                CONF_STREAM_URL: str(path),
            },
        }
        for index, (scene, path) in enumerate(files.items())
    ]
    return MockConfigEntry(
        domain=DOMAIN,
        title="Công an xã Ngũ Đoan",
        unique_id="bench_rows",
        data={CONF_NAME: "Công an xã Ngũ Đoan", CONF_RECORDINGS_DIR: str(media / "anninh")},
        options={CONF_RETENTION_DAYS: 30, CONF_PRE_EVENT_SECONDS: 10},
        subentries_data=subentries,  # type: ignore[arg-type]
    )


def count_rows(db: Path, start: float, end: float) -> tuple[dict[str, int], int]:
    """States rows per entity written in [start, end), and all state_attributes rows."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT m.entity_id, COUNT(*) FROM states s JOIN states_meta m"
            " ON s.metadata_id = m.metadata_id"
            " WHERE s.last_updated_ts >= ? AND s.last_updated_ts < ? GROUP BY m.entity_id",
            (start, end),
        ).fetchall()
        attributes = connection.execute("SELECT COUNT(*) FROM state_attributes").fetchone()[0]
    return dict(rows), int(attributes)


async def run(minutes: float, folder: Path) -> dict[str, Any]:
    """Stream both cameras for `minutes` with the recorder on; the counts."""
    config_dir = folder / "config"
    config_dir.mkdir()
    media = folder / "media"
    media.mkdir()
    files = {
        scene: make_h264_file(media / f"{scene}.mp4", seconds=seconds, fps=15, motion_window=window)
        for scene, (seconds, window) in SCENES.items()
    }
    db = folder / "home-assistant_v2.db"
    async with async_test_home_assistant(
        config_dir=str(config_dir), initial_state=CoreState.not_running
    ) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # load custom_components/anninh
        hass.config.media_dirs = {"local": str(media)}
        hass.config.allowlist_external_dirs = {str(media)}
        recorder_helper.async_initialize_recorder(hass)
        assert await async_setup_component(
            hass, "recorder", {"recorder": {"db_url": f"sqlite:///{db}", "commit_interval": 1}}
        )
        assert await async_setup_component(hass, "logbook", {})
        await hass.async_start()
        await get_instance(hass).async_recorder_ready.wait()
        entry = station_entry(media, files)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        registry = er.async_get(hass)
        entities = {
            scene: {
                e.translation_key or "": e.entity_id
                for e in er.async_entries_for_config_entry(registry, entry.entry_id)
                if e.config_subentry_id == f"cam_{scene}"
            }
            for scene in SCENES
        }
        motion_ids = {ids["motion"]: scene for scene, ids in entities.items()}
        events = dict.fromkeys(SCENES, 0)
        counting = False

        @callback
        def motion_changed(event: Event[EventStateChangedData]) -> None:
            old, new = event.data["old_state"], event.data["new_state"]
            if counting and new and new.state == STATE_ON and old and old.state != STATE_ON:
                events[motion_ids[event.data["entity_id"]]] += 1

        unsubscribe = async_track_state_change_event(hass, list(motion_ids), motion_changed)
        deadline = time.monotonic() + 60
        while not all(
            (state := hass.states.get(ids["motion"])) and state.state == STATE_ON
            for ids in entities.values()
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("no motion within 60 s")
            await asyncio.sleep(0.1)
        # The events camera's first event is under way: start the window at its next one.
        quiet = asyncio.Event()

        @callback
        def events_camera_quiet(event: Event[EventStateChangedData]) -> None:
            if (new := event.data["new_state"]) is not None and new.state != STATE_ON:
                quiet.set()

        stop_waiting = async_track_state_change_event(
            hass, [entities["events"]["motion"]], events_camera_quiet
        )
        await asyncio.wait_for(quiet.wait(), 60)
        stop_waiting()
        await asyncio.sleep(1.0)
        counting = True
        start = dt_util.utcnow()
        _LOGGER.warning("counting for %.1f minutes from %s", minutes, start.isoformat())
        await asyncio.sleep(minutes * 60)
        end = dt_util.utcnow()
        counting = False
        unsubscribe()
        await hass.async_block_till_done()
        await get_instance(hass).async_block_till_done()
        await asyncio.sleep(2.5)  # the last commit
        await get_instance(hass).async_block_till_done()
        processor = EventProcessor(hass, async_determine_event_types(hass, None, None))
        lines = await get_instance(hass).async_add_executor_job(processor.get_events, start, end)
        rows, attributes = await hass.async_add_executor_job(
            count_rows, db, start.timestamp(), end.timestamp()
        )
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    return {
        "minutes": (end - start) / timedelta(minutes=1),
        "entities": entities,
        "events": events,
        "rows": rows,
        "attributes": attributes,
        "lines": lines,
    }


def table(result: dict[str, Any]) -> str:
    """Markdown: rows and logbook lines per camera-hour, per scene and entity."""
    minutes = result["minutes"]
    scale = 60.0 / minutes
    lines_per_entity: dict[str, int] = {}
    for line in result["lines"]:
        if entity_id := line.get("entity_id"):
            lines_per_entity[entity_id] = lines_per_entity.get(entity_id, 0) + 1
    out = [
        "| camera | motion events | entity | states rows in the window | per camera-hour | "
        "per motion event | logbook lines per camera-hour |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for scene, ids in result["entities"].items():
        events = result["events"][scene]
        total = total_lines = 0
        for key, entity_id in sorted(ids.items()):
            rows = result["rows"].get(entity_id, 0)
            lines = lines_per_entity.get(entity_id, 0)
            total += rows
            total_lines += lines
            if not rows and not lines:
                continue
            per_event = f"{rows / events:.2f}" if events else "—"
            out.append(
                f"| {scene} | {events} | {key} | {rows} | {rows * scale:.0f} | {per_event} | "
                f"{lines * scale:.0f} |"
            )
        per_event = f"{total / events:.2f}" if events else "—"
        out.append(
            f"| **{scene}** | {events} | **all entities** | **{total}** | "
            f"**{total * scale:.0f}** | **{per_event}** | **{total_lines * scale:.0f}** |"
        )
    refresh = (
        f"the last-motion picture refreshes at most every {LONG_EVENT_REFRESH:.0f} s of an "
        "unbroken event"
        if LONG_EVENT_REFRESH
        else "no slow-refresh limit in this version"
    )
    scaled = (
        f"measured over {minutes:.1f} min and scaled to an hour (x{scale:.2f})"
        if scale > 1.01
        else f"measured over {minutes:.1f} min"
    )
    out.append("")
    out.append(
        f"Window: {scaled}; {refresh}. Motion events: off -> on changes of the motion sensor "
        "inside the window (the continuous camera's one event began before it). "
        f"state_attributes rows in the whole database at the end: {result['attributes']}."
    )
    return "\n".join(out)


def write_readme(text: str) -> None:
    """Replace (or append) this benchmark's section of bench/README.md."""
    readme = ROOT / "bench" / "README.md"
    current = readme.read_text(encoding="utf-8")
    section = f"{HEADING} (`bench_recorder_rows.py`)\n\n{text}\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _m: section + "\n", current)
    else:
        current = current.rstrip("\n") + "\n\n" + section
    readme.write_text(current, encoding="utf-8")


def main() -> None:
    """Parse arguments, run, print (and optionally store) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="window to count (60)")
    parser.add_argument("--readme", action="store_true", help="write into bench/README.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="anninh-rows-") as tmp:
        result = asyncio.run(run(args.minutes, Path(tmp)))
    text = table(result)
    print(f"{datetime.now().isoformat(timespec='seconds')}\n\n{text}")
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main()
