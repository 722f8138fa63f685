"""Optimisation-based renders: Gatys style transfer, texture synthesis and feature inversion.

All three minimise a loss over the pixels of one image, seen through a frozen CNN:

    gatys    content loss (feature maps) + style loss (Gram matrices) + total variation
    texture  style loss only, from noise (optionally tileable)
    invert   feature reconstruction loss at one layer + alpha-norm + total variation

The image is optimised in RGB 0..255 (the backbone preprocesses inside the loss); L-BFGS keeps it
in range by projection onto the box and Adam simply clips. L-BFGS is the default: on this smooth,
deterministic objective it needs far fewer evaluations than Adam (Gatys et al. used it too).

    result = render(problem, x0, optimizer="lbfgs", steps=300)
"""

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from keras import ops

from offline import backend, losses, media
from offline.errors import UserError
from offline.options import parse_weighted_list
from offline.progress import Progress

# The paper's / TF tutorial's VGG19 layers. Only blocks 1-3 have genuine weights on machines
# without a full download: pass e.g. --content-layers block3_conv2 --style-layers block1_conv1,...
DEFAULT_CONTENT_LAYERS = "block5_conv2"
DEFAULT_STYLE_LAYERS = "block1_conv1,block2_conv1,block3_conv1,block4_conv1,block5_conv1"
INVERT_SHEET_LAYERS = "block1_conv1,block2_conv1,block3_conv1,block4_conv1,block5_conv1"

# Each layer's loss is relative to its target's size (see ``Objective``), so one pair of weights
# serves any choice of layers: 1 content : 5 style gives a clear stylization that keeps the
# photo's layout, whether the content layer is block5_conv2 (the paper's) or block3_conv2.
CONTENT_WEIGHT = 1.0
STYLE_WEIGHT = 5.0
LBFGS_MEMORY = 20  # curvature pairs kept: 20 reached each loss level in ~15% fewer iterations than 10; 50-100 no better
ADAM_LR = 0.02 * 255.0  # the tutorial's step, in our 0..255 pixel units
ADAM_BETA_1 = 0.99
ADAM_EPSILON = 0.1 / 255.0


# --- the objective -------------------------------------------------------------------------------

