"""GANs on Fashion-MNIST, the course's "next challenge": DCGAN (Radford et al. 2016) and VAE-GAN
(Larsen et al. 2016).

DCGAN: a generator draws 28x28 images from 64 normal numbers; a discriminator tells them from
real ones; each trains against the other. VAE-GAN: a VAE whose decoder is also the GAN's
generator, its reconstruction loss measured on the discriminator's features instead of pixels,
so that reconstructions and samples are sharp; its encoder makes latent arithmetic possible.

What makes the samples sharp (each measured in ``benchmarks/generative_eval.py``; see
docs/generative.md): spectral normalisation of the discriminator's layers (Miyato et al. 2018: D
stays 1-Lipschitz, so its gradient to G stays informative), the hinge loss, the two-timescale
update rule (Heusel et al. 2017: D steps 4x G's; ``TwoTimescaleAdam``), and sampling from an
exponential moving average of the generator's weights (Karras et al. 2018; ``ema``), which averages
away the last steps' oscillation around the equilibrium.

One ``fit``, one optimizer, on TensorFlow and JAX alike. A GAN's losses pull each network its own
way: the discriminator must not learn from the generator's loss. ``frozen`` gives a network's
output whose gradient flows to the input but not to the network's weights:

    live - fixed + stop_gradient(fixed),  live = D(x), fixed = D(stop_gradient(x))

Its value is D(x); the two D terms have identical gradients with respect to D's weights, which
cancel exactly; only ``live`` carries a gradient to x. ``fixed`` itself is what D's own loss uses
(no gradient to the generator). So the sum of all losses gives every weight exactly its own
network's gradient, and ``compute_loss`` is the whole training step: simultaneous updates with
Adam (per-weight, so one optimizer is two), no backend-specific ``train_step``.
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
from offline.vae import TrackedTerms, build_encoder, kl_divergence, to_input

KINDS = ("dcgan", "vaegan")
LOSSES = ("hinge", "bce")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")


@dataclasses.dataclass
class GANSettings:
    """Every setting of a GAN run: the CLI's defaults, ``train``'s, and what the manifest stores."""

    kind: str = "dcgan"
    latent: int = 64
    epochs: int = 10
    batch: int = 64
    learning_rate: float = 1e-4  # the generator's; the discriminator's is d_ratio times it
    beta_1: float = 0.0  # SAGAN's Adam (Zhang et al. 2019): beta_1 0, beta_2 0.9, D at 4x G's rate
    beta_2: float = 0.9
    d_ratio: float = 4.0
    filters: int = 64  # the networks' first layer's channels (G: 2x, then 1x; D: 1x, then 2x)
    loss: str = "hinge"  # or "bce" (the original non-saturating loss)
    spectral: bool = True  # spectral normalisation of D's layers
    ema: float = 0.999  # momentum of the generator's weight average used for sampling (0: off)
    feature_weight: float = 1.0  # VAE-GAN: weight of the discriminator-feature reconstruction loss
    kl_weight: float = 1.0  # VAE-GAN: weight of the KL term
    minutes: float = None  # a time budget: no epoch starts that would end after it (None: all epochs)
    out: str = "runs/gan"
    data_dir: str = None
    seed: int = 0

    def check(self):
        if self.kind not in KINDS:
            raise UserError(f"unknown GAN {self.kind!r}; choose one of {', '.join(KINDS)}")
        if min(self.latent, self.epochs, self.batch) < 1:
            raise UserError("latent, epochs and batch must be positive")
        if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1) or self.feature_weight < 0 or self.kl_weight < 0:
            raise UserError("beta_1 and beta_2 must be in [0, 1); feature and KL weights 0 or more")
        if self.loss not in LOSSES:
            raise UserError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if not 0 <= self.ema < 1 or self.d_ratio <= 0 or self.filters < 1:
            raise UserError("ema must be in [0, 1), d_ratio positive, filters 1 or more")
        if self.minutes is not None and self.minutes <= 0:
            raise UserError("minutes must be positive")
        return self


# --- networks --------------------------------------------------------------------------------------

def build_generator(latent, filters=64):
    """z -> 28x28 grey 0..1: dense to 7x7x(2 filters), two 4x4 stride-2 transposed convs (DCGAN's
    shape; at 64 filters ~7 MMAC per image, an epoch of Fashion-MNIST in about two minutes on 2
    cores)."""
    z = keras.Input((latent,), name="z")
    x = layers.Dense(7 * 7 * 2 * filters, use_bias=False)(z)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    x = layers.Reshape((7, 7, 2 * filters))(x)
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    image = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid", dtype="float32")(x)
    return keras.Model(z, image, name="generator")


class Spectral(layers.Layer):
    """A Conv2D (``kernel_size`` given) or Dense layer whose kernel is divided by its largest
    singular value (Miyato et al. 2018), estimated by one power-iteration step from the stored
    vector ``u``. Not ``keras.layers.SpectralNormalization``: that one writes the divided kernel
    back into the trainable weight during the forward pass (a projection whose gradient ignores
    the division) and moves ``u`` on every call, while the discriminator here is called several
    times per step and must be the same function each time (``frozen``). So ``u`` is only read in
    ``call``; ``advance()`` moves it, once per training step (``DCGAN.call``)."""

    def __init__(self, units, kernel_size=None, strides=1, enabled=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.kernel_size, self.strides, self.enabled = int(units), kernel_size, strides, bool(enabled)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        shape = (self.kernel_size, self.kernel_size, fan_in, self.units) if self.kernel_size else (fan_in, self.units)
        self.kernel = self.add_weight(shape=shape, initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.u = self.add_weight(shape=(1, self.units), initializer=keras.initializers.RandomNormal(seed=0),
                                 trainable=False, name="u")

    def _iterate(self):
        """(next u, sigma): one power-iteration step on the kernel as a (fan-in, units) matrix."""
        w = ops.reshape(self.kernel, (-1, self.units))
        u = ops.stop_gradient(self.u)
        v = u @ ops.transpose(w)
        v = v / (ops.norm(v) + 1e-12)
        u = v @ w
        u = ops.stop_gradient(u / (ops.norm(u) + 1e-12))
        sigma = ops.sum((ops.stop_gradient(v) @ w) * u)
        return u, sigma

    def call(self, x):
        kernel = self.kernel / self._iterate()[1] if self.enabled else self.kernel
        if self.kernel_size:
            y = ops.conv(x, kernel, strides=self.strides, padding="same")
        else:
            y = x @ kernel
        return y + self.bias

    def advance(self):
        if self.enabled:
            self.u.assign(self._iterate()[0])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "kernel_size": self.kernel_size,
                "strides": self.strides, "enabled": self.enabled}


def build_discriminator(filters=64, spectral=True):
    """28x28 grey 0..1 -> (logit, features): two 4x4 stride-2 convs (``filters``, 2x) with leaky
    ReLU, spectrally normalised (``spectral``). No batch norm and no dropout: it is called several
    times per step (see ``frozen``), and each call must be the same function of its input."""
    image = keras.Input((28, 28, 1), name="image")
    x = layers.Rescaling(2.0, offset=-1.0)(image)
    x = layers.LeakyReLU(0.2)(Spectral(filters, 4, 2, enabled=spectral)(x))
    features = layers.LeakyReLU(0.2, name="features")(Spectral(2 * filters, 4, 2, enabled=spectral)(x))
    logit = Spectral(1, enabled=spectral, name="logit")(layers.Flatten()(features))
    return keras.Model(image, [logit, features], name="discriminator")


class TwoTimescaleAdam(keras.optimizers.Adam):
    """Adam whose steps for the ``fast`` variables (the discriminator's) are ``ratio`` times the
    others' (Heusel et al. 2017's two time-scale update rule), so that one optimizer still trains
    both networks in one ``fit``."""

    def __init__(self, fast=(), ratio=4.0, **kwargs):
        super().__init__(**kwargs)
        # ids, not the variables: a list of variables on an optimizer becomes part of its state
        self.ratio, self._fast_ids = float(ratio), {id(v) for v in fast}

    def build(self, variables):
        super().build(variables)
        self._fast_index = {i for i, v in enumerate(variables) if id(v) in self._fast_ids}

    def update_step(self, gradient, variable, learning_rate):
        if self._get_variable_index(variable) in self._fast_index:
            learning_rate = ops.multiply(learning_rate, self.ratio)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


# --- the maths -------------------------------------------------------------------------------------

def frozen(network, x):
    """(``network(x)`` with no gradient to the network's weights, ``network(stop_gradient(x))``).
    See the module docstring: the first keeps the gradient to ``x``, the second has only the one to
    the weights; both have the value ``network(x)``."""
    live, fixed = network(x), network(ops.stop_gradient(x))
    view = keras.tree.map_structure(lambda a, b: a - b + ops.stop_gradient(b), live, fixed)
    return view, fixed


def says_real(logit):
    """Binary cross-entropy of 'real' for logits: softplus(-logit), averaged."""
    return ops.mean(ops.softplus(-logit))


def says_fake(logit):
    return ops.mean(ops.softplus(logit))


def d_loss_of(real, fake, loss):
    """The discriminator's loss for logits of real and generated images: hinge (Lim & Ye 2017:
    mean relu(1 - real) + mean relu(1 + fake)) or the original cross-entropy."""
    if loss == "hinge":
        return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
    return says_real(real) + says_fake(fake)


def g_loss_of(fake, loss):
    """The generator's: -mean D(fake) with the hinge loss, the non-saturating -log D(fake) else."""
    return -ops.mean(fake) if loss == "hinge" else says_real(fake)


