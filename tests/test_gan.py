"""offline gan (DCGAN, VAE-GAN), the Frechet distance on classifier features, the latent-walk source."""

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from offline import gan, media, quality
from offline.cli import main
from tests.test_fashion import tiny_dataset, write_noise_dataset  # noqa: F401 - the fixture and a writer

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)


def weights(model):
    return [np.array(w) for w in model.get_weights()]


def changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_shapes():
    g, d = gan.build_generator(8), gan.build_discriminator()
    images = np.asarray(g(np.zeros((3, 8), np.float32)))
    assert images.shape == (3, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    logit, features = d(images)
    assert logit.shape == (3, 1) and features.shape == (3, 7, 7, 128)  # 2x the 64 filters of the first layer


class GeneratorLossOnly(gan.DCGAN):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return gan.says_real(y_pred["fake_for_g"])


def test_the_generator_loss_never_moves_the_discriminator():
    """``frozen``: the generator's loss flows through D to the generator, not into D's weights."""
    model = GeneratorLossOnly(latent=8)
    model(X[:2])
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    trained = lambda net: [np.array(v) for v in net.trainable_variables]  # noqa: E731 - (u, the spectral norms' vector, moves)
    d0, g0 = trained(model.discriminator), weights(model.generator)
    model.train_on_batch(X)
    # exactly, but for round-off (~1e-10) where the spectral norm's division meets the two calls
    assert all(np.allclose(a, b, rtol=0, atol=1e-8) for a, b in zip(d0, trained(model.discriminator)))
    assert changed(g0, weights(model.generator))


def _losses(model, z):
    fakes = model.generator(z, training=False)
    real, _ = model.discriminator(X)
    fake, _ = model.discriminator(fakes)
    d = float(gan.says_real(real) + gan.says_fake(fake))
    return d, float(gan.says_real(fake))


def test_training_steps_lower_each_players_loss_against_the_other_players_old_self():
    keras.utils.set_random_seed(0)
    model = gan.DCGAN(latent=8)
    model(X[:2])
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    z = np.random.default_rng(1).standard_normal((256, 8)).astype(np.float32)
    d_before, g_before = _losses(model, z)
    d_old, g_old = weights(model.discriminator), weights(model.generator)
    for _ in range(3):
        model.train_on_batch(X)
    g_new = weights(model.generator)
    model.generator.set_weights(g_old)  # new discriminator against the old generator
    assert _losses(model, z)[0] < d_before
    model.generator.set_weights(g_new)
    model.discriminator.set_weights(d_old)  # new generator against the old discriminator
    assert _losses(model, z)[1] < g_before


def test_vaegan_loss_has_its_terms_and_frozen_discriminator_for_the_feature_loss():
    model = gan.VAEGAN(latent=4)
    out = model(X)
    total = float(model.compute_loss(X, None, out))
    terms = {k: float(m.result()) for k, m in model.trackers.items()}
    assert terms["kl"] >= 0 and terms["feature"] > 0 and np.isfinite(total)
    assert out["recon"].shape == X.shape


def test_the_samples_come_from_the_generators_moving_average_which_differs_from_its_weights():
    keras.utils.set_random_seed(0)
    model = gan.build(gan.GANSettings(latent=8, filters=8))
    model.compile(optimizer=gan.TwoTimescaleAdam(model.discriminator.trainable_variables, 4.0, learning_rate=1e-3))
    for _ in range(20):
        model.train_on_batch(X)
    assert model.sampler() is model.ema and int(model.ema_steps) == 20
    assert changed(weights(model.generator), weights(model.ema))
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    assert np.array_equal(gan.generate(model.sampler(), z), gan.generate(model.ema, z))
    assert not np.array_equal(gan.generate(model.ema, z), gan.generate(model.generator, z))
    off = gan.build(gan.GANSettings(latent=8, filters=8, ema=0.0))
    assert off.sampler() is off.generator


def test_the_discriminator_steps_d_ratio_times_the_generators():
    """Two time-scales: with Adam's first step (every weight moves by about the learning rate)
    D's weights move 4x G's."""
    model = gan.build(gan.GANSettings(latent=8, filters=8, beta_1=0.0))
    model.compile(optimizer=gan.TwoTimescaleAdam(model.discriminator.trainable_variables, 4.0, learning_rate=1e-3,
                                                 beta_1=0.0))
    d0, g0 = [np.array(v) for v in model.discriminator.trainable_variables], \
        [np.array(v) for v in model.generator.trainable_variables]
    model.train_on_batch(X)
    d_step = max(np.abs(np.array(v) - a).max() for v, a in zip(model.discriminator.trainable_variables, d0))
    g_step = max(np.abs(np.array(v) - a).max() for v, a in zip(model.generator.trainable_variables, g0))
    assert d_step == pytest.approx(4e-3, rel=0.05) and g_step == pytest.approx(1e-3, rel=0.05)


def test_spectral_layers_divide_by_the_largest_singular_value():
    layer = gan.Spectral(16, 3)
    layer.build((None, 8, 8, 4))
    for _ in range(60):
        layer.advance()
    w = np.array(layer.kernel).reshape(-1, 16)
    assert float(layer._iterate()[1]) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-3)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype(np.float32)
    assert np.array_equal(np.asarray(layer(x)), np.asarray(layer(x)))  # calls do not move u: one function a step


