"""The activity log and the database stay quiet while cameras see motion.

A real Home Assistant with the real `recorder` (SQLite) and `logbook`, and two cameras reading
local files in real time: one sees motion without a break, the other a short event every 12 s.
Rows are counted in the recorder's own `states` table, logbook lines with HA's logbook API.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.db_schema import States, StatesMeta
from homeassistant.components.recorder.util import session_scope
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.anninh.const import SUBENTRY_CAMERA
from custom_components.anninh.engine import pipeline

from .conftest import camera_data, station_entry, subentry, wait_until
from .media import make_h264_file

REFRESH = 6.0  # s: the picture refresh of one unbroken event, shortened for the test


def _rows(hass: HomeAssistant, entity_ids: Sequence[str], since: datetime) -> dict[str, int]:
    """States rows per entity written since `since` (runs in the recorder's executor)."""
    with session_scope(hass=hass, read_only=True) as session:
        found = (
            session.query(StatesMeta.entity_id, States.state_id)
            .join(StatesMeta, States.metadata_id == StatesMeta.metadata_id)
            .filter(StatesMeta.entity_id.in_(entity_ids))
            .filter(States.last_updated_ts >= since.timestamp())
            .all()
        )
    counts = dict.fromkeys(entity_ids, 0)
    for entity_id, _state_id in found:
        counts[entity_id] += 1
    return counts


class TestRecorderRows:
    """With the recorder, which must start before Home Assistant does."""

    @pytest.fixture
    def mock_recorder_before_hass(self, recorder_db_url: str) -> None:
        """Prepare the recorder's database before `hass` exists."""

    async def test_rows_and_logbook_lines_per_motion_event(
        self,
        recorder_mock: Any,
        hass: HomeAssistant,
        media_dir: Path,
        hass_client: ClientSessionGenerator,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Motion: a row when it starts and one when it ends; the picture once per event."""
        monkeypatch.setattr(pipeline, "LONG_EVENT_REFRESH", REFRESH)
        assert await async_setup_component(hass, "logbook", {})
        continuous = make_h264_file(
            media_dir / "continuous.mp4", seconds=4.0, fps=15, motion_window=(0.0, 4.0)
        )
        events = make_h264_file(
            media_dir / "events.mp4", seconds=12.0, fps=15, motion_window=(0.0, 3.0)
        )
        entry = station_entry(
            media_dir,
            [
                subentry(SUBENTRY_CAMERA, camera_data(str(continuous), name="Liên tục")),
                subentry(SUBENTRY_CAMERA, camera_data(str(events), name="Từng đợt")),
            ],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        registry = er.async_get(hass)
        ids = {
            (subentry_.title, e.translation_key): e.entity_id
            for subentry_ in entry.subentries.values()
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.config_subentry_id == subentry_.subentry_id
        }
        cam_motion, cam_image = ids["Liên tục", "motion"], ids["Liên tục", "last_motion"]
        ev_motion, ev_image = ids["Từng đợt", "motion"], ids["Từng đợt", "last_motion"]

        def on(entity_id: str) -> bool:
            state = hass.states.get(entity_id)
            return state is not None and state.state == STATE_ON

        # Start counting when the continuous camera's event is running and the other camera is
        # between two events.
        await wait_until(lambda: on(cam_motion) and on(ev_motion), within=60)
        await wait_until(lambda: not on(ev_motion), within=30)
        start = dt_util.utcnow()
        started_at = hass.loop.time()
        # Two whole events of the second camera: on, off, on, off.
        for expected in (True, False, True, False):
            await wait_until(lambda expected=expected: on(ev_motion) is expected, within=30)
            if expected:  # the details are those of the moment the event was detected
                state = hass.states.get(ev_motion)
                assert state is not None
                assert state.attributes["score"] > 0
                assert state.attributes["boxes"]
        seconds = hass.loop.time() - started_at
        assert on(cam_motion), "the continuous camera's event never ended"
        await async_wait_recording_done(hass)

        rows = await get_instance(hass).async_add_executor_job(
            _rows, hass, [cam_motion, cam_image, ev_motion, ev_image], start
        )
        # The unbroken event: no motion row at all after it started, the picture renewed at
        # most once per REFRESH (HA also rotates the image's access token every 5 minutes).
        assert rows[cam_motion] == 0, rows
        assert 1 <= rows[cam_image] <= seconds / REFRESH + 1, (rows, seconds)
        # Two events of the other camera: two motion rows and one picture each.
        assert rows[ev_motion] == 4, rows
        assert rows[ev_image] == 2, rows

        # The logbook: one line per picture, one per motion change, nothing in between.
        client = await hass_client()
        reply = await client.get(
            f"/api/logbook/{(start - timedelta(microseconds=1)).isoformat()}",
            params={"end_time": dt_util.utcnow().isoformat()},
        )
        assert reply.status == 200
        lines: dict[str, int] = {}
        for line in await reply.json():
            if entity_id := line.get("entity_id"):
                lines[entity_id] = lines.get(entity_id, 0) + 1
        assert lines.get(ev_image, 0) == 2, lines
        assert lines.get(ev_motion, 0) == 4, lines
        assert lines.get(cam_motion, 0) == 0, lines
        assert lines.get(cam_image, 0) == rows[cam_image], lines

        state = hass.states.get(ev_motion)
        assert state is not None
        assert state.attributes == {**state.attributes, "score": 0.0, "boxes": []}
        await hass.config_entries.async_unload(entry.entry_id)