def slerp(a, b, t):
    """Spherical interpolation between latent vectors (White 2016): the path stays at the norm the
    generator saw in training, where a straight line would cut through the low-norm middle."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1, 1))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# --- models ----------------------------------------------------------------------------------------

class GAN(TrackedTerms):
    """What DCGAN and VAE-GAN share: the two networks, the loss, the generator's moving average
    ``ema`` (the generator that samples) and the once-per-step updates of both."""

    def __init__(self, latent=64, seed=0, filters=64, loss="hinge", spectral=True, ema=0.999, **kwargs):
        super().__init__(**kwargs)
        self.latent, self.loss, self.ema_momentum = int(latent), loss, float(ema)
        self.generator = build_generator(self.latent, filters)
        self.discriminator = build_discriminator(filters, spectral)
        self.ema = build_generator(self.latent, filters)
        self.ema.trainable = False
        for e, w in zip(self.ema.weights, self.generator.weights):
            e.assign(np.array(w))  # a copy: under JAX two variables sharing one buffer break buffer donation
        self.ema_steps = keras.Variable(0.0, trainable=False, name="ema_steps")  # saved and resumed with the rest
        self.seed_generator = keras.random.SeedGenerator(seed)

    def step_updates(self):
        """Once per training step: the spectral norms' vectors, the generator's average. (In
        ``call`` with training=True: assignments there are how Keras carries state such as batch
        norm's statistics through a step on every backend.)"""
        for layer in self.discriminator.layers:
            if isinstance(layer, Spectral):
                layer.advance()
        # the momentum grows to its setting over the first steps, (1 + n) / (10 + n), so that a
        # short run's average is not dominated by the random initial weights
        n = self.ema_steps
        m = ops.minimum(self.ema_momentum, (1.0 + n) / (10.0 + n))
        for e, w in zip(self.ema.weights, self.generator.weights):
            e.assign(m * e + (1.0 - m) * ops.stop_gradient(w))
        self.ema_steps.assign(n + 1.0)

    def sampler(self):
        """The generator to draw from: the moving average unless it is off."""
        return self.ema if self.ema_momentum else self.generator


class DCGAN(GAN):
    TERMS = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, latent=64, seed=0, **kwargs):
        super().__init__(latent, seed, **kwargs)
        self._init_trackers()

    def call(self, images, training=False):
        z = keras.random.normal((ops.shape(images)[0], self.latent), seed=self.seed_generator)
        fakes = self.generator(z, training=training)
        (fake_for_g, _), (fake_for_d, _) = frozen(self.discriminator, fakes)
        real, _ = self.discriminator(images)
        if training:
            self.step_updates()
        return {"real": real, "fake_for_d": fake_for_d, "fake_for_g": fake_for_g}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        d_loss = d_loss_of(y_pred["real"], y_pred["fake_for_d"], self.loss)
        g_loss = g_loss_of(y_pred["fake_for_g"], self.loss)
        self._track(d_loss=d_loss, g_loss=g_loss, d_real=ops.mean(ops.sigmoid(y_pred["real"])),
                    d_fake=ops.mean(ops.sigmoid(y_pred["fake_for_d"])))
        return d_loss + g_loss