@dataclass
class Objective:
    """Which layers count and how much; ``loss(x, targets) -> (total, {term: value})``.

    ``content``/``style``/``invert`` map layer names to per-layer weights (normalised to sum 1
    within each term). Each layer's content and style loss is divided by the mean square of its
    target (feature map, Gram matrix): a relative error, 1 for an image whose features are all
    zero. Raw losses differ by three orders of magnitude between layers (a block-3 Gram matrix is
    ~700x a block-1 one, block-5 features are far smaller than block-3 ones), so raw weights
    tuned for one layer choice keep the photo unchanged, or ignore a layer, for another. ``wrap`` > 0 pads the image circularly by that many pixels before the
    network sees it, so a texture's opposite edges meet seamlessly (tileable output)."""

    backbone: object
    content: dict = field(default_factory=dict)
    style: dict = field(default_factory=dict)
    invert: dict = field(default_factory=dict)
    content_weight: float = CONTENT_WEIGHT
    style_weight: float = STYLE_WEIGHT
    tv_weight: float = 0.0
    alpha_norm_weight: float = 0.0
    alpha_norm_power: float = 6.0
    wrap: int = 0

    def features(self, x):
        """RGB 0..255 (N, H, W, 3) -> {layer: features}.

        With ``wrap``: the network sees the image circularly padded, and each feature map is cropped
        back to the image's own extent, i.e. circular convolution. Every pixel then counts once in
        the Gram matrices, and the edges see their wrap-around neighbours instead of zero padding."""
        if not self.wrap:
            return self.backbone(self.backbone.preprocess(x))
        h = int(ops.shape(x)[1])
        feats = self.backbone(self.backbone.preprocess(wrap_pad(x, self.wrap)))
        out = {}
        for name, f in feats.items():
            stride = max(1, round((h + 2 * self.wrap) / int(ops.shape(f)[1])))
            c = self.wrap // stride
            out[name] = f[:, c:-c, c:-c, :] if c else f
        return out

    def targets(self, content=None, styles=(), style_mix=None, invert=None):
        """Target features from RGB uint8 images: content maps, blended style Grams, inversion maps."""
        out = {"content": {}, "style": {}, "invert": {}, "scale": {}}
        if self.content and content is not None:
            feats = self.backbone(self.backbone.preprocess(content[None]))
            out["content"] = {l: feats[l] for l in self.content}
        if self.style and len(styles):
            mix = normalised(style_mix or [1.0] * len(styles))
            for w, image in zip(mix, styles):
                feats = self.backbone(self.backbone.preprocess(image[None]))
                for l in self.style:
                    g = losses.gram_matrix(feats[l]) * w
                    out["style"][l] = out["style"][l] + g if l in out["style"] else g
        if self.invert and invert is not None:
            feats = self.backbone(self.backbone.preprocess(invert[None]))
            out["invert"] = {l: feats[l] for l in self.invert}
        # each layer's loss in units of its target's mean square (a relative error)
        out["scale"] = {f"{kind}/{l}": ops.mean(ops.square(ops.cast(t, "float32"))) + 1e-8
                        for kind in ("content", "style") for l, t in out[kind].items()}
        return out

    def loss(self, x, targets):
        feats = self.features(x)
        terms = {}
        if self.content:
            terms["content"] = self.content_weight * _weighted(
                self.content, lambda l: losses.content_loss(feats[l], targets["content"][l])
                / targets["scale"][f"content/{l}"])
        if self.style:
            terms["style"] = self.style_weight * _weighted(
                self.style, lambda l: losses.style_loss_gram(feats[l], targets["style"][l])
                / targets["scale"][f"style/{l}"])
        if self.invert:
            terms["features"] = _weighted(
                self.invert, lambda l: losses.feature_reconstruction_loss(feats[l], targets["invert"][l]))
        if self.alpha_norm_weight:
            # centred and scaled to about [-1, 1] so the prior is size- and range-independent
            terms["alpha"] = self.alpha_norm_weight * losses.alpha_norm(x / 127.5 - 1.0, self.alpha_norm_power)
        if self.tv_weight:
            terms["tv"] = self.tv_weight * losses.total_variation(x)
        total = sum(terms.values())
        return total, terms


def _weighted(layer_weights, term):
    total = sum(layer_weights.values())
    return sum((w / total) * term(l) for l, w in layer_weights.items())


def normalised(weights):
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or np.any(w < 0) or w.sum() <= 0:
        raise UserError(f"bad weights {list(weights)}: expected non-negative numbers with a positive sum")
    return list(w / w.sum())


def wrap_pad(x, pad):
    """Circular padding of an NHWC batch along H and W (a tileable image sees its own far edge)."""
    x = ops.concatenate([x[:, -pad:], x, x[:, :pad]], axis=1)
    return ops.concatenate([x[:, :, -pad:], x, x[:, :, :pad]], axis=2)


# --- the optimisation engine ---------------------------------------------------------------------

@dataclass
class Result:
    image: np.ndarray  # float32 RGB 0..255 (H, W, 3)
    history: list  # one dict per iteration: {"step", "time", "loss", <terms>}
    frames: list  # uint8 snapshots every save_every iterations
    evaluations: int = 0
    stopped: str = ""  # why it stopped early ("target", "interrupted") or ""
    initial: dict = None  # loss terms of the starting image (the first evaluation)


class _Stop(Exception):
    pass


