"""A fast arbitrary-style network for CPUs: a small per-frame transformer whose channel statistics
are set by a style code, and a style side that turns a painting into that code once.

    per frame (~1.8 GMAC at 640x360):  image -> transformer(image, code) -> stylized image
    once per style:                    painting -> VGG19 relu1_1..relu3_1 mean/std -> head -> code

The design follows Ghiasi et al. 2017 (a style-prediction network run once per style; a small
transformer with conditional instance normalisation), made small enough for a laptop CPU:
- the work happens at 1/4 and 1/8 of the frame's resolution: a 4x4 stride-4 convolution (a pixel
  unshuffle and a 1x1 conv in one) goes down, sub-pixel convolutions (depth-to-space) come back
  up; a linear 1x1 path from the unshuffled input lets the photo's detail through;
- every hidden convolution is followed by ``Modulate``: instance-normalise, then take the style's
  per-channel std and mean (AdaIN in the transformer's own feature space). The style code is the
  concatenation of those targets: a ``StyleStats`` whose ``mean``/``std`` are 544 numbers each,
  so presets, ``--mix`` (linear interpolation), caching and the realtime loop treat it exactly
  like AdaIN's relu3_1 statistics;
- the head maps VGG statistics (the same numbers the style loss compares) to the code; it sees
  them through ``log1p`` because they span four orders of magnitude.

Trained in ``offline.fast_train`` against genuine VGG19 features (AdaIN's content target and
style statistics at relu1_1..relu3_1, also on 2x and 4x downscaled output and style for strokes
wider than relu3_1's ~24 px view) with a temporal term (Wang et al. 2020).
"""

import dataclasses
import functools
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from offline.adain import (STYLE_LAYERS, StyleStats, StylizerBase, build_encoder, check_encoder, mix_stats,
                          pad_to_multiple, region_masks)
from offline.backbone import dtype_policy, layer_alias
from offline.errors import UserError
from offline.media import preserve_colors, to_uint8
from offline.losses import mean_std

KIND = "fast"
WIDTHS = (32, 64)  # channels at 1/4 and at 1/8 of the frame
BLOCKS = 3  # residual blocks at 1/8
OUTPUTS = ("resize", "shuffle")
OUTPUT = "resize"  # new models; a manifest without "output" is the first model's "shuffle"
UPS = ("resize", "shuffle")
UP = "resize"  # the body's 1/8 -> 1/4 step; a manifest without "up" is the sub-pixel "shuffle"
PADDINGS = ("reflect", "zeros")
PADDING = "reflect"  # convolution borders; a manifest without "padding" is "zeros"
HALF_CHANNELS = 12  # channels of the "resize" output's 3x3 conv at 1/2 resolution
MULTIPLE = 8  # frames are padded to a multiple of this (unshuffle by 4, one stride-2 conv)
VGG_LAYERS = tuple(layer_alias(n) for n in STYLE_LAYERS["relu3_1"])  # block1_conv1 .. block3_conv1


def modulated_channels(widths=WIDTHS, blocks=BLOCKS):
    """Channels of each Modulate layer, in network order (the code's layout)."""
    c4, c8 = widths
    return [c4, c8] + [c8] * (2 * blocks) + [c4, c4]


def code_size(widths=WIDTHS, blocks=BLOCKS):
    return sum(modulated_channels(widths, blocks))


# --- layers ---------------------------------------------------------------------------------------

class Modulate(layers.Layer):
    """Instance normalisation, then the style's per-channel std and mean taken from a slice of the
    code (``mean`` at ``offset``, ``std`` at ``offset`` in the second half). Statistics in float32."""

    def __init__(self, offset, channels, **kwargs):
        super().__init__(**kwargs)
        self.offset, self.channels = int(offset), int(channels)

    def call(self, x, code_mean, code_std):
        f = ops.cast(x, "float32")
        m, s = mean_std(f)
        # the code arrives in the compute dtype under a mixed policy (Keras casts layer inputs)
        target_mean = ops.cast(code_mean[:, None, None, self.offset : self.offset + self.channels], "float32")
        target_std = ops.cast(code_std[:, None, None, self.offset : self.offset + self.channels], "float32")
        return ops.cast((f - m) / s * target_std + target_mean, x.dtype)

    def compute_output_shape(self, shape, *_):
        return shape

    def get_config(self):
        return {**super().get_config(), "offset": self.offset, "channels": self.channels}