class VAEGAN(GAN):
    """Larsen et al. 2016: encoder (KL + feature reconstruction), decoder = generator (feature
    reconstruction + fooling D on reconstructions and prior samples), discriminator (real vs both).
    One simplification: the GAN loss on reconstructions reaches the encoder too (Larsen's encoder
    sees only KL + feature loss); keeping it out costs a third generator pass and two
    discriminator passes per step, ~30% of the step."""

    TERMS = ("d_loss", "g_loss", "feature", "kl", "pixel_mse")

    def __init__(self, latent=64, feature_weight=1.0, kl_weight=1.0, seed=0, **kwargs):
        super().__init__(latent, seed, **kwargs)
        self.feature_weight, self.kl_weight = float(feature_weight), float(kl_weight)
        self.encoder = build_encoder(self.latent)
        self._init_trackers()

    def call(self, images, training=False):
        z_mean, z_log_var = self.encoder(images, training=training)
        z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        z_prior = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        recon = self.generator(z, training=training)
        prior = self.generator(z_prior, training=training)
        real, real_features = self.discriminator(images)
        (recon_for_g, recon_features), (recon_for_d, _) = frozen(self.discriminator, recon)
        (prior_for_g, _), (prior_for_d, _) = frozen(self.discriminator, prior)
        if training:
            self.step_updates()
        return {"z_mean": z_mean, "z_log_var": z_log_var, "recon": recon, "real": real,
                "real_features": real_features, "recon_features": recon_features,
                "recon_for_g": recon_for_g, "recon_for_d": recon_for_d,
                "prior_for_g": prior_for_g, "prior_for_d": prior_for_d}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        p = y_pred
        d_loss = 0.5 * (d_loss_of(p["real"], p["recon_for_d"], self.loss) + d_loss_of(p["real"], p["prior_for_d"], self.loss))
        g_loss = 0.5 * (g_loss_of(p["recon_for_g"], self.loss) + g_loss_of(p["prior_for_g"], self.loss))
        # Gaussian log-likelihood of D's features (Larsen's L_llike^Dis), per example
        diff = p["recon_features"] - ops.stop_gradient(p["real_features"])
        feature = ops.mean(ops.sum(ops.square(diff), axis=(1, 2, 3))) * 0.5
        kl = kl_divergence(p["z_mean"], p["z_log_var"])
        self._track(d_loss=d_loss, g_loss=g_loss, feature=feature, kl=kl,
                    pixel_mse=ops.mean(ops.square(p["recon"] - x)))
        return d_loss + g_loss + self.feature_weight * feature + self.kl_weight * kl


