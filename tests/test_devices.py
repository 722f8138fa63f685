"""Data-parallel training on two devices (two virtual CPU devices here) gives the single-device
losses; ``--devices`` mistakes are one line. Each run is a subprocess: the device split must be
set before the backend starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from click.testing import CliRunner

from offline.cli import main

pytestmark = pytest.mark.slow  # subprocesses with two devices, training

ROOT = Path(__file__).resolve().parents[1]

STEPS = """
import json, numpy as np, keras
from offline import backend
backend.device_count(2)  # the CPU split (STUDIO_CPU_DEVICES) made before TensorFlow's runtime starts
out = {}
for n in (1, 2):
    with backend.data_parallel(n):
        keras.utils.set_random_seed(0)
        trainer = make()
        rng = np.random.default_rng(0)
        out[n] = [float(trainer.train_on_batch(batch(rng), return_dict=True)["loss"]) for _ in range(3)]
print("LOSSES", json.dumps(out))
"""

ADAIN = """
from offline.adain_train import make_trainer
make = lambda: make_trainer("relu3_1", weights=None, learning_rate=1e-3)
batch = lambda rng: tuple(rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32") for _ in range(2))
"""

FAST = """
from offline.fast_train import FastTrainSettings, make_trainer
# small steps: under TensorFlow Keras clips each replica's gradient before summing them, and with
# random VGG weights the losses are huge and clipnorm always bites (JAX clips the whole gradient)
settings = FastTrainSettings(weights=None, widths=(8, 16), blocks=1, decay=0.0, learning_rate=1e-5,
                             padding="zeros")  # (mirrored borders: losses 3x as sensitive to the clipping)
make = lambda: make_trainer(settings)
def batch(rng):
    c = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    s = np.repeat(rng.uniform(0, 255, (1, 32, 32, 3)).astype("float32"), 4, axis=0)
    warp = np.tile(np.array([[1, 0, 1, 0, 1, 0, 0, 0]], "float32"), (4, 1))
    return (c, s, warp, np.zeros_like(c))
"""


def two_device_env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", STUDIO_CPU_DEVICES="2")


def losses(setup):
    res = subprocess.run([sys.executable, "-c", setup + STEPS], capture_output=True, text=True, env=two_device_env(),
                         timeout=600, cwd=ROOT)
    line = [x for x in res.stdout.splitlines() if x.startswith("LOSSES ")]
    assert res.returncode == 0 and line, res.stderr[-3000:]
    return json.loads(line[0][len("LOSSES "):])


@pytest.mark.parametrize("setup", [ADAIN, pytest.param(FAST, marks=pytest.mark.tf_only)], ids=["adain", "fast"])
def test_two_devices_give_the_single_device_losses(setup):
    got = losses(setup)
    one, two = got["1"], got["2"]
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), got
    assert one[0] != one[-1]  # it trained


def test_fashion_trains_on_two_devices_and_records_them(tmp_path):
    from tests.test_fashion import write_noise_dataset

    data = write_noise_dataset(tmp_path / "fmnist")
    out = tmp_path / "f"
    cmd = [sys.executable, "-m", "offline", "fashion", "train", "--epochs", "1", "--batch-size", "32", "--devices", "2",
           "--data-dir", str(data), "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=two_device_env(), timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out / "manifest.json").read_text())["devices"] == 2


@pytest.mark.parametrize("args, message", [
    (["fashion", "train", "--devices", "0"], "is not a positive number or 'all'"),
    (["fashion", "train", "--devices", "64"], "--devices 64: this machine has"),
    (["adain", "train", "--devices", "two"], "is not a positive number or 'all'"),
])
def test_device_mistakes_are_one_line(args, message, tmp_path):
    res = CliRunner().invoke(main, args + ["--out", str(tmp_path / "o")] if args[0] != "adain" else args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_data_parallel_of_one_changes_nothing():
    from offline import backend

    before = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    with backend.data_parallel(1) as n:
        assert n == 1
    assert (keras.distribution.distribution() if keras.backend.backend() == "jax" else None) is before


def test_adain_cli_on_two_devices_checkpoints_and_resumes(tmp_path):
    import cv2
    import numpy as np

    rng = np.random.default_rng(10)
    for kind in ("content", "style"):
        (tmp_path / kind).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / kind / f"{kind}{i}.png"), rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    base = [sys.executable, "-m", "offline", "adain", "train", "--content", str(tmp_path / "content"),
            "--style", str(tmp_path / "style"), "--batch", "2", "--size", "32", "--weights", "none",
            "--out", str(tmp_path / "model"), "--checkpoint-every", "1", "--log-every", "1", "--devices", "2"]
    res = subprocess.run(base + ["--steps", "2"], capture_output=True, text=True, env=two_device_env(), timeout=600,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 2
    res = subprocess.run(base + ["--steps", "3", "--resume"], capture_output=True, text=True, env=two_device_env(),
                         timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["steps"] == 3 and manifest["devices"] == 2 and manifest["resumed_from_step"] == 2
    res = subprocess.run(base[:-2] + ["--devices", "2", "--batch", "3", "--steps", "1", "--force"], capture_output=True,
                         text=True, env=two_device_env(), timeout=600, cwd=ROOT)
    assert res.returncode == 2 and "does not split over 2 devices" in res.stderr + res.stdout
