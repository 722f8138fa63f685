"""Fashion-MNIST classifier: data, models, training with resume, evaluation, prediction.

The exported model owns its preprocessing: it takes raw 0..255 pixels of shape (28, 28) or
(28, 28, 1) and returns class probabilities, so any Keras user can ``keras.saving.load_model``
it and call it without this package.
"""

import gzip
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from offline import artifacts, backend
from offline.backbone import built_with
from offline.errors import UserError

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
VALIDATION_SIZE = 5000


# --- data ----------------------------------------------------------------------------------------

def read_idx(path):
    """Parse an IDX file (optionally gzipped): 0x0801 = uint8 labels, 0x0803 = uint8 images."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"corrupt dataset file {path}: {e}") from None
    if len(raw) < 8:
        raise UserError(f"corrupt dataset file {path}: too short")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (0x0801, 0x0803):
        raise UserError(f"corrupt dataset file {path}: bad IDX magic number {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise UserError(f"corrupt dataset file {path}: expected {expected} values, found {len(raw) - offset}")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def _find(data_dir, stem):
    for name in (stem + ".gz", stem):
        if (data_dir / name).exists():
            return data_dir / name
    raise UserError(f"dataset file missing: {data_dir / (stem + '.gz')}")


def load_data(data_dir=None):
    """-> dict with x_train, y_train, x_test, y_test (uint8), ``source`` and ``sha256``.

    ``data_dir``, else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), else
    Keras' download."""
    if data_dir is None and DEFAULT_DATA_DIR.is_dir():
        data_dir = DEFAULT_DATA_DIR
    if data_dir is None:
        import keras

        try:
            (xtr, ytr), (xte, yte) = keras.datasets.fashion_mnist.load_data()
        except Exception as e:
            raise UserError(f"no data folder given, none at {DEFAULT_DATA_DIR}, and the download failed ({type(e).__name__})") from None
        data = dict(x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, source="keras.datasets.fashion_mnist")
    else:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise UserError(f"data folder not found: {data_dir}")
        data = {"source": str(data_dir)}
        for split, (images, labels) in FILES.items():
            data[f"x_{split}"] = read_idx(_find(data_dir, images))
            data[f"y_{split}"] = read_idx(_find(data_dir, labels))
    for split in ("train", "test"):
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise UserError(f"dataset {split} split has images {x.shape} and labels {y.shape}; expected (N, 28, 28) and (N,)")
        if y.max() >= len(CLASS_NAMES):
            raise UserError(f"dataset {split} labels go up to {y.max()}; expected 0..9")
    h = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        h.update(np.ascontiguousarray(data[key]).tobytes())
    data["sha256"] = h.hexdigest()
    return data


def split_validation(x, y, size=VALIDATION_SIZE, seed=0):
    """Hold out ``size`` training images (a fixed, class-mixed random subset) for validation;
    at most a tenth of a small training set."""
    size = min(size, len(x) // 10)
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:size], order[size:]
    return (x[train], y[train]), (x[val], y[val])


# --- models --------------------------------------------------------------------------------------

