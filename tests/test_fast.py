"""The fast model: the per-frame path, the style side, training, save/load, the realtime effect.

Random weights (no network), tiny images; runs under TensorFlow and JAX.
"""

import json

import cv2
import keras
import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from offline.adain import StyleStats
from offline.errors import UserError
from offline.fast import FastStylizer, code_size, macs_per_frame


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def stylizer():
    return FastStylizer.random(seed=3)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_per_frame_cost_is_within_the_live_budget():
    # the budget: a few GMAC per 640x360 frame (AdaIN relu3_1 is ~50)
    assert 1.0e9 < macs_per_frame(640, 360) < 3.0e9


def test_the_per_frame_path_never_runs_the_style_side(stylizer, monkeypatch):
    calls = {"vgg": 0}
    original = FastStylizer.vgg_stats

    def counting(self, rgb):
        calls["vgg"] += 1
        return original(self, rgb)

    monkeypatch.setattr(FastStylizer, "vgg_stats", counting)
    st = FastStylizer(stylizer.network, stylizer.encoder)
    style = st.style(_image(40, 48, 1))
    fn = st.frame_function()
    for i in range(4):
        fn(_image(32, 40, i), style, 0.5 + 0.1 * i)
    assert calls["vgg"] == 1
    assert fn.compiled.traces == 1  # style and alpha are arguments: no retrace


@pytest.mark.parametrize("hw", [(23, 37), (1, 1), (9, 300), (64, 48)])
def test_output_has_the_input_size_for_odd_sizes(stylizer, hw):
    style = stylizer.style(_image(32, 32, 5))
    out = stylizer.stylize_image(_image(*hw), style)
    assert out.shape == (*hw, 3) and out.dtype == np.uint8


def test_alpha_zero_is_the_frame_and_the_code_changes_the_output(stylizer):
    frame = _image(32, 48, 2)
    a = stylizer.style(_image(32, 32, 3))
    b = StyleStats(a.mean + 0.5, a.std * 2.0, "b")
    np.testing.assert_array_equal(stylizer.stylize_image(frame, a, alpha=0.0), frame)
    assert np.abs(stylizer.stylize_image(frame, a).astype(int) - stylizer.stylize_image(frame, b)).mean() > 1


def test_mix_mask_and_colour_preservation(stylizer):
    frame = _image(32, 48, 4)
    a = stylizer.style(_image(32, 32, 5))
    b = StyleStats(a.mean + 1.0, a.std * 0.5, "b")
    half = stylizer.stylize_image(frame, [a, b], mix=[0.5, 0.5])
    mid = stylizer.stylize_image(frame, StyleStats((a.mean + b.mean) / 2, (a.std + b.std) / 2))
    np.testing.assert_array_equal(half, mid)
    mask = np.zeros((32, 48), np.uint8)
    mask[:, 24:] = 255
    regions = stylizer.stylize_image(frame, [a, b], mask=mask)
    np.testing.assert_array_equal(regions[:, :24], stylizer.stylize_image(frame, a)[:, :24])
    np.testing.assert_array_equal(regions[:, 24:], stylizer.stylize_image(frame, b)[:, 24:])
    soft = (60 + _image(32, 48, 4) // 2).astype(np.uint8)  # mid tones: no clipping back to RGB
    kept = stylizer.stylize_image(soft, a, preserve_color=True)
    chroma = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)  # noqa: E731
    assert np.median(np.abs(chroma(kept) - chroma(soft))) <= 1  # bar pixels a random net drove to 0/255


@pytest.mark.parametrize("style", ["flat", "tiny", "huge"])
def test_odd_style_images_work(stylizer, style, tmp_path):
    image = {"flat": np.full((64, 64, 3), 128, np.uint8), "tiny": _image(8, 8),
             "huge": _image(3000, 2000)}[style]
    path = tmp_path / f"{style}.png"
    cv2.imwrite(str(path), image)
    stats = stylizer.style(str(path))
    assert np.isfinite(stats.mean).all() and np.isfinite(stats.std).all() and (stats.std > 0).all()
    assert np.isfinite(stylizer.stylize_image(_image(16, 16), stats).astype(float)).all()


def test_bad_styles_are_one_line_errors(stylizer, tmp_path):
    with pytest.raises(UserError, match="at least 8x8"):
        stylizer.style(_image(4, 4))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError):
        stylizer.style(str(tmp_path / "broken.jpg"))
    with pytest.raises(UserError, match="presets"):
        stylizer.style("no_such_preset")
    StyleStats(np.zeros(256), np.ones(256), "adain_one").save(tmp_path / "adain_one.npz")
    with pytest.raises(UserError, match="needs"):
        stylizer.style(str(tmp_path / "adain_one.npz"))


