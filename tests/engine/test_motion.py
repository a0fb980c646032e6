"""MotionDetector on generated frames: what must move it, what must not, and its contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from custom_components.anninh.engine.motion import (
    MotionConfig,
    MotionDetector,
    MotionResult,
    _label_runs,
    _tone_line,
)

H, W = 360, 640
FPS = 5.0
Frame = npt.NDArray[np.uint8]


def scene(seed: int = 1, h: int = H, w: int = W) -> npt.NDArray[np.float32]:
    """A textured still scene: smooth shapes plus fine texture, mid grey."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 110 + 40 * np.sin(xx / 41.0) * np.cos(yy / 29.0)
    texture = rng.normal(0, 12, (h // 8 + 1, w // 8 + 1)).repeat(8, 0).repeat(8, 1)
    base += texture[:h, :w]
    return base.astype(np.float32)


def render(img: npt.NDArray[np.float32], rng: np.random.Generator, sigma: float = 2.0) -> Frame:
    out = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def feed(
    det: MotionDetector,
    make: Callable[[int], Frame],
    n: int,
    start: int = 0,
) -> list[MotionResult]:
    return [det.process(make(i), i / FPS) for i in range(start, start + n)]


def fast_config(**kw: object) -> MotionConfig:
    return MotionConfig(**{"trigger_frames": 2, "clear_seconds": 1.0, **kw})  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def block_frames(
    base: npt.NDArray[np.float32], rng: np.random.Generator, x0: int, y0: int, speed: int
) -> Callable[[int], Frame]:
    """A dark 60x80 block entering at frame 20, moving `speed` px per frame to the right."""

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            x = x0 + (i - 20) * speed
            img[y0 : y0 + 80, x : x + 60] = 25.0
        return render(img, rng)

    return make


def test_moving_block_detected_with_right_box(rng: np.random.Generator) -> None:
    det = MotionDetector(fast_config())
    make = block_frames(scene(), rng, 100, 150, 8)
    before = feed(det, make, 20)
    assert not any(r.motion or r.boxes for r in before)
    after = feed(det, make, 10, start=20)
    assert after[0].boxes
    assert not after[0].motion  # trigger_frames=2: one frame is not enough
    assert all(r.motion for r in after[1:])
    for k, r in enumerate(after):
        x = 100 + k * 8
        assert len(r.boxes) == 1
        bx, by, bw, bh = r.boxes[0]
        # sampled at 4x: within four samples (16 px) of the truth on each edge
        assert abs(bx - x) <= 16, r.boxes
        assert abs(by - 150) <= 16, r.boxes
        assert abs(bx + bw - (x + 60)) <= 16, r.boxes
        assert abs(by + bh - 230) <= 16, r.boxes
        assert 0.01 < r.score < 0.03  # 60*80 / (640*360) = 0.021
        assert not r.lighting_change


def test_noise_compression_like_speckle_not_motion(rng: np.random.Generator) -> None:
    base = scene()
    det = MotionDetector()
    results = feed(det, lambda i: render(base, rng, sigma=8.0), 60)
    assert not any(r.motion for r in results)
    assert all(r.score == 0.0 for r in results[10:])


def test_rain_speckle_not_motion(rng: np.random.Generator) -> None:
    base = scene()

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            k = int(0.002 * H * W)
            ys, xs = rng.integers(0, H - 10, k), rng.integers(0, W, k)
            for d in range(8):
                img[ys + d, xs] += 60.0
        return render(img, rng)

    results = feed(MotionDetector(), make, 60)
    assert not any(r.motion for r in results)


@pytest.mark.parametrize("gain", [1.35, 0.7])
def test_brightness_step_not_motion_and_reported(rng: np.random.Generator, gain: float) -> None:
    base = scene()
    results = feed(MotionDetector(), lambda i: render(base * (gain if i >= 20 else 1.0), rng), 40)
    assert not any(r.motion for r in results)
    assert results[20].lighting_change
    assert not any(r.lighting_change for r in results[30:])  # recalibrated


def test_offset_step_not_motion(rng: np.random.Generator) -> None:
    base = scene()
    results = feed(MotionDetector(), lambda i: render(base + (30 if i >= 20 else 0), rng), 40)
    assert not any(r.motion for r in results)


def test_gain_ramp_not_motion(rng: np.random.Generator) -> None:
    base = scene()

    def make(i: int) -> Frame:
        t = i / FPS
        gain = 1.0 if t < 4 else max(0.35, 1.0 - 0.1 * (t - 4))  # dusk over ~6.5 s
        return render(base * gain, rng)

    results = feed(MotionDetector(), make, 80)
    assert not any(r.motion for r in results)
    assert any(r.lighting_change for r in results)


def test_fast_auto_exposure_ramp_with_saturation(rng: np.random.Generator) -> None:
    base = scene() + 60  # bright scene: parts saturate when exposure rises

    def make(i: int) -> Frame:
        gain = 1.0 + 0.7 * min(max(i - 20, 0) / 5, 1.0)
        return render(base * gain, rng)

    assert not any(r.motion for r in feed(MotionDetector(), make, 50))


def test_ir_switch_recalibrates_and_reports(rng: np.random.Generator) -> None:
    base = scene()
    night = 255.0 * (base / 255.0) ** 0.5 * 0.5 + 60.0 + scene(seed=9) * 0.3 - 30

    results = feed(MotionDetector(), lambda i: render(night if i >= 20 else base, rng, 3.0), 40)
    assert not any(r.motion for r in results)
    assert results[20].lighting_change
    assert not results[39].lighting_change
    # and motion is still found after the switch
    det = MotionDetector(fast_config())
    feed(det, lambda i: render(night if i >= 20 else base, rng, 3.0), 40)
    make = block_frames(night, rng, 300, 100, 6)
    assert any(r.motion for r in feed(det, make, 8, start=40))


def test_headlight_sweep_not_motion(rng: np.random.Generator) -> None:
    base = scene()
    xx = np.mgrid[0:H, 0:W][1].astype(np.float32)

    def make(i: int) -> Frame:
        t = i / FPS - 6
        if not 0 <= t <= 2.5:
            return render(base, rng)
        x0 = (-0.3 + 1.6 * t / 2.5) * W
        beam = np.exp(-((xx - x0) ** 2) / (2 * (0.15 * W) ** 2))
        return render(base * (1 + beam) + 20 * beam, rng)

    results = feed(MotionDetector(), make, 60)
    assert not any(r.motion for r in results)
    assert any(r.lighting_change for r in results)


def test_swaying_texture_suppressed_while_object_elsewhere_found(
    rng: np.random.Generator,
) -> None:
    base = scene()
    det = MotionDetector(fast_config())

    def swaying(i: int) -> npt.NDArray[np.float32]:
        img = base.copy()
        dx = round(4 * np.sin(2 * np.pi * 0.6 * i / FPS))
        img[180:, :200] = np.roll(base[180:, :200], dx, axis=1)
        return img

    learning = feed(det, lambda i: render(swaying(i), rng), 300)  # 60 s of wind
    assert any(r.boxes for r in learning[:20])  # at first the branches do register
    assert not any(r.motion for r in learning[200:])  # learnt

    def with_object(i: int) -> Frame:
        img = swaying(i)
        x = 400 + (i - 300) * 6
        img[60:140, x : x + 50] = 20.0
        return render(img, rng)

    found = feed(det, with_object, 10, start=300)
    assert all(r.motion for r in found[1:])
    for r in found:
        assert all(bx >= 380 for bx, _, _, _ in r.boxes), r.boxes


def test_zones_and_masks(rng: np.random.Generator) -> None:
    base = scene()
    right_half = [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]
    left_block = block_frames(base, rng, 80, 150, 4)  # stays in the left half
    right_block = block_frames(base, rng, 450, 150, 4)

    zoned = MotionDetector(fast_config(zones=[right_half]))
    assert not any(r.motion or r.boxes for r in feed(zoned, left_block, 30))
    zoned.reset()
    assert any(r.motion for r in feed(zoned, right_block, 30))

    masked = MotionDetector(fast_config(masks=[right_half]))
    assert not any(r.motion for r in feed(masked, right_block, 30))
    masked.reset()
    results = feed(masked, left_block, 30)
    assert any(r.motion for r in results)
    # score is relative to the analysed half
    assert max(r.score for r in results) > 60 * 80 / (W * H / 2) * 0.7


def test_hysteresis_timing(rng: np.random.Generator) -> None:
    base = scene()
    det = MotionDetector(MotionConfig(trigger_frames=3, clear_seconds=2.0))

    def make(i: int) -> Frame:
        img = base.copy()
        if 20 <= i < 30:
            x = 100 + (i - 20) * 10
            img[100:180, x : x + 60] = 20.0
        return render(img, rng)

    results = feed(det, make, 50)
    on = [i for i, r in enumerate(results) if r.motion]
    assert on[0] == 22  # third consecutive changed frame
    last_changed = max(i for i, r in enumerate(results) if r.boxes)
    assert last_changed >= 29
    # off once 2 s (10 frames) have passed since the last changed frame
    assert on[-1] == last_changed + 9
    assert not results[last_changed + 10].motion


def test_single_changed_frames_do_not_trigger(rng: np.random.Generator) -> None:
    base = scene()
    det = MotionDetector(fast_config())

    def make(i: int) -> Frame:
        img = base.copy()
        if i in (20, 22, 24):  # flashes, never two in a row
            img[100:180, 100:160] = 20.0
        return render(img, rng)

    assert not any(r.motion for r in feed(det, make, 30))


def test_strided_view_input_matches_contiguous(rng: np.random.Generator) -> None:
    make = block_frames(scene(), rng, 100, 150, 8)
    frames = [make(i) for i in range(30)]
    pitched = np.zeros((H, W + 64), np.uint8)
    a, b = MotionDetector(), MotionDetector()
    for i, f in enumerate(frames):
        pitched[:, :W] = f
        view = pitched[:, :W]
        assert not view.flags.c_contiguous
        ra, rb = a.process(f, i / FPS), b.process(view, i / FPS)
        assert ra == rb


@pytest.mark.parametrize(("h", "w"), [(1080, 1920), (576, 704), (50, 80)])
def test_other_sizes_box_in_input_pixels(rng: np.random.Generator, h: int, w: int) -> None:
    base = scene(h=h, w=w)
    bh, bw = h // 5, w // 10
    det = MotionDetector(fast_config())

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            x = w // 4 + (i - 20) * (w // 60)
            img[h // 3 : h // 3 + bh, x : x + bw] = 20.0
        return render(img, rng)

    r = feed(det, make, 22)[-1]
    assert r.motion
    x, y, bwd, bht = r.boxes[0]
    tol = max(2, h // 90 + 1) * 4  # four analysis samples
    assert abs(y - h // 3) <= tol
    assert abs(bht - bh) <= 2 * tol
    assert abs(x - (w // 4 + w // 60)) <= tol
    assert abs(bwd - bw) <= 2 * tol


def test_min_area_filters_small_objects(rng: np.random.Generator) -> None:
    base = scene()

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            img[100:112, 100 + i : 112 + i] = 10.0  # 12x12 = 0.06 % of the frame
        return render(img, rng)

    assert any(r.motion for r in feed(MotionDetector(fast_config(min_area=0.0002)), make, 30))
    assert not any(r.motion for r in feed(MotionDetector(fast_config(min_area=0.005)), make, 30))


def test_sensitivity_at_runtime(rng: np.random.Generator) -> None:
    base = np.full((H, W), 120.0, np.float32)

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            img[100:180, 100 + 4 * i : 160 + 4 * i] = 132.0  # faint: a grey coat on a grey wall
        return render(img, rng, 1.0)

    det = MotionDetector(fast_config(sensitivity=10))
    assert not any(r.motion for r in feed(det, make, 30))
    det.set_sensitivity(100)
    assert det.config.sensitivity == 100
    assert any(r.motion for r in feed(det, make, 10, start=30))
    with pytest.raises(ValueError, match="sensitivity"):
        det.set_sensitivity(101)


def test_config_reassignment_keeps_or_resets_background(rng: np.random.Generator) -> None:
    base = scene()
    det = MotionDetector(fast_config())
    feed(det, lambda i: render(base, rng), 10)
    det.config = fast_config(masks=[[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1)]])  # rebuilt, kept
    assert det.process(render(base, rng), 10 / FPS).score == 0.0
    det.config = fast_config(analysis_height=60)  # new grid: relearn
    first = det.process(render(base, rng), 11 / FPS)
    assert first == MotionResult(False, 0.0, [], False)
    det.config = fast_config(analysis_height=60, sensitivity=70)  # nothing structural


def test_shape_change_resets(rng: np.random.Generator) -> None:
    det = MotionDetector(fast_config())
    feed(det, lambda i: render(scene(), rng), 10)
    small = render(scene(h=180, w=320), rng)
    assert det.process(small, 3.0) == MotionResult(False, 0.0, [], False)


def test_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        MotionDetector().process(np.zeros((4, 4, 3), np.uint8), 0.0)


def test_flat_scene_object_and_relit_texture(rng: np.random.Generator) -> None:
    """On a flat wall, a uniform block is motion (no texture to tell it from light)."""
    flat = np.full((H, W), 120.0, np.float32)
    det = MotionDetector(fast_config())
    make = block_frames(flat, rng, 100, 100, 8)
    assert any(r.motion for r in feed(det, make, 30))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensitivity": 101}, "sensitivity"),
        ({"sensitivity": -1}, "sensitivity"),
        ({"sensitivity": 50.5}, "sensitivity must be an integer"),
        ({"sensitivity": True}, "sensitivity must be an integer"),
        ({"min_area": 1.0}, "min_area"),
        ({"min_area": -0.1}, "min_area"),
        ({"analysis_height": 4}, "analysis_height"),
        ({"trigger_frames": 0}, "trigger_frames"),
        ({"clear_seconds": -1.0}, "clear_seconds"),
        ({"clear_seconds": float("nan")}, "clear_seconds"),
        ({"zones": [[(0.0, 0.0), (1.0, 1.0)]]}, "zones\\[0\\] needs at least 3 points"),
        ({"masks": [[(0.0, 0.0), (1.5, 0.0), (0.0, 1.0)]]}, "masks\\[0\\] has point"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MotionConfig(**kwargs)  # type: ignore[arg-type]


def test_label_runs_connectivity() -> None:
    grid = np.array(
        [
            [1, 1, 0, 0, 1],
            [0, 0, 1, 0, 1],
            [1, 0, 0, 0, 0],
            [0, 0, 0, 1, 1],
            [0, 1, 1, 0, 0],
        ],
        bool,
    )
    roots, rows, c0, c1 = _label_runs(grid)
    labels = {(r, a, b): int(root) for r, a, b, root in zip(rows, c0, c1, roots, strict=True)}
    assert labels[(0, 0, 2)] == labels[(1, 2, 3)]  # diagonal touch joins
    assert labels[(0, 4, 5)] == labels[(1, 4, 5)]
    assert labels[(0, 0, 2)] != labels[(0, 4, 5)]
    assert labels[(2, 0, 1)] not in (labels[(0, 0, 2)], labels[(3, 3, 5)])
    assert labels[(3, 3, 5)] == labels[(4, 1, 3)]
    empty = _label_runs(np.zeros((3, 3), bool))
    assert len(empty[0]) == 0


def test_scene_replaced_resets_background(rng: np.random.Generator) -> None:
    """The camera was bumped (or IR changed every material): relearn, do not alarm."""
    before = scene(seed=1)
    # fine texture everywhere that was not there (IR lights up foliage): no gain field explains it
    after = ((np.indices(before.shape).sum(axis=0) // 4) % 2 * 160 + 40).astype(np.float32)
    det = MotionDetector(fast_config())
    results = feed(det, lambda i: render(after if i >= 20 else before, rng), 40)
    assert not any(r.motion for r in results)
    assert results[20].lighting_change
    assert not results[39].lighting_change
    # a replaced scene while still calibrating is simply learnt
    det.reset()
    feed(det, lambda i: render(before, rng), 1)
    assert not det.process(render(after, rng), 0.2).boxes


def test_region_keeping_background_texture_is_lighting(rng: np.random.Generator) -> None:
    """A re-lit patch keeps the wall's texture (high correlation): lighting, not an object."""
    det = MotionDetector(fast_config())
    base = scene()
    feed(det, lambda i: render(base, rng), 3)
    grid = det._grid
    assert grid is not None
    bg = base[grid.rows][:, grid.cols].astype(np.float32)
    changed = np.zeros(bg.shape, bool)
    changed[20:50, 40:80] = True
    lit = bg.copy()
    lit[changed] *= 1.6
    score, boxes, relit = det._regions(changed, lit, bg, grid)
    assert (score, boxes, relit) == (0.0, [], True)
    dark = bg.copy()
    dark[changed] = 20.0 + rng.normal(0, 10, int(changed.sum()))  # an object replaces texture
    score, boxes, relit = det._regions(changed, dark, bg, grid)
    assert boxes == [(160, 80, 160, 120)]
    assert not relit


def test_contrast_switch_with_dark_object_is_lighting(rng: np.random.Generator) -> None:
    """IR day/night on a low-contrast scene: only a dark object changes much, both ways."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    day = 164.0 + 6.0 * np.sin(xx / 53.0) * np.cos(yy / 31.0)
    day[150:200, 420:480] = 60.0  # a dark coin
    night = 255.0 * (day / 255.0) ** 0.6 * 0.55 + 70.0

    def make(i: int) -> Frame:
        return render(night if 20 <= i < 40 else day, rng, 3.0)

    results = feed(MotionDetector(), make, 60)
    assert not any(r.motion for r in results)
    assert results[20].lighting_change
    assert results[40].lighting_change


def test_contrast_switch_with_new_object_is_motion(rng: np.random.Generator) -> None:
    """A tone line that leaves most of the change unexplained is no excuse: an object came."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    day = 164.0 + 6.0 * np.sin(xx / 53.0) * np.cos(yy / 31.0)
    day[150:200, 420:480] = 60.0
    night = 255.0 * (day / 255.0) ** 0.6 * 0.55 + 70.0
    night[60:180, 40:160] = 20.0  # and a dark object arrives with it

    det = MotionDetector(fast_config())
    results = feed(det, lambda i: render(night if i >= 20 else day, rng, 3.0), 25)
    assert any(r.motion for r in results)


def test_lights_out_is_lighting(rng: np.random.Generator) -> None:
    base = scene()
    results = feed(MotionDetector(), lambda i: render(base * (0.02 if i >= 20 else 1.0), rng), 40)
    assert not any(r.motion for r in results)
    assert results[20].lighting_change


def test_hopping_regions_do_not_trigger(rng: np.random.Generator) -> None:
    """Sparse changed regions far apart in consecutive frames (speckle) make no streak."""
    base = scene()
    spots = [(20, 20), (250, 500), (20, 500), (250, 20), (120, 280)]
    speckle = np.random.default_rng(7).random((60, 60)) < 0.3

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            y, x = spots[i % len(spots)]
            patch = img[y : y + 60, x : x + 60]
            patch[speckle] = 20.0
        return render(img, rng)

    results = feed(MotionDetector(fast_config()), make, 30)
    assert all(r.boxes for r in results[20:])
    assert not any(r.motion for r in results)


def test_fast_solid_object_triggers(rng: np.random.Generator) -> None:
    """A solid object jumping further than its own size between frames is still motion."""
    base = scene()
    spots = [(20, 20), (250, 500), (20, 500), (250, 20), (120, 280)]

    def make(i: int) -> Frame:
        img = base.copy()
        if i >= 20:
            y, x = spots[i % len(spots)]
            img[y : y + 60, x : x + 60] = 20.0
        return render(img, rng)

    results = feed(MotionDetector(fast_config()), make, 30)
    assert any(r.motion for r in results[20:])


def test_tone_line_only_for_contrast_changes() -> None:
    rng = np.random.default_rng(3)
    cells = rng.uniform(100, 180, (9, 16)).astype(np.float32)
    ir = (255.0 * (cells / 255.0) ** 0.6 * 0.55 + 70.0).astype(np.float32)
    tone = _tone_line(ir, cells)
    assert tone is not None
    assert 0.3 < tone[0] < 0.6
    assert _tone_line(cells * np.float32(1.02), cells) is None  # no contrast change
    flat = np.full((9, 16), 150.0, np.float32)
    assert _tone_line(flat * np.float32(0.5), flat) is None  # no spread to fix a slope
