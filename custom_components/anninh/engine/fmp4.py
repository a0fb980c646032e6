"""Joining fragmented MP4 segments by copying bytes: an hour of video at the speed of the disk.

The 24/7 recorder writes each segment as ``ftyp`` + ``moov`` + (``moof`` + ``mdat``)* (+ ``mfra``),
a fragment starting at every key frame and at most every second. Segments of one camera share
their codec configuration (the ``stsd`` box) and time scale, so a range across segments is one
valid fragmented MP4 made of the first segment's ``ftyp`` + ``moov`` and the fragments that cover
the range, each copied as it is but for two numbers in its ``moof``: the sequence number
(``mfhd``) and the decode time of its first sample (``tfdt``), moved onto one timeline. No packet
is parsed, decoded or re-muxed; the media data is written straight from the files.

`plan` picks the fragments (from the last one starting with a key frame at or before the start to
the last one starting before the end) and raises `NotJoinable` when segments differ in codec
configuration or time scale (a camera that changed resolution), or a box is not as expected;
the caller then cuts packet by packet instead. Standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}
_NON_SYNC = 0x10000  # sample_is_non_sync_sample in sample flags


class NotJoinable(ValueError):
    """These segments cannot be joined byte for byte."""


def _boxes(data: memoryview, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header size, size) of the boxes in data[start:end]."""
    found = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break  # cut short (a crash): the rest is not used
        found.append((kind, offset, header, size))
        offset += size
    return found


def _child(
    data: memoryview, box: tuple[bytes, int, int, int], path: list[bytes]
) -> tuple[bytes, int, int, int]:
    """The box at `path` below `box` (first match at each level)."""
    current = box
    for kind in path:
        _, offset, header, size = current
        match = [b for b in _boxes(data, offset + header, offset + size) if b[0] == kind]
        if not match:
            raise NotJoinable(f"no {kind.decode()} box")
        current = match[0]
    return current


@dataclass(frozen=True, slots=True)
class Fragment:
    """One ``moof`` + ``mdat`` of a segment."""

    offset: int  # of the moof in its file
    size: int  # moof + mdat
    moof: bytes
    decode_time: int  # tfdt, in the track's time scale
    duration: int  # of its samples
    samples: int
    sync: bool  # the first sample is a key frame
    tfdt_at: int  # offset of tfdt's 64-bit value in `moof`
    sequence_at: int  # offset of mfhd's sequence number in `moof`


@dataclass(slots=True)
class Segment:
    """A segment file's structure: init (ftyp + moov), codec box, time scale, fragments."""

    path: Path
    start: float  # wall time (epoch s) of its first sample
    init: bytes
    stsd: bytes
    timescale: int
    fragments: list[Fragment] = field(default_factory=list)


