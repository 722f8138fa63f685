"""Gatys style transfer, texture synthesis and feature inversion: the engine and the commands."""

import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from offline import gatys, media
from offline.backbone import load_backbone
from offline.cli import main

STYLE = ["block1_conv1", "block2_conv1"]


def _image(seed, size=32):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size, dtype=np.float32)
    img = np.stack([base[None, :].repeat(size, 0), base[:, None].repeat(size, 1), np.full((size, size), 128.0)], -1)
    return np.clip(img + rng.normal(0, 30, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def objective():
    bb = load_backbone("vgg19", layers=["block2_conv1"] + STYLE, weights=None)
    return gatys.Objective(bb, content={"block2_conv1": 1.0}, style={l: 1.0 for l in STYLE}, content_weight=1.0,
                           style_weight=1.0, tv_weight=0.002)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimizers_reduce_the_loss_on_32x32(objective, optimizer):
    targets = objective.targets(content=_image(0), styles=[_image(1)])
    x0 = gatys.init_image("noise", None, None, (32, 32), seed=0)
    result = gatys.optimize(objective, targets, x0, optimizer=optimizer, steps=15, lr=8.0)
    assert len(result.history) == 15
    assert result.history[-1]["loss"] < 0.8 * result.initial["loss"]  # random weights: each backend its own
    assert set(result.history[-1]) >= {"content", "style", "tv", "loss"}
    assert result.image.shape == (32, 32, 3) and result.image.min() >= 0 and result.image.max() <= 255


def test_lbfgs_solves_a_box_constrained_problem_in_few_iterations():
    """An ill-conditioned quadratic whose unconstrained minimum lies partly outside 0..255: the
    projected L-BFGS lands on the clipped minimum, every iterate stays in the box, and it needs
    far fewer evaluations than plain gradient descent would (condition number 100)."""
    rng = np.random.default_rng(0)
    n = 3000
    d = np.geomspace(0.01, 1.0, n)
    c = rng.uniform(-60.0, 320.0, n)
    seen, evals = [], []

    def evaluate(x):
        evals.append(1)
        return float(0.5 * np.sum(d * (x - c) ** 2)), d * (x - c)

    gatys._lbfgs(evaluate, lambda x, loss: seen.append((x.min(), x.max(), loss)), np.full(n, 128.0), steps=150)
    x_star = np.clip(c, 0.0, 255.0)
    final = seen[-1][2]
    assert all(lo >= 0.0 and hi <= 255.0 for lo, hi, _ in seen)
    assert all(b[2] <= a[2] for a, b in zip(seen, seen[1:]))  # monotone
    assert final - 0.5 * np.sum(d * (x_star - c) ** 2) < 1e-3 * (seen[0][2])
    assert len(evals) < 1.3 * len(seen) + 5  # the line search rarely needs a second evaluation


def test_target_loss_stops_early(objective):
    targets = objective.targets(content=_image(0), styles=[_image(1)])
    x0 = gatys.init_image("noise", None, None, (32, 32), seed=0)
    first = gatys.optimize(objective, targets, x0, steps=1).initial["loss"]
    result = gatys.optimize(objective, targets, x0, steps=50, target_loss=0.9 * first)
    assert result.stopped == "target" and len(result.history) < 50


def test_style_mix_blends_gram_targets(objective):
    a, b = _image(1), _image(2)
    mixed = objective.targets(styles=[a, b], style_mix=[3, 1])["style"]
    ga, gb = (objective.targets(styles=[s])["style"] for s in (a, b))
    for layer in STYLE:
        np.testing.assert_allclose(ops.convert_to_numpy(mixed[layer]),
                                   0.75 * ops.convert_to_numpy(ga[layer]) + 0.25 * ops.convert_to_numpy(gb[layer]),
                                   rtol=1e-4, atol=1e-2)


def test_wrap_pad_is_circular():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    p = ops.convert_to_numpy(gatys.wrap_pad(x, 1))[0, :, :, 0]
    assert p.shape == (6, 6)
    assert p[0, 1] == x[0, 3, 0, 0] and p[1, 0] == x[0, 0, 3, 0] and p[0, 0] == x[0, 3, 3, 0]


def test_tileable_features_are_circular_convolutions():
    """With ``wrap``, rolling the image rolls every feature map the same way (circular convolution),
    and the maps keep the image's own extent: every pixel counts once in the Gram matrices."""
    bb = load_backbone("vgg19", layers=STYLE, weights=None)
    obj = gatys.Objective(bb, style={l: 1.0 for l in STYLE}, wrap=8)
    x = _image(4, size=16)[None].astype(np.float32)
    feats = {k: ops.convert_to_numpy(v) for k, v in obj.features(x).items()}
    rolled = {k: ops.convert_to_numpy(v) for k, v in obj.features(np.roll(x, (4, 6), axis=(1, 2))).items()}
    assert feats["block1_conv1"].shape[1:3] == (16, 16) and feats["block2_conv1"].shape[1:3] == (8, 8)
    np.testing.assert_allclose(rolled["block1_conv1"], np.roll(feats["block1_conv1"], (4, 6), axis=(1, 2)),
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(rolled["block2_conv1"], np.roll(feats["block2_conv1"], (2, 3), axis=(1, 2)),
                               rtol=1e-4, atol=1e-3)


def test_luminance_round_trip_and_luminance_matching():
    rgb = _image(3)
    y, crcb = gatys.luminance(rgb)
    np.testing.assert_allclose(gatys.recombine_color(y, crcb), rgb, atol=2.0)
    matched = gatys.match_luminance(np.linspace(0, 50, 100), np.linspace(100, 200, 100))
    assert matched.mean() == pytest.approx(150, abs=1) and matched.std() == pytest.approx(np.linspace(100, 200, 100).std(), rel=0.01)


def test_multi_scale_history_spans_scales(objective):
    result = gatys.style_transfer(objective, _image(0, 48), [_image(1)], scales=[24, 48], steps=3, progress=False,
                                  save_every=1)
    assert [h["scale"] for h in result.history] == [24] * 3 + [48] * 3
    assert result.image.shape == (48, 48, 3)
    assert len(result.frames) == 6 and all(f.shape == (48, 48, 3) for f in result.frames)


# --- the commands --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gatys")
    media.write_image(d / "content.png", _image(0))
    media.write_image(d / "style.png", _image(1))
    media.write_image(d / "style2.png", _image(2))
    return d


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


FAST = ["--weights", "none", "--steps", "3", "-q"]


def test_gatys_command_with_two_styles_and_animation(files):
    out, anim = files / "out.png", files / "anim.gif"
    r = _run("gatys", files / "content.png", files / "style.png", files / "style2.png", "-o", out, *FAST,
             "--content-layers", "block2_conv1", "--style-layers", "block1_conv1:1,block2_conv1:0.5",
             "--style-mix", "0.7,0.3", "--scales", "16,32", "--preserve-color", "--pool", "avg",
             "--save-every", "1", "--animation", anim, "--tv-weight", "1")
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (32, 32, 3)
    from PIL import Image

    assert "7 frames" in r.output and Image.open(anim).n_frames >= 2  # 3 per scale + the final image
    assert "style loss" in r.output


@pytest.mark.parametrize("init,optimizer", [("noise", "adam"), ("style", "lbfgs")])
def test_gatys_inits_and_optimizers(files, init, optimizer):
    out = files / f"init_{init}.png"  # not style.png: that is an input
    r = _run("gatys", files / "content.png", files / "style.png", "-o", out, *FAST, "--max-side", "24",
             "--content-layers", "block1_conv2", "--style-layers", "block1_conv1", "--init", init,
             "--optimizer", optimizer)
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (24, 24, 3)


def test_texture_command_tileable_and_larger(files):
    out = files / "tex.png"
    r = _run("texture", files / "style.png", "-o", out, "--size", "40x36", "--tileable",
             "--style-layers", "block1_conv1,block2_conv1", *FAST)
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (36, 40, 3)


def test_invert_command_single_and_sheet(files):
    out = files / "inv.png"
    r = _run("invert", files / "content.png", "--layer", "block2_conv1", "-o", out, "--alpha-norm", "1e-3", *FAST)
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (32, 32, 3)
    sheet = files / "sheet.png"
    r = _run("invert", files / "content.png", "--sheet", "--layer", "block1_conv1,block2_conv1", "-o", sheet, *FAST)
    assert r.exit_code == 0, r.output
    assert media.read_image(sheet).shape[1] > 3 * 32  # original + two reconstructions side by side


@pytest.mark.parametrize("args,message", [
    (["gatys", "missing.png", "{d}/style.png"], "not found"),
    (["gatys", "{d}/content.png", "{d}/style.png", "--content-layers", "block9_conv9"], "valid layers"),
    (["gatys", "{d}/content.png", "{d}/style.png", "--style-mix", "1,2"], "--style-mix"),
    (["gatys", "{d}/content.png", "{d}/style.png", "--scales", "64,32"], "--scales"),
    (["texture", "missing.png"], "not found"),
    (["invert", "{d}/content.png", "--layer", "nope"], "valid layers"),
    (["invert", "{d}/content.png"], "--layer"),
])
def test_bad_inputs_exit_2_with_one_line(files, args, message):
    args = [a.format(d=files) for a in args] + ["-o", str(files / "x.png"), "--weights", "none", "--steps", "1", "-q"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_unknown_layer_lists_valid_names(files):
    r = CliRunner().invoke(main, ["gatys", str(files / "content.png"), str(files / "style.png"), "-o",
                                  str(files / "x.png"), "--weights", "none", "--style-layers", "conv9"])
    assert r.exit_code == 2
    assert "block1_conv1" in r.output and "block5_conv4" in r.output


@pytest.mark.shared_data
def test_default_block5_layers_are_refused_by_the_block1_3_file(files, shared):
    r = CliRunner().invoke(main, ["gatys", str(files / "content.png"), str(files / "style.png"), "-o",
                                  str(files / "x.png"), "--weights",
                                  str(shared / "weights" / "vgg19_imagenet_block1-3_notop.h5")])
    assert r.exit_code == 2
    assert "lacks layer block4_conv1" in r.output and "--content-layers block3_conv2" in r.output
