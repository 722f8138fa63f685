"""offline adain export: the per-frame function of the AdaIN and the fast model for other runtimes
(ONNX Runtime within one grey level of Keras). Skipped without the [export] extra; CI installs it."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from offline.commands.adain import cli

pytestmark = [pytest.mark.tf_only, pytest.mark.slow]  # Keras exports through TensorFlow (tf2onnx, saved models)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("model", ["random", "random:fast"])
def test_onnx_export_runs_in_onnx_runtime_like_keras(tmp_path, model):
    pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "frame.onnx"
    res = run("export", "--model", model, "--weights", "none", "--size", "64x48", "-o", out)
    assert res.exit_code == 0, res.output
    assert "largest difference" in res.output
    diff = float(res.output.split("largest difference ")[1].split()[0])
    assert diff <= 1.0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    styles = json.loads((tmp_path / "frame.onnx.styles.json").read_text())
    c = styles["channels"]
    assert inputs == {"image": [1, 48, 64, 3], "style_mean": [1, c], "style_std": [1, c]}
    image = np.random.default_rng(0).uniform(0, 255, (1, 48, 64, 3)).astype(np.float32)
    out_a = session.run(None, {"image": image, "style_mean": np.zeros((1, c), np.float32),
                               "style_std": np.ones((1, c), np.float32)})[0]
    out_b = session.run(None, {"image": image, "style_mean": np.full((1, c), 0.5, np.float32),
                               "style_std": np.ones((1, c), np.float32)})[0]
    assert out_a.shape == (1, 48, 64, 3) and 0 <= out_a.min() and out_a.max() <= 255
    assert np.abs(out_a - out_b).mean() > 0.01  # the style statistics are real inputs
    res = run("export", "--model", model, "--weights", "none", "--size", "64x48", "-o", out)
    assert res.exit_code == 2 and "--force" in res.output  # an export is not replaced silently


def test_saved_model_export_and_bad_arguments(tmp_path):
    import tensorflow as tf

    out = tmp_path / "sm"
    res = run("export", "--model", "random:fast", "--weights", "none", "--format", "saved_model", "--size", "64x48",
              "-o", out)
    assert res.exit_code == 0, res.output
    loaded = tf.saved_model.load(str(out))
    y = loaded.serve([tf.zeros((1, 48, 64, 3)), tf.zeros((1, 544)), tf.ones((1, 544))])
    assert tuple(y.shape) == (1, 48, 64, 3)
    res = run("export", "--model", "random", "--weights", "none", "-o", tmp_path / "x.txt")
    assert res.exit_code == 2 and "unknown extension" in res.output