def _top_level(handle: BinaryIO, size: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of a file's top-level boxes, read header by header."""
    found = []
    offset = 0
    while offset + 8 <= size:
        handle.seek(offset)
        head = handle.read(16)
        length, kind = struct.unpack_from(">I4s", head)
        if length == 1 and len(head) == 16:
            (length,) = struct.unpack_from(">Q", head, 8)
        elif length == 0:
            length = size - offset
        if length < 8 or offset + length > size:
            break  # cut short (a crash): the rest is not used
        found.append((kind, offset, length))
        offset += length
    return found


def parse(path: Path, start: float) -> Segment:
    """Read a segment's boxes (not its media data); raises `NotJoinable`, `OSError`."""
    with path.open("rb") as handle:
        top = _top_level(handle, path.stat().st_size)
        if [box[0] for box in top[:2]] != [b"ftyp", b"moov"]:
            raise NotJoinable(f"{path.name}: no ftyp + moov at the start")
        handle.seek(0)
        init = handle.read(top[1][1] + top[1][2])
        view = memoryview(init)
        moov = _boxes(view, top[1][1], len(init))[0]
        mdhd = _child(view, moov, [b"trak", b"mdia", b"mdhd"])
        version = view[mdhd[1] + mdhd[2]]
        (timescale,) = struct.unpack_from(">I", view, mdhd[1] + mdhd[2] + (20 if version else 12))
        stsd = _child(view, moov, [b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
        trex = _child(view, moov, [b"mvex", b"trex"])
        trex_duration, _size, trex_flags = struct.unpack_from(">III", view, trex[1] + trex[2] + 12)
        segment = Segment(path, start, init, bytes(view[stsd[1] : stsd[1] + stsd[3]]), timescale)
        for index, (kind, offset, length) in enumerate(top):
            if kind != b"moof":
                continue
            if index + 1 >= len(top) or top[index + 1][0] != b"mdat":
                break  # a fragment without its media (cut short)
            handle.seek(offset)
            moof = handle.read(length)
            size = length + top[index + 1][2]
            segment.fragments.append(_fragment(moof, offset, size, trex_duration, trex_flags))
    return segment


def _fragment(moof: bytes, offset: int, size: int, trex_duration: int, trex_flags: int) -> Fragment:
    data = memoryview(moof)
    box = _boxes(data, 0, len(moof))[0]
    mfhd = _child(data, box, [b"mfhd"])
    tfhd = _child(data, box, [b"traf", b"tfhd"])
    tfdt = _child(data, box, [b"traf", b"tfdt"])
    trun = _child(data, box, [b"traf", b"trun"])
    if data[tfdt[1] + tfdt[2]] != 1:
        raise NotJoinable("32-bit tfdt")
    (decode_time,) = struct.unpack_from(">Q", data, tfdt[1] + tfdt[2] + 4)
    # tfhd: optional fields after the track id, in this order, as its flags say.
    (tf_flags,) = struct.unpack_from(">I", data, tfhd[1] + tfhd[2])
    tf_flags &= 0xFFFFFF
    cursor = tfhd[1] + tfhd[2] + 8
    default_duration, default_flags = trex_duration, trex_flags
    for bit, width in ((0x1, 8), (0x2, 4), (0x8, 4), (0x10, 4), (0x20, 4)):
        if tf_flags & bit:
            if bit == 0x8:
                (default_duration,) = struct.unpack_from(">I", data, cursor)
            if bit == 0x20:
                (default_flags,) = struct.unpack_from(">I", data, cursor)
            cursor += width
    (tr_flags, samples) = struct.unpack_from(">II", data, trun[1] + trun[2])
    tr_flags &= 0xFFFFFF
    cursor = trun[1] + trun[2] + 8
    cursor += 4 if tr_flags & 0x1 else 0  # data offset
    first_flags: int | None = None
    if tr_flags & 0x4:
        (first_flags,) = struct.unpack_from(">I", data, cursor)
        cursor += 4
    # Per-sample fields, each 4 bytes when present: duration, size, flags, composition offset.
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tr_flags & bit]
    if 0x400 in fields and first_flags is None:
        (first_flags,) = struct.unpack_from(">I", data, cursor + 4 * fields.index(0x400))
    if 0x100 in fields:
        stride = 4 * len(fields)
        duration = sum(
            struct.unpack_from(">I", data, cursor + n * stride)[0] for n in range(samples)
        )
    else:
        duration = default_duration * samples
    if first_flags is None:
        first_flags = default_flags
    return Fragment(
        offset=offset,
        size=size,
        moof=moof,
        decode_time=decode_time,
        duration=duration,
        samples=samples,
        sync=not first_flags & _NON_SYNC,
        tfdt_at=tfdt[1] + tfdt[2] + 4,
        sequence_at=mfhd[1] + mfhd[2] + 4,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """The fragments to join, with their start times (wall, epoch s)."""

    segments: list[Segment]
    picks: list[tuple[Segment, Fragment, float]]  # (segment, fragment, wall start)

    @property
    def start(self) -> float:
        return self.picks[0][2]

    @property
    def end(self) -> float:
        seg, frag, t = self.picks[-1]
        return t + frag.duration / seg.timescale

    @property
    def frames(self) -> int:
        return sum(frag.samples for _seg, frag, _t in self.picks)

    def spans(self, pause: float = 1.5) -> list[tuple[float, float]]:
        """Runs of video without a pause (for naming gaps)."""
        runs: list[list[float]] = []
        for seg, frag, t in self.picks:
            end = t + frag.duration / seg.timescale
            if runs and t <= runs[-1][1] + pause:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([t, end])
        return [(lo, hi) for lo, hi in runs]


def plan(parts: Iterable[tuple[Path, float]], start: float, end: float) -> Plan:
    """Parse the segments (path, wall start; in order) and pick the fragments of [start, end)."""
    segments = [parse(path, seg_start) for path, seg_start in parts]
    if not segments:
        raise NotJoinable("no segments")
    first = segments[0]
    for seg in segments[1:]:
        if seg.stsd != first.stsd or seg.timescale != first.timescale:
            raise NotJoinable("codec configuration changed")
    timed = [
        (seg, frag, seg.start + (frag.decode_time - seg.fragments[0].decode_time) / seg.timescale)
        for seg in segments
        for frag in seg.fragments
    ]
    begin = 0
    for index, (_seg, frag, t) in enumerate(timed):
        if frag.sync and t <= start:
            begin = index
    while begin < len(timed) and not timed[begin][1].sync:
        begin += 1
    picks = [item for item in timed[begin:] if item[2] < end]
    if not picks:
        raise NotJoinable("nothing in the range")
    return Plan(segments, picks)


def write(joined: Plan, out: BinaryIO | Callable[[bytes | memoryview], object]) -> int:
    """Write the joined MP4 (init, then each fragment with its numbers moved); bytes written.

    Each segment's media is read in one piece, the next one while this one is written.
    """
    sink = out if callable(out) else out.write
    first = joined.segments[0]
    sink(first.init)
    written = len(first.init)
    origin, scale = joined.start, first.timescale
    by_segment: dict[int, list[tuple[Fragment, float]]] = {}
    for seg, frag, t in joined.picks:
        by_segment.setdefault(id(seg), []).append((frag, t))
    order = [seg for seg in joined.segments if id(seg) in by_segment]

    def span(seg: Segment) -> tuple[int, bytes]:
        frags = by_segment[id(seg)]
        lo, hi = frags[0][0].offset, frags[-1][0].offset + frags[-1][0].size
        with seg.path.open("rb") as handle:
            handle.seek(lo)
            return lo, handle.read(hi - lo)

    sequence = 0
    with ThreadPoolExecutor(1, thread_name_prefix="anninh-join") as reader:
        pending = reader.submit(span, order[0])
        for number, seg in enumerate(order):
            lo, data = pending.result()
            if number + 1 < len(order):
                pending = reader.submit(span, order[number + 1])
            view = memoryview(data)
            for frag, t in by_segment[id(seg)]:
                sequence += 1
                moof = bytearray(frag.moof)
                struct.pack_into(">I", moof, frag.sequence_at, sequence)
                struct.pack_into(">Q", moof, frag.tfdt_at, max(0, round((t - origin) * scale)))
                sink(bytes(moof))
                begin = frag.offset - lo + len(moof)
                sink(view[begin : frag.offset - lo + frag.size])
                written += frag.size
    return written
