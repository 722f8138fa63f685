"""A variational autoencoder on Fashion-MNIST and its latent manifold (the course's VAE, Kingma &
Welling 2014): an encoder gives each image a Gaussian in a small latent space, a decoder draws the
image back from a sample of it; the loss is the reconstruction's binary cross-entropy plus the KL
divergence of that Gaussian from N(0, I), which packs the codes into a smooth, dense space.
With a 2-D latent the whole space is one picture: decode a grid of points (the manifold).

Keras idioms as in the keras-io VAE example, backend-neutral: ``VAE.call`` returns the
reconstruction with the code's mean and log-variance, ``compute_loss`` adds the two terms (so
``fit`` runs it on TensorFlow and JAX); the sampling draws from ``keras.random`` with the
model's seed generator.
"""

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from offline import artifacts, backend
from offline.errors import UserError
from offline.progress import epoch_bar

KIND = "vae"


@dataclasses.dataclass
class VAESettings:
    """Every setting of a VAE run: the CLI's defaults, ``train``'s, and what the manifest stores."""

    latent: int = 2  # 2: the manifold is a picture; larger: better reconstructions
    epochs: int = 10
    batch: int = 128
    learning_rate: float = 1e-3
    kl_weight: float = 1.0
    out: str = "runs/vae"
    data_dir: str = None
    seed: int = 0

    def check(self):
        if self.latent < 1 or self.epochs < 1 or self.batch < 1:
            raise UserError("latent, epochs and batch must be positive")
        if self.kl_weight < 0:
            raise UserError("the KL weight must be 0 or more")
        return self


def build_encoder(latent):
    """28x28 grey 0..1 -> (z_mean, z_log_var): two strided convs of 32 and 64, a dense 16."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
    return keras.Model(image, [layers.Dense(latent, name="z_mean")(x), layers.Dense(latent, name="z_log_var")(x)],
                       name="encoder")


def build_decoder(latent):
    """z -> 28x28 grey 0..1: the encoder mirrored with transposed convolutions."""
    z = keras.Input((latent,), name="z")
    x = layers.Dense(7 * 7 * 64, activation="relu")(z)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(z, layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(x), name="decoder")


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, var) || N(0, I)) per example, summed over the latent, averaged over the batch."""
    return ops.mean(-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1))


