"""Training the fast model (``offline.fast``): settings, the Keras model (``compute_loss``), the
input pipeline and ``train()``, which ``offline fast train`` calls.

One step, for a batch of content crops and one style crop (VGG19 frozen, genuine weights):

    code    = head(vgg_stats(style))                       # once per style at inference
    g       = transformer(content, code)
    t       = AdaIN(vgg(content)[relu3_1], vgg(style)[relu3_1])
    loss_c  = mse(vgg(g)[relu3_1], t)                      # AdaIN's content target
    loss_s  = sum over relu1_1..relu3_1 of mse(mean) + mse(std) against the style
            + scale_weight * the same on g and style both average-pooled 2x and 4x
              (relu3_1 sees ~24 px of the image; at 1/4 it sees ~96 px: the painting's strokes)
    loss_t  = mse(transformer(W(content) + noise, code), W(g))   # Wang et al. 2020: a moved,
              noisy frame should give the moved output (W: a small random shift/rotation/zoom)
    loss    = loss_c + style_weight * loss_s + temporal_weight * loss_t
            + lattice_weight * lattice_excess(g)               # no 4-px grid from the pixel shuffle
            + distill_weight * mse(g, teacher(t))             # optional: the shipped AdaIN decoder's
                                                              # picture as a dense target (--teacher)

Everything the AdaIN training has carries over: Keras ``fit`` (TensorFlow and JAX), checkpoints
with optimizer state and ``--resume``, TensorBoard, a NaN guard, a log line with ETA.
"""

import dataclasses
import sys
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from offline import artifacts, backend, media
from offline.adain import adain, build_encoder, weights_checksum
from offline.adain_train import (Checkpoint, LogLine, NaNGuard, TensorBoardLog, TrainSettings, _graceful_stop, _hardware,
                                 augment, check_devices, load_checkpoint, load_folder)
from offline.errors import UserError
from offline.fast import (KIND, VGG_LAYERS, FastNetwork, FastStylizer, _build, adapt_head, architecture,
                          describe, statistics_function, vgg_statistics)
from offline.losses import (adain_losses, coarse_style_loss, lattice_excess, mean_std, mse, random_warps, temporal_loss,
                            total_variation)


@dataclasses.dataclass
class FastTrainSettings(TrainSettings):
    """Every setting of a fast-model training run: the CLI's defaults, ``train()``'s, and what the
    manifest stores (the shipped model's recipe, bar the teacher, which is opt-in)."""

    content: tuple = ()  # folders (or files) of photos
    style: tuple = ()  # folders (or files) of paintings
    out: str = "runs/fast/model"
    steps: int = 12000
    batch: int = 4
    size: int = 128
    style_weight: float = 5.0
    scale_weight: float = 0.25  # the 2x and 4x downscaled style terms, each
    temporal_weight: float = 50.0
    lattice_weight: float = 20000.0  # no 2- or 4-px grid (losses.lattice_excess)
    tv_weight: float = 0.0
    teacher: str = ""  # an AdaIN relu3_1 model folder whose output is a target too ("": none)
    distill_weight: float = 100.0  # its weight (per grey level squared)
    learning_rate: float = 1e-3
    decay: float = 1e-4
    photo_styles: float = 0.15  # share of style crops drawn from the photos (a wider range of statistics)
    widths: tuple = (32, 64)
    blocks: int = 3
    output: str = "resize"  # how features become pixels (offline.fast.build_transformer)
    up: str = "resize"  # the body's 1/8 -> 1/4 step ("shuffle": the sub-pixel step of models to step 12,000)
    padding: str = "reflect"  # convolution borders ("zeros": models to step 12,000)
    init: str = ""  # a fast model folder whose weights start the layers that match by name and shape
    checkpoint_every: int = 100


# the grid periods the lattice term holds down: the body works at 1/4 and 1/8 of the frame, and an
# alternating pattern at 1/4 resolution (a cheap fine texture for the network to learn) shows as an
# 8-pixel grid whose strongest line is its third harmonic (8/3 px; lattice figure 3.0 at step 6,000
# without this period in the term)
LATTICE_PERIODS = (2, 4, 8, 8 / 3)


