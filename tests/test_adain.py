"""AdaIN: the maths, the decoder, one training step, save/load, the Stylizer and the CLI.

Random weights throughout (no network); tiny images. Runs under TensorFlow and JAX.
"""

import json

import cv2
import keras
import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from offline.adain import (AdaIN, StyleStats, Stylizer, adain, build_decoder, mix_stats, mix_weights,
                           pad_to_multiple, region_masks)
from offline.commands.adain import cli
from offline.errors import UserError
from offline.media import preserve_colors
from offline.losses import mean_std


def _np(x):
    return ops.convert_to_numpy(x)


def _random_features(rng, shape, scale=1.0, offset=0.0):
    return (rng.normal(size=shape) * scale + offset).astype(np.float32)


# --- the AdaIN function and layer -------------------------------------------------------------------

@pytest.mark.parametrize("scale,offset", [(1.0, 0.0), (30.0, 5.0), (0.2, -3.0), (500.0, 100.0)])
def test_adain_output_has_the_style_statistics(scale, offset):
    rng = np.random.default_rng(1)
    content = _random_features(rng, (2, 9, 11, 16), scale, offset)
    style = np.abs(_random_features(rng, (2, 7, 5, 16), 4.0, 2.0))
    s_mean, s_std = mean_std(style)
    out = adain(content, s_mean, s_std)
    o_mean, o_std = mean_std(out)
    np.testing.assert_allclose(_np(o_mean), _np(s_mean), atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(_np(o_std), _np(s_std), atol=1e-3, rtol=1e-3)


def test_alpha_zero_returns_the_content_and_alpha_blends_linearly():
    rng = np.random.default_rng(2)
    content = _random_features(rng, (1, 6, 6, 8), 3.0)
    s_mean, s_std = mean_std(_random_features(rng, (1, 6, 6, 8), 2.0, 1.0))
    np.testing.assert_allclose(_np(adain(content, s_mean, s_std, alpha=0.0)), content, atol=1e-6)
    full = _np(adain(content, s_mean, s_std, alpha=1.0))
    half = _np(adain(content, s_mean, s_std, alpha=0.5))
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * content, atol=1e-5)


def test_flat_content_gives_no_nan_and_the_style_mean():
    content = np.full((1, 4, 4, 3), 7.0, np.float32)
    s_mean = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 1, 1, 3)
    s_std = np.ones((1, 1, 1, 3), np.float32)
    out = _np(adain(content, s_mean, s_std))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, np.broadcast_to(s_mean, out.shape), atol=1e-5)


def test_flat_content_gradient_is_finite():
    from offline import backend

    s_mean, s_std = np.zeros((1, 1, 1, 3), np.float32), np.ones((1, 1, 1, 3), np.float32)
    step = backend.value_and_grad(lambda x: (ops.sum(adain(x, s_mean, s_std)), 0.0))
    _, _, grad = step(ops.convert_to_tensor(np.full((1, 4, 4, 3), 2.0, np.float32)))
    assert np.isfinite(_np(grad)).all()


def test_statistics_are_float32_under_mixed_precision():
    rng = np.random.default_rng(3)
    content = ops.cast(_random_features(rng, (1, 8, 8, 4), 100.0), "float16")
    s_mean, s_std = mean_std(_random_features(rng, (1, 8, 8, 4), 50.0, 200.0))
    out = adain(content, s_mean, s_std)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    o_mean, o_std = mean_std(out)
    np.testing.assert_allclose(_np(o_mean), _np(s_mean), rtol=2e-3)
    np.testing.assert_allclose(_np(o_std), _np(s_std), rtol=2e-3)


def test_adain_layer_has_no_weights_and_matches_the_function():
    rng = np.random.default_rng(4)
    c, s = _random_features(rng, (1, 5, 5, 6)), _random_features(rng, (1, 3, 3, 6), 2.0, 1.0)
    layer = AdaIN(alpha=0.7)
    out = layer([c, s])
    assert layer.weights == []
    np.testing.assert_allclose(_np(out), _np(adain(c, *mean_std(s), alpha=0.7)), atol=1e-5)
    np.testing.assert_allclose(_np(AdaIN()([c, *mean_std(s)])), _np(adain(c, *mean_std(s))), atol=1e-5)


