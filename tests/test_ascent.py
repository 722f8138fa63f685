"""The gradient-ascent engine (offline/ascent.py): octaves, jitter, tiles, objectives. Random weights,
tiny images."""

import numpy as np
import pytest

from offline import ascent as asc
from offline.backbone import load_backbone
from offline.errors import UserError


@pytest.fixture(scope="module")
def mobilenet():
    return load_backbone("mobilenet", layers=["conv_pw_2_relu", "conv_pw_6_relu"], alpha=0.25, weights=None)


def test_octave_sizes_smallest_first_ending_at_the_image():
    assert asc.octave_sizes((300, 400), 3, 1.5) == [(133, 178), (200, 267), (300, 400)]
    assert asc.octave_sizes((300, 400), 1, 1.5) == [(300, 400)]
    # octaves below min_side are dropped, the image itself never is
    assert asc.octave_sizes((40, 60), 4, 2.0, min_side=32) == [(40, 60)]
    assert asc.octave_sizes((20, 20), 2, 1.4, min_side=32) == [(20, 20)]


def test_octave_sizes_reject_bad_values():
    with pytest.raises(UserError):
        asc.octave_sizes((100, 100), 0, 1.4)
    with pytest.raises(UserError):
        asc.octave_sizes((100, 100), 3, 1.0)


def test_roll_then_unroll_is_the_identity():
    x = np.random.default_rng(0).normal(size=(1, 7, 9, 3)).astype(np.float32)
    for shift in [(0, 0), (3, -4), (-7, 9), (20, 1)]:
        rolled = asc.roll(x, shift)
        assert np.array_equal(asc.unroll(rolled, shift), x)
    assert not np.array_equal(asc.roll(x, (1, 2)), x)
    assert asc.roll(x, (1, 0))[0, 1, 0, 0] == x[0, 0, 0, 0]


def test_tile_spans_cover_the_image_with_aligned_cores():
    for n, tile, margin in [(720, 512, 64), (1280, 512, 64), (100, 32, 32), (512, 512, 64), (33, 32, 0)]:
        spans = asc.tile_spans(n, tile, margin)
        cores = [(a, b) for a, b, _, _ in spans]
        assert cores[0][0] == 0 and cores[-1][1] == n
        assert all(b == c for (_, b), (c, _) in zip(cores, cores[1:]))  # contiguous, no overlap
        assert all(b - a <= tile for a, b in cores)
        for a, b, o0, o1 in spans:
            assert a % asc.ALIGN == 0 and o0 % asc.ALIGN == 0
            assert o0 == max(0, a - margin) and o1 == min(n, b + margin)
    assert asc.tile_spans(300, 512, 64) == [(0, 300, 0, 300)]
    assert asc.tile_spans(300, 0, 64) == [(0, 300, 0, 300)]


def _image(h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (h, w, 3)).astype(np.float32)


def test_tiled_gradient_equals_untiled_gradient(mobilenet):
    a = asc.Ascent(mobilenet, asc.layers_objective({"conv_pw_2_relu": 1.0}), asc.AscentConfig())
    x = a.to_model(_image(96, 128))
    _, full = a.gradient(x, tile=0)
    _, tiled = a.gradient(x, tile=32, margin=32)  # 3 x 4 tiles, margin > the layer's reach
    assert np.abs(full).max() > 0
    np.testing.assert_allclose(tiled, full, rtol=0, atol=1e-5 * np.abs(full).max())
    # without context the tiles' borders are wrong: the test above is not vacuous
    _, seams = a.gradient(x, tile=32, margin=0)
    assert np.abs(seams - full).max() > 1e-2 * np.abs(full).max()


def test_tiled_gradient_of_a_deeper_layer_within_tolerance(mobilenet):
    a = asc.Ascent(mobilenet, asc.layers_objective({"conv_pw_6_relu": 1.0}), asc.AscentConfig())
    x = a.to_model(_image(128, 128, seed=1))
    _, full = a.gradient(x, tile=0)
    _, tiled = a.gradient(x, tile=64, margin=64)
    rel = np.linalg.norm(tiled - full) / np.linalg.norm(full)
    assert rel < 0.02


def test_a_step_changes_the_image_and_stays_in_range(mobilenet):
    a = asc.Ascent(mobilenet, asc.layers_objective({"conv_pw_6_relu": 1.0}), asc.AscentConfig(step_size=0.5))
    x = a.to_model(_image(64, 64))
    y = a.step(x)
    assert y.shape == x.shape and not np.allclose(x, y)
    rgb = np.asarray(mobilenet.deprocess(y))
    assert rgb.min() >= -1e-3 and rgb.max() <= 255 + 1e-3


def test_run_with_octaves_keeps_the_size_and_reports_progress(mobilenet):
    a = asc.Ascent(mobilenet, asc.layers_objective({"conv_pw_2_relu": 1.0, "conv_pw_6_relu": 2.0}),
                   asc.AscentConfig(steps=2, octaves=2, octave_scale=1.5, min_side=16))
    seen = []
    img = _image(48, 64)
    out = a.run(img, progress=lambda done, total, loss: seen.append((done, total)))
    assert out.shape == img.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    assert np.abs(out - img).mean() > 0.1
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_ascent_increases_the_objective(mobilenet):
    a = asc.Ascent(mobilenet, asc.layers_objective({"conv_pw_6_relu": 1.0}), asc.AscentConfig(jitter=0))
    x = a.to_model(_image(64, 64, seed=2))
    before, _ = a.gradient(x)
    for _ in range(3):
        x = a.step(x)
    after, _ = a.gradient(x)
    assert after > before


def test_class_objective_dreams_any_size_through_the_fixed_size_top():
    top = load_backbone("mobilenet", layers=["predictions"], alpha=0.25, weights=None, include_top=True)
    obj = asc.class_objective(7)
    assert obj.layers_needed == ["predictions"] and obj.include_top and not obj.extensive
    a = asc.Ascent(top, obj, asc.AscentConfig(steps=1, octaves=1))
    loss, g = a.gradient(a.to_model(_image(40, 56)))
    assert g.shape == (1, 40, 56, 3) and np.abs(g).max() > 0
    with pytest.raises(UserError):
        asc.class_objective(1000)


def test_guide_objective_pulls_toward_guide_features(mobilenet):
    feats = mobilenet(mobilenet.preprocess(_image(32, 32, seed=3)[None]))
    obj = asc.guide_objective({"conv_pw_6_relu": np.asarray(feats["conv_pw_6_relu"])})
    a = asc.Ascent(mobilenet, obj, asc.AscentConfig())
    _, g = a.gradient(a.to_model(_image(48, 48)))
    assert np.isfinite(g).all() and np.abs(g).max() > 0


def test_bad_objectives_are_user_errors(mobilenet):
    with pytest.raises(UserError):
        asc.parse_channel("conv_pw_6_relu")
    with pytest.raises(UserError):
        asc.parse_channel("conv_pw_6_relu:x")
    assert asc.parse_channel("conv_pw_6_relu:12") == ("conv_pw_6_relu", 12)
    with pytest.raises(UserError, match="out of range"):
        asc.Ascent(mobilenet, asc.channel_objective("conv_pw_6_relu", 100000))
    with pytest.raises(UserError):
        asc.layers_objective({})
    with pytest.raises(UserError):
        asc.AscentConfig(step_size=0).check()