class FastTrainer(keras.Model):
    """Frozen VGG19 + the fast network. ``x`` = (content (B,S,S,3), style (B,S,S,3): one style
    repeated, warp (B,8), noise (B,S,S,3)): RGB 0..255 floats, a projective transform per sample,
    pixel noise."""

    weights_name = "network.weights.h5"

    def __init__(self, encoder, network, style_weight=10.0, scale_weight=0.5, temporal_weight=50.0,
                 lattice_weight=20000.0, tv_weight=0.0, teacher=None, distill_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.encoder_model = encoder.model
        self.encoder_model.trainable = False
        self.network = network
        self.layer_names = list(VGG_LAYERS)
        self.style_weight, self.scale_weight = float(style_weight), float(scale_weight)
        self.temporal_weight, self.tv_weight = float(temporal_weight), float(tv_weight)
        self.lattice_weight = float(lattice_weight)
        self.teacher, self.distill_weight = teacher, float(distill_weight)  # a frozen AdaIN decoder, or None
        if teacher is not None:
            teacher.trainable = False
        names = ("content", "style", "scales", "temporal", "lattice") + (("distill",) if teacher is not None else ())
        self.trackers = {k: keras.metrics.Mean(name=k) for k in names}

    def encode(self, rgb):
        return self.encoder_model(self.encoder.preprocess(rgb), training=False)

    def call(self, inputs, training=False):
        content, style, warp, noise = inputs
        style = style[:1]  # one style per step, sent once per sample so that the batch splits over devices
        s_feats = self.encode(style)
        code_mean, code_std = self.network.head(vgg_statistics(s_feats))
        n = ops.shape(content)[0]
        code_mean = ops.repeat(code_mean, n, axis=0)
        code_std = ops.repeat(code_std, n, axis=0)
        g = self.network.transformer([content, code_mean, code_std], training=training)
        moved = ops.image.affine_transform(content, warp, fill_mode="reflect") + noise
        g_moved = self.network.transformer([moved, code_mean, code_std], training=training)
        c = self.encode(content)[self.layer_names[-1]]
        s_stats = [mean_std(s_feats[name]) for name in self.layer_names]
        t = ops.stop_gradient(adain(c, *s_stats[-1]))
        out = {"image": g, "moved": g_moved, "warp": warp, "target": t, "style": style, "style_stats": s_stats}
        if self.teacher is not None:
            picture = self.encoder.deprocess(ops.cast(self.teacher(t, training=False), "float32"))
            out["teacher"] = ops.stop_gradient(ops.clip(picture, 0.0, 255.0))
        return out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        g = ops.cast(y_pred["image"], "float32")
        loss_c, loss_s = adain_losses(self.encode(g), y_pred["target"], y_pred["style_stats"], self.layer_names)
        loss_scales = coarse_style_loss(self.encode, g, y_pred["style"], self.layer_names)
        loss_t = temporal_loss(y_pred["moved"], g, y_pred["warp"])
        b = 8
        lattice = lattice_excess(g, periods=LATTICE_PERIODS)
        for name, value in (("content", loss_c), ("style", loss_s), ("scales", loss_scales), ("temporal", loss_t),
                            ("lattice", lattice)):
            self.trackers[name].update_state(value)
        loss = loss_c + self.style_weight * (loss_s + self.scale_weight * loss_scales) + self.temporal_weight * loss_t
        loss = loss + self.lattice_weight * lattice
        if self.teacher is not None:  # its border frame (the decoder paints one) left out
            distill = mse(g[:, b:-b, b:-b, :], y_pred["teacher"][:, b:-b, b:-b, :])
            self.trackers["distill"].update_state(distill)
            loss = loss + self.distill_weight * distill
        if self.tv_weight:
            loss = loss + self.tv_weight * total_variation(g)
        return backend.per_replica(loss)

    def stylize(self, content, style):
        """Output RGB 0..255 for a content batch and a style batch of one (samples, tests)."""
        zeros = np.zeros((len(content), 8), np.float32)
        zeros[:, 0] = zeros[:, 4] = 1.0
        out = self((content, style[:1], zeros, np.zeros_like(content)))
        return ops.cast(out["image"], "float32")


class FastDataset(keras.utils.PyDataset):
    """Endless random batches: ``batch`` content crops, one style crop (a painting, or with
    probability ``photo_styles`` a photo), the warps and pixel noise of the temporal term."""

    def __init__(self, contents, styles, batch, size, steps, seed=0, workers=2, photo_styles=0.15, **kwargs):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8, **kwargs)
        self.contents, self.styles = contents, styles
        self.batch, self.size, self.steps = int(batch), int(size), int(steps)
        self.seed, self.photo_styles = seed, float(photo_styles)
        self._epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self._epoch, index])
        c = np.stack([augment(self.contents[rng.integers(len(self.contents))], self.size, rng, color=0.15)
                      for _ in range(self.batch)])
        if rng.random() < self.photo_styles:
            s = augment(self.contents[rng.integers(len(self.contents))], self.size, rng, scale=(1.0, 2.5), color=0.5)
        else:
            s = augment(self.styles[rng.integers(len(self.styles))], self.size, rng, scale=(1.0, 2.5), rotate=True,
                        color=0.5 * (rng.random() < 0.5))
        warps = random_warps(self.batch, rng, size=self.size)
        sigma = rng.uniform(0.0, 6.0, (self.batch, 1, 1, 1)).astype(np.float32)  # camera noise, grey levels
        noise = (rng.standard_normal(c.shape).astype(np.float32) * sigma)
        return (c, np.repeat(s[None], len(c), axis=0), warps, noise),

    def on_epoch_end(self):
        self._epoch += 1


