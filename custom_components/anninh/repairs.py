"""Repair flow: hide a recordings folder that My media shows."""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult

from .const import CONF_RECORDINGS_DIR, DOMAIN
from .folders import hidden_twin

_LOGGER = logging.getLogger(__name__)


class HideRecordingsFlow(ConfirmRepairFlow):
    """Confirm, then rename the station's folder to its hidden twin (same parent: instant).

    The station is unloaded first so that no clip is being written while its folder moves, and
    set up again on the new folder.
    """

    def __init__(self, entry_id: str) -> None:
        """For the station (config entry) `entry_id`."""
        super().__init__()
        self._entry_id = entry_id

    async def async_step_confirm(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """On confirmation, move the folder."""
        if user_input is None:
            return await super().async_step_confirm(user_input)
        entries = self.hass.config_entries
        entry = entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN:
            return self.async_abort(reason="station_removed")
        folder = Path(entry.data[CONF_RECORDINGS_DIR])
        hidden = hidden_twin(folder)
        if await self.hass.async_add_executor_job(hidden.exists):
            return self.async_abort(
                reason="hidden_folder_exists", description_placeholders={"hidden": str(hidden)}
            )
        await entries.async_unload(entry.entry_id)
        try:
            await self.hass.async_add_executor_job(folder.rename, hidden)
        except OSError as err:
            _LOGGER.warning("Could not rename %s to %s: %s", folder, hidden, err)
            await entries.async_setup(entry.entry_id)
            return self.async_abort(
                reason="rename_failed", description_placeholders={"error": str(err)}
            )
        entries.async_update_entry(entry, data={**entry.data, CONF_RECORDINGS_DIR: str(hidden)})
        await entries.async_setup(entry.entry_id)
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """A station's folder shown in My media."""
    if issue_id.startswith("recordings_in_my_media_") and data and data.get("entry_id"):
        return HideRecordingsFlow(str(data["entry_id"]))
    raise ValueError(issue_id)