class TrackedTerms(keras.Model):
    """A model whose ``compute_loss`` reports named loss terms (``TERMS``) as its metrics (the VAE,
    the GANs)."""

    TERMS = ()

    def _init_trackers(self):
        self.trackers = {k: keras.metrics.Mean(name=k) for k in self.TERMS}

    def _track(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {name: m.result() for name, m in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())


class VAE(TrackedTerms):
    TERMS = ("loss", "reconstruction", "kl")

    def __init__(self, latent=2, kl_weight=1.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.latent, self.kl_weight = int(latent), float(kl_weight)
        self.encoder, self.decoder = build_encoder(self.latent), build_decoder(self.latent)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._init_trackers()

    def call(self, images, training=False):
        z_mean, z_log_var = self.encoder(images, training=training)
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + ops.exp(0.5 * z_log_var) * eps
        return {"reconstruction": self.decoder(z, training=training), "z_mean": z_mean, "z_log_var": z_log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        recon = ops.mean(ops.sum(keras.losses.binary_crossentropy(x, y_pred["reconstruction"]), axis=(1, 2)))
        kl = kl_divergence(y_pred["z_mean"], y_pred["z_log_var"])
        loss = recon + self.kl_weight * kl
        self._track(loss=loss, reconstruction=recon, kl=kl)
        return loss


def to_input(images):
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in 0..1."""
    return (np.asarray(images, np.float32) / 255.0)[..., None]


def manifold(decoder, n=15, span=0.95):
    """The decoded grid of a 2-D latent space, (n*28, n*28) uint8: points at the normal quantiles
    of 2.5%..97.5% (``span``), so equal areas of the prior get equal room (Kingma & Welling's fig)."""
    from statistics import NormalDist

    q = [NormalDist().inv_cdf(p) for p in np.linspace((1 - span) / 2, (1 + span) / 2, n)]
    zs = np.array([[zx, zy] for zy in q[::-1] for zx in q], np.float32)
    images = np.asarray(decoder.predict(zs, verbose=0))[..., 0]
    return (images.reshape(n, n, 28, 28).transpose(0, 2, 1, 3).reshape(n * 28, n * 28) * 255).astype(np.uint8)


def interpolate(vae, a, b, steps=10):
    """Decoded images on the straight line between the codes (means) of images ``a`` and ``b``."""
    za, _ = vae.encoder.predict(to_input(np.stack([a, b])), verbose=0)
    t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
    return (np.asarray(vae.decoder.predict((1 - t) * za[0] + t * za[1], verbose=0))[..., 0] * 255).astype(np.uint8)


class ManifoldFrames(keras.callbacks.Callback):
    """The manifold after every epoch (2-D latent only): the GIF of the space taking shape."""

    def __init__(self, n=15):
        super().__init__()
        self.n, self.frames = n, []

    def on_epoch_end(self, epoch, logs=None):
        if self.model.latent == 2:
            self.frames.append(manifold(self.model.decoder, self.n))


def train(settings, command=None, log=print, progress=True):
    """Train; writes OUT/vae.weights.h5, manifest.json, manifold.png (+ manifold.gif over the
    epochs) and interpolation.png; resumes from OUT/checkpoints after an interruption."""
    from offline import media
    from offline.fashion import load_data

    s = settings.check()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(s.data_dir)
    x_train, x_test = to_input(data["x_train"]), to_input(data["x_test"])
    keras.utils.set_random_seed(s.seed)
    vae = VAE(s.latent, s.kl_weight, s.seed)
    vae(x_train[:1])  # built before fit: BackupAndRestore restores into existing variables
    vae.compile(optimizer=keras.optimizers.Adam(s.learning_rate))
    backup = out / "checkpoints"
    resuming = (backup / "training_metadata.json").exists()
    if resuming:
        log(f"resuming from {backup}")
    frames = ManifoldFrames()
    callbacks = [artifacts.backup_and_restore(str(backup), save_freq="epoch", delete_checkpoint=False),
                 keras.callbacks.TensorBoard(str(out / "tensorboard")), frames]
    if progress:
        callbacks.append(epoch_bar(s.epochs, ("loss", "reconstruction", "kl")))
    t = time.perf_counter()
    history = vae.fit(**backend.array_batches(x_train, None, s.batch, shuffle=True, seed=s.seed), epochs=s.epochs,
                      callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - t
    test = vae.evaluate(x_test, batch_size=512, verbose=0, return_dict=True)
    with media.atomic_path(out / "vae.weights.h5", ".weights.h5") as tmp:
        vae.save_weights(tmp)
    if s.latent == 2:
        media.write_image(out / "manifold.png", manifold(vae.decoder))
        if frames.frames:
            media.write_gif(out / "manifold.gif", frames.frames, fps=3)
    pairs = [(data["x_test"][np.argmax(data["y_test"] == a)], data["x_test"][np.argmax(data["y_test"] == b)])
             for a, b in ((0, 8), (7, 5), (1, 3))]  # t-shirt->bag, sneaker->sandal, trouser->dress
    rows = [interpolate(vae, a, b) for a, b in pairs]
    media.write_image(out / "interpolation.png", np.concatenate([np.concatenate(list(r), axis=1) for r in rows], 0))
    manifest = {"kind": KIND, "what": f"variational autoencoder on Fashion-MNIST, {s.latent}-D latent (offline/vae.py)",
                "weights": "vae.weights.h5", "command": command or "offline vae train",
                "settings": dataclasses.asdict(s), "data": {"source": data["source"], "sha256": data["sha256"]},
                "epochs_run_this_invocation": len(history.history.get("loss", [])), "resumed": resuming,
                "train_seconds_this_invocation": round(seconds, 1),
                "final": {k: round(float(v[-1]), 3) for k, v in history.history.items()},
                "test": {k: round(float(v), 3) for k, v in test.items()}}
    media.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest
