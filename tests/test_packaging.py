"""HACS packaging: manifest, hacs.json, brand icons, and complete translations in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from custom_components.anninh.const import DOMAIN
from custom_components.anninh.engine.source import StreamProblem

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / DOMAIN
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_manifest_as_hassfest_wants() -> None:
    """domain, name first, the rest sorted; the fields a custom integration needs."""
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == DOMAIN
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "hub"
    assert manifest["iot_class"] == "local_push"
    assert "aiortc==1.16.0" in manifest["requirements"]
    assert not any(r.startswith(("numpy", "av")) for r in manifest["requirements"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    for key in ("codeowners", "documentation", "issue_tracker", "dependencies"):
        assert manifest[key]


def test_hacs_json_and_brand() -> None:
    """hacs.json names the minimum HA; brand icons exist in both themes and sizes."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"] == "An Ninh"
    assert hacs["homeassistant"] == "2026.2.0"
    for name in ("icon.png", "dark_icon.png", "icon@2x.png", "dark_icon@2x.png"):
        data = (INTEGRATION / "brand" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat |= _flatten(value, path)
        else:
            flat[path] = value
    return flat


def _load(lang: str) -> dict[str, Any]:
    return json.loads((INTEGRATION / "translations" / f"{lang}.json").read_text())


def test_translations_match() -> None:
    """Vietnamese has exactly the English keys, each with the same placeholders, none blank."""
    en, vi = _flatten(_load("en")), _flatten(_load("vi"))
    assert set(en) == set(vi), set(en) ^ set(vi)
    for key, text in en.items():
        assert text.strip(), key
        assert vi[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(vi[key])), key


def test_code_keys_are_translated() -> None:
    """Every `translation_key=` and every error key the flows can return exists in both files."""
    for lang in ("en", "vi"):
        tree = _load(lang)
        camera_errors = tree["config_subentries"]["camera"]["error"]
        for problem in StreamProblem:
            if problem is not StreamProblem.DECODE_ERROR:
                assert problem.value in camera_errors, (lang, problem)
        flat = _flatten(tree)
        for path in INTEGRATION.rglob("*.py"):
            source = path.read_text()
            for key in re.findall(r'translation_key="(\w+)"', source):
                assert any(k.split(".")[-2] == key or f".{key}." in k for k in flat), (lang, key)
            for key in re.findall(r'errors?\[[A-Z_]+\] = "(\w+)"', source):
                assert any(k.endswith(f"error.{key}") for k in flat), (lang, key)
            for key in re.findall(r'\{CONF_[A-Z_]+: "(\w+)"\}', source):
                assert any(k.endswith(f"error.{key}") for k in flat), (lang, key)
