"""Fashion-MNIST: IDX parsing, models, train/resume/eval/predict through the real CLI."""

import gzip
import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from offline import fashion
from offline.cli import main
from offline.errors import UserError


def write_idx(path, array):
    array = np.asarray(array, np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def write_noise_dataset(folder, train=256, test=64, high=255, seed=0):
    """Fashion-MNIST-format IDX files of noise images with random labels (shapes, not learning)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("t10k", test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, high, (n, 28, 28)))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


@pytest.fixture
def tiny_dataset(tmp_path):
    """A learnable toy Fashion-MNIST: class k is a bright bar at row 2k+4."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            x[i, 2 * k + 4 : 2 * k + 6, 4:24] = 250
        return x, y

    folder = tmp_path / "fmnist"
    folder.mkdir()
    for split, n in (("train", 300), ("t10k", 100)):
        x, y = make(n)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)
    return folder


def test_idx_round_trip_and_checksum(tiny_dataset):
    data = fashion.load_data(tiny_dataset)
    assert data["x_train"].shape == (300, 28, 28) and data["y_test"].shape == (100,)
    assert len(data["sha256"]) == 64


def test_corrupt_and_missing_dataset_files(tiny_dataset):
    (tiny_dataset / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05ab"))
    with pytest.raises(UserError, match="expected 5 values"):
        fashion.load_data(tiny_dataset)
    (tiny_dataset / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="dataset file missing"):
        fashion.load_data(tiny_dataset)


def test_validation_split_is_disjoint_and_deterministic():
    x = np.arange(1000)[:, None]
    (xt, _), (xv, _) = fashion.split_validation(x, np.zeros(1000), seed=3)
    assert len(xv) == 100 and not set(xt[:, 0]) & set(xv[:, 0])
    assert np.array_equal(xv, fashion.split_validation(x, np.zeros(1000), seed=3)[1][0])


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_models_take_raw_pixels_in_either_shape(name):
    model = fashion.MODELS[name]()
    raw = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype("float32")
    a = keras.ops.convert_to_numpy(model(raw))
    b = keras.ops.convert_to_numpy(model(raw[..., None]))
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)


def test_seed_mlp_matches_the_lab():
    kinds = [type(l).__name__ for l in fashion.build_mlp().layers]
    assert kinds == ["Rescaling", "Flatten", "Dense", "Dropout", "Dense"]


