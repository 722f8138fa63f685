"""offline vae: the variational autoencoder on a tiny real IDX dataset (the Fashion-MNIST format)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from offline import media, vae
from offline.cli import main
from tests.test_fashion import tiny_dataset, write_idx  # noqa: F401 - the fixture and its writer


def test_loss_is_reconstruction_plus_kl_and_sampling_is_seeded():
    model = vae.VAE(latent=2, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    out = model(x)
    assert out["reconstruction"].shape == (4, 28, 28, 1)
    loss = float(model.compute_loss(x, None, out))
    r, k = (float(model.trackers[n].result()) for n in ("reconstruction", "kl"))
    assert loss == np.float32(r + k) or abs(loss - (r + k)) < 1e-3 and k >= 0


@pytest.mark.slow
def test_train_writes_manifold_gif_interpolation_and_resumes(tiny_dataset, tmp_path):  # noqa: F811
    out = tmp_path / "vae"
    args = ["vae", "train", "--data-dir", tiny_dataset, "--out", out, "--epochs", 2, "--batch", 64]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "vae" and m["test"]["kl"] >= 0 and m["epochs_run_this_invocation"] == 2
    assert media.read_image(out / "manifold.png").shape[:2] == (15 * 28, 15 * 28)
    with Image.open(out / "manifold.gif") as im:
        assert im.n_frames == 2  # one manifold per epoch
    assert media.read_image(out / "interpolation.png").shape[:2] == (3 * 28, 10 * 28)
    # the weights load into a fresh model and decode the same manifold
    fresh = vae.VAE(2)
    fresh(np.zeros((1, 28, 28, 1), np.float32))
    fresh.load_weights(out / "vae.weights.h5")
    assert np.array_equal(vae.manifold(fresh.decoder), media.read_image(out / "manifold.png")[..., 0])
    # the finished model is not replaced by running again; two more epochs continue it with --resume
    args[-3] = 4
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 2 and "--resume" in res.output
    res = CliRunner().invoke(main, [str(a) for a in args] + ["--resume"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["resumed"] and m["epochs_run_this_invocation"] == 2
