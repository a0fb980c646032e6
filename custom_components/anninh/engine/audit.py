"""The household's record of every station access to a shared camera: append-only, hash-chained.

One JSON object per line: `seq` (from 1), `at` (UTC, ISO 8601), `kind`, `detail`, `prev` (the
previous entry's hash; 64 zeros for the first) and `hash`, the SHA-256 of the entry's canonical
JSON without `hash`. Editing, inserting, reordering or deleting an entry breaks the chain at that
entry (`verify_chain`). The log lives at the household's HA, written by it, so the station cannot
stop or rewrite it. Every append is flushed and fsynced; a line torn by a power cut is reported by
`verify_chain` as the break it is and the next append starts a fresh line after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {key: entry[key] for key in ("seq", "at", "kind", "detail", "prev")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The outcome of `verify_chain`: entries read and where the chain first breaks, if it does."""

    entries: int
    broken_at: int | None = None  # the line number (from 1) of the first bad entry
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether every entry is intact and chained to the one before."""
        return self.broken_at is None


def verify_chain(path: Path) -> ChainCheck:
    """Check every line of an audit log."""
    if not path.exists():
        return ChainCheck(0)
    prev, count = GENESIS, 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                return ChainCheck(count, number, "unreadable")
            if not isinstance(entry, dict) or entry.get("seq") != count + 1:
                return ChainCheck(count, number, "sequence")
            if entry.get("prev") != prev:
                return ChainCheck(count, number, "chain")
            try:
                expected = _entry_hash(entry)
            except KeyError:
                return ChainCheck(count, number, "fields")
            if entry.get("hash") != expected:
                return ChainCheck(count, number, "hash")
            prev, count = expected, count + 1
    return ChainCheck(count)


class AuditLog:
    """Appends entries to one share's log (thread-safe; call from an executor)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._head: tuple[int, str] | None = None  # (seq, hash) of the last entry

    def _load_head(self) -> tuple[int, str]:
        seq, prev = 0, GENESIS
        if self.path.exists():
            with self.path.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        entry = json.loads(line)
                        seq, prev = int(entry["seq"]), str(entry["hash"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line: the chain goes on from the entry before
        return seq, prev

    def append(self, kind: str, at: datetime | None = None, **detail: Any) -> dict[str, Any]:
        """Add an entry; returns it."""
        with self._lock:
            if self._head is None:
                self._head = self._load_head()
            seq, prev = self._head
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "at": (at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
                "kind": kind,
                "detail": detail,
                "prev": prev,
            }
            entry["hash"] = _entry_hash(entry)
            line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as file:
                file.seek(0, os.SEEK_END)
                if file.tell():
                    file.seek(-1, os.SEEK_END)
                    if file.read(1) != b"\n":
                        file.write(b"\n")  # after a torn line
                file.write(line.encode())
                file.flush()
                os.fsync(file.fileno())
            self._head = (entry["seq"], entry["hash"])
            return entry

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last `count` readable entries, newest last."""
        if not self.path.exists():
            return []
        entries: list[dict[str, Any]] = []
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
                del entries[:-count]
        return entries