def test_precision_and_recall_of_a_set_against_itself_and_a_far_cluster():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 8))
    assert quality.precision_recall(a, a) == (1.0, 1.0)
    assert quality.precision_recall(a, a + 100.0) == (0.0, 0.0)
    p, _ = quality.precision_recall(a, np.concatenate([a[:250], a[:250] + 100.0]))
    assert p == 0.5  # half the samples realistic
    p, r = quality.precision_recall(a, a[:1] + rng.normal(0, 0.01, (500, 8)))
    assert p == 1.0 and r < 0.05  # collapsed: every sample realistic, the variety missing


def test_slerp_keeps_the_norm_of_equal_norm_endpoints():
    a, b = np.array([3.0, 0, 0]), np.array([0, 0, 3.0])
    mid = gan.slerp(a, b, 0.5)
    assert np.isclose(np.linalg.norm(mid), 3.0) and np.allclose(gan.slerp(a, b, 0), a)
    assert np.allclose(gan.slerp(a, b, 1), b)


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 4))
    assert quality.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shifted = a + np.array([1.0, 2.0, 0, 0])
    assert quality.frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-3)
    # N(0, I) vs N(0, 4I) in 4-D: 4 * (1 - 2)^2
    assert quality.frechet_distance(a, 2 * rng.standard_normal((20000, 4))) == pytest.approx(4.0, rel=0.05)
    share, confidence = quality.class_coverage(np.eye(10)[[0, 0, 3, 9]])
    assert share[0] == 0.5 and share[3] == 0.25 and confidence == 1.0


def test_latent_walk_is_smooth_deterministic_and_unit_variance():
    walk = gan.LatentWalk(16, count=3, period=20.0, seed=0)
    a, b = walk.at(10.0), walk.at(10.0 + 1 / 30)
    assert a.shape == (3, 16) and np.array_equal(a, gan.LatentWalk(16, 3, 20.0, 0).at(10.0))
    assert 0 < np.abs(a - b).max() < 0.1  # moves, slowly
    many = np.stack([walk.at(t) for t in np.arange(0, 2000, 1.7)])
    assert 0.8 < many.std() < 1.2


@pytest.fixture(scope="module")
def trained_dcgan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gan")
    data = write_noise_dataset(folder / "fmnist", high=40)
    out = folder / "dcgan"
    args = ["gan", "train", "--kind", "dcgan", "--latent", 8, "--epochs", 2, "--batch", 64, "--data-dir", data,
            "--out", out]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return out, data


