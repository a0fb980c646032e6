"""Pytest plugin: the engine's tests with Home Assistant impossible to import.

The engine (`custom_components/anninh/engine/`) must stand alone. `scripts/test` runs its tests
first this way::

    pytest tests/engine -p tests.engine.without_homeassistant -p no:homeassistant \\
        --confcutdir tests/engine

(`-p no:homeassistant` keeps the Home Assistant test plugin out, `--confcutdir` the suite's root
conftest, which boots Home Assistant.) Any import of ``homeassistant`` then raises ImportError.
"""

from __future__ import annotations

import sys

sys.modules["homeassistant"] = None  # type: ignore[assignment]  # import -> ImportError

pytest_plugins = ["tests.rtsp"]  # the RTSP test camera (GStreamer) and the misbehaving servers
