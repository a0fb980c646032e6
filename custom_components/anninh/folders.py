"""The station's recordings folder: where it may be, whether it can be written now, hiding it.

Clips inside one of HA's media folders also show in Media → My media, whose delete button knows
nothing of evidence marks. HA's local media source skips names that start with a dot, so the
default folder is `<media>/.anninh`, and a folder that My media would show is refused by the flow
and, for stations set up before, reported by a repair that renames it to its hidden twin.
Every function here does file I/O (`Path.resolve`, probes): run them in an executor.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from homeassistant.core import HomeAssistant

from .const import DOMAIN


def default_recordings_dir(hass: HomeAssistant) -> str:
    """`<media>/.anninh`: in the media storage (not in config backups), hidden from My media."""
    media = hass.config.media_dirs.get("local") or hass.config.path("media")
    return str(Path(media) / f".{DOMAIN}")


def visible_in_my_media(hass: HomeAssistant, folder: Path) -> bool:
    """True if My media lists `folder` (inside a media folder, no part of it hidden)."""
    target = folder.resolve()
    for media in hass.config.media_dirs.values():
        try:
            inside = target.relative_to(Path(media).resolve())
        except ValueError:
            continue
        if not any(part.startswith(".") for part in inside.parts):
            return True
    return False


def hidden_twin(folder: Path) -> Path:
    """The same folder with a dot in front of its name (same parent, so a rename is instant)."""
    return folder.with_name(f".{folder.name}")


def is_writable(folder: Path) -> bool:
    """True if `folder` exists and a file can be written in it (nothing is created otherwise)."""
    if not folder.is_dir():
        return False
    probe = folder / f".anninh-write-test-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError:
        return False
    return True


def check_recordings_dir(hass: HomeAssistant, folder: str) -> str | None:
    """The flow's error key for `folder`, or None when it may be used (created if missing)."""
    path = Path(folder)
    if not path.is_absolute():
        return "path_not_absolute"
    if not hass.config.is_allowed_path(folder):
        return "path_not_allowed"
    if visible_in_my_media(hass, path):
        return "path_in_my_media"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return "path_not_writable"
    return None if is_writable(path) else "path_not_writable"