def build_mlp():
    """The seed lab's MLP. Sequential: a plain stack is what it is."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax", dtype="float32"),  # softmax in fp32 under mixed precision
    ], name="fashion_mlp")


def build_cnn():
    """A small VGG-style CNN with batch norm (functional API, so the blocks read as what they are).

    Sized for a 2-core CPU: ~93.5% test accuracy in 10 epochs. One cheap convolution at full 28x28
    resolution (1 -> 32 channels) before the first pooling, then the capacity at 14x14 and 7x7
    where it costs a quarter and a sixteenth as much. The full-resolution first layer is worth
    ~0.8 points of test accuracy over starting at 14x14 (a lossless space-to-depth stem); a second
    conv at 28x28 would cost ~4x the time of the whole network. Its batch norm and ReLU run after
    the pooling, on a quarter of the values (max commutes with ReLU). Two 48-channel convs at
    14x14 instead of one 64-channel conv: +0.46 points (0.9346 vs 0.9300) for ~5% more time per
    step: elementwise work (mostly batch norm, which Keras computes unfused), not the
    convolutions, is two thirds of a step's CPU time."""
    import keras
    from keras import layers

    def conv(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inputs = keras.Input((28, 28, 1), name="pixels")  # raw 0..255; (28, 28) is accepted too
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = layers.MaxPooling2D()(x)  # first: BN + ReLU then touch 4x fewer values (max commutes with ReLU)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = conv(x, 48)
    x = conv(x, 48)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = conv(x, 128)
    x = conv(x, 128)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


MODELS = {"mlp": build_mlp, "cnn": build_cnn}


# --- training ------------------------------------------------------------------------------------

def train(model_name="cnn", epochs=8, out_dir="runs/fashion", logdir=None, data_dir=None,
          batch_size=128, patience=3, seed=0, learning_rate=2e-3, command=None, verbose=1,
          extra_callbacks=(), precision="float32", log=print, devices="1"):
    """Train with a checkpoint every epoch; rerunning after an interruption resumes from the last
    finished epoch with the optimizer state. Exports ``model.keras`` and ``manifest.json``.
    ``devices``: data-parallel over that many devices ("all": every one), the batch split over them."""
    if model_name not in MODELS:
        raise UserError(f"unknown model {model_name!r}; choose one of: {', '.join(MODELS)}")
    n = backend.device_count(devices)
    if batch_size % n:
        raise UserError(f"--batch-size {batch_size} does not split over {n} devices: use a multiple of {n}")
    return _train(model_name, epochs, out_dir, logdir, data_dir, batch_size, patience, seed, learning_rate, command,
                  verbose, extra_callbacks, precision, log, n)


def _train(model_name, epochs, out_dir, logdir, data_dir, batch_size, patience, seed, learning_rate, command, verbose,
           extra_callbacks, precision, log, devices):
    import keras

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(data_dir)
    (x_train, y_train), (x_val, y_val) = split_validation(data["x_train"], data["y_train"], seed=seed)

    if devices > 1:  # every batch, the last too, must split evenly over the devices
        keep, keep_val = len(x_train) - len(x_train) % devices, len(x_val) - len(x_val) % devices
        x_train, y_train, x_val, y_val = x_train[:keep], y_train[:keep], x_val[:keep_val], y_val[:keep_val]
    with backend.data_parallel(devices):  # training only: the export and the evaluation run plainly
        keras.utils.set_random_seed(seed)
        # bf16 trains ~20% faster on CPUs with AMX/AVX512-BF16; the export is float32 either way.
        with built_with(precision):
            model = MODELS[model_name]()
        steps_per_epoch = int(np.ceil(len(x_train) / batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps_per_epoch * epochs, alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])

        backup_dir = out_dir / "checkpoints"
        resuming = (backup_dir / "training_metadata.json").exists()
        run_file = backup_dir / "run.json"  # which model the checkpoint belongs to
        if resuming:
            try:
                done = json.loads((backup_dir / "training_metadata.json").read_text())["epoch"]
                owner = json.loads(run_file.read_text())["model"] if run_file.exists() else model_name
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise UserError(f"damaged checkpoint in {backup_dir} ({type(e).__name__}): delete that folder to start "
                                f"over") from None
            if owner != model_name:
                raise UserError(f"{backup_dir} holds a checkpoint of the {owner} model, not {model_name}: "
                                f"use another --out, or delete it to start over")
            if verbose:
                log(f"resuming from {backup_dir}: {done} epoch(s) already done")
        backup_dir.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps({"model": model_name}))
        callbacks = [
            artifacts.backup_and_restore(str(backup_dir), save_freq="epoch", delete_checkpoint=False),
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, restore_best_weights=True),
            keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
        ]
        if logdir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(logdir)))
        callbacks.extend(extra_callbacks)

        start = time.perf_counter()
        val = backend.array_batches(x_val[..., None], y_val, batch_size)
        history = model.fit(**backend.array_batches(x_train[..., None], y_train, batch_size, shuffle=True, seed=seed),
                            validation_data=val["x"] if "y" not in val else (val["x"], val["y"]),
                            epochs=epochs, callbacks=callbacks, verbose=verbose)
        seconds = time.perf_counter() - start
        epochs_run = len(history.history.get("loss", []))

    optimizer_steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    val_acc = max(history.history.get("val_accuracy", [float("nan")]))
    # the export: float32 and not compiled (no optimizer state to restore or warn about on load)
    export = MODELS[model_name]()
    export.set_weights(model.get_weights())
    model = export
    metrics, _, probs = evaluate(model, data["x_test"], data["y_test"])
    test_acc = metrics["test_accuracy"]
    test_loss = float(np.mean(keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(data["y_test"], probs))))
    model_path = out_dir / "model.keras"
    _save_model_atomically(model, model_path)
    manifest = {
        "what": f"Fashion-MNIST classifier ({model_name}); input raw 0..255 pixels (N, 28, 28[, 1]), output class probabilities",
        "classes": CLASS_NAMES,
        "command": command or "offline fashion train",
        "data": {"source": data["source"], "sha256": data["sha256"], "train": len(x_train),
                 "validation": len(x_val), "test": len(data["x_test"])},
        "model": model_name,
        "parameters": int(model.count_params()),
        "hyperparameters": {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "precision": precision,
                            "schedule": "cosine decay", "early_stopping_patience": patience, "seed": seed},
        "epochs_run_this_invocation": epochs_run,
        "optimizer_steps": optimizer_steps,
        "resumed": resuming,
        "train_seconds_this_invocation": round(seconds, 1),
        "devices": devices,
        "metrics": {"test_accuracy": round(float(test_acc), 4), "test_loss": round(float(test_loss), 4),
                    "best_val_accuracy": round(float(val_acc), 4)},
        "machine": _machine(),
    }
    from offline.media import atomic_write_text

    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _save_model_atomically(model, path):
    from offline.media import atomic_path

    with atomic_path(path, ".keras") as tmp:
        model.save(tmp)


