"""An Ninh: community security for a commune police station.

With Home Assistant installed, this package is the integration it loads (`integration.py`: the
station is a config entry, each donated camera, bell and loudspeaker a subentry and a device).
Without it, importing the package gives the engine alone (`custom_components.anninh.engine`:
streams, motion, recording, evidence), for tools, benchmarks and the engine's own tests.
"""

from __future__ import annotations

from importlib.util import find_spec

if find_spec("homeassistant") is not None:
    from .integration import (
        CONFIG_SCHEMA,
        PLATFORMS,
        async_migrate_entry,
        async_remove_entry,
        async_setup,
        async_setup_entry,
        async_unload_entry,
    )

    __all__ = [
        "CONFIG_SCHEMA",
        "PLATFORMS",
        "async_migrate_entry",
        "async_remove_entry",
        "async_setup",
        "async_setup_entry",
        "async_unload_entry",
    ]