class _InterruptMidEpoch(keras.callbacks.Callback):
    """Simulates Ctrl-C in the middle of the second epoch."""

    def on_train_batch_end(self, batch, logs=None):
        steps = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if steps == self.params["steps"] + 1:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_training_resumes_with_optimizer_state(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fashion.train("mlp", epochs=3, out_dir=out, data_dir=tiny_dataset, batch_size=64,
                      verbose=0, extra_callbacks=[_InterruptMidEpoch()])
    assert json.loads((out / "checkpoints" / "training_metadata.json").read_text())["epoch"] == 1
    manifest = fashion.train("mlp", epochs=3, out_dir=out, data_dir=tiny_dataset, batch_size=64, verbose=0)
    steps_per_epoch = int(np.ceil(270 / 64))
    assert manifest["resumed"] and manifest["epochs_run_this_invocation"] == 2
    assert manifest["optimizer_steps"] == 3 * steps_per_epoch  # optimizer state came back too
    assert (out / "model.keras").is_file()


@pytest.mark.slow
def test_cli_train_eval_predict(tiny_dataset, tmp_path):
    runner = CliRunner()
    out, logs = tmp_path / "model", tmp_path / "tb"
    r = runner.invoke(main, ["fashion", "train", "--model", "cnn", "--epochs", "1", "--data-dir", str(tiny_dataset),
                             "--out", str(out), "--logdir", str(logs), "--batch-size", "64", "--precision", "bf16"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["sha256"] and manifest["parameters"] > 0 and "test_accuracy" in manifest["metrics"]
    assert any(logs.rglob("events.out.tfevents*"))
    assert (out / "checkpoints").is_dir()

    # the export loads with plain Keras, no project code involved, and without warnings
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = keras.saving.load_model(out / "model.keras")
    assert model.output_shape[1:] == (10,)

    report = tmp_path / "report"
    r = runner.invoke(main, ["fashion", "eval", "--model", str(out / "model.keras"), "--data-dir", str(tiny_dataset),
                             "--json", "--report", str(report)])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output)
    assert len(metrics["per_class_accuracy"]) == 10 and np.sum(metrics["confusion_matrix"]) == 100
    assert (report / "confusion_matrix.png").stat().st_size > 1000 and (report / "misclassified.png").is_file()

    from offline.media import write_image

    drawing = np.full((60, 40, 3), 255, np.uint8)  # a dark garment on white paper
    drawing[10:50, 8:32] = 30
    write_image(tmp_path / "garment.png", drawing)
    r = runner.invoke(main, ["fashion", "predict", str(tmp_path / "garment.png"), "--model", str(out), "--json"])
    assert r.exit_code == 0, r.output
    pred = json.loads(r.output)
    assert pred["class"] in fashion.CLASS_NAMES and 0 <= pred["probability"] <= 1


def test_garment_preprocessing_inverts_light_backgrounds_and_centres():
    drawing = np.full((50, 100), 255, np.uint8)
    drawing[10:40, 70:90] = 0  # dark object, off-centre, on white
    small = fashion.garment_to_28x28(drawing)
    assert small.shape == (28, 28)
    assert small[14, 14] > 200 and small[0, 0] == 0  # object bright and centred, background black


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    runner = CliRunner()
    cases = [
        ["fashion", "train", "--model", "resnet", "--data-dir", str(tmp_path)],
        ["fashion", "train", "--data-dir", str(tmp_path / "nope")],
        ["fashion", "predict", str(tmp_path / "missing.png"), "--model", str(tmp_path)],
        ["fashion", "eval", "--model", str(tmp_path / "missing.keras")],
    ]
    (tmp_path / "not_a_model.keras").write_text("hello")
    cases.append(["fashion", "eval", "--model", str(tmp_path / "not_a_model.keras")])
    for args in cases:
        r = runner.invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("Error:") and r.output.count("\n") == 1, r.output


def test_training_batches_cover_every_sample_once_per_epoch_in_a_new_order():
    from offline import backend

    x = np.arange(10, dtype=np.uint8)[:, None] * np.ones((1, 3), np.uint8)
    y = np.arange(10, dtype=np.uint8)
    fit_input = backend.array_batches(x, y, batch_size=4, shuffle=True, seed=0)
    if "y" in fit_input:  # backends other than TensorFlow: keras batches and shuffles the arrays
        assert fit_input["batch_size"] == 4 and fit_input["shuffle"] is True
        return
    epochs = []
    for _ in range(2):
        batches = [(np.asarray(bx), np.asarray(by)) for bx, by in fit_input["x"]]
        assert [len(by) for _, by in batches] == [4, 4, 2]
        assert all((bx[:, 0] == by).all() for bx, by in batches)  # pairs stay together
        order = np.concatenate([by for _, by in batches])
        assert sorted(order) == list(range(10))
        epochs.append(order)
    assert (epochs[0] != epochs[1]).any()  # reshuffled each epoch
    plain = [np.asarray(by) for _, by in backend.array_batches(x, y, batch_size=4)["x"]]
    assert list(np.concatenate(plain)) == list(range(10))


@pytest.mark.slow
def test_a_truncated_checkpoint_is_one_line_on_resume(tiny_dataset, tmp_path):
    from click.testing import CliRunner

    from offline.cli import main

    out = tmp_path / "m"
    args = ["fashion", "train", "--model", "mlp", "--epochs", "1", "--data-dir", str(tiny_dataset), "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    for f in (out / "checkpoints").rglob("*"):
        if f.is_file() and f.stat().st_size > 1000:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])  # torn
    r = CliRunner().invoke(main, args[:-4] + ["--epochs", "2"] + args[-4:] + ["--resume"])
    last = r.output.strip().splitlines()[-1]
    assert r.exit_code == 2 and last.startswith("Error: damaged checkpoint") and "--force" in last, r.output