def optimize(objective, targets, x0, optimizer="lbfgs", steps=300, lr=ADAM_LR, save_every=0,
             progress=None, target_loss=None):
    """Minimise ``objective.loss`` over the image ``x0`` (float RGB 0..255, H x W x 3).

    ``steps`` counts iterations (L-BFGS: one iteration may evaluate the loss a few times in its
    line search). ``progress`` is an ``offline.progress.Progress`` (or None); ``target_loss`` stops as soon as the
    total loss is at or below it (used by the benchmark). Ctrl-C stops and returns the best image
    so far. Returns a :class:`Result`."""
    value_and_grad = _compiled(objective)
    shape = x0.shape
    t0 = time.perf_counter()
    state = {"evals": 0, "last": None, "step": 0}
    history, frames = [], []
    best = {"loss": math.inf, "x": np.asarray(x0, np.float32)}

    def evaluate(x):
        loss, terms, grad = value_and_grad(ops.convert_to_tensor(x.reshape((1,) + shape), "float32"), targets)
        state["evals"] += 1
        loss = float(loss)
        state["last"] = {k: float(v) for k, v in terms.items()}
        state.setdefault("initial", {"loss": loss, **state["last"]})
        if loss < best["loss"]:
            best["loss"], best["x"] = loss, np.array(x, np.float32).reshape(shape)
        return loss, np.asarray(grad, np.float32).reshape(shape)

    def after_step(x, loss):
        state["step"] += 1
        step = state["step"]
        record = {"step": step, "time": time.perf_counter() - t0, "loss": loss, **state["last"]}
        history.append(record)
        if progress is not None:
            progress.update(step, values=[("loss", loss)] + list(state["last"].items()))
        if save_every and step % save_every == 0:
            frames.append(media.to_uint8(np.reshape(x, shape)))
        if target_loss is not None and loss <= target_loss:
            raise _Stop("target")

    stopped = ""
    try:
        if optimizer == "lbfgs":
            _lbfgs(evaluate, after_step, np.asarray(x0, np.float64).ravel(), steps)
        elif optimizer == "adam":
            adam(evaluate, after_step, np.asarray(x0, np.float32), steps, lr)
        else:
            raise UserError(f"unknown optimizer {optimizer!r}: expected lbfgs or adam")
    except _Stop as e:
        stopped = str(e)
    except KeyboardInterrupt:
        stopped = "interrupted"
    return Result(best["x"], history, frames, state["evals"], stopped, state.get("initial"))


def _compiled(objective):
    # one compiled function per objective; tf.function / jax.jit retrace per image shape only
    if getattr(objective, "_value_and_grad", None) is None:
        objective._value_and_grad = backend.value_and_grad(objective.loss)
    return objective._value_and_grad


def _lbfgs(evaluate, after_step, x, steps, memory=LBFGS_MEMORY, lo=0.0, hi=255.0):
    """L-BFGS on the box ``lo..hi`` (projected: pixels at a bound that the gradient pushes outward
    are held, every trial point is clipped), with a backtracking Armijo line search, in numpy.

    Replaces scipy's L-BFGS-B: same iterations to each loss level or fewer, no scipy dependency,
    and no BLAS calls (see ``_dot``), which made each evaluation ~1.6x slower here. ``steps``
    iterations; stops early when no step makes progress."""
    x = np.clip(np.asarray(x, np.float64), lo, hi)
    f, g = evaluate(x)
    g = np.asarray(g, np.float64).ravel()
    pairs = []  # (s, y, 1 / s.y), oldest first
    for _ in range(steps):
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        gf = np.where(free, g, 0.0)
        d = -_two_loop(gf, pairs) * free
        slope = _dot(gf, d)
        if not pairs or slope >= 0:  # first step or a bad curvature model: ~1 grey level per pixel
            pairs.clear()
            rms = float(np.sqrt(np.mean(gf * gf)))
            if rms == 0.0:
                break
            d, slope = -gf / rms, -_dot(gf, gf) / rms
        t, accepted = 1.0, False
        for _ in range(20):
            x_new = np.clip(x + t * d, lo, hi)
            f_new, g_new = evaluate(x_new)
            if f_new <= f + 1e-4 * _dot(g, x_new - x):
                accepted = True
                break
            # minimum of the quadratic through f, slope and f_new, kept within [0.1 t, 0.5 t]
            curvature = f_new - f - slope * t
            t_q = -slope * t * t / (2.0 * curvature) if curvature > 0 else 0.5 * t
            t = min(max(t_q, 0.1 * t), 0.5 * t)
        if not accepted:
            if not pairs:
                break  # not even a small gradient step helps: converged (to float32 precision)
            pairs.clear()
            continue
        g_new = np.asarray(g_new, np.float64).ravel()
        s, y = x_new - x, g_new - g
        sy = _dot(s, y)
        if sy > 1e-10 * _dot(y, y):  # keep only pairs with positive curvature
            pairs.append((s, y, 1.0 / sy))
            del pairs[:-memory]
        x, f, g = x_new, f_new, g_new
        after_step(x, float(f))