def style_statistics(encoder, images, max_side=FastStylizer.style_size):
    """VGG statistics (N, 896) of whole style images (the head's standardisation is fitted on them)."""
    fn = statistics_function(encoder)
    out = []
    for im in images:
        im = media.fit_max_side(im, max_side) if max(im.shape[:2]) > max_side else im
        out.append(np.asarray(ops.convert_to_numpy(fn(im[None].astype(np.float32))))[0])
    return np.stack(out)


def init_from(network, folder, log=print):
    """Copy the weights of ``folder``'s fast model into ``network`` wherever a layer of the same
    name has weights of the same shapes (e.g. the body of a model whose output stage changed);
    the head's input standardisation comes along, so the copied head sees what it learned on."""
    manifest = artifacts.read_manifest(folder, kind=KIND)
    old = FastNetwork(**architecture(manifest))
    _build(old)
    artifacts.load_weights(old, Path(folder) / manifest.get("weights", "network.weights.h5"))
    copied, fresh = [], []
    for part in ("transformer", "head"):
        for layer in getattr(network, part).layers:
            if not layer.weights:
                continue
            try:
                source = getattr(old, part).get_layer(layer.name)
            except ValueError:
                source = None
            if source is not None and [w.shape for w in source.weights] == [w.shape for w in layer.weights]:
                layer.set_weights(source.get_weights())
                copied.append(layer.name)
            elif layer.name == "up_resize" and part == "transformer" and _has_layer(old.transformer, "up_conv"):
                # a sub-pixel step's four phase filters -> their mean: one filter for every position
                kernel, bias = old.transformer.get_layer("up_conv").get_weights()
                c = layer.filters
                layer.set_weights([kernel.reshape(*kernel.shape[:3], 4, c).mean(axis=3), bias.reshape(4, c).mean(axis=0)])
                copied.append(f"{layer.name} (from up_conv's phase mean)")
            else:
                fresh.append(layer.name)
    if not copied:
        raise UserError(f"init {folder}: no layer matches this network's")
    log(f"--init {folder}: {len(copied)} layers copied, new: {', '.join(fresh) or 'none'}")
    return copied, fresh


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def load_teacher(folder):
    """The decoder of an AdaIN relu3_1 model folder (its encoder is ours: VGG19 to relu3_1)."""
    from offline.adain import build_decoder

    manifest = artifacts.read_manifest(folder, kind="adain")
    if manifest.get("depth", "relu3_1") != "relu3_1":
        raise UserError(f"teacher {folder} is a {manifest.get('depth')} model; the fast model learns from relu3_1")
    decoder = build_decoder("relu3_1", name="teacher")
    artifacts.load_weights(decoder, Path(folder) / manifest.get("decoder", "decoder.weights.h5"))
    return decoder


def make_trainer(settings, encoder=None, style_images=None):
    """Encoder, network and compiled trainer; ``style_images`` set the head's input standardisation."""
    s = settings
    encoder = encoder or build_encoder("relu3_1", weights=s.weights, weights_dir=s.weights_dir or None)
    network = FastNetwork(s.widths, s.blocks, output=s.output, up=s.up, padding=s.padding)
    _build(network)
    if style_images is not None:
        adapt_head(network.head, style_statistics(encoder, style_images))
    if s.init:
        init_from(network, s.init)
    teacher = load_teacher(s.teacher) if s.teacher else None
    trainer = FastTrainer(encoder, network, s.style_weight, s.scale_weight, s.temporal_weight, s.lattice_weight,
                          s.tv_weight, teacher=teacher, distill_weight=s.distill_weight)
    schedule = keras.optimizers.schedules.InverseTimeDecay(s.learning_rate, decay_steps=1, decay_rate=s.decay)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=10.0))
    return trainer


def load_images(sources, exclude, max_side=640):
    """Images from folders and single files (RGB uint8, longer side <= max_side) and their names."""
    images, names = [], []
    for source in sources:
        if Path(source).is_file():
            im = media.read_image(source)
            images.append(media.fit_max_side(im, max_side) if max(im.shape[:2]) > max_side else im)
            names.append(Path(source).name)
            continue
        im, nm = load_folder(source, exclude, max_side)
        images += im
        names += [f"{Path(source).name}/{n}" for n in nm]
    return images, names


