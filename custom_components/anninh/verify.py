"""Verify evidence ZIPs: ``python -m custom_components.anninh.verify EVIDENCE.zip [...]``.

Prints ``OK`` or the failing files and exits 0 (all intact) or 1. Needs PyAV's environment (the
project's .venv), not Home Assistant: without it the package is the engine alone. On a machine
with plain Python 3.10+ only, ``scripts/verify_evidence`` runs the same checks from
`engine/evidence.py`.
"""

from __future__ import annotations

import sys

from .engine.evidence import main

if __name__ == "__main__":
    sys.exit(main())
