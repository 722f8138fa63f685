"""Training the AdaIN decoder: the Keras model (``compute_loss``), the augmenting input pipeline,
callbacks (checkpoints with optimizer state, TensorBoard, NaN guard, a log line with ETA) and
``train()``, which ``offline adain train`` calls.

The encoder is frozen; only the decoder learns. ``fit`` uses Keras' own backend-specific
``train_step`` (TensorFlow and JAX); we only override ``compute_loss``:

    t       = AdaIN(enc(content)[last], enc(style)[last])
    g       = decoder(t)
    loss_c  = mse(enc(g)[last], t)
    loss_s  = sum over relu1_1..last of  mse(mean(enc(g)), mean(enc(style))) + mse(std, std)
    loss    = loss_c + style_weight * loss_s + tv_weight * TV(g) + lattice_weight * lattice(g)

Both extra terms are 0 by default (the paper's loss). ``tv_weight`` adds a total-variation term on
the decoder output, which smooths everything; it did not remove the faint 2/4-pixel lattice that
nearest-neighbour upsampling leaves on flat areas (BENCHMARKS.md, AdaIN). ``lattice_weight`` adds
``losses.lattice_excess``: the log power ratio at exactly those periods over the frequencies next
to them, which targets the grid and leaves edges and brush strokes alone.
"""

import dataclasses
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import ops

from offline import backend, media
from offline.adain import STYLE_LAYERS, adain, build_decoder, build_encoder, check_depth, weights_checksum
from offline.backbone import dtype_policy, layer_alias
from offline.errors import UserError
from offline.losses import adain_losses, lattice_excess, mean_std, total_variation


@dataclasses.dataclass
class TrainSettings:
    """What every training run has: where it writes, the VGG weights, checkpoints and logging; JSON
    for manifests and checkpoints; where the checkpoint goes (beside the model: ``runs/NAME/model``
    -> ``runs/NAME/checkpoint``)."""

    out: str = "runs/model"  # a model enters trained/ only on purpose (--out trained/NAME)
    checkpoint_dir: str = ""  # default: the folder above out, "checkpoint"
    exclude: tuple = ()  # held-out image names (globs)
    weights: str = "imagenet"
    weights_dir: str = ""
    checkpoint_every: int = 200
    log_every: int = 25
    workers: int = 2
    seed: int = 0
    resume: bool = False
    devices: str = "1"  # a number or "all": data-parallel over that many GPUs (or split CPUs)

    def to_json(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def checkpoint_path(self):
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.out).parent / "checkpoint"


@dataclasses.dataclass
class AdaINTrainSettings(TrainSettings):
    """Every setting of a decoder training run: the CLI's defaults, ``train()``'s, and what the
    manifest stores. The paper: batch 8, size 256, lr 1e-4, decay 5e-5, style weight 10."""

    content: str = ""  # folder of photos
    style: str = ""  # folder of paintings
    out: str = "runs/adain/model"
    depth: str = "relu3_1"
    steps: int = 2000
    batch: int = 4
    size: int = 256
    style_weight: float = 10.0
    tv_weight: float = 0.0
    lattice_weight: float = 0.0
    learning_rate: float = 1e-4
    decay: float = 5e-5
    precision: str = "float32"


