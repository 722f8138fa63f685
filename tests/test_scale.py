"""The camera's size at the camera's rate (realtime/scale.py, offline/guided.py): a processing
size apart from the frame's, edge-aware upsampling, and a ladder of sizes that holds a rate."""

import numpy as np
import pytest

from offline.effects import Effect
from offline.guided import bilinear_upsample, guided_upsample
from realtime.scale import RateController, ScaledEffect, fit, ladder


def test_the_ladder_fits_the_frame_keeps_the_aspect_and_never_upscales():
    assert ladder((1280, 720), (640, 360)) == [(640, 360), (512, 288), (408, 232), (320, 176)]
    assert ladder((640, 360), (1280, 720))[0] == (640, 360)  # never above the frame's own size
    assert fit((1000, 1000), (640, 360)) == (360, 360)
    w, h = fit((1281, 719), (640, 360))
    assert w % 8 == 0 and h % 8 == 0 and abs(w / h - 1281 / 719) < 0.03


def test_guided_upsampling_of_a_flat_frame_is_flat_and_odd_sizes_come_back_whole():
    flat = np.full((721, 1283, 3), (90, 140, 200), np.uint8)
    small = np.full((361, 641, 3), (90, 140, 200), np.uint8)
    out = guided_upsample(np.full((361, 641, 3), (30, 60, 90), np.uint8), small, flat)
    assert out.shape == flat.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - (30, 60, 90)).max() <= 1


def test_guided_upsampling_is_sharper_than_bilinear_where_the_frame_has_an_edge():
    """A step edge, and an output that follows it (dark left, light right): the guided result has
    the full-size frame's sharp step where bilinear spreads it over the small size's pixels."""
    import cv2

    frame = np.zeros((96, 160, 3), np.uint8)
    frame[:, 81:] = 200  # the edge falls between two small pixels
    small = cv2.resize(frame, (80, 48), interpolation=cv2.INTER_AREA)
    styled = np.clip(small.astype(int) // 2 + 40, 0, 255).astype(np.uint8)  # follows the frame
    guided, plain = guided_upsample(styled, small, frame), bilinear_upsample(styled, frame)
    step = lambda im: np.abs(np.diff(im[48, :, 1].astype(int))).max()  # noqa: E731 - the steepest step
    assert step(guided) > 1.5 * step(plain)
    assert np.abs(guided[:, :70].astype(int) - 40).max() <= 2  # flat parts untouched
    assert np.abs(guided[:, 92:].astype(int) - 140).max() <= 2


class SlowEffect(Effect):
    """Takes ``cost`` seconds per megapixel of its input (a fake model), counted by shape."""

    name = "slow"

    def __init__(self, cost):
        self.cost, self.shapes, self.warmed = cost, [], []

    def warmup(self, size):
        self.warmed.append(tuple(size))
        return 0.0

    def __call__(self, image):
        self.shapes.append(image.shape[:2])
        return image


def test_target_fps_settles_on_a_smaller_size_and_comes_back_when_the_effect_speeds_up():
    rungs = ladder((1280, 720), (640, 360))
    control = RateController(rungs, target_fps=30, patience=5, window=5)
    cost = {r: 0.05 * (r[0] * r[1]) / (640 * 360) for r in rungs}  # 50 ms at the top: too slow for 30
    levels = [control.update(cost[rungs[control.level]]) for _ in range(200)]
    settled = rungs[levels[-1]]
    assert cost[settled] <= 1 / 30 and levels[-1] > 0
    assert len(set(levels[-100:])) == 1  # settled: no oscillation between two rungs
    fast = {r: c / 4 for r, c in cost.items()}  # the effect got 4x faster (a smaller style, a quiet machine)
    levels = [control.update(fast[rungs[control.level]]) for _ in range(200)]
    assert levels[-1] == 0 and len(set(levels[-100:])) == 1


def test_the_scaled_effect_compiles_every_rung_at_warm_up_and_shows_the_frame_size():
    inner = SlowEffect(0)
    rungs = ladder((320, 180), (320, 180))
    scaled = ScaledEffect(inner, rungs, target_fps=30)
    scaled.warmup((320, 180))
    assert set(inner.warmed) == set(rungs)
    frame = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    scaled.level = 2
    out = scaled(frame)
    assert out.shape == frame.shape and inner.shapes[-1] == (rungs[2][1], rungs[2][0])
    assert "@" in scaled.label()


@pytest.mark.parametrize("size", [(161, 137), (322, 181)])
def test_the_real_stylize_effect_moves_along_the_ladder_without_retracing(size):
    from offline.effects import StylizeEffect
    from offline.fast import FastStylizer
    from offline.adain import StyleStats

    st = FastStylizer.random(seed=0)
    styles = [("a", StyleStats(np.zeros(st.channels, np.float32), np.ones(st.channels, np.float32), "a"))]
    rungs = ladder(size, size, steps=(1.0, 0.5))
    scaled = ScaledEffect(StylizeEffect(st, styles), rungs, target_fps=30)
    scaled.warmup(size)
    traces = scaled.traces
    frame = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for level in (0, 1, 0, 1, 1, 0):
        scaled.level = level
        assert scaled(frame).shape == frame.shape
    assert scaled.traces == traces == len(rungs)