def build(settings):
    s = settings
    common = {"filters": s.filters, "loss": s.loss, "spectral": s.spectral, "ema": s.ema}
    if s.kind == "dcgan":
        model = DCGAN(s.latent, s.seed, **common)
    else:
        model = VAEGAN(s.latent, s.feature_weight, s.kl_weight, s.seed, **common)
    model(np.zeros((2, 28, 28, 1), np.float32))  # built: BackupAndRestore and load_weights need variables
    return model


# --- pictures --------------------------------------------------------------------------------------

def generate(generator, z):
    """Latent vectors -> uint8 (N, 28, 28)."""
    images = np.asarray(generator.predict(np.asarray(z, np.float32), verbose=0, batch_size=256))[..., 0]
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def tile(images, cols):
    """uint8 (N, 28, 28) -> one grey picture, ``cols`` wide, 2-pixel black gaps."""
    from offline.media import grid

    return grid([np.repeat(i[..., None], 3, -1) for i in images], cols=cols, pad=2, background=0)


def fixed_latents(latent, n=64, seed=1234):
    """The same latent vectors every epoch and every run: the GIF shows one set of samples improving."""
    return np.random.default_rng(seed).standard_normal((n, latent)).astype(np.float32)


def interpolations(generator, latent, rows=6, steps=10, seed=7):
    """Each row slerps between two random latent vectors."""
    rng = np.random.default_rng(seed)
    z = [slerp(a, b, t) for a, b in rng.standard_normal((rows, 2, latent)) for t in np.linspace(0, 1, steps)]
    return tile(generate(generator, z), steps)