class AdaINTrainer(keras.Model):
    """Encoder (frozen) + decoder; ``x`` is ``(content, style)`` batches of RGB 0..255 floats."""

    def __init__(self, encoder, decoder, depth="relu3_1", style_weight=10.0, tv_weight=0.0, lattice_weight=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder  # an offline.backbone.Backbone
        self.encoder_model = encoder.model  # tracked, so stateless (JAX) calls see its weights
        self.encoder_model.trainable = False
        self.decoder = decoder
        self.depth = depth
        self.layer_names = [layer_alias(n) for n in STYLE_LAYERS[depth]]
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.lattice_weight = float(lattice_weight)
        self.content_tracker = keras.metrics.Mean(name="content")
        self.style_tracker = keras.metrics.Mean(name="style")
        self.lattice_tracker = keras.metrics.Mean(name="lattice")  # logged whatever its weight

    weights_name = "decoder.weights.h5"  # what checkpoints call the trained part's file

    @property
    def network(self):
        """The trained part (checkpoints save it and the optimizer state)."""
        return self.decoder

    def encode(self, rgb):
        return self.encoder_model(self.encoder.preprocess(rgb), training=False)

    def call(self, inputs, training=False):
        content, style = inputs
        c = self.encode(content)[self.layer_names[-1]]
        s_feats = self.encode(style)
        s_stats = [mean_std(s_feats[n]) for n in self.layer_names]
        t = ops.stop_gradient(adain(c, *s_stats[-1]))
        g = self.decoder(t, training=training)
        return {"image": g, "target": t, "style_stats": s_stats}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        g = y_pred["image"]
        loss_c, loss_s = adain_losses(self.encoder_model(g, training=False), y_pred["target"], y_pred["style_stats"],
                                      self.layer_names)
        self.content_tracker.update_state(loss_c)
        self.style_tracker.update_state(loss_s)
        lattice = lattice_excess(g)
        self.lattice_tracker.update_state(lattice)
        loss = loss_c + self.style_weight * loss_s
        if self.tv_weight:
            loss = loss + self.tv_weight * total_variation(g)
        if self.lattice_weight:
            loss = loss + self.lattice_weight * lattice
        return backend.per_replica(loss)

    def stylize(self, content, style):
        """Decoder output as RGB 0..255 (not clipped), for samples and tests."""
        return self.encoder.deprocess(ops.cast(self((content, style))["image"], "float32"))


# --- data ------------------------------------------------------------------------------------------

def load_folder(folder, exclude=(), max_side=640):
    """All images of a folder (RGB uint8, longer side <= max_side), minus names matching ``exclude``
    (fnmatch patterns on the file name or stem). Returns (images, names)."""
    import fnmatch

    files = media.list_images(folder)
    keep = [p for p in files if not any(fnmatch.fnmatch(p.name, e) or fnmatch.fnmatch(p.stem, e) for e in exclude)]
    if not keep:
        raise UserError(f"no training images left in {folder} after excluding {', '.join(exclude)}")
    images = []
    for p in keep:
        im = media.read_image(p)
        if max(im.shape[:2]) > max_side:
            im = media.fit_max_side(im, max_side)
        images.append(im)
    return images, [p.name for p in keep]


def augment(image, size, rng, scale=(1.0, 2.0), rotate=False, color=0.0):
    """Heavy augmentation for a tiny data set: short side resized to a random ``size*scale``, a
    random ``size`` crop, horizontal flip, optionally a random 90-degree rotation and a colour
    jitter (hue shift, saturation and brightness) of strength ``color``. RGB uint8 -> float32."""
    h, w = image.shape[:2]
    short = size * rng.uniform(*scale)
    f = short / min(h, w)
    nh, nw = max(size, round(h * f)), max(size, round(w * f))
    im = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    y, x = rng.integers(0, nh - size + 1), rng.integers(0, nw - size + 1)
    im = im[y : y + size, x : x + size]
    if rng.random() < 0.5:
        im = im[:, ::-1]
    if rotate and rng.random() < 0.5:
        im = np.rot90(im, k=int(rng.integers(1, 4)))
    if color > 0:
        hsv = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-90, 90) * color) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(1 - 0.5 * color, 1 + 0.5 * color), 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(1 - 0.3 * color, 1 + 0.3 * color), 0, 255)
        im = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return np.ascontiguousarray(im, dtype=np.float32)