class DepthToSpace(layers.Layer):
    """Sub-pixel upsampling: (N, H, W, b*b*C) -> (N, b*H, b*W, C); ``inverse``: the other way."""

    def __init__(self, block, inverse=False, **kwargs):
        super().__init__(**kwargs)
        self.block, self.inverse = int(block), bool(inverse)

    def call(self, x):
        return ops.space_to_depth(x, self.block) if self.inverse else ops.depth_to_space(x, self.block)

    def compute_output_shape(self, s):
        b = self.block
        if self.inverse:
            return (s[0], None if s[1] is None else s[1] // b, None if s[2] is None else s[2] // b, s[3] * b * b)
        return (s[0], None if s[1] is None else s[1] * b, None if s[2] is None else s[2] * b, s[3] // (b * b))

    def get_config(self):
        return {**super().get_config(), "block": self.block, "inverse": self.inverse}


def _phase_taps(upsample):
    """(2, 3, 3, k) numbers: output phase p of a 3-tap 'same' correlation at 2x resolution, tap t,
    expressed on the half-resolution grid at offset j (-1, 0, 1), for input kind k.

    ``upsample``: the 2x input is the bilinear (half-pixel) upsampling of a half-resolution signal a,
    u[2q] = 3/4 a[q] + 1/4 a[q-1], u[2q+1] = 3/4 a[q] + 1/4 a[q+1]; k has one entry.
    Otherwise the 2x input x is read through space-to-depth, x[2q+r] = X_r[q]; k = r (2 entries)."""
    taps = np.zeros((2, 3, 3, 1 if upsample else 2), np.float32)
    for p in range(2):
        for t in range(3):
            q, r = divmod(p + t - 1, 2)  # the 2x position p+t-1 as 2q+r
            if upsample:
                taps[p, t, q + 1, 0] += 0.75
                taps[p, t, q + (1 if r else -1) + 1, 0] += 0.25
            else:
                taps[p, t, q + 1, r] = 1.0
    return taps


def same_pads(kernel, stride):
    """(before, after) of a 'same' convolution on a side that divides by ``stride`` (TensorFlow's
    and Keras' rule: the odd pixel goes after)."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


class ReflectConv2D(layers.Conv2D):
    """A 'same' convolution whose border is the picture mirrored instead of zeros. Zero padding in
    every layer paints a band along the frame's edges (the network sees a dark frame around the
    picture); mirrored borders look like the picture. Same weights, names and output size as
    ``Conv2D(padding="same")``, so a zero-padded model's weights start this one."""

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        kwargs["padding"] = "valid"
        super().__init__(filters, kernel_size, strides=strides, **kwargs)

    def call(self, x):
        (ky, kx), (sy, sx) = self.kernel_size, self.strides
        (t, b), (l, r) = same_pads(ky, sy), same_pads(kx, sx)
        if t or b or l or r:  # symmetric (the edge pixel repeated): works down to 1-pixel maps
            x = ops.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], mode="symmetric")
        return super().call(x)

    def compute_output_shape(self, s):
        shrink = lambda v, st: None if v is None else -(-v // st)  # noqa: E731 - ceil, as 'same'
        return (s[0], shrink(s[1], self.strides[0]), shrink(s[2], self.strides[1]), self.filters)


class ResizeConv(layers.Layer):
    """A 3x3 'same' convolution at twice the input's resolution, computed without ever building
    the 2x tensor: ``upsample=True`` convolves the bilinear x2 upsampling of the input
    (resize-convolution); ``upsample=False`` convolves a 2x image given through space-to-depth.
    Either way the result is the same convolution written as a 3x3 convolution at the low
    resolution onto 4 x filters phase channels; ``ops.depth_to_space(y, 2)`` gives the 2x output.
    The phase kernels are tied (built from one 3x3 kernel), so the 2x output is shift-invariant
    where a free sub-pixel convolution would give each phase its own filter (a 2-px grid), and it
    costs a 3x3 convolution at the low resolution where XLA on a CPU runs few-channel
    convolutions and bilinear resizes at the full resolution 3-20x slower."""

    def __init__(self, filters, upsample=True, padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.upsample, self.padding = int(filters), bool(upsample), str(padding)

    def build(self, input_shape):
        cin = int(input_shape[-1]) if self.upsample else int(input_shape[-1]) // 4
        self.cin = cin
        self.kernel = self.add_weight(shape=(3, 3, cin, self.filters), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        a = ops.convert_to_tensor(_phase_taps(self.upsample))  # (phase, tap, offset, kind)
        k = ops.cast(self.kernel, "float32")
        # g[jy, jx, ry, rx, c, py, px, f] = sum_ty,tx k[ty, tx, c, f] a[py, ty, jy, ry] a[px, tx, jx, rx]
        g = ops.einsum("ytcf,pyjr,qtks->jkrscpqf", k, a, a)
        kinds = 1 if self.upsample else 4
        # inputs (ry, rx, c) as space_to_depth orders them, outputs (py, px, f) as depth_to_space reads them
        g = ops.reshape(g, (3, 3, kinds * self.cin, 4 * self.filters))
        if self.padding == "reflect":
            # symmetric at the low resolution: the bilinear 2x picture then repeats its edge pixel
            # (upsample), or the 2x picture is mirrored (space-to-depth input)
            x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
            y = ops.conv(x, ops.cast(g, x.dtype), padding="valid")
        else:
            y = ops.conv(x, ops.cast(g, x.dtype), padding="same")
        return y + ops.cast(ops.tile(self.bias, (4,)), x.dtype)

    def compute_output_shape(self, s):
        return (*s[:3], 4 * self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "upsample": self.upsample, "padding": self.padding}


def build_transformer(widths=WIDTHS, blocks=BLOCKS, dtype=None, output=OUTPUT, up=UP, padding=PADDING,
                      name="transformer"):
    """The per-frame network: ``[image RGB 0..255 (N, H, W, 3), code_mean (N, D), code_std (N, D)]``
    -> RGB 0..255 (float32, not clipped). H and W must divide by ``MULTIPLE``.

    ``output`` is how the 1/4-resolution features become pixels:
    - ``"resize"``: bilinear x2, a 3x3 conv at 1/2 resolution, bilinear x2, a 3x3 conv to RGB, plus
      a 3x3 conv of the frame itself for detail (resize-convolution, Odena et al. 2016): these steps
      treat every pixel alike, so they add no 4- or 2-pixel pattern of their own. (The body's one
      sub-pixel step, 1/8 -> 1/4, kept so the first model's weights could start this one, could
      still form an 8-pixel one; the lattice term holds it down: held-out lattice 1.1, a photo's own.)
    - ``"shuffle"``: a sub-pixel convolution to 4x4x3 numbers per 1/4 pixel and a 1x1 detail path on
      the 4x4 patches (the first shipped model). Each of the 16 sub-pixel positions has its own
      filter, and on frames larger than the 128-px training crops their differences show as a
      faint 4-pixel lattice (held-out lattice 5.5 where photos score 1).

    ``up`` is the body's 1/8 -> 1/4 step: ``"resize"`` a ``ResizeConv`` (bilinear x2 and a 3x3
    conv, one filter for every position), ``"shuffle"`` a sub-pixel convolution (the models up to
    step 12,000): its four phases have their own filters, and on a flat wall they differ, which
    shows as an 8-pixel grid (2-D lattice figure 6.0 on a flat grey frame, photos 1.3).

    ``padding``: ``"reflect"`` mirrors every convolution's border (``ReflectConv2D``), ``"zeros"``
    pads with zeros (up to step 12,000), which paints a band along the frame's edges."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if up not in UPS or padding not in PADDINGS:
        raise ValueError(f"up must be one of {UPS} and padding one of {PADDINGS}, got {up!r}, {padding!r}")
    c4, c8 = widths
    channels = modulated_channels(widths, blocks)
    total = sum(channels)
    offsets = np.cumsum([0] + channels[:-1]).tolist()
    image = keras.Input((None, None, 3), name="image")
    code_mean = keras.Input((total,), name="code_mean")
    code_std = keras.Input((total,), name="code_std")
    k = iter(range(len(channels)))

    def mod(x):
        i = next(k)
        return Modulate(offsets[i], channels[i], dtype=dtype, name=f"mod{i}")(x, code_mean, code_std)

    def conv(x, filters, size=3, strides=1, name=None):
        if padding == "reflect":
            return ReflectConv2D(filters, size, strides=strides, dtype=dtype, name=name)(x)
        return layers.Conv2D(filters, size, strides=strides, padding="same", dtype=dtype, name=name)(x)

    relu = lambda x: layers.ReLU(dtype=dtype)(x)  # noqa: E731
    x = layers.Rescaling(1 / 127.5, -1.0, dtype=dtype, name="scale_in")(image)
    patches = conv(x, 48, 4, 4, name="unshuffle")  # 4x4 pixels -> 48 numbers at 1/4 (linear)
    skip = relu(mod(conv(patches, c4, name="in")))
    h = relu(mod(conv(skip, c8, strides=2, name="down")))
    for b in range(blocks):
        r = relu(mod(conv(h, c8, name=f"res{b}a")))
        r = mod(conv(r, c8, name=f"res{b}b"))
        h = layers.Add(dtype=dtype)([h, r])
    if up == "resize":
        h = DepthToSpace(2, dtype=dtype, name="up")(ResizeConv(c4, padding=padding, dtype=dtype, name="up_resize")(h))
    else:
        h = DepthToSpace(2, dtype=dtype, name="up")(conv(h, 4 * c4, name="up_conv"))
    h = relu(mod(h))
    h = layers.Add(dtype=dtype)([h, skip])
    h = relu(mod(conv(h, c4, name="out_conv")))
    if output == "shuffle":
        y = layers.Add(dtype=dtype)([conv(h, 48, name="to_pixels"), conv(patches, 48, 1, name="detail")])
        y = DepthToSpace(4, dtype="float32", name="shuffle")(layers.Activation("linear", dtype="float32")(y))
    else:  # everything below at 1/4 and 1/2 resolution; see ResizeConv
        h = relu(DepthToSpace(2, dtype=dtype, name="up_half")(
            ResizeConv(HALF_CHANNELS, padding=padding, dtype=dtype, name="half_conv")(h)))
        frame = DepthToSpace(2, inverse=True, dtype=dtype, name="frame_half")(x)
        y = layers.Add(dtype=dtype)([ResizeConv(3, padding=padding, dtype=dtype, name="to_pixels")(h),
                                     ResizeConv(3, upsample=False, padding=padding, dtype=dtype, name="detail")(frame)])
        y = DepthToSpace(2, dtype="float32", name="shuffle")(layers.Activation("linear", dtype="float32")(y))
    out = layers.Rescaling(127.5, 127.5, dtype="float32", name="scale_out")(y)
    return keras.Model([image, code_mean, code_std], out, name=name)


def build_head(widths=WIDTHS, blocks=BLOCKS, hidden=256, name="style_head"):
    """VGG statistics (means and stds at relu1_1..relu3_1, 896 numbers) -> the code's (mean, std).
    Starts near the identity normalisation (mean 0, std 1). float32: it runs once per style."""
    total = code_size(widths, blocks)
    stats = keras.Input((2 * (64 + 128 + 256),), name="vgg_stats")
    h = layers.Lambda(lambda s: ops.log1p(ops.maximum(s, 0.0)), name="log1p")(stats)
    # standardised over the training styles (``adapt_head``): paintings differ by ~8% of these
    # numbers' size, and a head that sees the raw values first learns one average style
    h = layers.Normalization(name="standardize")(h)
    h = layers.Dense(hidden, activation="relu", name="hidden")(h)
    mean = layers.Dense(total, kernel_initializer=keras.initializers.VarianceScaling(0.1), name="mean")(h)
    raw = layers.Dense(total, kernel_initializer=keras.initializers.VarianceScaling(0.1),
                       bias_initializer=keras.initializers.Constant(0.5413), name="std")(h)  # softplus(0.54) = 1
    std = layers.Lambda(lambda r: ops.softplus(r) + 1e-3, name="positive")(raw)
    return keras.Model(stats, [mean, std], name=name)


def architecture(manifest):
    """FastNetwork's keyword arguments from a manifest's "architecture" block (older models lack
    the newer keys: their values then are those models')."""
    arch = (manifest or {}).get("architecture", {})
    return {"widths": tuple(arch.get("widths", WIDTHS)), "blocks": int(arch.get("blocks", BLOCKS)),
            "output": arch.get("output", "shuffle"), "up": arch.get("up", "shuffle"),
            "padding": arch.get("padding", "zeros")}


class FastNetwork(keras.Model):
    """The two trainable parts in one object (one weights file): ``transformer`` and ``head``."""

    def __init__(self, widths=WIDTHS, blocks=BLOCKS, dtype=None, output=OUTPUT, up=UP, padding=PADDING, **kwargs):
        super().__init__(**kwargs)
        self.widths, self.blocks, self.output_stage = tuple(widths), int(blocks), output
        self.up, self.padding = up, padding
        self.transformer = build_transformer(widths, blocks, dtype=dtype, output=output, up=up, padding=padding)
        self.head = build_head(widths, blocks)
        self.head.get_layer("standardize").adapt(np.zeros((2, 896), np.float32))  # builds it; training adapts

    def call(self, inputs):
        image, vgg_stats = inputs
        mean, std = self.head(vgg_stats)
        return self.transformer([image, mean, std])


def adapt_head(head, vgg_stats):
    """Set the head's input standardisation from the VGG statistics (N, 896) of the training styles."""
    head.get_layer("standardize").adapt(np.log1p(np.maximum(np.asarray(vgg_stats, np.float32), 0.0)))


def statistics_function(encoder):
    """RGB batch 0..255 -> its VGG statistics (N, 896), compiled: the style side's expensive half."""
    from offline.backend import Compiled

    return Compiled(lambda im: vgg_statistics(encoder(encoder.preprocess(im))))


def vgg_statistics(features, names=VGG_LAYERS):
    """{layer: NHWC} -> (N, 896) float32: every layer's channel means, then every layer's stds."""
    stats = [mean_std(features[n]) for n in names]
    means = [ops.reshape(m, (ops.shape(m)[0], -1)) for m, _ in stats]
    stds = [ops.reshape(s, (ops.shape(s)[0], -1)) for _, s in stats]
    return ops.concatenate(means + stds, axis=-1)


# --- the style side's refinement ------------------------------------------------------------------

@dataclasses.dataclass
class RefineSettings:
    """How the style side refines the head's code for one painting (once per style; presets store
    the result): Adam on the code (means and log stds) against the training loss's content, style
    and temporal terms, on a few photos shipped beside the model. The head predicts a code in one
    pass; these steps reach statistics its guess misses (held-out style distance 0.241 -> 0.206 on
    the step-11,500 model). The temporal term weighs 4-12x training's: refined without it, codes
    flickered 30-50% more; at 600 the step-11,500 model flickers below the peer (at 300 above it)."""

    steps: int = 40
    learning_rate: float = 0.1
    style_weight: float = 12.0
    scale_weight: float = 0.25  # the 2x and 4x downscaled style terms, as in training
    temporal_weight: float = 600.0  # the moved-frame term (training: 50-150)
    photos: str = "refine_photos.png"  # in the model folder: square photos side by side

    @classmethod
    def from_manifest(cls, manifest):
        block = (manifest or {}).get("refine")
        if not block:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in block.items() if k in names})


def split_strip(strip):
    """(S, N*S, 3) square photos side by side -> (N, S, S, 3) float32."""
    strip = np.asarray(strip, np.float32)
    side = strip.shape[0]
    if side < MULTIPLE or strip.shape[1] % side:
        raise UserError(f"refine photos must be square photos side by side; got {strip.shape[1]}x{side}")
    return np.stack(np.split(strip, strip.shape[1] // side, axis=1))


def square_crop(image, side):
    """The centre square of ``image``, resized to ``side`` x ``side`` (area filter)."""
    from offline.media import resize

    h, w = image.shape[:2]
    k = min(h, w)
    y, x = (h - k) // 2, (w - k) // 2
    return resize(image[y : y + k, x : x + k], (side, side))


def set_refine_photos(model_dir, photos, settings, size=192, sources=None, force=False):
    """Give the fast model in ``model_dir`` its refine photos (``photos``: RGB arrays, centre-cropped
    to ``size`` squares and written side by side as ``settings.photos``) and its manifest's
    ``refine`` block. ``settings.steps`` 0 turns refinement off. Returns the manifest."""
    from offline import artifacts, media

    model_dir = Path(model_dir)
    manifest = artifacts.read_manifest(model_dir, kind=KIND)
    target = model_dir / settings.photos
    if (manifest.get("refine") or target.exists()) and not force:
        raise UserError(f"{model_dir} has refine photos already: pass --force to replace them")
    if not photos:
        raise UserError("give at least one photo")
    if size % MULTIPLE:
        raise UserError(f"--size must be a multiple of {MULTIPLE}, got {size}")
    media.write_image(target, np.concatenate([square_crop(np.asarray(p), size) for p in photos], axis=1))
    manifest["refine"] = {**dataclasses.asdict(settings), "size": int(size), "sources": list(sources or [])}
    artifacts.write_manifest(model_dir, manifest)
    return manifest


# --- inference ------------------------------------------------------------------------------------

class FastStylizer(StylizerBase):
    """The fast model behind the same contract as ``offline.adain.Stylizer``: ``style()`` gives a
    cached ``StyleStats`` (here the transformer's code), ``stylize(content, mean, std, alpha)``
    is the pure keras.ops function for a per-frame loop, ``stylize_image`` handles mix, alpha,
    colour preservation and masks.

    ``alpha`` blends the stylized frame with the frame itself (the transformer's features have no
    "content only" setting the way VGG's do). A mask paints region k with style k: one pass per
    style, composited by the mask (a still-image feature; the live loop uses one style).
    """

    kind = KIND
    # the head learned from crops of paintings scaled to 128-320 px: whole paintings read at 256 px
    # land closer to that than at 512 (held-out style distance 0.42 against 0.48 at step 1900)
    style_size = 256
    jit_compile = True  # the live loop (one frame size) compiles with XLA (TensorFlow): ~30% faster on a CPU

    def __init__(self, network, encoder, model_dir=None, manifest=None):
        self.network = network
        # the style side's VGG19 (relu1_1..relu3_1), or a function that loads it: presets need no
        # encoder, so the live loop on presets runs without the weights (no download)
        self._encoder = encoder
        self.model_dir = Path(model_dir) if model_dir else None
        self.manifest = manifest or {}
        self.channels = code_size(network.widths, network.blocks)
        self.multiple = MULTIPLE
        self.margin = int(self.manifest.get("margin", 8))
        self.depth = "fast"
        self.refine = RefineSettings.from_manifest(self.manifest)  # None: the head's code as it is
        # callers that need a style at once (the live loop) set 0; presets are refined already
        self.refine_steps = self.refine.steps if self.refine else 0
        self._cache = {}
        self._fn = None
        self._stats_fn = None
        self._refine_fn = None
        self._refine_inputs = None

    @property
    def encoder(self):
        if isinstance(self._encoder, functools.partial):
            self._encoder = self._encoder()
        return self._encoder

    @classmethod
    def load(cls, model=None, weights="imagenet", weights_dir=None, precision="float32", strict=False):
        from offline import artifacts

        model_dir = Path(model or artifacts.SHIPPED["fast"])
        manifest = artifacts.read_manifest(model_dir, kind=KIND)
        network = FastNetwork(dtype=dtype_policy(precision), **architecture(manifest))
        _build(network)
        weights_file = model_dir / manifest.get("weights", "network.weights.h5")
        artifacts.load_weights(network, weights_file)
        encoder = functools.partial(_checked_encoder, weights, weights_dir, manifest, model_dir, strict)
        return cls(network, encoder, model_dir, manifest)

    @classmethod
    def random(cls, seed=0, precision="float32", model_dir=None, widths=WIDTHS, blocks=BLOCKS, output=OUTPUT, up=UP,
               padding=PADDING):
        keras.utils.set_random_seed(seed)
        network = FastNetwork(widths, blocks, dtype=dtype_policy(precision), output=output, up=up, padding=padding)
        _build(network)
        return cls(network, build_encoder("relu3_1", weights=None), model_dir=model_dir)

    # styles ----------------------------------------------------------------------------------------
    def vgg_stats(self, rgb):
        """RGB (H, W, 3) 0..255 -> (1, 896) VGG statistics (the head's input)."""
        x = np.asarray(rgb, np.float32)
        x = x[None] if x.ndim == 3 else x
        if min(x.shape[1:3]) < 8:
            raise UserError(f"style image is {x.shape[2]}x{x.shape[1]}: at least 8x8 pixels are needed")
        if self._stats_fn is None:
            self._stats_fn = statistics_function(self.encoder)
        return self._stats_fn(x)

    def style_from_image(self, rgb, name=""):
        mean, std = self.network.head(self.vgg_stats(rgb))
        mean, std = ops.convert_to_numpy(mean)[0], ops.convert_to_numpy(std)[0]
        meta = {"model": KIND, "shape": list(np.shape(rgb))}
        if self.refine_steps > 0:
            mean, std, meta["refined"] = self.refine_code(rgb, mean, std, name)
        return StyleStats(mean, std, name, meta)

    def refine_photos(self):
        """(N, S, S, 3) float32: the photos the refinement stylizes (``RefineSettings.photos``)."""
        return self._photo_inputs()["photos"]

    def _photo_inputs(self):
        """What refining needs of the photos, the same for every style (read and computed once):
        the photos, their relu3_1 features, and the same photos moved a little (a fixed
        hand-held-camera move and noise per photo, the training's temporal term) with the moves."""
        if self._refine_inputs is None:
            from offline.losses import random_warps
            from offline.media import read_image

            name = (self.refine or RefineSettings()).photos
            path = self.model_dir / name if self.model_dir else None
            if path is None or not path.is_file():
                raise UserError(f"the model's refine photos are missing: {path}")
            photos = split_strip(read_image(path))
            rng = np.random.default_rng(0)
            warps = random_warps(len(photos), rng, size=photos.shape[1])
            moved = ops.image.affine_transform(photos, warps, fill_mode="reflect")
            moved = moved + ops.convert_to_tensor(rng.standard_normal(photos.shape).astype(np.float32) * 3.0)
            tensor = ops.convert_to_tensor(photos, "float32")
            self._refine_inputs = {"photos": photos, "tensor": tensor, "moved": moved,
                                   "warps": ops.convert_to_tensor(warps),
                                   "features": self._encode(tensor)[VGG_LAYERS[-1]]}
        return self._refine_inputs

    def refine_code(self, rgb, mean, std, name=""):
        """The code (``mean``, ``std``) after ``refine_steps`` Adam steps on the loss of the
        painting ``rgb`` on the refine photos; returns (mean, std, report)."""
        from offline import backend
        from offline.adain import adain
        from offline.gatys import adam
        from offline.progress import Progress

        settings = self.refine or RefineSettings()
        inputs = self._photo_inputs()
        photos, moved, warps = inputs["tensor"], inputs["moved"], inputs["warps"]
        style = ops.convert_to_tensor(np.asarray(rgb, np.float32)[None], "float32")
        s_feats = self._encode(style)
        s_stats = [mean_std(s_feats[n]) for n in VGG_LAYERS]
        target = adain(inputs["features"], *s_stats[-1])
        if self._refine_fn is None:
            self._refine_fn = backend.value_and_grad(self._refine_loss)
        weights = ops.convert_to_tensor([settings.style_weight, settings.scale_weight, settings.temporal_weight],
                                        "float32")
        report = {"steps": int(self.refine_steps)}

        def evaluate(x):
            loss, terms, grad = self._refine_fn(ops.convert_to_tensor(x, "float32"), photos, style, target,
                                                s_stats, weights, moved, warps)
            report.setdefault("loss_before", float(loss))
            report.update(loss=float(loss), **{k: float(v) for k, v in terms.items()})  # at the last step's start
            return float(loss), np.asarray(grad, np.float32)

        bar = Progress(self.refine_steps, title=f"refining the style code of {name or 'the painting'}")
        done = iter(range(1, self.refine_steps + 1))
        x0 = np.concatenate([mean, np.log(np.maximum(std, 1e-6))])[None].astype(np.float32)
        x = adam(evaluate, lambda _, loss: bar.update(next(done), [("loss", loss)]), x0, self.refine_steps,
                 settings.learning_rate, beta_1=0.9, epsilon=1e-7, lo=None, hi=None)
        x = np.asarray(x, np.float32)[0]
        return x[: self.channels], np.exp(x[self.channels :]), report

    def _encode(self, rgb):
        return self.encoder(self.encoder.preprocess(rgb))

    def _refine_loss(self, x, photos, style, target, s_stats, weights, moved, warps):
        """The training loss's content, style and temporal terms (``offline.fast_train``) for the
        code ``x`` = (1, 2 x channels): means, then log stds."""
        from offline.losses import adain_losses, coarse_style_loss, temporal_loss

        n = ops.shape(photos)[0]
        mean = ops.repeat(x[:, : self.channels], n, axis=0)
        std = ops.repeat(ops.exp(x[:, self.channels :]), n, axis=0)
        g = ops.cast(self.network.transformer([photos, mean, std]), "float32")
        loss_c, loss_s = adain_losses(self._encode(g), target, s_stats, list(VGG_LAYERS))
        loss_scales = coarse_style_loss(self._encode, g, style, list(VGG_LAYERS))
        loss_t = temporal_loss(self.network.transformer([moved, mean, std]), g, warps)
        loss = loss_c + weights[0] * (loss_s + weights[1] * loss_scales) + weights[2] * loss_t
        return loss, {"content": loss_c, "style": loss_s, "scales": loss_scales, "temporal": loss_t}

    # stylizing -------------------------------------------------------------------------------------
    def stylize(self, content, mean, std, alpha=1.0):
        """Pure keras.ops: float RGB 0..255 (N, H, W, 3) of any size -> float RGB 0..255, clipped.
        ``mean``/``std`` are the code, any shape with N x D numbers; ``alpha`` blends with the frame."""
        padded, crop = pad_to_multiple(content, self.multiple, self.margin)
        mean = ops.reshape(ops.cast(mean, "float32"), (-1, self.channels))
        std = ops.reshape(ops.cast(std, "float32"), (-1, self.channels))
        y = crop(ops.cast(self.network.transformer([padded, mean, std]), "float32"))
        if not (isinstance(alpha, (int, float)) and alpha == 1.0):
            alpha = ops.cast(alpha, "float32")
            y = alpha * y + (1.0 - alpha) * ops.cast(content, "float32")
        return ops.clip(y, 0.0, 255.0)

    def stylize_image(self, content, style, alpha=1.0, mix=None, preserve_color=False, mask=None):
        """Stylize one RGB image (see ``offline.adain.Stylizer.stylize_image``). Returns uint8 RGB."""
        if not 0.0 <= float(alpha) <= 1.0:
            raise UserError(f"alpha must be in 0..1, got {alpha}")
        content = np.asarray(content)
        styles = [self.style(s) for s in (style if isinstance(style, (list, tuple)) else [style])]
        fn = self.frame_function()
        if mask is None:
            stats = styles[0] if len(styles) == 1 and mix is None else \
                StyleStats(*mix_stats([(s.mean, s.std) for s in styles], mix), "mix")
            out = fn(content, stats, alpha)
        else:
            if mix is not None:
                raise UserError("a style mix and a region mask do not go together: each region takes one style")
            regions = region_masks(mask, len(styles), content.shape[:2])
            out = np.zeros(content.shape, np.float32)
            for k, s in enumerate(styles):
                out += regions[..., k : k + 1] * fn(content, s, alpha).astype(np.float32)
            out = to_uint8(out)
        if preserve_color:
            out = preserve_colors(content, out)
        return out


def _checked_encoder(weights, weights_dir, manifest, model_dir, strict):
    encoder = build_encoder("relu3_1", weights=weights, weights_dir=weights_dir)
    check_encoder(encoder, manifest, model_dir, strict)
    return encoder


def _build(network):
    """Create the weights (a subclassed model has none until it is called once)."""
    network([np.zeros((1, MULTIPLE, MULTIPLE, 3), np.float32), np.zeros((1, 896), np.float32)])


def macs_per_frame(width, height, widths=WIDTHS, blocks=BLOCKS, output=OUTPUT):
    """Multiply-accumulates of the transformer for one frame (convolutions only; the rest is
    element-wise): the per-frame cost the issue budgets."""
    c4, c8 = widths
    p4 = (height // 4) * (width // 4)
    p8 = p4 // 4
    macs = p4 * 48 * 48  # unshuffle: 4x4x3 -> 48
    macs += p4 * 9 * 48 * c4  # in
    macs += p8 * 9 * c4 * c8  # down
    macs += p8 * 9 * c8 * c8 * 2 * blocks  # residual blocks
    macs += p8 * 9 * c8 * 4 * c4  # up_conv, or up_resize (a 3x3 conv onto 4 phases at 1/8: the same)
    macs += p4 * 9 * c4 * c4  # out_conv
    if output == "shuffle":
        macs += p4 * 9 * c4 * 48 + p4 * 48 * 48  # to_pixels, detail
    else:  # ResizeConv: a 3x3 conv onto 4 phases at the lower resolution
        macs += p4 * 9 * c4 * 4 * HALF_CHANNELS  # half_conv
        macs += 4 * p4 * 9 * (HALF_CHANNELS + 12) * 12  # to_pixels, detail (at 1/2)
    return int(macs)


def describe(network):
    return {"widths": list(network.widths), "blocks": network.blocks, "output": network.output_stage,
            "up": network.up, "padding": network.padding,
            "parameters": {"transformer": int(network.transformer.count_params()),
                           "head": int(network.head.count_params())},
            "gmac_640x360": round(macs_per_frame(640, 360, network.widths, network.blocks, network.output_stage) / 1e9, 3),
            "code_size": code_size(network.widths, network.blocks)}