def _dot(a, b):
    """Dot product of two flat float64 vectors without BLAS: numpy's OpenBLAS wakes its thread pool
    for a large dot and the spinning threads then compete with TensorFlow's for the CPU cores
    (measured: 110 ms per VGG evaluation inside the L-BFGS loop instead of 67 ms)."""
    return float(np.einsum("i,i->", a, b))


def _two_loop(g, pairs):
    """H g for the L-BFGS inverse-Hessian estimate H from the stored (s, y, 1/s.y) pairs."""
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * _dot(s, q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * _dot(y, y))  # H0 = s.y / y.y
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        b = rho * _dot(y, q)
        q += (a - b) * s
    return q


def adam(evaluate, after_step, x, steps, lr, beta_1=ADAM_BETA_1, beta_2=0.999, epsilon=ADAM_EPSILON,
         lo=0.0, hi=255.0):
    """Adam in numpy; by default the TF tutorial's image optimiser (beta_1 0.99) with clipping to the
    valid pixel range (``lo``/``hi`` None: no clipping). Returns the last ``x``."""
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t in range(1, steps + 1):
        loss, grad = evaluate(x)
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad * grad
        x = x - lr * (m / (1 - beta_1**t)) / (np.sqrt(v / (1 - beta_2**t)) + epsilon)
        if lo is not None or hi is not None:
            x = np.clip(x, lo, hi)
        after_step(x, loss)  # the loss of the point before this update, as Keras reports it
    return x


# --- image helpers -------------------------------------------------------------------------------

def init_image(kind, content, style, size, seed=0):
    """The starting image (float RGB 0..255, H x W x 3) for (width, height) ``size``."""
    w, h = size
    if kind == "content":
        if content is None:
            raise UserError("init 'content' needs a content image")
        return media.resize(content, (w, h)).astype(np.float32)
    if kind == "style":
        return media.resize(style, (w, h)).astype(np.float32)
    if kind == "noise":
        rng = np.random.default_rng(seed)
        # full-contrast white noise: the style gradient grows with the features' amplitude, so a
        # faint noise would leave the middle grey while texture grows in from the borders
        return rng.uniform(0.0, 255.0, size=(h, w, 3)).astype(np.float32)
    raise UserError(f"unknown init {kind!r}: expected content, noise or style")


def luminance(rgb):
    """RGB uint8 -> (Y, CrCb) float32; Y in 0..255."""
    ycc = cv2.cvtColor(media.to_uint8(rgb).astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)
    return ycc[..., 0] * 255.0, ycc[..., 1:]


def gray3(y):
    return np.repeat(np.asarray(y, np.float32)[..., None], 3, axis=2)


def match_luminance(style_y, content_y):
    """Shift and scale the style's luminance to the content's mean and std (Gatys et al. 2016,
    "Preserving color in neural artistic style transfer")."""
    s = (style_y - style_y.mean()) / (style_y.std() + 1e-6)
    return np.clip(s * content_y.std() + content_y.mean(), 0, 255)


def recombine_color(y, crcb):
    """A luminance image (0..255) with the chrominance of another -> RGB float 0..255."""
    ycc = np.dstack([np.clip(y, 0, 255) / 255.0, crcb]).astype(np.float32)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) * 255.0


MIN_SIDE = 32  # VGG's pooling needs room: smaller inputs vanish before blocks 4-5


def read_capped(path, max_side):
    """Read an RGB image, shrunk (never enlarged) so that its longer side is at most ``max_side``."""
    image = media.read_image(path)
    media.check_size(image.shape[1], image.shape[0], f"image {path}", minimum=MIN_SIDE)
    return media.fit_max_side(image, max_side) if max(image.shape[:2]) > max_side else image