def latent_arithmetic(model, x, y):
    """VAE-GAN's latent arithmetic on Fashion-MNIST: the mean code of class B minus that of class A,
    added to the codes of A images, turns them into B-like images that keep their own look.
    Rows: (T-shirt -> pullover: 'add sleeves'), (sneaker -> ankle boot: 'raise the shaft'),
    (sandal -> sneaker: 'close it'). Columns: the image, its reconstruction, the code plus the
    vector at 0.5, 1.0 and 1.5."""
    z = np.asarray(model.encoder.predict(to_input(x), verbose=0, batch_size=512)[0])
    rows = []
    for a, b in ((0, 2), (7, 9), (5, 7)):
        vector = z[y == b].mean(0) - z[y == a].mean(0)
        picks = np.flatnonzero(y == a)[:4]
        for i in picks:
            codes = [z[i] + k * vector for k in (0.0, 0.5, 1.0, 1.5)]
            rows.append(np.concatenate([x[i]] + list(generate(model.sampler(), codes)), axis=1))
    return np.concatenate(rows, axis=0)


class EpochSamples(keras.callbacks.Callback):
    """After every epoch, the fixed latents' samples as OUT/epochs/NNN.png: the GIF over the epochs
    is made from these files, so a resumed run's GIF still starts at epoch 1."""

    def __init__(self, folder, latent):
        super().__init__()
        self.folder, self.z = Path(folder), fixed_latents(latent)

    def on_epoch_end(self, epoch, logs=None):
        from offline import media

        self.folder.mkdir(parents=True, exist_ok=True)
        media.write_image(self.folder / f"{epoch + 1:03d}.png", tile(generate(self.model.sampler(), self.z), 8))


class TimeBudget(keras.callbacks.Callback):
    """Stop after the epoch that would otherwise let the next one end past ``seconds`` from
    ``start`` (a ``time.perf_counter()``; default: when training begins). The estimate of an epoch
    is the slowest interval between two epoch ends so far (the epoch and its callbacks' pictures):
    "train for ten minutes" that means ten minutes."""

    def __init__(self, seconds, log=print, start=None):
        super().__init__()
        self.seconds, self.log, self.start = float(seconds), log, start

    def on_train_begin(self, logs=None):
        self.start = self.start if self.start is not None else time.perf_counter()
        self.last, self.slowest = self.start, 0.0

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.slowest, self.last = max(self.slowest, now - self.last), now
        if now - self.start + self.slowest > self.seconds:
            self.model.stop_training = True
            self.log(f"\ntime budget: stopping after epoch {epoch + 1} ({(now - self.start) / 60:.1f} min; "
                     f"rerun with more --epochs or --minutes to continue)")