def _machine():
    import platform

    import keras

    return {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "keras": keras.__version__,
            "backend": keras.backend.backend()}


# --- evaluation and prediction -------------------------------------------------------------------

def load_classifier(path=None):
    """Load an exported classifier; a missing file or the wrong kind of model is a UserError."""
    import keras

    if path is None:  # by the package's own location: a ./trained folder cannot shadow it
        from offline.artifacts import TRAINED

        path = TRAINED / "fashion_mnist" / "model.keras"
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise UserError(f"model not found: {path}")
    try:
        model = keras.saving.load_model(path)
    except Exception as e:
        raise UserError(f"not a Keras model file: {path} ({type(e).__name__})") from None
    shape = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else None
    if shape not in ((28, 28, 1), (28, 28)) or tuple(model.output_shape[1:]) != (10,):
        raise UserError(f"{path} is not a Fashion-MNIST classifier (input {shape}, output {model.output_shape[1:]})")
    return model, path


def confusion_matrix(y_true, y_pred, n=10):
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def evaluate(model, x, y):
    probs = np.asarray(model.predict(x[..., None], batch_size=512, verbose=0))
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(y, pred)
    per_class = {CLASS_NAMES[i]: round(float(cm[i, i] / max(1, cm[i].sum())), 4) for i in range(10)}
    return {"test_accuracy": round(float((pred == y).mean()), 4), "per_class_accuracy": per_class,
            "confusion_matrix": cm.tolist(), "n": int(len(y))}, pred, probs


def plot_confusion(cm, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(1, cm.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(10), CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(range(10), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(f"Fashion-MNIST test set: accuracy {np.trace(cm) / cm.sum():.4f}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _save_figure(fig, path):
    import io

    from offline.media import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def misclassified_grid(x, y, pred, probs, path, limit=40):
    """A PNG grid of misclassified test images, captioned 'true -> predicted (p)'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.flatnonzero(pred != y)
    # The most confident mistakes first: they teach the most.
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.9), dpi=100)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), wrong):
        ax.imshow(x[i], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"{CLASS_NAMES[y[i]]}\n-> {CLASS_NAMES[pred[i]]} {probs[i, pred[i]]:.2f}", fontsize=7)
    fig.suptitle(f"most confident mistakes ({len(np.flatnonzero(pred != y))} wrong of {len(y)}): true -> predicted p")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def garment_to_28x28(gray):
    """Turn any garment photo or drawing into a Fashion-MNIST-like 28x28 image.

    Fashion-MNIST shows a light object on a black background, centred, its longer side filling the
    frame. So: invert when the background (the border) is light, crop to the object's bounding
    box, pad to a square with background, and resize with area averaging."""
    import cv2

    gray = np.asarray(gray, np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:
        gray = 255 - gray
        border = 255 - border
    background = int(np.median(border))
    mask = np.abs(gray.astype(np.int16) - background) > 30
    if mask.any():
        ys, xs = np.nonzero(mask)
        gray = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    gray = np.clip(gray.astype(np.int16) - background, 0, 255).astype(np.uint8)
    h, w = gray.shape
    side = max(h, w)
    square = np.zeros((side, side), np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = gray
    return cv2.resize(square, (28, 28), interpolation=cv2.INTER_AREA)


# --- command line --------------------------------------------------------------------------------