# --- training, save and load -----------------------------------------------------------------------

def _batch(size=32, n=2, seed=9):
    from offline.losses import random_warps

    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    s = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (5, 5), 2)[None]
    return c, s, random_warps(n, rng, size=size), rng.normal(0, 2, c.shape).astype(np.float32)


def _settings(**kw):
    from offline.fast_train import FastTrainSettings

    return FastTrainSettings(weights="none", **{"learning_rate": 1e-3, **kw})


@pytest.mark.slow
def test_training_steps_lower_the_loss():
    from offline.fast_train import make_trainer

    keras.utils.set_random_seed(0)
    trainer = make_trainer(_settings(learning_rate=3e-4))  # random VGG: a loss of 1e17, where 1e-3 overshoots
    x = _batch()
    before = float(_np(trainer.compute_loss(x, y_pred=trainer(x))))
    for _ in range(3):
        trainer.train_on_batch(x)
    after = float(_np(trainer.compute_loss(x, y_pred=trainer(x))))
    assert np.isfinite(before) and after < before


def test_the_temporal_term_is_zero_for_an_unmoved_frame():
    from offline.fast_train import make_trainer

    trainer = make_trainer(_settings())
    c, s, _, _ = _batch()
    identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (len(c), 1))
    y = trainer((c, s, identity, np.zeros_like(c)))
    np.testing.assert_allclose(_np(y["moved"]), _np(y["image"]), atol=1e-3)


def test_warps_are_small_moves():
    from offline.losses import random_warps

    w = random_warps(50, np.random.default_rng(0), shift=2.0, degrees=1.0, zoom=0.01, size=128)
    # where the crop's corners come from: never more than ~2 px + what 1 degree and 1% move at 90 px
    for x, y in ((0, 0), (127, 0), (0, 127), (127, 127)):
        sx = w[:, 0] * x + w[:, 1] * y + w[:, 2]
        sy = w[:, 3] * x + w[:, 4] * y + w[:, 5]
        assert np.abs(sx - x).max() < 5 and np.abs(sy - y).max() < 5


def test_save_and_load_round_trip_is_identical(tmp_path, stylizer):
    folder = _model_folder(tmp_path, stylizer)
    style = stylizer.style(_image(32, 32, 7))
    style.save(folder / "styles" / "mine.npz")
    loaded = FastStylizer.load(folder, weights="none")
    frame = _image(24, 40, 8)
    np.testing.assert_array_equal(loaded.stylize_image(frame, "mine"), stylizer.stylize_image(frame, style))
    assert loaded.preset_names() == ["mine"]


def test_corrupt_artifacts_are_one_line_errors(tmp_path, stylizer):
    from offline import artifacts
    from offline.stylizers import load_stylizer

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt manifest"):
        load_stylizer(folder, weights="none")
    artifacts.write_manifest(folder, {"kind": "fast"})
    (folder / "network.weights.h5").write_bytes(b"\x89HDF\r\n truncated")
    with pytest.raises(UserError, match="network.weights.h5"):
        load_stylizer(folder, weights="none")
    artifacts.write_manifest(folder, {"kind": "gan"})
    with pytest.raises(UserError, match="cannot stylize"):
        load_stylizer(folder, weights="none")


# --- the realtime effect and the commands ----------------------------------------------------------

def test_realtime_effect_with_the_fast_model_never_retraces(stylizer):
    from offline.effects import StylizeEffect

    styles = [("a", stylizer.style(_image(32, 32, 1))), ("b", stylizer.style(_image(32, 32, 2)))]
    effect = StylizeEffect(stylizer, styles)
    effect.warmup((40, 24))
    traces = effect.traces
    for i, key in enumerate(["next", "alpha-", "smooth", "prev", "alpha+"]):
        effect.action(key)
        assert effect(_image(24, 40, i)).shape == (24, 40, 3)
    assert effect.traces == traces == 1


def test_cpu_default_and_shorthands(tmp_path, monkeypatch):
    from offline import stylizers

    monkeypatch.setattr(stylizers, "MODELS", {"fast": tmp_path / "fast", "adain": tmp_path / "adain"})
    assert stylizers.resolve_model(None) == tmp_path / "adain"  # no fast model shipped: AdaIN
    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "manifest.json").write_text(json.dumps({"kind": "fast"}))
    assert stylizers.resolve_model(None) == tmp_path / "fast"
    assert stylizers.resolve_model(None, gpu=True) == tmp_path / "adain"
    assert stylizers.resolve_model("adain") == tmp_path / "adain"