# --- training --------------------------------------------------------------------------------------

def train(settings, command=None, log=print, progress=True):
    """Train; writes OUT/gan.weights.h5, manifest.json, samples.png, samples.gif (over the epochs),
    interpolation.png (slerp) and, for VAE-GAN, reconstructions.png and arithmetic.png; resumes
    from OUT/checkpoints after an interruption."""
    from offline import media
    from offline.fashion import load_data

    started = time.perf_counter()  # a --minutes budget counts from here
    s = settings.check()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    existing = out / "manifest.json"
    run_file = out / "run.json"  # what the folder's checkpoint belongs to (written before the first epoch)
    if run_file.exists():
        try:
            old = json.loads(run_file.read_text())
        except ValueError:
            old = {}
        if (old.get("kind"), old.get("latent")) != (s.kind, s.latent):
            raise UserError(f"{out} holds a {old.get('kind')} run with latent {old.get('latent')}; choose another --out")
    media.atomic_write_text(run_file, json.dumps({"kind": s.kind, "latent": s.latent}))
    data = load_data(s.data_dir)
    x_train = to_input(data["x_train"])
    keras.utils.set_random_seed(s.seed)
    model = build(s)
    model.compile(optimizer=TwoTimescaleAdam(model.discriminator.trainable_variables, s.d_ratio,
                                             learning_rate=s.learning_rate, beta_1=s.beta_1, beta_2=s.beta_2))
    backup = out / "checkpoints"
    resuming = (backup / "training_metadata.json").exists()
    if resuming:
        log(f"resuming from {backup}")
    callbacks = [artifacts.backup_and_restore(str(backup), save_freq="epoch", delete_checkpoint=False),
                 keras.callbacks.TensorBoard(str(out / "tensorboard")), EpochSamples(out / "epochs", s.latent)]
    if progress:
        callbacks.append(epoch_bar(s.epochs, model.TERMS))
    if s.minutes:
        callbacks.append(TimeBudget(s.minutes * 60, log, start=started))
    t = time.perf_counter()
    history = model.fit(**backend.array_batches(x_train, None, s.batch, shuffle=True, seed=s.seed), epochs=s.epochs,
                        callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - t
    with media.atomic_path(out / "gan.weights.h5", ".weights.h5") as tmp:
        model.save_weights(tmp)
    with media.atomic_path(out / "generator.weights.h5", ".weights.h5") as tmp:
        model.sampler().save_weights(tmp)  # what sampling loads: the averaged generator alone
    media.write_image(out / "samples.png", tile(generate(model.sampler(), fixed_latents(s.latent)), 8))
    frames = [media.read_image(p) for p in sorted((out / "epochs").glob("*.png"))]
    if frames:
        media.write_gif(out / "samples.gif", frames, fps=3)
    media.write_image(out / "interpolation.png", interpolations(model.sampler(), s.latent))
    if s.kind == "vaegan":
        x, y = data["x_test"], np.asarray(data["y_test"])
        z = model.encoder.predict(to_input(x[:16]), verbose=0)[0]
        media.write_image(out / "reconstructions.png", tile(np.concatenate([x[:16], generate(model.sampler(), z)]), 16))
        media.write_image(out / "arithmetic.png", latent_arithmetic(model, x, y))
    previous = json.loads(existing.read_text()) if resuming and existing.exists() else {}
    manifest = {"kind": s.kind, "what": f"{s.kind.upper()} on Fashion-MNIST, {s.latent}-D latent (offline/gan.py)",
                "weights": "gan.weights.h5", "sampler": "generator.weights.h5", "command": command or f"offline gan train --kind {s.kind}",
                "settings": dataclasses.asdict(s), "data": {"source": data["source"], "sha256": data["sha256"]},
                "epochs_run_this_invocation": len(history.history.get("d_loss", [])), "resumed": resuming,
                "train_seconds_this_invocation": round(seconds, 1),
                "train_seconds_total": round(seconds + float(previous.get("train_seconds_total", 0.0)), 1),
                "final": {k: round(float(v[-1]), 4) for k, v in history.history.items()}}
    media.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


# --- using a trained generator ---------------------------------------------------------------------

GENERATOR_KINDS = ("dcgan", "vaegan", "vae")


def resolve(model):
    """A model folder or the name of a shipped one (dcgan, vaegan, vae) -> its folder."""
    from offline.artifacts import TRAINED  # by the package's own location: a ./trained folder cannot shadow it

    folder = Path(model)
    if not folder.is_dir() and str(model) in GENERATOR_KINDS:
        folder = TRAINED / str(model)
    if not folder.is_dir():
        raise UserError(f"no generator model {model}: give a folder made by 'offline gan train' or "
                        f"'offline vae train', or one of {', '.join(GENERATOR_KINDS)}")
    return folder


def load_generator(model):
    """(generator keras.Model z -> 28x28x1 in 0..1, latent size, manifest) from a DCGAN, VAE-GAN or
    VAE folder (the VAE's decoder is its generator)."""
    from offline.artifacts import load_weights, read_manifest

    folder = resolve(model)
    manifest = read_manifest(folder)
    kind = manifest.get("kind")
    if kind not in GENERATOR_KINDS:
        what = f"a {kind} model" if kind else f"'{str(manifest.get('what', 'a model of no known kind'))[:60]}'"
        raise UserError(f"{folder} holds {what}, not a generator ({', '.join(GENERATOR_KINDS)})")
    settings = manifest.get("settings", {})
    latent = int(settings.get("latent", 64 if kind != "vae" else 2))
    if kind == "vae":
        from offline.vae import VAE

        net = VAE(latent)
        net(np.zeros((1, 28, 28, 1), np.float32))
        load_weights(net, folder / manifest.get("weights", "vae.weights.h5"))
        return net.decoder, latent, manifest
    if "sampler" not in manifest:
        raise UserError(f"{folder} was made by an earlier version of 'offline gan train' (no generator.weights.h5); "
                        "train it again")
    generator = build_generator(latent, int(settings.get("filters", GANSettings.filters)))
    load_weights(generator, folder / manifest["sampler"])
    return generator, latent, manifest


def sample(model, n=64, seed=0, cols=None):
    """``n`` samples from a generator folder as one picture (``cols`` wide, default square-ish)."""
    generator, latent, _ = load_generator(model)
    z = np.random.default_rng(seed).standard_normal((n, latent)).astype(np.float32)
    return tile(generate(generator, z), cols or int(np.ceil(np.sqrt(n))))


class LatentWalk:
    """A slow, smooth, never-repeating walk through a latent space, for ``count`` points at once:
    each coordinate is a sum of three sinusoids with random frequencies (around 1/``period`` Hz)
    and phases, scaled to unit variance, so the points stay where N(0, I) draws (what the
    generator saw in training) live. ``at(seconds)`` is a pure function of time: frame t of a run
    is the same in every run with the same seed."""

    def __init__(self, latent, count=1, period=20.0, seed=0):
        rng = np.random.default_rng(seed)
        self.frequency = rng.uniform(0.5, 1.5, (count, latent, 3)) / float(period)
        self.phase = rng.uniform(0, 2 * np.pi, (count, latent, 3))

    def at(self, seconds):
        """(count, latent) float32 latent vectors at time ``seconds``."""
        waves = np.cos(2 * np.pi * self.frequency * float(seconds) + self.phase)
        return (np.sqrt(2 / 3) * waves.sum(-1)).astype(np.float32)
