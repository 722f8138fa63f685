"""Gradient ascent on an input image: the engine shared by DeepDream (``offline dream``, ``zoom``,
``dream-video``) and activation maximisation (``offline viz maximize``).

An *objective* says what to make bigger; it is plain data, built by pure functions:

    obj = layers_objective({"conv_pw_5_relu": 1.0, "conv_pw_9_relu": 1.5})   # weighted mean activations
    obj = channel_objective("conv_pw_9_relu", 17)                          # one channel ("LAYER:IDX")
    obj = class_objective(281)                     # a class logit through the classifier top
    obj = guide_objective({"conv_pw_9_relu": guide_feats})   # match a guide image's features

The backbone must be loaded with the layers the objective reads (``obj.layers_needed``; for a class
objective ``include_top=True``). :class:`Ascent` binds an objective to a backbone and runs it:

    bb = load_backbone("mobilenet", layers=obj.layers_needed, alpha=0.75, weights=...)
    ascent = Ascent(bb, obj, AscentConfig(steps=20, step_size=0.01, octaves=3, octave_scale=1.4))
    out_rgb = ascent.run(image_rgb, progress=lambda done, total, loss: ...)  # float RGB 0..255

What one step does (in the backbone's input space, see ``Backbone.preprocess``):
1. roll the image by a random shift (jitter; ``jitter`` pixels at most),
2. compute the gradient of the objective, tile by tile when the image is larger than ``tile``
   (each tile is evaluated with ``margin`` pixels of context on every side and only its core is
   kept, so the tiled gradient equals the untiled one up to float error, with no seams),
3. unroll the gradient, divide it by its standard deviation (``normalize="std"``, the TF tutorial)
   or mean absolute value (``"mean_abs"``, the original Caffe notebook), add ``step_size`` times it,
4. clip to what 0..255 RGB can represent (``Backbone.clip``).

Octaves (:func:`octave_sizes`) run the steps from the smallest scale up; the detail dreamed at one
scale is upscaled and added to the properly resized original at the next (lost-detail re-injection,
as in Google's notebook), so the result keeps the photo's sharpness.

``step_size`` is in units of half the input range: 0.01 is about 1.3 grey levels per step whatever
the model's preprocessing ("tf" [-1, 1] or "caffe" mean-subtracted 0..255).

Losses are *extensive*: a layer's term is the sum of its activations divided by a constant (the
number of activations the layer has for a reference input of the model's top size), so the loss of
a big image is the sum of the losses of its parts, and a tile's gradient is the image's gradient.
"""

from dataclasses import dataclass, field

import cv2
import keras
import numpy as np
from keras import ops

from offline import backend
from offline.errors import UserError

MODEL_MIN_SIDE = {"inception_v3": 75}  # smaller inputs vanish in its valid-padded convolutions
ALIGN = 32  # tile corners land on multiples of the networks' total stride, so feature grids line up


# --- objectives (pure data) ----------------------------------------------------------------------

@dataclass(frozen=True)
class AscentObjective:
    """What to maximise. ``kind`` is one of layers, channel, class, guide."""

    kind: str
    layers: dict = field(default_factory=dict)  # layer -> weight (layers, channel, guide)
    channel: int = None
    class_index: int = None
    guide: dict = None  # layer -> (M, C) guide features

    @property
    def layers_needed(self):
        """The backbone layers to load (``load_backbone(layers=...)``)."""
        return ["predictions"] if self.kind == "class" else list(self.layers)

    @property
    def include_top(self):
        return self.kind == "class"

    @property
    def extensive(self):
        """True when the loss is a sum over positions (tiling with margins is then exact)."""
        return self.kind != "class"

    def describe(self):
        if self.kind == "class":
            return f"class {self.class_index}"
        if self.kind == "channel":
            return f"{next(iter(self.layers))}:{self.channel}"
        text = ",".join(f"{k}:{v:g}" for k, v in self.layers.items())
        return f"guide @ {text}" if self.kind == "guide" else text