def test_interpolation_weights_are_sum_normalised():
    np.testing.assert_allclose(mix_weights([6, 4], 2), [0.6, 0.4])
    np.testing.assert_allclose(mix_weights([0.3, 0.3, 0.3], 3).sum(), 1.0)
    np.testing.assert_allclose(mix_weights(None, 4), [0.25] * 4)
    a = (np.ones(3), np.full(3, 2.0))
    b = (np.full(3, 3.0), np.full(3, 4.0))
    np.testing.assert_allclose(mix_stats([a, b], [2, 2])[0], [2.0] * 3)
    np.testing.assert_allclose(mix_stats([a, b], [1, 0])[1], [2.0] * 3)
    with pytest.raises(UserError):
        mix_weights([1, -1], 2)
    with pytest.raises(UserError):
        mix_weights([1, 2, 3], 2)


# --- decoder and Stylizer -------------------------------------------------------------------------

@pytest.mark.parametrize("depth", ["relu3_1", "relu4_1"])
@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (9, 30), (3, 5)])
def test_stylized_image_has_the_input_size_for_odd_sizes(depth, hw):
    st = Stylizer.random(depth)
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    style = st.style(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    out = st.stylize_image(image, style, alpha=0.5)
    assert out.shape == image.shape and out.dtype == np.uint8


@pytest.mark.parametrize("hw, multiple", [((37, 53), 4), ((16, 16), 8), ((3, 5), 8), ((1, 1), 4)])
@pytest.mark.parametrize("margin", [0, 16])
def test_pad_to_multiple_mirrors_and_crops_back_to_the_image(hw, multiple, margin):
    x = np.random.default_rng(0).random((1, *hw, 2)).astype(np.float32)
    padded, crop = pad_to_multiple(ops.convert_to_tensor(x), multiple, margin)
    padded = ops.convert_to_numpy(padded)
    assert padded.shape[1] % multiple == 0 and padded.shape[2] % multiple == 0
    assert min(padded.shape[1:3]) >= 2 * multiple
    np.testing.assert_array_equal(ops.convert_to_numpy(crop(padded)), x)
    # mirrored, not zeros: every padded value is one of the image's own values
    assert np.isin(padded, x).all()
    if margin and min(hw) > margin:  # the image sits inside a mirrored frame of ``margin`` pixels
        np.testing.assert_array_equal(padded[:, margin - 1, margin:margin + hw[1]], x[:, 1])
        np.testing.assert_array_equal(padded[:, margin:margin + hw[0], margin - 1], x[:, :, 1])


def test_frame_function_handles_changing_sizes():
    """TensorFlow relaxes a tf.function to unknown sizes after a few shapes: padding and cropping
    must then work on symbolic sizes (different photos in one command, a camera that reconnects
    at another resolution)."""
    st = Stylizer.random("relu3_1")
    fn = st.frame_function()
    style = st.style(np.full((16, 16, 3), 128, np.uint8))
    rng = np.random.default_rng(1)
    for hw in [(20, 28), (36, 44), (29, 51), (40, 40)]:
        frame = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
        assert fn(frame, style, 1.0).shape == frame.shape


def test_decoder_has_no_normalisation_and_mirrors_the_encoder():
    dec = build_decoder("relu4_1")
    kinds = {type(l).__name__ for l in dec.layers}
    assert not any("Normalization" in k for k in kinds)
    assert "UpSampling2D" in kinds and "ReflectionPad" in kinds
    assert dec.input_shape[-1] == 512 and dec.output_shape[-1] == 3
    out = dec(np.zeros((1, 5, 7, 512), np.float32))
    assert tuple(out.shape) == (1, 40, 56, 3)


def test_frame_function_compiles_once_for_styles_and_alpha():
    st = Stylizer.random("relu3_1")
    rng = np.random.default_rng(6)
    frame = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    fn = st.frame_function()
    a = st.style(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    b = st.style(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    outs = [fn(frame, a, 1.0), fn(frame, b, 0.3), fn(frame, a, 0.0)]
    assert fn.compiled.traces == 1
    assert not np.array_equal(outs[0], outs[1])


def test_mask_paints_different_styles_in_different_regions():
    st = Stylizer.random("relu3_1")
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    dark = st.style(np.full((16, 16, 3), 20, np.uint8) + rng.integers(0, 10, (16, 16, 3), dtype=np.uint8))
    bright = st.style(np.full((16, 16, 3), 230, np.uint8) + rng.integers(0, 10, (16, 16, 3), dtype=np.uint8))
    mask = np.zeros((32, 32), np.uint8)
    mask[:, 16:] = 255
    out = st.stylize_image(image, [dark, bright], mask=mask)
    left, right = st.stylize_image(image, dark), st.stylize_image(image, bright)
    # away from the border each half follows its own style more than the other one
    assert np.abs(out[:, :8].astype(int) - left[:, :8]).mean() < np.abs(out[:, :8].astype(int) - right[:, :8]).mean()
    assert np.abs(out[:, 24:].astype(int) - right[:, 24:]).mean() < np.abs(out[:, 24:].astype(int) - left[:, 24:]).mean()
    with pytest.raises(UserError):
        region_masks(np.zeros((10, 10), np.uint8), 2, (32, 32))


def test_preserve_color_keeps_the_content_chroma():
    rng = np.random.default_rng(8)
    content = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = preserve_colors(content, stylized)
    cc = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)
    oc = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)
    assert np.abs(cc - oc).mean() < 6  # the round trip through RGB clips a little


def test_style_stats_round_trip(tmp_path):
    s = StyleStats(np.arange(4), np.ones(4), "x", {"a": 1})
    t = StyleStats.load(s.save(tmp_path / "x.npz"))
    np.testing.assert_array_equal(t.mean, s.mean)
    assert t.name == "x" and t.meta == {"a": 1}


# --- training -------------------------------------------------------------------------------------

def _tiny_batch(size=32, n=2, seed=9):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    s = np.stack([cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (5, 5), 2)
                  for _ in range(n)])
    return c, s


