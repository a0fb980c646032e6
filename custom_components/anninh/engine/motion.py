"""Motion detection on a camera's luma plane, in numpy alone.

Public API
----------
``MotionConfig``
    ``sensitivity`` (0-100, higher finds fainter change), ``min_area`` (smallest changed region
    that counts, as a fraction of the frame), ``analysis_height`` (rows of the grid the frame is
    sampled to), ``zones`` (include polygons) and ``masks`` (exclude polygons) in normalised 0-1
    ``(x, y)`` coordinates, ``trigger_frames`` (consecutive changed frames that turn motion on) and
    ``clear_seconds`` (quiet time that turns it off). Invalid values raise ``ValueError``.
``MotionDetector(config)``
    ``process(luma, timestamp) -> MotionResult`` takes the decoder's Y plane (``uint8``, shape
    ``(H, W)``, any strides: a view with a row pitch wider than the picture is fine and is never
    copied whole) and a timestamp in seconds. ``config`` may be reassigned at runtime (or use
    ``set_sensitivity``); ``reset()`` forgets the learnt background.
``MotionResult``
    ``motion`` (after hysteresis), ``score`` (fraction of the analysed area inside accepted
    changed regions), ``boxes`` (``(x, y, w, h)`` in input-frame pixels) and ``lighting_change``
    (the scene's lighting changed globally and the background was recalibrated).

How it works, and why
---------------------
1. The frame is *point-sampled* to a grid about ``analysis_height`` rows high: a strided view
   when the size divides evenly (1080, 720, 360 -> 90), else two fancy-indexing gathers, copied to
   bytes first (a casting strided copy is three times slower on a frame not in cache). At 1080p
   that reads ~15 k bytes instead of 2 M: block averaging the full frame costs ~3.5 ms in numpy,
   over ten times the whole budget. Sampling noise is handled by step 3. Work arrays are reused
   (``out=``) and the quiet path is about 20 numpy calls: at ~2 us each, call overhead, not
   arithmetic, is the cost.
2. Lighting is modelled as a smooth gain field: frame and background are averaged over a coarse
   grid of cells about ``_GAIN_CELL`` samples wide (two small matrix products), their ratio is
   interpolated back bilinearly and the background is multiplied by it before differencing.
   The background's cell means are kept and, while one learning rate applies, updated linearly
   instead of recomputed. Exposure steps and ramps, clouds and a headlight beam that is broad
   compared with a cell leave no residual. An object would darken its cells' means, so once a
   region-sized change is seen the gain is re-estimated without the changed pixels, and the
   comparison repeated.
3. A pixel has changed when ``|frame - gain * background| > k * dev + floor``, where ``dev`` is
   a per-pixel running mean of the absolute residual. ``dev`` is learnt at every pixel, foreground
   included, so sensor noise, compression flicker and swaying foliage raise their own thresholds
   while a rarely-disturbed pixel stays sensitive. ``sensitivity`` sets ``k`` and ``floor``.
4. Changed pixels are counted in 4x4 cells; cells with three or more form 8-connected regions
   (a row-run union-find over the few active cells), which absorbs speckle (rain, snow, noise)
   and bridges small gaps. Regions smaller than ``min_area`` are dropped; boxes are then tightened
   to the changed pixels and mapped back to input pixels. Speckle (rain, snow) still makes the odd
   region, but in a new place each frame: consecutive changed frames only extend the
   ``trigger_frames`` streak when a region has a quarter of its changed pixels changed in the
   previous frame too, or is large and solid (four times ``min_area``, 40 % filled): a fast
   vehicle can jump further than its own length between analysed frames, speckle never forms
   such a region.
5. A lighting event (median cell gain off by >10 %, or a large share of cells re-lit) folds the
   gain into the background, and for a second doubles the thresholds and learns fast (a moving
   light is only roughly a smooth gain; saturation and shadows need re-learning). A changed
   region that keeps the background's texture (high correlation) is light too, not an object.
   A change the gain model cannot explain that covers most of the scene (IR day/night switch,
   the camera moved) resets the background to the frame and ignores change for
   ``_SETTLE_SECONDS``. A sudden contrast change (IR day/night: grey, washed out, another gamma)
   is not a gain: dark things change far more than bright ones. When a new change comes with a
   global mean shift, a robust line ``frame = a * background + b`` is fitted through the cell
   means; if its slope is a contrast change and it explains three quarters of the changed pixels,
   it is a lighting event too. All of these report ``lighting_change``.
6. The background learns with time constants (not per-frame rates), so the analysis fps does not
   change behaviour: fast where nothing changed, slow under foreground so a parked car is absorbed
   in about a minute rather than instantly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
import numpy.typing as npt

Polygon = list[tuple[float, float]]
F32 = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]

_LABEL_CELL = 4  # analysis pixels per side of a labelling cell
_CELL_MIN_CHANGED = 3  # changed pixels that make a labelling cell active
_GAIN_CELL = 10  # analysis pixels per side of a lighting (gain) cell, roughly
_DEV_CAP = 40.0  # clip on residuals fed into `dev`, so one big change cannot blind a pixel long
_DEV_INIT = 3.0
_TAU_BG = 8.0  # s, background learning where nothing changed
_TAU_FG = 45.0  # s, background learning under foreground
_TAU_DEV = 20.0  # s, variability learning
_CALIBRATION_FRAMES = 5  # frames learnt quickly after start or reset, without reporting change
_SETTLE_SECONDS = 1.0  # change ignored after a global reset
_LIGHTING_HOLD_SECONDS = 1.0  # a moving light keeps the detector cautious this long
_RELIT_TEXTURE = 8.0  # std (grey levels) a region needs for the re-lit test ...
_RELIT_NCC = 0.85  # ... and the correlation with the background that makes it light, not an object
_GAIN_EVENT = 0.10  # |ln median gain| that counts as a global lighting change
_LOCAL_GAIN_EVENT = 0.15  # |ln gain| of a cell that counts as re-lit ...
_LOCAL_GAIN_SHARE = 0.3  # ... when this share of cells is
_GLOBAL_CHANGE_SHARE = 0.35  # changed share of the frame that the gain model failed to explain ...
_GLOBAL_CELL_SHARE = 0.7  # ... spread over at least this share of gain cells: reset
_TONE_EVENT = 0.15  # |ln slope| of the cells' tone line that counts as a contrast change ...
_TONE_MEAN_SHIFT = 0.03  # ... tried only when a new change came with this global mean shift
_TONE_SPREAD = 2.0  # ... when the cell means spread (std, grey levels) at least this much
_SOLID_REGION = 4  # times min_area: a region this large ...
_SOLID_DENSITY = 0.4  # ... and this filled counts at once, without persistence
_PERSIST_SHARE = 0.25  # share of a region's changed pixels also changed in the previous frame
_GAIN_LO = math.exp(-_GAIN_EVENT)  # every cell gain within these: no lighting event possible
_GAIN_HI = math.exp(_GAIN_EVENT)


@dataclass(slots=True)
class MotionConfig:
    """Tuning for one camera; see the module docstring for each field's meaning."""

    sensitivity: int = 50
    min_area: float = 0.001
    analysis_height: int = 90
    zones: list[Polygon] = field(default_factory=list)
    masks: list[Polygon] = field(default_factory=list)
    trigger_frames: int = 2
    clear_seconds: float = 5.0

    def __post_init__(self) -> None:
        """Reject values the detector cannot honour, naming the field."""
        if isinstance(self.sensitivity, bool) or not isinstance(self.sensitivity, int):
            raise ValueError(f"sensitivity must be an integer, got {self.sensitivity!r}")
        if not 0 <= self.sensitivity <= 100:
            raise ValueError(f"sensitivity must be within 0-100, got {self.sensitivity}")
        if not 0.0 <= self.min_area < 1.0:
            raise ValueError(f"min_area must be a fraction in [0, 1), got {self.min_area}")
        if not 8 <= self.analysis_height <= 2160:
            raise ValueError(
                f"analysis_height must be within 8-2160 px, got {self.analysis_height}"
            )
        if self.trigger_frames < 1:
            raise ValueError(f"trigger_frames must be at least 1, got {self.trigger_frames}")
        if not (self.clear_seconds >= 0.0 and math.isfinite(self.clear_seconds)):
            raise ValueError(f"clear_seconds must be >= 0, got {self.clear_seconds}")
        for kind, polygons in (("zones", self.zones), ("masks", self.masks)):
            for i, polygon in enumerate(polygons):
                if len(polygon) < 3:
                    raise ValueError(f"{kind}[{i}] needs at least 3 points, got {len(polygon)}")
                for x, y in polygon:
                    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                        raise ValueError(f"{kind}[{i}] has point ({x}, {y}) outside 0-1")