def layers_objective(weights):
    """Maximise ``sum_l w_l * mean(activations_l)`` (the TF DeepDream tutorial's loss)."""
    weights = {str(k): float(v) for k, v in dict(weights).items()}
    if not weights:
        raise UserError("no layers to dream with")
    return AscentObjective("layers", layers=weights)


def channel_objective(layer, index):
    """Maximise the mean activation of one channel of one layer."""
    index = int(index)
    if index < 0:
        raise UserError(f"bad channel index {index}: must be >= 0")
    return AscentObjective("channel", layers={str(layer): 1.0}, channel=index)


def class_objective(index, num_classes=1000):
    """Maximise the pre-softmax logit of an ImageNet class (through the classifier top)."""
    index = int(index)
    if not 0 <= index < num_classes:
        raise UserError(f"bad class {index}: expected 0..{num_classes - 1}")
    return AscentObjective("class", class_index=index)


def guide_objective(guide_features, weights=None):
    """Guided hallucination: every position of the image is pulled toward the guide feature it
    already matches best (maximise ``sum_p max_j <x_p, g_j>``, Google's ``objective_guide``).

    ``guide_features``: {layer: array (..., C)} from the guide image (flattened to (M, C))."""
    guide = {str(k): np.asarray(v, np.float32).reshape(-1, np.shape(v)[-1]) for k, v in guide_features.items()}
    weights = {k: float((weights or {}).get(k, 1.0)) for k in guide}
    return AscentObjective("guide", layers=weights, guide=guide)


def parse_channel(text):
    """'conv_pw_9_relu:17' -> ('conv_pw_9_relu', 17)."""
    layer, sep, idx = str(text).rpartition(":")
    if not sep or not layer:
        raise UserError(f"bad channel {text!r}: expected LAYER:INDEX, e.g. conv_pw_9_relu:17")
    try:
        return layer, int(idx)
    except ValueError:
        raise UserError(f"bad channel {text!r}: the index must be an integer") from None


# --- binding an objective to a backbone ----------------------------------------------------------

def _top_size(backbone):
    from offline.backbone import MODELS

    spec = MODELS.get(backbone.name)
    return spec.top_size if spec else 224


def make_loss_fn(backbone, objective):
    """``loss_fn(x) -> (loss, aux)`` for model-space images ``x`` (1, H, W, 3), for
    :func:`offline.backend.value_and_grad`. ``aux`` holds each term of the loss."""
    model = backbone.model
    try:
        if objective.kind == "class":
            return _class_loss_fn(backbone, objective)
        outputs = {name: model.get_layer(name).output for name in objective.layers}
    except ValueError as e:
        raise UserError(f"the backbone lacks a layer the objective needs: {e}") from None
    features = keras.Model(model.inputs[0], outputs, name="ascent_features")

    # The constant each layer's activation sum is divided by (see the module docstring).
    ref = _top_size(backbone)
    probe = features(np.zeros((1, ref, ref, 3), np.float32))
    counts = {k: float(np.prod(v.shape[1:3])) for k, v in probe.items()}
    for k, v in probe.items():
        if objective.kind == "channel" and not 0 <= objective.channel < v.shape[-1]:
            raise UserError(f"channel {objective.channel} out of range: {k} has {v.shape[-1]} channels")
        if objective.kind == "guide" and objective.guide[k].shape[-1] != v.shape[-1]:
            raise UserError(f"guide features for {k} have {objective.guide[k].shape[-1]} channels, "
                            f"the layer has {v.shape[-1]}")
    guide = {k: ops.convert_to_tensor(g) for k, g in (objective.guide or {}).items()}

    def loss_fn(x):
        feats = features(x, training=False)
        terms = {}
        for name, w in objective.layers.items():
            a = ops.cast(feats[name], "float32")
            if objective.kind == "layers":
                value = ops.sum(a) / (counts[name] * a.shape[-1])
            elif objective.kind == "channel":
                value = ops.sum(a[..., objective.channel]) / counts[name]
            else:  # guide: best dot product with a guide feature at each position
                flat = ops.reshape(a, (-1, a.shape[-1]))
                g = guide[name]
                value = ops.sum(ops.max(ops.matmul(flat, ops.transpose(g)), axis=1))
                value = value / (counts[name] * ops.mean(ops.sum(g * g, axis=1)) + 1e-8)
            terms[name] = value
        loss = sum(w * terms[k] for k, w in objective.layers.items())
        return loss, terms

    return loss_fn