@pytest.mark.slow
@pytest.mark.parametrize("depth", ["relu3_1", "relu4_1"])
def test_one_training_step_reduces_the_loss(depth):
    from offline.adain_train import make_trainer

    keras.utils.set_random_seed(0)
    trainer = make_trainer(depth, weights=None, learning_rate=1e-3)
    x = _tiny_batch()
    before = float(_np(trainer.compute_loss(x, y_pred=trainer(x))))
    trainer.train_on_batch(x)
    after = float(_np(trainer.compute_loss(x, y_pred=trainer(x))))
    assert np.isfinite(before) and after < before


@pytest.mark.parametrize("option, term", [("tv_weight", "total_variation"), ("lattice_weight", "lattice_excess")])
def test_extra_loss_weights_add_their_term_on_the_output(option, term):
    from offline import losses
    from offline.adain_train import make_trainer

    keras.utils.set_random_seed(0)
    plain = make_trainer("relu3_1", weights=None)
    weighted = make_trainer("relu3_1", encoder=plain.encoder, decoder=plain.decoder, **{option: 0.5})
    x = _tiny_batch(24)
    y_pred = plain(x)
    value = float(_np(getattr(losses, term)(y_pred["image"])))
    base = float(_np(plain.compute_loss(x, y_pred=y_pred)))
    assert value > 0
    np.testing.assert_allclose(float(_np(weighted.compute_loss(x, y_pred=y_pred))), base + 0.5 * value, rtol=1e-5)