@dataclass(slots=True, frozen=True)
class MotionResult:
    """What one frame showed."""

    motion: bool
    score: float
    boxes: list[tuple[int, int, int, int]]
    lighting_change: bool


def _sample_index(n_in: int, n_out: int) -> npt.NDArray[np.intp] | slice:
    """Centres of `n_out` equal bins over `n_in` pixels; a slice (a view, no gather) if even."""
    if n_in % n_out == 0:
        step = n_in // n_out
        return slice(step // 2, n_in, step)
    return ((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)


def _pool_matrix(n: int, cells: int, *, mean: bool) -> F32:
    """(cells, n) matrix summing (or averaging) consecutive, near-equal runs of pixels."""
    owner = np.minimum((np.arange(n) * cells) // n, cells - 1)
    m = np.zeros((cells, n), np.float32)
    m[owner, np.arange(n)] = 1.0
    if mean:
        m /= m.sum(axis=1, keepdims=True)
    return m


def _cell_edges(n: int, cells: int) -> list[int]:
    """First pixel of each cell of `_pool_matrix(n, cells)`, plus `n`."""
    owner = np.minimum((np.arange(n) * cells) // n, cells - 1)
    return [int(i) for i in np.searchsorted(owner, np.arange(cells + 1))]


def _interp_matrix(n: int, cells: int) -> F32:
    """(n, cells) bilinear weights from cell centres back to pixels, clamped at the borders."""
    pos = np.clip((np.arange(n) + 0.5) * cells / n - 0.5, 0.0, cells - 1.0)
    lo = np.minimum(pos.astype(np.intp), max(cells - 2, 0))
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((n, cells), np.float32)
    m[np.arange(n), lo] = 1.0 - frac
    if cells > 1:
        m[np.arange(n), lo + 1] += frac
    return m


def rasterise(polygons: list[Polygon], h: int, w: int) -> Bool:
    """Pixels of an h x w grid whose centres fall inside any polygon (even-odd rule)."""
    ys = ((np.arange(h) + 0.5) / h)[:, None]
    xs = ((np.arange(w) + 0.5) / w)[None, :]
    inside = np.zeros((h, w), np.bool_)
    for polygon in polygons:
        poly = np.zeros((h, w), np.bool_)
        for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
            if y1 == y2:
                continue
            crosses = (ys >= min(y1, y2)) & (ys < max(y1, y2))
            x_at = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
            poly ^= crosses & (xs < x_at)
        inside |= poly
    return inside


def _relit(seen: F32, before: F32) -> bool:
    """Whether changed pixels keep the background's texture: both textured, highly correlated.

    Moments by dot products: a few calls instead of `std` and `corrcoef`.
    """
    n = seen.size
    s_dev = seen - np.float32(float(seen.sum()) / n)  # centred first: no cancellation
    b_dev = before - np.float32(float(before.sum()) / n)
    b_var, s_var = float(b_dev @ b_dev) / n, float(s_dev @ s_dev) / n
    if min(b_var, s_var) <= _RELIT_TEXTURE * _RELIT_TEXTURE:
        return False
    return float(s_dev @ b_dev) / n > _RELIT_NCC * math.sqrt(b_var * s_var)


def _tone_line(f_cells: F32, b_cells: F32) -> tuple[float, float] | None:
    """Robust line `frame = slope * background + offset` through the gain-cell means.

    None unless the cells span enough grey levels to fix a slope and the slope is a contrast
    change (`_TONE_EVENT`): an object moves a few cells off the line, a contrast change moves
    the whole line. Outlying cells are dropped and the line refitted once.
    """
    x = b_cells.ravel().astype(np.float64)
    y = f_cells.ravel().astype(np.float64)
    keep = np.ones(x.size, np.bool_)
    slope = offset = 0.0
    for _ in range(2):
        xk, yk = x[keep], y[keep]
        dx = xk - xk.mean()
        sxx = float(dx @ dx)
        if sxx < _TONE_SPREAD**2 * xk.size:
            return None
        slope = float(dx @ (yk - yk.mean())) / sxx
        offset = float(yk.mean()) - slope * float(xk.mean())
        miss = np.abs(y - (slope * x + offset))
        keep = miss <= max(3.0 * float(np.median(miss)), 2.0)
    if slope <= 0.0 or abs(math.log(slope)) < _TONE_EVENT:
        return None
    return slope, offset


def _label_runs(active: Bool) -> tuple[npt.NDArray[np.intp], list[int], list[int], list[int]]:
    """8-connected labelling of a small boolean grid by row runs and union-find.

    Returns each run's component root plus the run's row, first column and end column
    (exclusive). A handful of runs is typical, so the Python loop is cheaper than any
    iterative numpy labelling.
    """
    rows, cols = active.shape
    padded = np.zeros((rows, cols + 2), np.int8)
    padded[:, 1:-1] = active
    edges = np.diff(padded.ravel())
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1)
    pitch = cols + 2
    run_row = (starts // pitch).tolist()
    run_c0 = (starts % pitch - 1).tolist()
    run_c1 = (ends % pitch).tolist()
    parent = list(range(len(run_row)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    prev_lo = prev_hi = cur_lo = 0  # run index ranges of the previous and the current row
    for j, row in enumerate(run_row):
        if j == 0 or row != run_row[j - 1]:
            if j > 0 and row == run_row[j - 1] + 1:
                prev_lo, prev_hi = cur_lo, j
            else:
                prev_lo = prev_hi = j
            cur_lo = j
        for k in range(prev_lo, prev_hi):
            if run_c0[k] <= run_c1[j] and run_c0[j] <= run_c1[k]:
                a, b = find(j), find(k)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.fromiter((find(i) for i in range(len(parent))), np.intp, len(parent))
    return roots, run_row, run_c0, run_c1


class _Grid:
    """Everything that depends on the input shape and config, precomputed once."""

    def __init__(self, shape: tuple[int, int], config: MotionConfig) -> None:
        in_h, in_w = shape
        h = min(config.analysis_height, in_h)
        w = max(1, min(in_w, round(in_w * h / in_h)))
        self.shape = shape
        self.h, self.w = h, w
        self.rows = _sample_index(in_h, h)
        self.cols = _sample_index(in_w, w)
        # input-pixel edges of each analysis pixel, for mapping boxes back
        self.y_edges = np.round(np.arange(h + 1) * (in_h / h)).astype(np.intp).tolist()
        self.x_edges = np.round(np.arange(w + 1) * (in_w / w)).astype(np.intp).tolist()
        gr = max(1, round(h / _GAIN_CELL))
        gc = max(1, round(w / _GAIN_CELL))
        self.gain_cells = gr * gc
        self.pool_y = _pool_matrix(h, gr, mean=True)
        self.pool_x = _pool_matrix(w, gc, mean=True).T.copy()
        self.up_y = _interp_matrix(h, gr)
        self.up_x = _interp_matrix(w, gc).T.copy()
        lr = -(-h // _LABEL_CELL)
        lc = -(-w // _LABEL_CELL)
        self.count_y = _pool_matrix(h, lr, mean=False)
        self.count_x = _pool_matrix(w, lc, mean=False).T.copy()
        self.label_h = _cell_edges(h, lr)
        self.label_w = _cell_edges(w, lc)
        roi = rasterise(config.zones, h, w) if config.zones else np.ones((h, w), np.bool_)
        if config.masks:
            roi &= ~rasterise(config.masks, h, w)
        self.roi: Bool | None = None if roi.all() else roi
        self.roi_pixels = int(roi.sum())
        self.min_pixels = max(1.0, config.min_area * h * w)

    def cells(self, image: F32) -> F32:
        """Means of `image` over the gain cells."""
        return cast(F32, self.pool_y @ image @ self.pool_x)


class _Buffers:
    """Per-frame work arrays on the analysis grid, reused so the steady state allocates little."""

    def __init__(self, h: int, w: int) -> None:
        self.sample = np.empty((h, w), np.uint8)
        self.frame = np.empty((h, w), np.float32)
        self.threshold = np.empty((h, w), np.float32)
        self.expected = np.empty((h, w), np.float32)
        self.residual = np.empty((h, w), np.float32)
        self.scratch = np.empty((h, w), np.float32)
        self.changed = np.empty((h, w), np.bool_)
        self.tone_expected = np.empty((h, w), np.float32)  # the same under a global tone line
        self.tone_residual = np.empty((h, w), np.float32)
        self.tone_changed = np.empty((h, w), np.bool_)
        self.stack = np.empty((3, h, w), np.float32)  # keep mask, frame and background under it
        # constants as arrays: numpy's minimum against a full array is 3x faster than a scalar
        self.dev_cap = np.full((h, w), _DEV_CAP, np.float32)
        self.white = np.full((h, w), 255.0, np.float32)


def _thresholds(sensitivity: int) -> tuple[float, float]:
    """(k, floor) for a sensitivity: 0 -> (7, 25), 50 -> (4.5, 15), 100 -> (2, 5)."""
    return 7.0 - 0.05 * sensitivity, 25.0 - 0.2 * sensitivity


class MotionDetector:
    """Stateful detector for one camera; not thread-safe, feed it from one thread."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self._config = config if config is not None else MotionConfig()
        self._k, self._floor = _thresholds(self._config.sensitivity)
        self._grid: _Grid | None = None
        self.reset()

    @property
    def config(self) -> MotionConfig:
        """The current tuning."""
        return self._config

    @config.setter
    def config(self, config: MotionConfig) -> None:
        """Apply new tuning; the learnt background survives unless the grid changes."""
        old = self._config
        self._config = config
        self._k, self._floor = _thresholds(config.sensitivity)
        if (config.analysis_height, config.zones, config.masks, config.min_area) != (
            old.analysis_height,
            old.zones,
            old.masks,
            old.min_area,
        ):
            if self._grid is not None and config.analysis_height != old.analysis_height:
                self.reset()
            elif self._grid is not None:
                self._grid = _Grid(self._grid.shape, config)

    def set_sensitivity(self, sensitivity: int) -> None:
        """Change sensitivity at runtime (validated like the config)."""
        self.config = replace(self._config, sensitivity=sensitivity)

    def reset(self) -> None:
        """Forget the background and the motion state."""
        self._grid = None
        self._buf: _Buffers | None = None
        self._bg: F32 | None = None
        self._b_cells: F32 | None = None  # the background's gain-cell means
        self._dev: F32 | None = None
        self._learnt = 0
        self._last_ts: float | None = None
        self._settle_until = -math.inf
        self._lit_until = -math.inf
        self._streak = 0
        self._prev_changed: Bool | None = None  # the last frame's changed pixels, if it had regions
        self._persists = False
        self._last_change_ts = -math.inf
        self._motion = False

    def process(self, luma: npt.NDArray[np.uint8], timestamp: float) -> MotionResult:
        """Analyse one frame; `timestamp` in seconds, increasing."""
        if luma.ndim != 2:
            raise ValueError(f"luma must be a 2-D (H, W) array, got shape {luma.shape}")
        grid = self._grid
        if grid is None or grid.shape != luma.shape:
            self.reset()
            grid = self._grid = _Grid((luma.shape[0], luma.shape[1]), self._config)
        previous, self._prev_changed, self._persists = self._prev_changed, None, False
        buf = self._buf
        if buf is None or buf.frame.shape != (grid.h, grid.w):
            buf = self._buf = _Buffers(grid.h, grid.w)
        frame = buf.frame
        # gather to bytes first: a strided, casting copy is three times slower on a cold frame
        np.copyto(buf.sample, luma[grid.rows][:, grid.cols])
        np.copyto(frame, buf.sample)
        dt = 0.2 if self._last_ts is None else min(max(timestamp - self._last_ts, 0.0), 10.0)
        self._last_ts = timestamp
        f_cells = grid.cells(frame)

        bg, dev, b_cells = self._bg, self._dev, self._b_cells
        if bg is None or dev is None or b_cells is None:
            self._bg = frame.copy()
            self._b_cells = f_cells
            self._dev = np.full(frame.shape, _DEV_INIT, np.float32)
            self._learnt = 1
            return self._finish(False, 0.0, [], False, timestamp)

        # lighting: smooth gain field from the coarse cell means (the background's are kept)
        gain = (f_cells + np.float32(4.0)) / (b_cells + np.float32(4.0))
        gain, g_max = self._bound_gain(gain)
        if g_max is None:
            self._lit_until = timestamp + _LIGHTING_HOLD_SECONDS
        lighting = timestamp < self._lit_until
        scale = np.float32(2.0 if lighting else 1.0)  # while the light moves: demand more
        threshold = np.multiply(dev, np.float32(self._k) * scale, out=buf.threshold)
        threshold += np.float32(self._floor) * scale
        changed = self._compare(frame, bg, gain, g_max, threshold, buf)
        n_changed = int(np.count_nonzero(changed))
        if n_changed >= grid.min_pixels:
            # an object darkens or brightens its cells' means: estimate the gain without it
            gain = self._gain_without(frame, bg, changed, gain, buf)
            changed = self._compare(frame, bg, gain, float(gain.max()), threshold, buf)
            n_changed = int(np.count_nonzero(changed))
        calibrating = self._learnt < _CALIBRATION_FRAMES or timestamp < self._settle_until
        if (
            n_changed >= grid.min_pixels
            and not (lighting or calibrating or self._streak)
            and abs(float(f_cells.mean()) / float(b_cells.mean()) - 1.0) > _TONE_MEAN_SHIFT
        ):
            # a sudden contrast change (IR switch, gamma) moves dark and bright cells differently:
            # a gain field leaves dark objects behind, a global tone line explains them
            tone = _tone_line(f_cells, b_cells)
            if tone is not None:
                n_toned = self._compare_tone(frame, bg, tone, threshold, buf)
                if n_toned * 4 <= n_changed:  # the line explains the change: adopt its results
                    buf.expected, buf.tone_expected = buf.tone_expected, buf.expected
                    buf.residual, buf.tone_residual = buf.tone_residual, buf.residual
                    buf.changed, buf.tone_changed = buf.tone_changed, buf.changed
                    self._lit_until = timestamp + _LIGHTING_HOLD_SECONDS
                    lighting = True
                    changed = buf.changed
                    n_changed = n_toned
        expected, residual = buf.expected, buf.residual

        if n_changed > _GLOBAL_CHANGE_SHARE * changed.size and not calibrating:
            share = grid.pool_y @ changed.astype(np.float32) @ grid.pool_x
            if np.count_nonzero(share > 0.1) >= _GLOBAL_CELL_SHARE * grid.gain_cells:
                # a change the gain model cannot explain, everywhere: relearn from this frame
                self._bg = frame.copy()
                self._b_cells = f_cells
                self._learnt = 0
                self._settle_until = timestamp + _SETTLE_SECONDS
                return self._finish(False, 0.0, [], True, timestamp)

        # learning: the background adopts the lighting, then follows the frame with time constants
        if lighting:  # swap buffers: the background under the new light becomes the background
            bg, buf.expected = expected, bg
        if calibrating:
            a_bg = a_fg = 0.5
            a_dev = 0.3
        elif lighting:  # re-learn what the light revealed or hid (saturation, shadows) quickly
            a_bg = a_fg = 0.7
            a_dev = 1.0 - math.exp(-dt / _TAU_DEV)
        else:
            a_bg = 1.0 - math.exp(-dt / _TAU_BG)
            a_fg = 1.0 - math.exp(-dt / _TAU_FG)
            a_dev = 1.0 - math.exp(-dt / _TAU_DEV)
        step = np.subtract(frame, bg, out=buf.scratch)
        if n_changed >= grid.min_pixels or lighting:
            rate = buf.stack[0]  # free again: a_bg, and a_fg under foreground
            np.copyto(rate, changed, casting="unsafe")
            rate *= np.float32(a_fg - a_bg)
            rate += np.float32(a_bg)
            step *= rate
            bg += step
            self._b_cells = grid.cells(bg)
        else:  # the common case: one rate for all (a few changed pixels that make no region
            # are speckle), and the cell means follow linearly
            step *= np.float32(a_bg)
            bg += step
            b_cells += np.float32(a_bg) * (f_cells - b_cells)
        self._bg = bg
        np.minimum(residual, buf.dev_cap, out=residual)
        residual -= dev
        residual *= np.float32(a_dev)
        dev += residual
        self._learnt += 1

        if calibrating:
            settling = timestamp < self._settle_until
            return self._finish(False, 0.0, [], lighting or settling, timestamp)
        if grid.roi is not None:
            changed &= grid.roi
            n_changed = int(np.count_nonzero(changed))
        if n_changed < grid.min_pixels:
            return self._finish(False, 0.0, [], lighting, timestamp)
        score, boxes, relit = self._regions(changed, frame, bg, grid, previous)
        if boxes:
            self._prev_changed = changed.copy()
        return self._finish(bool(boxes), score, boxes, lighting or relit, timestamp)

    def _bound_gain(self, gain: F32) -> tuple[F32, float | None]:
        """The gain clipped to a sane range, and its maximum; None instead if the scene was re-lit.

        Re-lit means the median cell gain is off by more than `_GAIN_EVENT` or a large share of
        cells by more than `_LOCAL_GAIN_EVENT`. Most frames are settled by the extremes alone.
        """
        assert self._grid is not None
        g_min, g_max = float(gain.min()), float(gain.max())
        if g_min < 0.05 or g_max > 20.0:
            gain = np.clip(gain, np.float32(0.05), np.float32(20.0))
        if g_min >= _GAIN_LO and g_max <= _GAIN_HI:
            return gain, g_max
        if abs(math.log(float(np.median(gain)))) > _GAIN_EVENT:
            return gain, None
        relit = np.count_nonzero(np.abs(np.log(gain)) > _LOCAL_GAIN_EVENT)
        if relit > _LOCAL_GAIN_SHARE * self._grid.gain_cells:
            return gain, None
        return gain, g_max

    def _compare(
        self, frame: F32, bg: F32, gain: F32, g_max: float | None, threshold: F32, buf: _Buffers
    ) -> Bool:
        """Background under the frame's lighting (saturating like a sensor), residual, changed.

        `buf.expected` and `buf.residual` receive the first two; the mask is returned.
        """
        assert self._grid is not None
        expected = np.multiply(bg, self._grid.up_y @ gain @ self._grid.up_x, out=buf.expected)
        if g_max is None or g_max > 1.0:  # bg <= 255, so only a gain above 1 can saturate
            np.minimum(expected, buf.white, out=expected)
        residual = np.subtract(frame, expected, out=buf.residual)
        np.abs(residual, out=residual)
        return cast(Bool, np.greater(residual, threshold, out=buf.changed))

    def _compare_tone(
        self, frame: F32, bg: F32, tone: tuple[float, float], threshold: F32, buf: _Buffers
    ) -> int:
        """`_compare` under a global tone line, with the doubled thresholds of a lighting event.

        Fills the `buf.tone_*` arrays; returns the changed count.
        """
        slope, offset = tone
        expected = np.multiply(bg, np.float32(slope), out=buf.tone_expected)
        expected += np.float32(offset)
        np.clip(expected, np.float32(0.0), np.float32(255.0), out=expected)
        residual = np.subtract(frame, expected, out=buf.tone_residual)
        np.abs(residual, out=residual)
        changed = np.greater(residual, threshold + threshold, out=buf.tone_changed)
        return int(np.count_nonzero(changed))

    def _gain_without(
        self, frame: F32, bg: F32, exclude: Bool, fallback: F32, buf: _Buffers
    ) -> F32:
        """Per-cell ratio of frame to background means, over the pixels not in `exclude`.

        A cell mostly excluded takes the median gain of the others, so a large object neither
        darkens its surroundings nor fades into the gain field; with nothing left, `fallback`.
        """
        grid = self._grid
        assert grid is not None
        stack = buf.stack
        keep = stack[0]
        np.logical_not(exclude, out=keep, casting="unsafe")
        np.multiply(frame, keep, out=stack[1])
        np.multiply(bg, keep, out=stack[2])
        share, f_cells, b_cells = grid.pool_y @ stack @ grid.pool_x
        valid = share > 0.25
        gain = (f_cells + 4.0 * share) / (b_cells + 4.0 * share + 1e-6)
        if not valid.any():
            return fallback
        if not valid.all():
            gain[~valid] = np.median(gain[valid])
        return cast(F32, np.clip(gain, np.float32(0.05), np.float32(20.0)))

    def _regions(
        self,
        changed: Bool,
        frame: F32,
        background: F32,
        grid: _Grid,
        previous: Bool | None = None,
    ) -> tuple[float, list[tuple[int, int, int, int]], bool]:
        """Connected regions of changed pixels at least `min_area` large: score, boxes, relit.

        A region whose pixels keep the background's texture (correlation > `_RELIT_NCC` over a
        textured background) was re-lit, not entered: a beam of light, a shadow. It is dropped
        and reported as a lighting change. On a flat background the two cannot be told apart,
        and the region counts as motion.
        """
        relit = False
        counts = grid.count_y @ changed.astype(np.float32) @ grid.count_x
        active = counts >= _CELL_MIN_CHANGED
        roots, run_row, run_c0, run_c1 = _label_runs(active)
        if not run_row:
            return 0.0, [], False
        cum = np.zeros((counts.shape[0], counts.shape[1] + 1), np.float32)
        np.cumsum(counts, axis=1, out=cum[:, 1:])
        r = np.asarray(run_row, np.intp)
        run_area = cum[r, np.asarray(run_c1, np.intp)] - cum[r, np.asarray(run_c0, np.intp)]
        area = np.bincount(roots, weights=run_area)
        total = 0.0
        boxes: list[tuple[int, int, int, int]] = []
        for root in np.flatnonzero(area >= grid.min_pixels).tolist():
            members = np.flatnonzero(roots == root).tolist()
            y0 = grid.label_h[min(run_row[i] for i in members)]
            y1 = grid.label_h[max(run_row[i] for i in members) + 1]
            x0 = grid.label_w[min(run_c0[i] for i in members)]
            x1 = grid.label_w[max(run_c1[i] for i in members)]
            sub = changed[y0:y1, x0:x1]
            seen = frame[y0:y1, x0:x1][sub]
            before = background[y0:y1, x0:x1][sub]
            if _relit(seen, before):
                relit = True
                continue
            ys = np.flatnonzero(sub.any(axis=1))
            xs = np.flatnonzero(sub.any(axis=0))
            top, bottom = y0 + int(ys[0]), y0 + int(ys[-1]) + 1
            left, right = x0 + int(xs[0]), x0 + int(xs[-1]) + 1
            x = grid.x_edges[left]
            y = grid.y_edges[top]
            boxes.append((x, y, grid.x_edges[right] - x, grid.y_edges[bottom] - y))
            total += float(area[root])
            if not self._persists:
                pixels = np.count_nonzero(sub)
                # A large, solid region is an object however fast it moves (a motorbike can
                # jump more than its own length between analysed frames); speckle never is.
                solid = pixels >= _SOLID_REGION * grid.min_pixels and pixels >= _SOLID_DENSITY * (
                    bottom - top
                ) * (right - left)
                again = (
                    np.count_nonzero(sub & previous[y0:y1, x0:x1]) if previous is not None else 0
                )
                self._persists = solid or bool(again >= _PERSIST_SHARE * pixels)
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        return min(1.0, total / max(grid.roi_pixels, 1)), boxes, relit

    def _finish(
        self,
        changed: bool,
        score: float,
        boxes: list[tuple[int, int, int, int]],
        lighting: bool,
        timestamp: float,
    ) -> MotionResult:
        """Hysteresis: on after `trigger_frames` changed frames, off after `clear_seconds`.

        Consecutive changed frames only make a streak when a region's changed pixels were partly
        (`_PERSIST_SHARE`) changed in the previous frame too: speckle (rain, snow) makes regions
        that hop about.
        Only a confirmed streak keeps motion on.
        """
        if changed:
            if self._streak and not self._persists:
                self._streak = 0
            self._streak += 1
            if self._streak >= self._config.trigger_frames:
                self._motion = True
                self._last_change_ts = timestamp
        else:
            self._streak = 0
            if self._motion and timestamp - self._last_change_ts >= self._config.clear_seconds:
                self._motion = False
        return MotionResult(self._motion, score, boxes, lighting)