def _class_loss_fn(backbone, objective):
    """The class logit before the softmax. The top needs its fixed input size, so the image (or
    tile) is resized to it inside the loss: the gradient flows back through the resize."""
    model = backbone.model
    pred = model.get_layer("predictions")
    if not backbone.include_top:
        raise UserError("a class objective needs the classifier top (include_top=True)")
    if isinstance(pred, keras.layers.Dense):  # InceptionV3, VGG: Dense(softmax) -> logits by hand
        head = keras.Model(model.inputs[0], pred.input)
        kernel, bias = pred.kernel, pred.bias

        def logits_of(x):
            return ops.matmul(head(x, training=False), kernel) + bias
    else:  # MobileNet: Activation(softmax) after a Reshape
        head = keras.Model(model.inputs[0], pred.input)

        def logits_of(x):
            return head(x, training=False)

    size = int(model.inputs[0].shape[1])
    index = objective.class_index

    def loss_fn(x):
        x = ops.image.resize(x, (size, size), interpolation="bilinear", antialias=False)
        logits = ops.cast(logits_of(x), "float32")
        value = ops.sum(logits[:, index])
        return value, {"logit": value}

    return loss_fn


# --- image helpers (numpy, NHWC) -----------------------------------------------------------------

def octave_sizes(size, octaves, scale, min_side=32):
    """(H, W) for each octave, smallest first, the last one ``size`` itself.

    Octave k below the top has sides ``round(side / scale**k)``; octaves that would make the shorter
    side smaller than ``min_side`` are dropped (so a tiny image gets fewer octaves)."""
    h, w = int(size[0]), int(size[1])
    if octaves < 1:
        raise UserError(f"octaves must be >= 1, got {octaves}")
    if scale <= 1.0 and octaves > 1:
        raise UserError(f"octave scale must be > 1, got {scale}")
    out = []
    for k in range(octaves - 1, -1, -1):
        s = (h / scale**k, w / scale**k)
        if k and min(s) < min_side:
            continue
        out.append((max(1, round(s[0])), max(1, round(s[1]))))
    return out


def roll(x, shift):
    """Circularly shift an NHWC array by (dy, dx) pixels."""
    return np.roll(x, (int(shift[0]), int(shift[1])), axis=(1, 2))


def unroll(x, shift):
    """The inverse of :func:`roll`."""
    return np.roll(x, (-int(shift[0]), -int(shift[1])), axis=(1, 2))


def resize_nhwc(x, hw):
    """Resize a float NHWC batch to (H, W): area filter when shrinking, cubic when enlarging."""
    h, w = int(hw[0]), int(hw[1])
    if x.shape[1:3] == (h, w):
        return x
    interp = cv2.INTER_AREA if h * w < x.shape[1] * x.shape[2] else cv2.INTER_CUBIC
    return np.stack([cv2.resize(np.ascontiguousarray(im), (w, h), interpolation=interp) for im in x]).astype(np.float32)