@pytest.mark.slow
def test_checkpoint_and_decoder_round_trip(tmp_path):
    from offline.adain_train import load_checkpoint, make_trainer, save_checkpoint

    keras.utils.set_random_seed(0)
    trainer = make_trainer("relu3_1", weights=None)
    x = _tiny_batch(24)
    trainer.train_on_batch(x)
    save_checkpoint(trainer, tmp_path / "ck")
    other = make_trainer("relu3_1", encoder=trainer.encoder, decoder=build_decoder("relu3_1"))
    state = load_checkpoint(other, tmp_path / "ck")
    assert state["step"] == 1 and int(_np(other.optimizer.iterations)) == 1
    for a, b in zip(trainer.optimizer.variables, other.optimizer.variables):
        np.testing.assert_array_equal(_np(a), _np(b))
    np.testing.assert_array_equal(_np(trainer.stylize(*x)), _np(other.stylize(*x)))
    # a saved decoder loaded into a Stylizer gives identical outputs
    trainer.decoder.save_weights(tmp_path / "decoder.weights.h5")
    dec = build_decoder("relu3_1")
    dec.load_weights(tmp_path / "decoder.weights.h5")
    a, b = Stylizer(trainer.encoder, trainer.decoder), Stylizer(trainer.encoder, dec)
    image = x[0][0].astype(np.uint8)
    np.testing.assert_array_equal(a.stylize_image(image, a.style(x[1][0])), b.stylize_image(image, b.style(x[1][0])))


def test_relu4_1_refuses_the_blocks_1_to_3_weights_file(tmp_path):
    from offline.adain import build_encoder

    enc = build_encoder("relu3_1", weights=None)
    path = tmp_path / "partial.h5"
    import h5py

    with h5py.File(path, "w") as f:  # a legacy file holding blocks 1-3 only, like the shared one
        names = [l.name for l in enc.model.layers if l.weights]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for layer in enc.model.layers:
            if layer.weights:
                g = f.create_group(layer.name)
                g.attrs["weight_names"] = [f"{layer.name}/{i}".encode() for i in range(len(layer.weights))]
                for i, w in enumerate(layer.weights):
                    g[f"{layer.name}/{i}"] = _np(w)
    assert build_encoder("relu3_1", weights=str(path)).weights_sha256
    with pytest.raises(UserError, match="block3_conv2|block4"):
        build_encoder("relu4_1", weights=str(path))


# --- command line ---------------------------------------------------------------------------------

@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(10)
    (tmp_path / "content").mkdir()
    (tmp_path / "style").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "content" / f"c{i}.png"), rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
        cv2.imwrite(str(tmp_path / "style" / f"s{i}.jpg"), rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    return tmp_path


def _run(args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.mark.slow
def test_cli_train_presets_stylize_sheet(images, tmp_path):
    model = tmp_path / "model"
    r = _run(["train", "--content", images / "content", "--style", images / "style", "--steps", 2, "--batch", 1,
              "--size", 32, "--weights", "none", "--out", model, "--checkpoint-dir", tmp_path / "ck",
              "--checkpoint-every", 1, "--log-every", 1])
    assert r.exit_code == 0, r.output
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["steps"] == 2 and manifest["trained_on"] in ("CPU", "GPU") and "content" in manifest["final_losses"]
    r = _run(["train", "--content", images / "content", "--style", images / "style", "--steps", 3, "--batch", 1,
              "--size", 32, "--weights", "none", "--out", model, "--checkpoint-dir", tmp_path / "ck", "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((model / "manifest.json").read_text())["steps"] == 3

    common = ["--model", model, "--weights", "none"]
    r = _run(["presets", images / "style", *common])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (model / "styles").iterdir()) == ["s0.npz", "s1.npz"]

    out = tmp_path / "one.png"
    r = _run(["stylize", images / "content" / "c0.png", "--style", "s0", "--alpha", 0.5, "--preserve-color",
              "-o", out, "--json", *common])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output.strip().splitlines()[-1])
    assert report["images"][0]["seconds"] > 0
    assert cv2.imread(str(out)).shape == (40, 52, 3)

    r = _run(["stylize", images / "content" / "c0.png", images / "content" / "c1.png", "--style", images / "style",
              "--mix", "0.7,0.3", "-o", tmp_path / "many", *common])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "many").glob("*.png"))) == 2

    mask = np.zeros((40, 52), np.uint8)
    mask[:, 26:] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    r = _run(["stylize", images / "content" / "c0.png", "--style", "s0", "--style", "s1", "--mask",
              tmp_path / "mask.png", "--style-per-region", "-o", tmp_path / "masked.png", *common])
    assert r.exit_code == 0, r.output

    r = _run(["sheet", images / "content" / "c0.png", images / "content" / "c1.png", "--style", images / "style",
              "--size", 32, "-o", tmp_path / "sheet.png", "--json", *common])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "sheet.png")).shape[0] > 3 * 32


