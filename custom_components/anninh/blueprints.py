"""Install the integration's automation blueprints into `<config>/blueprints/automation/anninh/`.

A newer version replaces a file only while the user has not edited it: the hash of what was last
installed is kept, and a file whose content no longer matches it is the user's and stays as it is.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "blueprints"
STORAGE_KEY = f"{DOMAIN}.blueprints"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install(target: Path, installed: dict[str, str]) -> dict[str, str]:
    """Copy new or updated blueprints; returns the hashes now installed (blocking I/O)."""
    target.mkdir(parents=True, exist_ok=True)
    result = dict(installed)
    for source in sorted(SOURCE.glob("*.yaml")):
        data = source.read_bytes()
        new = _digest(data)
        dest = target / source.name
        if dest.exists():
            current = _digest(dest.read_bytes())
            if current == new:
                result[source.name] = new
                continue
            if current != installed.get(source.name):
                _LOGGER.info("Keeping blueprint %s: it was changed by the user", dest)
                continue
        tmp = dest.with_suffix(".yaml.tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)
        result[source.name] = new
        _LOGGER.debug("Installed blueprint %s", dest)
    return result


async def async_install_blueprints(hass: HomeAssistant) -> None:
    """Install or update the blueprints, never overwriting a user's edit."""
    store: Store[dict[str, str]] = Store(hass, 1, STORAGE_KEY)
    installed = await store.async_load() or {}
    target = Path(hass.config.path("blueprints", "automation", DOMAIN))
    try:
        result = await hass.async_add_executor_job(_install, target, installed)
    except OSError as err:
        _LOGGER.warning("Could not install the blueprints into %s: %s", target, err)
        return
    if result != installed:
        await store.async_save(result)
