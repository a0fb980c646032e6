"""The engine stands alone: every module imports, and the verifier runs, without Home Assistant."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

from custom_components.anninh import engine

ROOT = Path(__file__).resolve().parents[2]
BLOCK = "import sys; sys.modules['homeassistant'] = None; "


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_engine_module_imports_without_home_assistant() -> None:
    """With `homeassistant` unimportable, the package is the engine alone and all of it loads."""
    names = [m.name for m in pkgutil.iter_modules(engine.__path__)]
    assert {"live", "motion", "recorder", "storage", "stream", "timeline"} <= set(names)
    imports = "; ".join(f"import custom_components.anninh.engine.{n}" for n in names)
    result = _run(
        "import custom_components.anninh as package; "
        + imports
        + "; assert not hasattr(package, 'async_setup_entry'), 'integration loaded'"
        + "; assert not any(m.startswith('homeassistant') for m in sys.modules if sys.modules[m])"
    )
    assert result.returncode == 0, result.stderr


def test_verifier_runs_without_home_assistant(tmp_path: Path) -> None:
    """`python -m custom_components.anninh.verify` needs no Home Assistant."""
    missing = tmp_path / "missing.zip"
    result = _run(
        "import runpy; sys.argv = ['verify', sys.argv[1]]; "
        "runpy.run_module('custom_components.anninh.verify', run_name='__main__')",
        str(missing),
    )
    assert result.returncode == 1, result.stderr
    assert "missing.zip" in result.stdout + result.stderr