@pytest.mark.slow
def test_train_writes_samples_gif_interpolation_and_sample_reads_it(trained_dcgan, tmp_path):
    out, _ = trained_dcgan
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "dcgan" and m["epochs_run_this_invocation"] == 2 and m["settings"]["latent"] == 8
    assert media.read_image(out / "samples.png").shape[:2] == (8 * 28 + 9 * 2,) * 2
    with Image.open(out / "samples.gif") as im:
        assert im.n_frames == 2  # one grid per epoch
    assert media.read_image(out / "interpolation.png").shape[:2] == (6 * 28 + 7 * 2, 10 * 28 + 11 * 2)
    res = CliRunner().invoke(main, ["gan", "sample", "--model", str(out), "-n", "6", "--cols", "3", "--scale", "2",
                                    "-o", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output
    assert media.read_image(tmp_path / "g.png").shape[:2] == (2 * (2 * 28 + 3 * 2), 2 * (3 * 28 + 4 * 2))


def ema_steps(out):
    model = gan.build(gan.GANSettings(latent=8))
    model.load_weights(out / "gan.weights.h5")
    return int(model.ema_steps)


def test_train_resumes_and_refuses_a_run_of_another_kind(trained_dcgan):
    out, data = trained_dcgan
    steps_after_2 = ema_steps(out) / 2
    assert steps_after_2 > 0
    args = ["gan", "train", "--kind", "dcgan", "--latent", 8, "--epochs", 3, "--batch", 64, "--data-dir", data,
            "--out", out]
    res = CliRunner().invoke(main, [str(a) for a in args])  # a finished model: never replaced silently
    assert res.exit_code == 2 and "finished model" in res.output and "--epochs" not in res.output
    args.append("--resume")
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["resumed"] and m["epochs_run_this_invocation"] == 1
    assert ema_steps(out) == 3 * steps_after_2  # the average continued, it did not restart
    with Image.open(out / "samples.gif") as im:
        assert im.n_frames == 3  # the GIF still starts at epoch 1
    args[3] = "vaegan"
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 2 and "holds a dcgan run" in res.output
    res = CliRunner().invoke(main, [str(a) for a in args[:-1]])  # without --resume: the difference is named
    assert res.exit_code == 2 and "--kind 'vaegan' (was 'dcgan')" in res.output  # (the --resume run stored its options)


@pytest.mark.slow
def test_vaegan_cli_writes_reconstructions_and_arithmetic(tiny_dataset, tmp_path):  # noqa: F811
    out = tmp_path / "vaegan"
    args = ["gan", "train", "--kind", "vaegan", "--latent", 4, "--epochs", 1, "--batch", 100,
            "--data-dir", tiny_dataset, "--out", out]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    assert media.read_image(out / "reconstructions.png").shape[:2] == (2 * 28 + 3 * 2, 16 * 28 + 17 * 2)
    arithmetic = media.read_image(out / "arithmetic.png")
    assert arithmetic.shape[1] == 5 * 28 and arithmetic.shape[0] % 28 == 0 and arithmetic.shape[0] > 0
    generator, latent, manifest = gan.load_generator(out)
    assert latent == 4 and manifest["kind"] == "vaegan"


@pytest.mark.parametrize("args, message", [
    (["gan", "train", "--kind", "bigan"], "Invalid value for '--kind'"),
    (["gan", "sample", "--model", "/nonexistent", "-o", "x.png"], "no generator model /nonexistent"),
    (["gan", "sample", "-o", "grid.txt"], "extension"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_a_model_of_another_kind_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"kind": "fast"}))
    res = CliRunner().invoke(main, ["gan", "sample", "--model", str(folder), "-o", str(tmp_path / "g.png")])
    assert res.exit_code == 2 and "holds a fast model, not a generator" in res.output


def test_latent_source_draws_smooth_frames_of_the_asked_size(trained_dcgan):
    from realtime.sources import open_source

    out, _ = trained_dcgan
    source = open_source(f"latent:{out}:2", (96, 64))
    a, b = source.read(), source.read()
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert source.rows == 2 and source.cols == 3
    assert 0 < np.abs(a.astype(int) - b.astype(int)).mean() < 8  # it moves, a little per frame
    again = open_source(f"latent:{out}:2", (96, 64))
    assert np.array_equal(again.read(), a)


def test_time_budget_stops_before_an_epoch_that_would_overrun(monkeypatch):
    clock = iter([100.0, 200.0, 330.0])  # epochs end at these times: 100, 100 and 130 s long
    monkeypatch.setattr(gan.time, "perf_counter", lambda: next(clock))
    budget = gan.TimeBudget(400, log=lambda *a: None, start=0.0)
    budget.set_model(type("M", (), {"stop_training": False})())
    budget.on_train_begin()
    stopped = []
    for epoch in range(3):
        budget.on_epoch_end(epoch)
        stopped.append(budget.model.stop_training)
    assert stopped == [False, False, True]  # 330 s + the slowest epoch (130 s) would pass 400 s
