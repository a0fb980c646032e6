"""Verify evidence ZIPs: ``python -m custom_components.anninh.verify EVIDENCE.zip [...]``.

Prints ``OK`` or the failing files and exits 0 (all intact) or 1. Importing this module imports
the integration package (and so Home Assistant) first; without Home Assistant, use
``scripts/verify_evidence`` (plain Python 3.10+, standard library only), which runs the same
checks from `engine/evidence.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .engine.evidence import verify

__all__ = ["main", "verify"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier on `argv` (default: the command line); the exit status."""
    from .engine.evidence import main as run  # noqa: PLC0415 - one implementation

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