@pytest.mark.slow
def test_cli_train_resume_and_stylize(tmp_path):
    from offline.cli import main

    rng = np.random.default_rng(10)
    for d in ("content", "style"):
        (tmp_path / d).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / d / f"{d}{i}.png"), rng.integers(0, 256, (70, 80, 3), dtype=np.uint8))
    base = ["fast", "train", "--content", tmp_path / "content", "--style", tmp_path / "style", "--batch", 1,
            "--size", 64, "--weights", "none", "--out", tmp_path / "run" / "model", "--log-every", 1,
            "--checkpoint-every", 1]
    run = lambda args: CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)  # noqa: E731
    r = run(base + ["--steps", 1])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "run" / "model" / "manifest.json").read_text())
    assert manifest["kind"] == "fast" and manifest["steps"] == 1 and manifest["settings"]["size"] == 64
    r = run(base + ["--steps", 2])
    assert r.exit_code == 2 and "--resume" in r.output  # never silently starts over
    r = run(base + ["--steps", 2, "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "model" / "manifest.json").read_text())["steps"] == 2
    out = tmp_path / "styled.png"
    r = run(["adain", "stylize", tmp_path / "content" / "content0.png", "--style", tmp_path / "style" / "style0.png",
             "--model", tmp_path / "run" / "model", "--weights", "none", "-o", out])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(out)).shape == (70, 80, 3)
    assert code_size() == 544


@pytest.mark.slow
def test_a_teacher_adds_the_distance_to_its_picture(tmp_path):
    from offline import artifacts
    from offline.adain import build_decoder
    from offline.fast_train import make_trainer

    build_decoder("relu3_1").save_weights(tmp_path / "decoder.weights.h5")
    artifacts.write_manifest(tmp_path, {"depth": "relu3_1"})
    keras.utils.set_random_seed(0)
    plain = make_trainer(_settings())
    taught = make_trainer(_settings(teacher=str(tmp_path), distill_weight=2.0), encoder=plain.encoder)
    taught.network.set_weights(plain.network.get_weights())
    x = _batch(32)
    y = taught(x)
    inner = lambda a: _np(a)[:, 8:-8, 8:-8, :].astype(np.float64)  # noqa: E731
    distill = np.mean((inner(y["image"]) - inner(y["teacher"])) ** 2)
    assert distill > 0
    np.testing.assert_allclose(float(_np(taught.compute_loss(x, y_pred=y))),
                               float(_np(plain.compute_loss(x, y_pred=y))) + 2.0 * distill, rtol=1e-4)
    taught.train_on_batch(x)  # trains with it


def test_mixed_precision_stylizes():
    # Keras casts layer inputs to the compute dtype: the style code arrives in bfloat16 there
    st = FastStylizer.random(precision="bfloat16")
    out = st.stylize_image(_image(24, 32), st.style(_image(32, 32, 1)))
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8


def test_resize_conv_is_the_convolution_of_the_bilinear_upsampling():
    from offline.fast import ResizeConv

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 12, 10, 5)).astype(np.float32)
    up = ResizeConv(4)
    y = ops.depth_to_space(up(a), 2)
    ref = ops.conv(ops.image.resize(a, (24, 20), interpolation="bilinear"), up.kernel, padding="same") + up.bias
    assert np.abs(np.asarray(y) - np.asarray(ref))[0, 2:-2, 2:-2].max() < 1e-4  # borders: padding differs
    x = rng.standard_normal((1, 24, 20, 3)).astype(np.float32)
    detail = ResizeConv(4, upsample=False)
    y = ops.depth_to_space(detail(ops.space_to_depth(x, 2)), 2)
    assert np.abs(np.asarray(y) - np.asarray(ops.conv(x, detail.kernel, padding="same") + detail.bias)).max() < 1e-4


def test_the_resize_output_paints_no_grid_of_its_own_on_a_flat_wall():
    """A flat frame through random networks: the first model's 4x4 sub-pixel output gives each of
    the 16 positions its own value; the 'resize' output adds nothing (what is left comes from the
    body's 1/8 -> 1/4 sub-pixel step, which training holds down)."""
    flat = np.full((1, 384, 384, 3), 128.0, np.float32)  # big enough for a centre the borders do not reach
    code = (np.zeros((1, 544), np.float32), np.ones((1, 544), np.float32))
    spread = {}
    for output in ("resize", "shuffle"):
        st = FastStylizer.random(seed=1, output=output)
        y = np.asarray(st.network.transformer([flat, *code]))[0, 160:224, 160:224]
        phases = y.reshape(16, 4, 16, 4, 3).mean(axis=(0, 2))  # the mean of each of the 4x4 positions
        spread[output] = float(phases.std(axis=(0, 1)).max())  # a 4-px grid's strength
    assert spread["resize"] < 0.1 * spread["shuffle"]


# --- the style side's refinement --------------------------------------------------------------------

