"""Verify evidence ZIPs: ``python -m custom_components.anninh.verify EVIDENCE.zip [...]``.

Prints ``OK`` or the failing files and exits 0 (all intact) or 1. Importing this module imports
the integration package (and so Home Assistant) first; without Home Assistant, use
``scripts/verify_evidence`` (plain Python 3.10+, standard library only), which runs the same
checks from `engine/evidence.py`.
"""

from __future__ import annotations

import sys

from .engine.evidence import main

if __name__ == "__main__":
    sys.exit(main())
