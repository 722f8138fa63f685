"""A network that paints: (row, col) -> (r, g, b), the "paint" regression of the course (Kadenze
CADL, session 2). It learns one image as a function of position: 6 hidden layers of 20 ReLU units
on the pixel's normalised coordinates, trained by regression on every pixel in random order.
Because it is a function of continuous coordinates (a CPPN, compositional pattern-producing
network), it renders at any resolution: 4x the source is just a denser grid.

With several images, one network learns them all: each pixel's input is its coordinates plus a
one-hot code of its image; rendering with a code between two images morphs one into the other.
"""

import dataclasses

import keras
import numpy as np

from offline.errors import UserError
from offline.progress import epoch_bar


@dataclasses.dataclass
class PainterSettings:
    """The course's settings as defaults (one source for the CLI and Python)."""

    size: int = 100  # images are read at this longer side (the course: 100x100)
    hidden: int = 6  # hidden layers ...
    width: int = 20  # ... of this many units
    epochs: int = 500  # passes over every pixel (the course's "500 iterations")
    batch: int = 50
    learning_rate: float = 1e-3
    every: int = 10  # a GIF frame every this many epochs
    seed: int = 0

    def check(self):
        if min(self.size, self.hidden, self.width, self.epochs, self.batch, self.every) < 1:
            raise UserError("size, hidden, width, epochs, batch and every must be positive")
        return self


def coordinates(h, w):
    """(h*w, 2) row and column of every pixel centre, scaled to [-1, 1]: the same function of
    position whatever the resolution."""
    rows = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    cols = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
    r, c = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([r.reshape(-1), c.reshape(-1)], axis=1)


def build_painter(codes=0, hidden=6, width=20, name="painter"):
    """(row, col[, image code]) -> RGB in 0..1 (linear output; clipped when rendered)."""
    x = inputs = keras.Input((2 + codes,), name="position")
    for i in range(hidden):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="rgb")(x), name=name)


def training_data(images):
    """Every pixel of every image: inputs (coordinates + one-hot image code when several) and
    targets (RGB 0..1). Images are RGB uint8 of one size."""
    h, w = images[0].shape[:2]
    xy = coordinates(h, w)
    k = len(images)
    xs, ys = [], []
    for i, image in enumerate(images):
        code = np.zeros((len(xy), k if k > 1 else 0), np.float32)
        if k > 1:
            code[:, i] = 1.0
        xs.append(np.concatenate([xy, code], axis=1))
        ys.append(image.reshape(-1, 3).astype(np.float32) / 255.0)
    return np.concatenate(xs), np.concatenate(ys)


def render(model, size, code=None):
    """The painting at ``size`` (w, h), any resolution; ``code``: the image code (several images)."""
    w, h = size
    xy = coordinates(h, w)
    if code is not None:
        xy = np.concatenate([xy, np.repeat(np.asarray(code, np.float32)[None], len(xy), 0)], axis=1)
    rgb = model.predict(xy, batch_size=65536, verbose=0)
    return np.clip(rgb.reshape(h, w, 3) * 255.0, 0, 255).astype(np.uint8)


class Snapshots(keras.callbacks.Callback):
    """A rendering every ``every`` epochs (the GIF of the painting taking shape)."""

    def __init__(self, size, every, code=None):
        super().__init__()
        self.size, self.every, self.code, self.frames = size, every, code, []

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 or (epoch + 1) % self.every == 0:
            self.frames.append(render(self.model, self.size, self.code))


def train_painter(images, settings, progress=True):
    """Fit one network to ``images``; returns (model, history, snapshot frames of the first image)."""
    s = settings.check()
    keras.utils.set_random_seed(s.seed)
    x, y = training_data(images)
    model = build_painter(x.shape[1] - 2, s.hidden, s.width)
    model.compile(optimizer=keras.optimizers.Adam(s.learning_rate), loss="mse")
    h, w = images[0].shape[:2]
    code = np.eye(len(images), dtype=np.float32)[0] if len(images) > 1 else None
    snaps = Snapshots((w, h), s.every, code)
    callbacks = [snaps] + ([epoch_bar(s.epochs)] if progress else [])
    history = model.fit(x, y, batch_size=s.batch, epochs=s.epochs, shuffle=True, callbacks=callbacks, verbose=0)
    return model, history.history["loss"], snaps.frames


def morph(model, n_images, size, steps=12):
    """Frames that walk the image code from each image to the next and back to the first."""
    codes = np.eye(n_images, dtype=np.float32)
    frames = []
    for i in range(n_images):
        a, b = codes[i], codes[(i + 1) % n_images]
        for t in np.linspace(0.0, 1.0, steps, endpoint=False):
            frames.append(render(model, size, (1 - t) * a + t * b))
    return frames