def _model_folder(tmp_path, stylizer):
    from offline import artifacts
    from offline.fast import describe

    folder = tmp_path / "model"
    folder.mkdir()
    stylizer.network.save_weights(folder / "network.weights.h5")
    artifacts.write_manifest(folder, {"kind": "fast", "architecture": describe(stylizer.network), "margin": 8})
    return folder


@pytest.mark.slow
def test_refine_photos_command_and_refinement_lowers_the_loss(tmp_path, stylizer):
    from offline.cli import main

    folder = _model_folder(tmp_path, stylizer)
    photos = []
    for i, hw in enumerate([(40, 56), (48, 32)]):
        photos.append(tmp_path / f"p{i}.png")
        cv2.imwrite(str(photos[-1]), _image(*hw, 20 + i))
    run = lambda args: CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)  # noqa: E731
    r = run(["fast", "refine-photos", folder, *photos, "--size", 24, "--steps", 6, "--lr", 0.05])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(folder / "refine_photos.png")).shape == (24, 48, 3)  # two squares side by side
    r = run(["fast", "refine-photos", folder, photos[0]])
    assert r.exit_code == 2 and "--force" in r.output  # never silently replaced
    assert run(["fast", "refine-photos", folder, tmp_path / "missing.png", "--force"]).exit_code == 2
    r = run(["fast", "refine-photos", folder, photos[0], "--size", 20, "--force"])
    assert r.exit_code == 2 and "multiple of 8" in r.output

    st = FastStylizer.load(folder, weights="none")
    assert st.refine_steps == 6 and st.refine_photos().shape == (2, 24, 24, 3)
    refined = st.style(_image(32, 32, 9))
    report = refined.meta["refined"]
    assert report["steps"] == 6 and report["loss"] < report["loss_before"]
    st.refine_steps = 0
    head = st.style(_image(32, 32, 9))
    assert "refined" not in head.meta and np.abs(head.mean - refined.mean).max() > 0.01  # Adam moved the code


def test_the_live_effect_does_not_refine_unless_asked(tmp_path, stylizer, monkeypatch):
    from offline.effects import EffectSettings
    from offline.fast import RefineSettings, set_refine_photos

    folder = _model_folder(tmp_path, stylizer)
    set_refine_photos(folder, [_image(16, 16, 1)], RefineSettings(steps=2), size=16)
    style = tmp_path / "painting.png"
    cv2.imwrite(str(style), _image(40, 40, 3))
    calls = []  # counted, not run (the other test runs it)
    monkeypatch.setattr(FastStylizer, "refine_code", lambda self, rgb, mean, std, name="": calls.append(1) or (mean, std, {}))
    settings = dict(effect="stylize", model=str(folder), style=(str(style),), weights="none", precision="float32")
    EffectSettings(**settings).build()
    assert calls == []  # a style image starts at once
    EffectSettings(**settings, refine=True).build()
    assert calls == [1]


# --- the picture: no grid, no edge band ----------------------------------------------------------

def _sky(h=192, w=320, seed=0):
    """A sky: a smooth gradient with camera noise (no period of its own)."""
    yy, xx = np.mgrid[0:h, 0:w]
    sky = np.stack([100 + 60 * yy / h, 140 + 30 * xx / w, 200 - 20 * yy / h], -1)
    return np.clip(sky + np.random.default_rng(seed).normal(0, 2, sky.shape), 0, 255).astype(np.float32)


def _styled(stylizer, image, seed=0):
    from keras import ops

    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 1, stylizer.channels).astype(np.float32)
    std = np.abs(rng.normal(1, 0.5, stylizer.channels)).astype(np.float32)
    return _np(stylizer.stylize(ops.convert_to_tensor(image[None]), mean, std))[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_8_pixel_grid_on_a_sky_and_the_sub_pixel_step_has_one(seed):
    """The 2-D lattice figure (axes and diagonals, periods 2, 4, 8) of a random-weight network's
    sky: the shipped architecture's at a photo's level, the old sub-pixel step's well above it."""
    from offline.measures import lattice_figure

    sky = _sky()
    tied = lattice_figure(_styled(FastStylizer.random(seed=seed), sky, seed))
    sub_pixel = lattice_figure(_styled(FastStylizer.random(seed=seed, up="shuffle"), sky, seed))
    assert lattice_figure(sky) < 1.5
    assert tied < 2.2 < sub_pixel, (tied, sub_pixel)


def test_a_flat_grey_frame_has_no_edge_band_and_zero_padding_paints_one():
    from offline.measures import edge_figure

    flat = np.full((96, 160, 3), 128, np.float32)
    mirrored = _styled(FastStylizer.random(seed=0), flat)
    zeros = _styled(FastStylizer.random(seed=0, padding="zeros"), flat)
    assert edge_figure(mirrored, flat) < 3.0 < 10.0 < edge_figure(zeros, flat)