def tile_spans(n, tile, margin, align=ALIGN):
    """Split ``range(n)`` into cores of at most ``tile`` (multiples of ``align``), each with an outer
    window of ``margin`` extra pixels each side (clipped to the image): [(core0, core1, out0, out1)]."""
    if not tile or n <= tile:
        return [(0, n, 0, n)]
    k = -(-n // tile)
    core = -(-n // k)
    if tile >= align:  # round the core up to the alignment, but never past the tile
        core = min(-(-core // align) * align, tile // align * align)
    spans, start = [], 0
    while start < n:
        end = min(start + core, n)
        spans.append((start, end, max(0, start - margin), min(n, end + margin)))
        start = end
    return spans


# --- the engine ----------------------------------------------------------------------------------

@dataclass
class AscentConfig:
    steps: int = 20  # gradient steps per octave
    step_size: float = 0.01  # in units of half the input range (see the module docstring)
    octaves: int = 3
    octave_scale: float = 1.4
    tile: int = 512  # 0 or None: never tile
    margin: int = 64  # context around each tile (a multiple of ALIGN); 0: plain tiles
    jitter: int = 32  # largest random roll, pixels; 0: none
    normalize: str = "std"  # or "mean_abs"
    min_side: int = 32  # octaves smaller than this are skipped
    blur: float = 0.0  # Gaussian blur sigma applied every step (regulariser for maximisation)
    decay: float = 0.0  # L2 decay toward the mid-grey image, per step (regulariser)
    seed: int = 0

    def check(self):
        if self.steps < 0:
            raise UserError(f"steps must be >= 0, got {self.steps}")
        if self.step_size <= 0:
            raise UserError(f"step size must be > 0, got {self.step_size}")
        if self.tile and self.tile < ALIGN:
            raise UserError(f"tile must be 0 (off) or >= {ALIGN}, got {self.tile}")
        if self.normalize not in ("std", "mean_abs"):
            raise UserError(f"bad normalize {self.normalize!r}: expected std or mean_abs")
        if self.jitter < 0:
            raise UserError(f"jitter must be >= 0, got {self.jitter}")
        return self


class Ascent:
    """An objective bound to a backbone, with its compiled gradient."""

    def __init__(self, backbone, objective, config=None):
        self.backbone = backbone
        self.objective = objective
        self.config = (config or AscentConfig()).check()
        self.rng = np.random.default_rng(self.config.seed)
        self._grad = backend.value_and_grad(make_loss_fn(backbone, objective))
        # half the input range: 1 for "tf" ([-1, 1]), 127.5 for "caffe" (0..255 minus the mean)
        lo, hi = (np.asarray(backbone.preprocess(np.full((1, 1, 1, 3), v, np.float32)))[0, 0, 0, 0] for v in (0.0, 255.0))
        self.half_range = float(abs(hi - lo) / 2)
        self.last_loss = float("nan")

    # -- model space <-> RGB
    def to_model(self, rgb):
        """RGB (H, W, 3) or (N, H, W, 3) in 0..255 -> float32 NHWC model space."""
        x = np.asarray(rgb, np.float32)
        x = x[None] if x.ndim == 3 else x
        return np.asarray(self.backbone.preprocess(x), np.float32)

    def to_rgb(self, x):
        """Model space NHWC -> float RGB (H, W, 3) in 0..255 (clipped)."""
        return np.clip(np.asarray(self.backbone.deprocess(ops.convert_to_tensor(x)), np.float32)[0], 0, 255)

    def clip(self, x):
        return np.asarray(self.backbone.clip(ops.convert_to_tensor(x)), np.float32)

    # -- gradients
    def _tile_and_margin(self, tile, margin):
        cfg = self.config
        tile = cfg.tile if tile is None else tile
        margin = cfg.margin if margin is None else margin
        if not self.objective.extensive:
            # a class logit is not a sum over positions: dream on crops of the top's own size
            tile, margin = int(self.backbone.model.inputs[0].shape[1]), 0
        return tile, margin

    def gradient(self, x, tile=None, margin=None):
        """(loss, d loss / d x) for a model-space image (1, H, W, 3); tiled when larger than the tile.

        Each tile is evaluated on its core plus ``margin`` pixels of context; only the core's
        gradient is kept, so tiles do not show seams and (for extensive objectives, when the margin
        covers the features' reach) the result equals the untiled gradient."""
        tile, margin = self._tile_and_margin(tile, margin)
        x = np.asarray(x, np.float32)
        _, h, w, _ = x.shape
        ys, xs = tile_spans(h, tile, margin), tile_spans(w, tile, margin)
        if len(ys) == len(xs) == 1:
            loss, _, g = self._grad(ops.convert_to_tensor(x))
            return float(loss), np.asarray(g, np.float32)
        grad = np.zeros_like(x)
        total = 0.0
        for c0, c1, o0, o1 in ys:
            for d0, d1, p0, p1 in xs:
                loss, _, g = self._grad(ops.convert_to_tensor(x[:, o0:o1, p0:p1]))
                g = np.asarray(g, np.float32)
                grad[:, c0:c1, d0:d1] = g[:, c0 - o0 : c1 - o0, d0 - p0 : d1 - p0]
                total += float(loss) * (c1 - c0) * (d1 - d0) / ((o1 - o0) * (p1 - p0))
        return total, grad  # the loss is approximate (area-weighted); the gradient is not

    def step(self, x, step_size=None):
        """One normalised, jittered gradient step on a model-space image; returns the new image."""
        cfg = self.config
        j = cfg.jitter
        shift = self.rng.integers(-j, j + 1, size=2) if j else (0, 0)
        loss, g = self.gradient(roll(x, shift))
        g = unroll(g, shift)
        norm = g.std() if cfg.normalize == "std" else np.abs(g).mean()
        x = x + (step_size or cfg.step_size) * self.half_range * g / (norm + 1e-8)
        if cfg.decay:
            mid = self.to_model(np.full((1, 1, 1, 3), 127.5, np.float32))
            x = x - cfg.decay * (x - mid)
        if cfg.blur:
            x = np.stack([cv2.GaussianBlur(im, (0, 0), cfg.blur) for im in x])
        self.last_loss = loss
        return self.clip(x)

    def ascend(self, x, steps=None, progress=None, done=0, total=None):
        """``steps`` steps at the current size (no octaves). ``progress(done, total, loss)``."""
        steps = self.config.steps if steps is None else steps
        for i in range(steps):
            x = self.step(x)
            if progress:
                progress(done + i + 1, total or steps, self.last_loss)
        return x

    def run_model_space(self, base, steps=None, progress=None):
        """Octaves with lost-detail re-injection on a model-space image (1, H, W, 3)."""
        cfg = self.config
        steps = cfg.steps if steps is None else steps
        min_side = max(cfg.min_side, MODEL_MIN_SIDE.get(self.backbone.name, 0))
        if min(base.shape[1:3]) < min_side and self.objective.extensive:
            raise UserError(f"image too small for {self.backbone.name}: {base.shape[2]}x{base.shape[1]}, "
                            f"needs at least {min_side} px a side")
        sizes = octave_sizes(base.shape[1:3], cfg.octaves, cfg.octave_scale, min_side)
        total, done = steps * len(sizes), 0
        detail = np.zeros((1, *sizes[0], 3), np.float32)
        x = base
        for size in sizes:
            octave_base = resize_nhwc(base, size)
            detail = resize_nhwc(detail, size)
            x = self.ascend(self.clip(octave_base + detail), steps, progress, done, total)
            done += steps
            detail = x - octave_base  # what the dream added at this scale, carried up
        return x

    def run(self, image_rgb, steps=None, progress=None):
        """Dream an RGB image (0..255, (H, W, 3)); returns float RGB 0..255 of the same size."""
        return self.to_rgb(self.run_model_space(self.to_model(image_rgb), steps, progress))


def noise_image(size, seed=0, mean=127.5, spread=20.0):
    """A grey image with uniform noise, (H, W, 3) float RGB: the start for dreams from nothing."""
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    return np.clip(mean + rng.uniform(-spread, spread, (h, w, 3)), 0, 255).astype(np.float32)