class PairDataset(keras.utils.PyDataset):
    """Endless random (content, style) batches; each index draws fresh crops. Worker threads (cv2
    releases the GIL) prepare batches while the model trains."""

    def __init__(self, contents, styles, batch, size, steps, seed=0, workers=2, style_color=0.5, **kwargs):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8, **kwargs)
        self.contents, self.styles = contents, styles
        self.batch, self.size, self.steps = int(batch), int(size), int(steps)
        self.seed = seed
        self.style_color = style_color
        self._epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self._epoch, index])
        c = [augment(self.contents[rng.integers(len(self.contents))], self.size, rng, color=0.15)
             for _ in range(self.batch)]
        s = [augment(self.styles[rng.integers(len(self.styles))], self.size, rng, scale=(1.0, 2.5),
                     rotate=True, color=self.style_color * (rng.random() < 0.5))
             for _ in range(self.batch)]
        return (np.stack(c), np.stack(s)),

    def on_epoch_end(self):
        self._epoch += 1


# --- checkpoints -----------------------------------------------------------------------------------

def save_checkpoint(trainer, folder, extra=None):
    """The trained part's weights (``trainer.network``) + optimizer variables under names that
    carry the step, then ``state.json`` naming them with their sizes and checksums, written last
    and atomically: until it is replaced the previous checkpoint's files stay, so a crash or a
    full disk mid-save leaves the last good checkpoint whole (and a torn file is never trusted)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = int(ops.convert_to_numpy(trainer.optimizer.iterations))
    files = {"weights": f"step{step:07d}.{trainer.weights_name}", "optimizer": f"step{step:07d}.optimizer.npz"}
    with media.atomic_path(folder / files["weights"], ".weights.h5") as tmp:
        trainer.network.save_weights(tmp)
    opt = {f"v{i}": ops.convert_to_numpy(v) for i, v in enumerate(trainer.optimizer.variables)}
    with media.atomic_path(folder / files["optimizer"]) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **opt)
            f.flush()
            os.fsync(f.fileno())
    check = {k: {"bytes": (folder / name).stat().st_size, "sha256": media.file_sha256(folder / name)} for k, name in files.items()}
    state = {"step": step, "time": time.time(), **(extra or {}), "files": files, "check": check}
    media.atomic_write_text(folder / "state.json", json.dumps(state, indent=1))
    for old in folder.glob("step*.*"):  # the previous checkpoints' files (and the names before these)
        if old.name not in files.values():
            old.unlink(missing_ok=True)
    for legacy in (trainer.weights_name, "optimizer.npz"):
        (folder / legacy).unlink(missing_ok=True)
    return state


def load_checkpoint(trainer, folder):
    """Restore the trained part's weights and the optimizer state; returns the state dict."""
    from offline import artifacts

    folder = Path(folder)
    if not (folder / "state.json").is_file():
        raise UserError(f"cannot resume: no checkpoint in {folder}")
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot resume: corrupt {folder / 'state.json'} ({type(e).__name__}); delete {folder} to start over") from None
    files = state.get("files") or {"weights": trainer.weights_name, "optimizer": "optimizer.npz"}  # older checkpoints
    for key, expected in (state.get("check") or {}).items():
        path = folder / files[key]
        if not path.is_file() or path.stat().st_size != expected["bytes"] or media.file_sha256(path) != expected["sha256"]:
            raise UserError(f"cannot resume: {path} is missing or not what the checkpoint wrote (a crash or a full "
                            f"disk while saving?); restore it, or --force to start over") from None
    artifacts.load_weights(trainer.network, folder / files["weights"])
    trainer.optimizer.build(trainer.trainable_variables)
    try:
        with np.load(folder / files["optimizer"]) as data:
            values = [data[f"v{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"cannot resume: corrupt {folder / files['optimizer']} ({type(e).__name__}); delete {folder} to start over") from None
    if len(values) != len(trainer.optimizer.variables) or any(
            tuple(v.shape) != tuple(a.shape) for v, a in zip(trainer.optimizer.variables, values)):
        raise UserError(f"cannot resume: optimizer state in {folder} does not match this model")
    for var, value in zip(trainer.optimizer.variables, values):
        var.assign(value)
    return state


class Checkpoint(keras.callbacks.Callback):
    """Every ``every`` steps (and at the end): save a checkpoint, unless the loss is not finite."""

    def __init__(self, folder, every, extra_fn=None):
        super().__init__()
        self.folder, self.every, self.extra_fn = folder, int(every), extra_fn
        self.last_logs = {}

    def on_train_batch_end(self, batch, logs=None):
        self.last_logs = dict(logs or {})
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        if step % self.every == 0:
            self.save()

    def save(self):
        loss = self.last_logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print("checkpoint skipped: loss is not finite", file=sys.stderr)
            return None
        return save_checkpoint(self.model, self.folder, self.extra_fn() if self.extra_fn else None)

    def on_train_end(self, logs=None):
        self.save()


class NaNGuard(keras.callbacks.Callback):
    """Stop training on a NaN/inf loss (like TerminateOnNaN) and remember that it happened."""

    def __init__(self):
        super().__init__()
        self.tripped = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.tripped = True
            print(f"\nNaN guard: loss is {loss} at batch {batch}; stopping (last good checkpoint kept)",
                  file=sys.stderr)
            self.model.stop_training = True


class LogLine(keras.callbacks.Callback):
    """A plain progress line every ``every`` steps (s/step, ETA, losses), readable in a log file
    where Keras' progress bar only prints at the end of an epoch. Keras' logs are running means
    since the epoch began; we turn them into means over the last ``every`` steps."""

    def __init__(self, total, every=25, first=0, stream=None):
        super().__init__()
        self.total, self.every, self.first = int(total), int(every), int(first)
        self.stream = stream or sys.stdout
        self.history = []
        self.recent = {}  # the last interval's mean losses

    def on_train_begin(self, logs=None):
        self.t0 = self.t_last = time.time()
        self.seen = self.seen_last = 0
        self.sums_last = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.in_epoch = 0
        self.sums_last = {}

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        self.in_epoch += 1
        step = self.first + self.seen
        if step % self.every and step != self.total:
            return
        now = time.time()
        sums = {k: float(v) * self.in_epoch for k, v in (logs or {}).items()}
        n = self.in_epoch - self.sums_last.get("_n", 0)
        self.recent = {k: (v - self.sums_last.get(k, 0.0)) / max(1, n) for k, v in sums.items()}
        self.sums_last = {**sums, "_n": self.in_epoch}
        dt = (now - self.t_last) / max(1, self.seen - self.seen_last)
        self.t_last, self.seen_last = now, self.seen
        self.rate = dt if not getattr(self, "rate", None) else 0.7 * self.rate + 0.3 * dt  # recent, smoothed
        eta = self.rate * (self.total - step)
        self.history.append({"step": step, "s_per_step": round(dt, 3), **{k: round(v, 2) for k, v in self.recent.items()}})
        terms = " ".join(f"{k} {v:.4g}" for k, v in self.recent.items())
        print(f"step {step}/{self.total}  {dt:.2f} s/step  ETA {eta / 60:.1f} min  {terms}  "
              f"[{time.strftime('%H:%M:%S')}]", file=self.stream, flush=True)


class TensorBoardLog(keras.callbacks.Callback):
    """Scalars every ``every`` steps and sample stylizations every ``image_every`` steps, with
    ``tf.summary`` when TensorFlow is importable (images only on the TensorFlow backend)."""

    def __init__(self, logdir, samples, every=25, image_every=250, first=0):
        super().__init__()
        self.every, self.image_every, self.first = int(every), int(image_every), int(first)
        self.samples = samples  # (content batch, style batch) RGB floats
        self.writer = None
        try:
            import tensorflow as tf

            self.tf = tf
            self.writer = tf.summary.create_file_writer(str(logdir))
        except Exception as e:  # no TensorFlow: no TensorBoard, training goes on
            print(f"TensorBoard disabled: {type(e).__name__}: {e}", file=sys.stderr)
        self.images = self.writer is not None and keras.backend.backend() == "tensorflow"

    def on_train_batch_end(self, batch, logs=None):
        if self.writer is None:
            return
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        with self.writer.as_default(step=step):
            if step % self.every == 0:
                for k, v in (logs or {}).items():
                    self.tf.summary.scalar(k, float(v))
            if self.images and (step % self.image_every == 0 or step == 1):
                out = ops.convert_to_numpy(self.model.stylize(*self.samples))
                c, s = self.samples
                rows = np.concatenate([c, s, np.clip(out, 0, 255)], axis=2) / 255.0
                self.tf.summary.image("content|style|output", rows, max_outputs=len(rows))
        if step % self.every == 0:
            self.writer.flush()


# --- the command's body ----------------------------------------------------------------------------

def make_trainer(depth="relu3_1", weights="imagenet", weights_dir=None, style_weight=10.0,
                 precision="float32", learning_rate=1e-4, decay=5e-5, encoder=None, decoder=None, tv_weight=0.0,
                 lattice_weight=0.0):
    """Encoder, decoder and compiled trainer. ``precision``: float32, bfloat16 or float16 (a mixed
    Keras policy for the decoder and the frozen loss network; statistics stay float32)."""
    check_depth(depth)
    encoder = encoder or build_encoder(depth, weights=weights, weights_dir=weights_dir, precision=precision)
    decoder = decoder or build_decoder(depth, dtype=dtype_policy(precision))
    trainer = AdaINTrainer(encoder, decoder, depth=depth, style_weight=style_weight, tv_weight=tv_weight,
                           lattice_weight=lattice_weight)
    schedule = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)
    optimizer = keras.optimizers.Adam(schedule)
    if precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    trainer.compile(optimizer=optimizer)
    return trainer


def train(settings, command=None, log=print):
    """Train a decoder; writes ``out/decoder.weights.h5`` and ``out/manifest.json``; returns the manifest."""
    devices = check_devices(settings)
    with backend.data_parallel(devices):
        return _train(settings, devices, command, log)


def check_devices(settings):
    """``settings.devices`` as a number the batch splits into evenly (a UserError otherwise)."""
    devices = backend.device_count(settings.devices)
    if settings.batch % devices:
        raise UserError(f"--batch {settings.batch} does not split over {devices} devices: use a multiple of {devices}")
    return devices


def _train(settings, devices, command=None, log=print):
    s = settings
    out, checkpoint_dir = Path(s.out), s.checkpoint_path
    depth, steps, batch, size, log_every = s.depth, s.steps, s.batch, s.size, s.log_every
    contents, content_names = load_folder(s.content, s.exclude)
    styles, style_names = load_folder(s.style, s.exclude)
    keras.utils.set_random_seed(s.seed)
    trainer = make_trainer(depth, s.weights, s.weights_dir or None, s.style_weight, s.precision, s.learning_rate,
                           s.decay, tv_weight=s.tv_weight, lattice_weight=s.lattice_weight)
    first, commands = 0, []
    if s.resume:
        state = load_checkpoint(trainer, checkpoint_dir)
        first, commands = state["step"], state.get("commands", [])
        log(f"resumed from {checkpoint_dir} at step {first}")
    commands = commands + [{"command": command, "from_step": first, "to_step": steps,
                            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    if first >= steps:
        log(f"already at step {first} >= --steps {steps}; writing the artifact")
    data = PairDataset(contents, styles, batch, size, max(0, steps - first), seed=s.seed + first, workers=s.workers)
    rng = np.random.default_rng(1234)
    samples = (np.stack([augment(contents[i % len(contents)], size, rng) for i in range(2)]),
               np.stack([augment(styles[(3 * i) % len(styles)], size, rng) for i in range(2)]))
    guard = NaNGuard()
    logline = LogLine(steps, log_every, first)
    encoder_sha = weights_checksum(trainer.encoder_model)
    meta = lambda: {"depth": depth, "steps_target": steps, "commands": commands,  # noqa: E731
                    "recent_losses": logline.recent, "log": logline.history[-20:]}
    checkpoint = Checkpoint(checkpoint_dir, s.checkpoint_every, meta)
    callbacks = [logline, guard, checkpoint, TensorBoardLog(checkpoint_dir / "tensorboard", samples, log_every, first=first)]
    t0 = time.time()
    stop = _graceful_stop(trainer, log)
    if steps > first:
        with stop:
            trainer.fit(data, epochs=1, callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 0)
    seconds = time.time() - t0
    step = int(ops.convert_to_numpy(trainer.optimizer.iterations))
    final = logline.recent or checkpoint.last_logs or {}
    if not logline.recent and s.resume:  # nothing trained in this run: the checkpoint's own figures
        final = state.get("recent_losses") or {}
        logline.history = state.get("log", [])
    if guard.tripped:  # ship the last good checkpoint, not NaN weights
        load_checkpoint(trainer, checkpoint_dir)
        step = int(ops.convert_to_numpy(trainer.optimizer.iterations))
    out.mkdir(parents=True, exist_ok=True)
    trainer.decoder.save_weights(out / "decoder.weights.h5")
    manifest = {
        "what": f"AdaIN decoder (Huang & Belongie 2017) for a VGG19 encoder up to {depth}",
        "depth": depth,
        "decoder": "decoder.weights.h5",
        "command": command,
        "commands": commands,
        "steps": step,
        "steps_requested": steps,
        "batch": batch,
        "size": size,
        "settings": s.to_json(),
        "style_weight": s.style_weight,
        "tv_weight": s.tv_weight,
        "lattice_weight": s.lattice_weight,
        "optimizer": {"name": "adam", "learning_rate": s.learning_rate, "decay": s.decay,
                      "schedule": "lr / (1 + decay * step)"},
        "precision": s.precision,
        "data": {"content_dir": str(s.content), "content": content_names,
                 "style_dir": str(s.style), "style": style_names, "excluded": list(s.exclude),
                 "augmentation": "short side random in [1, 2] x size (styles [1, 2.5]), random crop, flip; "
                                 "styles also random 90-degree rotation and hue/saturation/brightness jitter "
                                 "on half the samples; content a light colour jitter"},
        "encoder": {"model": "vgg19", "layers": list(trainer.layer_names), "weights": trainer.encoder.weights_source,
                    "weights_file_sha256": trainer.encoder.weights_sha256, "weights_sha256": encoder_sha,
                    "preprocessing": "caffe (BGR, ImageNet mean subtracted)"},
        "final_losses": {k: float(v) for k, v in final.items()},
        "final_losses_are": f"means over the last {log_every} steps",
        "nan_guard_tripped": guard.tripped,
        "resumed_from_step": first,
        "train_seconds_this_run": round(seconds, 1),
        "seconds_per_step": round(seconds / max(1, step - first), 3),
        "log": logline.history[-20:],
        "hardware": _hardware(),
        "backend": backend.name(),
        "trained_on": "GPU" if backend.has_gpu() else "CPU",
        "devices": devices,
        "keras": keras.__version__,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    media.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    stop.raise_if_signalled()  # after the artifact: the command exits 130, as interrupted
    return manifest


class _graceful_stop:
    """SIGTERM/SIGINT during fit: finish the current step, checkpoint, write the artifact."""

    def __init__(self, trainer, log):
        self.trainer, self.log = trainer, log
        self.signalled = None

    def _handler(self, signum, frame):
        self.log(f"signal {signum}: stopping after this step (checkpoint and artifact follow)")
        self.signalled = signum
        self.trainer.stop_training = True

    def raise_if_signalled(self):
        if self.signalled is not None:
            raise KeyboardInterrupt

    def __enter__(self):
        import signal

        self.previous = {s: signal.signal(s, self._handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc):
        import signal

        for s, h in self.previous.items():
            signal.signal(s, h)
        return False


def _hardware():
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}