@pytest.mark.parametrize("depth", ["relu3_1", "relu4_1"])
def test_cli_stylize_with_a_random_model(images, tmp_path, depth):
    r = _run(["stylize", images / "content" / "c0.png", "--style", images / "style" / "s0.jpg", "--model",
              f"random:{depth}", "-o", tmp_path / "o.png"])
    assert r.exit_code == 0, r.output


def test_bad_inputs_exit_2(images, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    c0 = images / "content" / "c0.png"
    cases = [
        ["stylize", c0, "--style", tmp_path / "empty", "--model", "random", "-o", tmp_path / "a.png"],
        ["stylize", tmp_path / "broken.jpg", "--style", images / "style", "--model", "random", "-o", tmp_path / "a.png"],
        ["stylize", c0, "--style", tmp_path / "broken.jpg", "--model", "random", "-o", tmp_path / "a.png"],
        ["stylize", c0, "--style", "no_such_preset", "--model", "random", "-o", tmp_path / "a.png"],
        ["train", "--content", images / "content", "--style", tmp_path / "empty", "--weights", "none",
         "--out", tmp_path / "m", "--steps", 1],
        ["stylize", c0, "--style", images / "style", "--model", tmp_path / "nowhere", "-o", tmp_path / "a.png"],
    ]
    cv2.imwrite(str(tmp_path / "small_mask.png"), np.zeros((10, 10), np.uint8))
    cases.append(["stylize", c0, "--style", images / "style", "--mask", tmp_path / "small_mask.png",
                  "--style-per-region", "--model", "random", "-o", tmp_path / "a.png"])
    cases.append(["stylize", c0, "--style", images / "style", "--mix", "1,2,3", "--model", "random",
                  "-o", tmp_path / "a.png"])
    for args in cases:
        r = _run(args)
        assert r.exit_code == 2, (args, r.output)
        assert "Error" in r.output


def test_pure_stylize_function_compiles_and_matches_the_frame_function():
    from offline.backend import Compiled

    st = Stylizer.random("relu3_1")
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    style = st.style(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    fn = Compiled(st.stylize)
    y = _np(fn(frame[None].astype(np.float32), style.mean.reshape(1, 1, 1, -1), style.std.reshape(1, 1, 1, -1),
               np.float32(0.8)))
    assert y.shape == (1, 24, 32, 3) and y.min() >= 0 and y.max() <= 255
    np.testing.assert_allclose(np.rint(y[0]), st.frame_function()(frame, style, 0.8), atol=1)


@pytest.mark.shared_data
def test_the_shipped_model_stylizes_with_its_presets_on_genuine_weights(shared, capsys):
    from offline.artifacts import SHIPPED

    DEFAULT_MODEL = SHIPPED["adain"]

    if not (DEFAULT_MODEL / "manifest.json").is_file():
        pytest.skip("no shipped model")
    manifest = json.loads((DEFAULT_MODEL / "manifest.json").read_text())
    st = Stylizer.load(DEFAULT_MODEL, weights=str(shared / "weights" / "vgg19_imagenet_block1-3_notop.h5"), strict=True)
    assert manifest["encoder"]["weights_sha256"] and manifest["steps"] > 0
    assert st.preset_names(), "the shipped model has style presets"
    name = st.preset_names()[0]
    photo = cv2.resize(cv2.imread(str(shared / "images" / "content" / "ocv_fruits.jpg"))[..., ::-1], (67, 45))
    out = st.stylize_image(photo, name)
    assert out.shape == photo.shape and out.std() > 5
