"""Autoencoders on Fashion-MNIST, the course's three (Kadenze CADL, session 3):

    dense      784 -> 512 -> 256 -> 128 -> 64 (the code) -> 128 -> 256 -> 512 -> 784
    conv       three 4x4 stride-2 convolutions of 16 (28 -> 14 -> 7 -> 4), mirrored back up
    denoising  the dense one, fed images with pixels masked to 0 (``mask`` of them), its loss on
               the clean image: it must learn what garments look like, not copy pixels

Each trains with Keras ``fit`` (MSE), and leaves a reconstruction grid, a GIF of the
reconstructions over the epochs, a scatter of the codes coloured by class (their first two
principal components) and a linear probe: a softmax layer trained on the frozen codes of the
training images, its test accuracy saying how class-like the codes are (the course's claim is
that denoising makes them more so).
"""

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from offline import artifacts, backend
from offline.errors import UserError

KINDS = ("dense", "conv", "denoising")


@dataclasses.dataclass
class AESettings:
    kind: str = "dense"
    epochs: int = 10
    batch: int = 128
    learning_rate: float = 1e-3
    mask: float = 0.5  # denoising: share of pixels set to 0 in each input
    probe_epochs: int = 5
    out: str = "runs/ae"
    data_dir: str = None
    seed: int = 0

    def check(self):
        if self.kind not in KINDS:
            raise UserError(f"unknown autoencoder {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not 0 <= self.mask < 1:
            raise UserError(f"mask must be in [0, 1), got {self.mask}")
        if min(self.epochs, self.batch, self.probe_epochs) < 1:
            raise UserError("epochs, batch and probe epochs must be positive")
        return self


def build(kind):
    """(autoencoder, encoder): 28x28x1 in 0..1 -> the same; the encoder gives the code."""
    image = keras.Input((28, 28, 1), name="image")
    if kind in ("dense", "denoising"):
        x = layers.Flatten()(image)
        for n in (512, 256, 128):
            x = layers.Dense(n, activation="relu")(x)
        code = layers.Dense(64, activation="relu", name="code")(x)
        x = code
        for n in (128, 256, 512):
            x = layers.Dense(n, activation="relu")(x)
        out = layers.Reshape((28, 28, 1))(layers.Dense(784, activation="sigmoid")(x))
    else:
        x = image
        for _ in range(3):  # 28 -> 14 -> 7 -> 4
            x = layers.Conv2D(16, 4, strides=2, padding="same", activation="relu")(x)
        code = layers.Flatten(name="code")(x)  # 4 x 4 x 16 = 256 numbers
        x = layers.Reshape((4, 4, 16))(code)
        for _ in range(2):  # 4 -> 8 -> 16
            x = layers.Conv2DTranspose(16, 4, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid")(x)  # 32
        out = layers.Cropping2D(2)(x)  # 28
    return keras.Model(image, out, name=f"{kind}_autoencoder"), keras.Model(image, code, name="encoder")


def masked(images, share, rng):
    """Pixels set to 0 at random (the course's masking noise)."""
    return images * (rng.random(images.shape) >= share).astype(np.float32)


class DenoisingData(keras.utils.PyDataset):
    """(masked, clean) batches, a fresh mask every epoch."""

    def __init__(self, x, batch, share, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.batch, self.share, self.seed, self.epoch = x, batch, share, seed, 0
        self.order = np.random.default_rng(seed).permutation(len(x))

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch))

    def __getitem__(self, i):
        clean = self.x[self.order[i * self.batch:(i + 1) * self.batch]]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return masked(clean, self.share, rng), clean

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))