def scale_size(image, max_side):
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    return max(8, round(w * s)), max(8, round(h * s))


# --- gatys ---------------------------------------------------------------------------------------

def style_transfer(objective, content, styles, style_mix=None, scales=(384,), steps=300,
                   optimizer="lbfgs", init="content", preserve_color=False, seed=0, save_every=0,
                   style_scale=1.0, progress=True, target_loss=None, lr=ADAM_LR):
    """Coarse-to-fine Gatys style transfer. ``content``/``styles`` are RGB uint8; each scale is the
    longer side of the render; ``steps`` iterations per scale (or a list, one per scale); the previous scale's result,
    upsampled, starts the next. Returns a Result for the last scale (history spans all scales)."""
    original = content
    if preserve_color:  # transfer on luminance only, put the content's colours back at the end
        content_y, _ = luminance(content)
        styles = [media.to_uint8(gray3(match_luminance(luminance(s)[0], content_y))) for s in styles]
        content = media.to_uint8(gray3(content_y))
    history, frames, x, evals, first_initial = [], [], None, 0, None
    per_scale = list(steps) if isinstance(steps, (list, tuple)) else [steps] * len(scales)
    for i, (side, steps) in enumerate(zip(scales, per_scale)):
        size = scale_size(content, side)
        content_s = media.resize(content, size)
        styles_s = [media.fit_max_side(s, max(16, round(side * style_scale))) for s in styles]
        targets = objective.targets(content=content_s, styles=styles_s, style_mix=style_mix)
        x0 = init_image(init, content_s, styles_s[0], size, seed) if x is None else media.resize(x, size)
        bar = Progress(steps, title=f"scale {i + 1}/{len(scales)} ({size[0]}x{size[1]})") if progress else None
        last = i == len(scales) - 1
        result = optimize(objective, targets, x0, optimizer=optimizer, steps=steps, save_every=save_every,
                          progress=bar, target_loss=target_loss if last else None, lr=lr)
        t_offset = history[-1]["time"] if history else 0.0
        for h in result.history:
            h.update(step=h["step"] + len(history), time=h["time"] + t_offset, scale=side)
        history += result.history
        frames += [media.resize(f, scale_size(original, scales[-1])) for f in result.frames]
        evals += result.evaluations
        first_initial = first_initial or result.initial
        x = result.image
        if result.stopped == "interrupted":
            break
    if preserve_color:
        x = media.preserve_colors(original, x)
        frames = [media.preserve_colors(original, f) for f in frames]
    return Result(x, history, frames, evals, result.stopped, first_initial)


def synthesize_texture(objective, style, size, steps=300, optimizer="lbfgs", seed=0, save_every=0,
                       progress=True, lr=ADAM_LR):
    """Style loss only, from noise, at any (width, height): may be larger than the source."""
    targets = objective.targets(styles=[style])
    x0 = init_image("noise", None, style, size, seed)
    bar = Progress(steps, title=f"texture {size[0]}x{size[1]}") if progress else None
    return optimize(objective, targets, x0, optimizer=optimizer, steps=steps, save_every=save_every,
                    progress=bar, lr=lr)


def invert_features(objective, image, steps=300, optimizer="lbfgs", seed=0, save_every=0, progress=True,
                    lr=ADAM_LR):
    """Reconstruct ``image`` (RGB uint8) from its features at ``objective.invert``'s layers, from noise."""
    targets = objective.targets(invert=image)
    x0 = init_image("noise", None, image, (image.shape[1], image.shape[0]), seed)
    bar = Progress(steps, title=f"invert {', '.join(objective.invert)}") if progress else None
    return optimize(objective, targets, x0, optimizer=optimizer, steps=steps, save_every=save_every,
                    progress=bar, lr=lr)


def layer_weights(text):
    """'block1_conv1:1,relu2_1:0.5' -> {'block1_conv1': 1.0, 'block2_conv1': 0.5} (aliases resolved)."""
    from offline.backbone import layer_alias

    return {layer_alias(name): w for name, w in parse_weighted_list(text).items()}