def train(settings, command=None, log=print):
    """Train; writes ``out/network.weights.h5`` and ``out/manifest.json``; returns the manifest."""
    devices = check_devices(settings)
    with backend.data_parallel(devices):
        return _train(settings, devices, command, log)


def _train(settings, devices, command=None, log=print):
    s = settings
    if not s.content or not s.style:
        raise UserError("training needs content and style images")
    out, checkpoint_dir = Path(s.out), s.checkpoint_path
    contents, content_names = load_images(s.content, s.exclude)
    styles, style_names = load_images(s.style, s.exclude)
    keras.utils.set_random_seed(s.seed)
    trainer = make_trainer(s, style_images=styles + contents)  # the head sees photos as styles too
    first, commands, state = 0, [], {}
    if s.resume:
        state = load_checkpoint(trainer, checkpoint_dir)
        first, commands = state["step"], state.get("commands", [])
        log(f"resumed from {checkpoint_dir} at step {first}")
    commands = commands + [{"command": command, "from_step": first, "to_step": s.steps,
                            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    data = FastDataset(contents, styles, s.batch, s.size, max(0, s.steps - first), seed=s.seed + first,
                       workers=s.workers, photo_styles=s.photo_styles)
    rng = np.random.default_rng(1234)
    samples = (np.stack([augment(contents[i % len(contents)], s.size, rng) for i in range(2)]),
               np.repeat(augment(styles[3 % len(styles)], s.size, rng)[None], 2, axis=0))  # one style per step
    guard, logline = NaNGuard(), LogLine(s.steps, s.log_every, first)
    meta = lambda: {"steps_target": s.steps, "commands": commands, "settings": s.to_json(),  # noqa: E731
                    "recent_losses": logline.recent, "log": logline.history[-20:]}
    checkpoint = Checkpoint(checkpoint_dir, s.checkpoint_every, meta)
    callbacks = [logline, guard, checkpoint,
                 TensorBoardLog(checkpoint_dir / "tensorboard", samples, s.log_every, first=first)]
    t0 = time.time()
    stop = _graceful_stop(trainer, log)
    if s.steps > first:
        with stop:
            trainer.fit(data, epochs=1, callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 0)
    seconds = time.time() - t0
    if guard.tripped:
        load_checkpoint(trainer, checkpoint_dir)
    step = int(ops.convert_to_numpy(trainer.optimizer.iterations))
    final = logline.recent or checkpoint.last_logs or state.get("recent_losses") or {}
    out.mkdir(parents=True, exist_ok=True)
    with media.atomic_path(out / "network.weights.h5", ".weights.h5") as tmp:
        trainer.network.save_weights(tmp)
    manifest = {
        "kind": KIND,
        "what": "fast arbitrary-style network: a small per-frame transformer with conditional instance "
                "normalisation and a style head run once per style (offline/fast.py)",
        "weights": "network.weights.h5",
        "architecture": describe(trainer.network),
        "margin": 8,
        "command": command,
        "commands": commands,
        "steps": step,
        "settings": s.to_json(),
        "loss": "AdaIN content target at relu3_1 + style_weight x (mean/std at relu1_1..relu3_1 + scale_weight x "
                "the same at 2x and 4x downscaled) + temporal_weight x moved-frame consistency + lattice_weight x lattice_excess"
                + (f" + distill_weight x MSE to the teacher {s.teacher}'s picture" if s.teacher else ""),
        "data": {"content": content_names, "style": style_names, "excluded": list(s.exclude)},
        "encoder": {"model": "vgg19", "layers": list(VGG_LAYERS), "weights": trainer.encoder.weights_source,
                    "weights_file_sha256": trainer.encoder.weights_sha256,
                    "weights_sha256": weights_checksum(trainer.encoder_model),
                    "preprocessing": "caffe (BGR, ImageNet mean subtracted)"},
        "final_losses": {k: float(v) for k, v in final.items()},
        "final_losses_are": f"means over the last {s.log_every} steps",
        "nan_guard_tripped": guard.tripped,
        "train_seconds_this_run": round(seconds, 1),
        "seconds_per_step": round(seconds / max(1, step - first), 3),
        "log": logline.history[-20:] or state.get("log", []),
        "hardware": _hardware(),
        "backend": backend.name(),
        "devices": devices,
        "keras": keras.__version__,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    artifacts.write_manifest(out, manifest)
    stop.raise_if_signalled()  # after the artifact: the command exits 130, as interrupted
    return manifest

