"""Diagnostics: the station's configuration and runtime, with secrets and personal data removed.

Diagnostics end up attached to public bug reports, so besides credentials, tokens and webhook ids,
the donors' names, phone numbers, addresses and map positions are redacted too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ADDRESS,
    CONF_DONOR_NAME,
    CONF_DONOR_PHONE,
    CONF_LOCATION,
    CONF_STREAM_URL,
    CONF_SUB_STREAM_URL,
    CONF_WEBHOOK_ID,
)
from .station import AnNinhConfigEntry

TO_REDACT = {
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_DONOR_PHONE,
    CONF_DONOR_NAME,
    CONF_ADDRESS,
    CONF_LOCATION,
    CONF_WEBHOOK_ID,
}
URL_KEYS = (CONF_STREAM_URL, CONF_SUB_STREAM_URL)


def _redact_url(url: str) -> str:
    """Keep scheme, host, port and path; drop credentials and query (tokens hide there)."""
    if not url or url.startswith("/"):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host, query="**REDACTED**" if parts.query else ""))


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AnNinhConfigEntry
) -> dict[str, Any]:
    """Entry, subentries and runtime state, redacted."""
    entry_dict = entry.as_dict()
    for subentry in entry_dict.get("subentries", []):
        data = dict(subentry["data"])
        for key in URL_KEYS:
            if key in data:
                data[key] = _redact_url(str(data[key]))
        subentry["data"] = data
    return {
        "entry": async_redact_data(entry_dict, TO_REDACT),
        "runtime": entry.runtime_data.as_diagnostics(),
    }
