"""Repair flows: the dashboard offer is fixed by creating the dashboard."""

from __future__ import annotations

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult

from .dashboard import OFFER_ISSUE_ID, async_create_dashboard


class CreateDashboardFlow(ConfirmRepairFlow):
    """Confirm, then create the duty officer's dashboard."""

    async def async_step_confirm(self, user_input: dict[str, str] | None = None) -> FlowResult:
        """On confirmation, create it."""
        if user_input is not None:
            await async_create_dashboard(self.hass)
        return await super().async_step_confirm(user_input)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Only the dashboard offer is fixable."""
    if issue_id != OFFER_ISSUE_ID:
        raise ValueError(issue_id)
    return CreateDashboardFlow()