def probe(encoder, data, epochs=5, seed=0):
    """Test accuracy of a softmax layer trained on the frozen codes (how class-like they are)."""
    from offline.vae import to_input

    c_train = encoder.predict(to_input(data["x_train"]), batch_size=1024, verbose=0)
    c_test = encoder.predict(to_input(data["x_test"]), batch_size=1024, verbose=0)
    mean, std = c_train.mean(0), c_train.std(0) + 1e-6
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input((c_train.shape[1],)), layers.Dense(10, activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit((c_train - mean) / std, data["y_train"], batch_size=256, epochs=epochs, verbose=0)
    return float(head.evaluate((c_test - mean) / std, data["y_test"], verbose=0, return_dict=True)["accuracy"])


def code_scatter(codes, labels, path, title):
    """The codes' first two principal components, coloured by class (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from offline.fashion import CLASS_NAMES
    from offline.media import atomic_path

    c = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(c[:5000], full_matrices=False)
    xy = c @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    for k in range(10):
        sel = labels == k
        ax.scatter(xy[sel, 0], xy[sel, 1], s=3, alpha=0.5, label=CLASS_NAMES[k])
    ax.set_title(title)
    ax.legend(markerscale=4, fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def reconstruction_grid(model, clean, noisy=None):
    """Rows: (noisy input,) reconstruction, original; 10 images each, uint8."""
    shown = clean if noisy is None else noisy
    rec = np.asarray(model.predict(shown, verbose=0))
    rows = ([noisy] if noisy is not None else []) + [rec, clean]
    return (np.concatenate([np.concatenate(list(r[..., 0]), axis=1) for r in rows], 0) * 255).astype(np.uint8)


class GridFrames(keras.callbacks.Callback):
    def __init__(self, clean, noisy=None):
        super().__init__()
        self.clean, self.noisy, self.frames = clean, noisy, []

    def on_epoch_end(self, epoch, logs=None):
        self.frames.append(reconstruction_grid(self.model, self.clean, self.noisy))


def train(settings, command=None, log=print, progress=True):
    """Train one autoencoder; writes OUT/KIND/ (weights, manifest, reconstructions.png/.gif,
    codes.png) and returns the manifest (with the probe's test accuracy)."""
    from offline import media
    from offline.fashion import load_data
    from offline.progress import epoch_bar
    from offline.vae import to_input

    s = settings.check()
    out = Path(s.out) / s.kind
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(s.data_dir)
    x_train, x_test = to_input(data["x_train"]), to_input(data["x_test"])
    keras.utils.set_random_seed(s.seed)
    model, encoder = build(s.kind)
    model.compile(optimizer=keras.optimizers.Adam(s.learning_rate), loss="mse")
    sample = x_test[[int(np.argmax(data["y_test"] == k)) for k in range(10)]]  # one of each class
    noisy = masked(sample, s.mask, np.random.default_rng(1)) if s.kind == "denoising" else None
    frames = GridFrames(sample, noisy)
    callbacks = [artifacts.backup_and_restore(str(out / "checkpoints"), save_freq="epoch",
                                                  delete_checkpoint=False), frames]
    if progress:
        callbacks.append(epoch_bar(s.epochs))
    t = time.perf_counter()
    if s.kind == "denoising":
        history = model.fit(DenoisingData(x_train, s.batch, s.mask, s.seed), epochs=s.epochs, callbacks=callbacks,
                            verbose=0)
        test_loss = model.evaluate(masked(x_test, s.mask, np.random.default_rng(2)), x_test, verbose=0)
    else:
        history = model.fit(**backend.array_batches(x_train, x_train, s.batch, shuffle=True, seed=s.seed),
                            epochs=s.epochs, callbacks=callbacks, verbose=0)
        test_loss = model.evaluate(x_test, x_test, verbose=0)
    seconds = time.perf_counter() - t
    with media.atomic_path(out / "autoencoder.weights.h5", ".weights.h5") as tmp:
        model.save_weights(tmp)
    media.write_image(out / "reconstructions.png", reconstruction_grid(model, sample, noisy))
    if frames.frames:
        media.write_gif(out / "reconstructions.gif", frames.frames, fps=2)
    accuracy = probe(encoder, data, s.probe_epochs, s.seed)
    codes = encoder.predict(x_test, batch_size=1024, verbose=0)
    code_scatter(codes, data["y_test"], out / "codes.png", f"{s.kind} autoencoder codes (probe {accuracy:.3f})")
    manifest = {"kind": "autoencoder", "architecture": s.kind, "command": command or "offline ae train",
                "settings": dataclasses.asdict(s), "data": {"source": data["source"], "sha256": data["sha256"]},
                "code_size": int(codes.shape[1]), "parameters": int(model.count_params()),
                "epochs_run_this_invocation": len(history.history.get("loss", [])),
                "train_seconds_this_invocation": round(seconds, 1),
                "test_mse": round(float(test_loss), 5), "linear_probe_test_accuracy": round(accuracy, 4)}
    media.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest
