"""offline ae: the course's three autoencoders on a tiny real IDX dataset."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from offline import ae, media
from offline.cli import main
from tests.test_fashion import tiny_dataset, write_idx  # noqa: F401 - the fixture and its writer


@pytest.mark.parametrize("kind, code", [("dense", 64), ("conv", 256), ("denoising", 64)])
def test_shapes(kind, code):
    model, encoder = ae.build(kind)
    x = np.zeros((2, 28, 28, 1), np.float32)
    assert model(x).shape == (2, 28, 28, 1) and encoder(x).shape == (2, code)


def test_masking_noise_zeroes_the_share_asked():
    x = np.ones((10, 28, 28, 1), np.float32)
    assert abs(float((ae.masked(x, 0.3, np.random.default_rng(0)) == 0).mean()) - 0.3) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv", "denoising"])
def test_train_writes_pictures_and_a_probe_that_beats_chance(tiny_dataset, tmp_path, kind):  # noqa: F811
    args = ["ae", "train", "--kind", kind, "--data-dir", tiny_dataset, "--out", tmp_path, "--epochs", 3,
            "--batch", 32, "--probe-epochs", 20]
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    out = tmp_path / kind
    m = json.loads((out / "manifest.json").read_text())
    assert m["linear_probe_test_accuracy"] > 0.3  # 10 classes: chance is 0.1 (the toy data's bars are easy)
    rows = 3 if kind == "denoising" else 2  # (noisy,) reconstruction, original
    assert media.read_image(out / "reconstructions.png").shape[:2] == (rows * 28, 10 * 28)
    assert media.read_image(out / "codes.png").shape[2] == 3
    assert (out / "reconstructions.gif").exists()
