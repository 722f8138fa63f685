"""AdaIN (Huang & Belongie, ICCV 2017): the maths as pure functions, the layer, encoder and decoder.

    enc = build_encoder("relu3_1", weights="imagenet")      # frozen VGG19, {relu1_1..relu3_1}
    dec = build_decoder("relu3_1")                           # mirror: upsampling + reflection pad
    t = adain(content_feats, style_mean, style_std, alpha)   # align channel mean/std to the style
    image = dec(t)                                           # in VGG's (caffe) input space

Statistics are float32 whatever the compute dtype (``offline.losses.mean_std``). The training model
lives in ``offline.adain_train``, inference (cached styles, alpha, mixing, masks) in
``offline.adain``.
"""

import hashlib
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from offline.backbone import dtype_policy, layer_alias, load_backbone
from offline.errors import UserError
from offline.losses import EPSILON, mean_std

DEPTHS = ("relu3_1", "relu4_1")
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "trained" / "adain-relu3_1"
# the style loss layers for each depth: relu1_1 .. the encoder output
STYLE_LAYERS = {
    "relu3_1": ("relu1_1", "relu2_1", "relu3_1"),
    "relu4_1": ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
}
# decoder, from the encoder output back to pixels: (filters, upsample-before) per 3x3 conv.
# The paper's relu4_1 decoder mirrors VGG19 block4_conv1 .. block1_conv1; relu3_1 is its tail.
_DECODER = {
    "relu4_1": [(256, False), (256, True), (256, False), (256, False), (256, False),
                (128, False), (128, True), (64, False), (64, True), (64, False)],
    "relu3_1": [(128, False), (128, True), (64, False), (64, True), (64, False)],
}


def check_depth(depth):
    if depth not in DEPTHS:
        raise UserError(f"bad depth {depth!r}: choose one of {', '.join(DEPTHS)}")
    return depth


def downsampling(depth):
    """How much the encoder shrinks an image (each VGG block before the output pools once)."""
    return 2 ** (int(check_depth(depth)[4]) - 1)


# --- the maths -----------------------------------------------------------------------------------

def adain(content, style_mean, style_std, alpha=1.0, epsilon=EPSILON, content_stats=None):
    """Adaptive instance normalisation: content features re-scaled to the style's channel statistics.

    ``content`` (N, H, W, C); ``style_mean``/``style_std`` broadcastable to (N, 1, 1, C). ``alpha``
    blends with the content features (0: content unchanged, 1: full style). ``epsilon`` keeps flat
    content (std 0) finite. ``content_stats`` overrides the content's own (mean, std) (used for
    masked regions). Computed in float32; returned in the content's dtype.
    """
    dtype = content.dtype
    c = ops.cast(content, "float32")
    c_mean, c_std = content_stats if content_stats is not None else mean_std(c, epsilon)
    t = (c - c_mean) / c_std * ops.cast(style_std, "float32") + ops.cast(style_mean, "float32")
    if not (isinstance(alpha, (int, float)) and alpha == 1.0):
        alpha = ops.cast(alpha, "float32")
        t = alpha * t + (1.0 - alpha) * c
    return ops.cast(t, dtype)


def masked_mean_std(features, mask, epsilon=EPSILON):
    """Channel mean/std of ``features`` over the region where ``mask`` (N, H, W, 1) is 1, float32."""
    f = ops.cast(features, "float32")
    m = ops.cast(mask, "float32")
    area = ops.maximum(ops.sum(m, axis=(1, 2), keepdims=True), 1.0)
    mean = ops.sum(f * m, axis=(1, 2), keepdims=True) / area
    var = ops.sum(ops.square(f - mean) * m, axis=(1, 2), keepdims=True) / area
    return mean, ops.sqrt(var + epsilon)


def mix_weights(weights, n):
    """Interpolation weights: None -> equal; otherwise non-negative and sum-normalised to 1."""
    if weights is None:
        return np.full(n, 1.0 / n, np.float32)
    w = np.asarray([float(v) for v in weights], np.float64)
    if w.shape != (n,):
        raise UserError(f"--mix has {w.size} weights for {n} styles")
    if (w < 0).any() or w.sum() <= 0:
        raise UserError(f"--mix weights must be non-negative and not all zero: {list(weights)}")
    return (w / w.sum()).astype(np.float32)


def mix_stats(stats, weights=None):
    """Interpolate several styles' (mean, std) pairs with sum-normalised weights (the paper mixes
    the AdaIN outputs; with one content statistic this is the same as mixing the targets)."""
    w = mix_weights(weights, len(stats))
    mean = sum(float(wi) * np.asarray(s[0], np.float32) for wi, s in zip(w, stats))
    std = sum(float(wi) * np.asarray(s[1], np.float32) for wi, s in zip(w, stats))
    return mean.astype(np.float32), std.astype(np.float32)


class AdaIN(layers.Layer):
    """``AdaIN()([content, style_mean, style_std])`` or ``AdaIN(alpha)([content, style])`` (the style's
    statistics are then computed from its features). No weights."""

    def __init__(self, alpha=1.0, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        if len(inputs) == 2:
            content, style = inputs
            s_mean, s_std = mean_std(style, self.epsilon)
        else:
            content, s_mean, s_std = inputs
        return adain(content, s_mean, s_std, self.alpha, self.epsilon)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "epsilon": self.epsilon}


# --- encoder and decoder -------------------------------------------------------------------------

def build_encoder(depth="relu3_1", weights="imagenet", weights_dir=None, layers_=None, precision="float32"):
    """Frozen VGG19 returning ``{block1_conv1: .., ..}`` for relu1_1 .. ``depth`` (Keras' convs
    include the ReLU, so block3_conv1 *is* relu3_1)."""
    names = [layer_alias(n) for n in (layers_ or STYLE_LAYERS[check_depth(depth)])]
    return load_backbone("vgg19", layers=names, weights=weights, weights_dir=weights_dir, precision=precision)


class ReflectionPad(layers.Layer):
    """Pad H and W by ``pad`` pixels, mirroring (no border seam, unlike zero padding)."""

    def __init__(self, pad=1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, s):
        grow = lambda v: None if v is None else v + 2 * self.pad  # noqa: E731
        return (s[0], grow(s[1]), grow(s[2]), s[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def build_decoder(depth="relu3_1", dtype=None, name=None):
    """The encoder's mirror: 3x3 convs with reflection padding, nearest-neighbour upsampling, no
    normalisation; the last conv is linear and float32 (output in the encoder's input space).

    ``dtype`` is a Keras dtype policy name (e.g. "mixed_bfloat16") for all but the last layer."""
    channels = {"relu3_1": 256, "relu4_1": 512}[check_depth(depth)]
    x = inp = keras.Input((None, None, channels), name="features")
    for i, (filters, up) in enumerate(_DECODER[depth]):
        if up:
            x = layers.UpSampling2D(2, interpolation="nearest", dtype=dtype, name=f"up{i}")(x)
        x = ReflectionPad(1, dtype=dtype, name=f"pad{i}")(x)
        x = layers.Conv2D(filters, 3, activation="relu", dtype=dtype, name=f"conv{i}")(x)
    x = ReflectionPad(1, dtype=dtype, name="pad_out")(x)
    out = layers.Conv2D(3, 3, dtype="float32", name="conv_out")(x)
    return keras.Model(inp, out, name=name or f"adain_decoder_{depth}")


def weights_checksum(model):
    """sha256 of a model's weights as float32 bytes, in layer order: identifies an encoder's
    weights whichever file they came from (a partial file or Keras' full download)."""
    h = hashlib.sha256()
    for w in model.weights:
        h.update(np.ascontiguousarray(ops.convert_to_numpy(w), dtype=np.float32).tobytes())
    return h.hexdigest()


def pad_to_multiple(images, multiple, margin=0):
    """Mirror-pad (N, H, W, C) for the encoder/decoder: ``margin`` pixels on every side (a decoder
    paints a light frame along image borders; the margin moves it outside the picture), then at
    the bottom/right so H and W divide by ``multiple`` (the encoder's downsampling), at least two
    multiples per side (the decoder's own reflection padding needs two features). Returns the
    padded tensor and ``crop``, which cuts a decoder output back to the image. In-graph
    (keras.ops), so it compiles into a per-frame step; the same arithmetic whether the sizes are
    known or symbolic (a tf.function that relaxed its shapes), so an image's result does not
    depend on which sizes were stylized before it."""
    shape = ops.shape(images)
    h, w = shape[1], shape[2]
    m = int(margin)

    def extra(n):  # bottom/right padding of a side of n (after the margins)
        if isinstance(n, int):
            return max(-(-n // multiple), 2) * multiple - n
        return ops.maximum((n + multiple - 1) // multiple, 2) * multiple - n

    for axis, n in ((1, h), (2, w)):
        images = _mirror_rows(images, n, m, m, axis)
        images = _mirror_rows(images, n + 2 * m, 0, extra(n + 2 * m), axis)
    return images, lambda y: y[:, m : m + h, m : m + w, :]


def _mirror_rows(x, n, before, after, axis):
    """Reflect-pad (the edge row is not repeated) along ``axis`` of size ``n`` by any amount, also
    more than the size itself and with symbolic sizes (ops.pad's mirror modes refuse both):
    indices reflected with period 2(n - 1)."""
    if isinstance(before, int) and isinstance(after, int) and before == after == 0:
        return x
    idx = ops.arange(-before, n + after)
    period = ops.maximum(2 * (n - 1), 1)
    j = ops.mod(idx, period)
    j = ops.where(j >= n, period - j, j)
    return ops.take(x, j, axis=axis)


CUSTOM_OBJECTS = {"ReflectionPad": ReflectionPad, "AdaIN": AdaIN}


# --- inference: cached styles and the Stylizer ---------------------------------------------------

class StyleStats:
    """A style as the encoder output's channel mean and std (each (C,) float32): computed once per
    style image, cached, saved as a preset (``NAME.npz``); stylizing never re-encodes the style."""

    def __init__(self, mean, std, name="", meta=None):
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        self.name = name
        self.meta = dict(meta or {})

    def save(self, path):
        from offline.media import atomic_write_bytes
        import io
        import json

        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, std=self.std, name=np.array(self.name), meta=np.array(json.dumps(self.meta)))
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path):
        import json

        try:
            with np.load(path) as data:
                return cls(data["mean"], data["std"], str(data["name"]) if "name" in data else Path(path).stem,
                           json.loads(str(data["meta"])) if "meta" in data else {})
        except (OSError, KeyError, ValueError) as e:
            raise UserError(f"not a style preset (.npz with mean and std): {path} ({e})") from None

    def __repr__(self):
        return f"StyleStats({self.name!r}, channels={self.mean.size})"


class Stylizer:
    """AdaIN inference: encoder + decoder, cached style statistics, alpha, mixing, colour
    preservation and masks. Images are RGB uint8 (H, W, 3) of any size.

        st = Stylizer.load()                          # trained/adain-relu3_1 + ImageNet VGG19
        style = st.style("la_muse")                   # a preset name, an image path, .npz or RGB array
        out = st.stylize_image(frame, style, 0.8)     # uint8 RGB, same size as frame (pads, crops)
        fn = st.frame_function()                      # compiled once per frame shape, for a video loop
        out = fn(frame, style, 0.8)
        y = st.stylize(x, style.mean, style.std, a)   # the pure keras.ops function, to compile yourself

    ``Stylizer.random(depth)`` builds random weights (tests, and the realtime loop before a
    decoder exists).
    """

    def __init__(self, encoder, decoder, depth="relu3_1", model_dir=None, manifest=None):
        self.encoder = encoder
        self.decoder = decoder
        self.depth = check_depth(depth)
        self.model_dir = Path(model_dir) if model_dir else None
        self.manifest = manifest or {}
        self.multiple = downsampling(depth)
        # mirrored context around every image: the decoder's light border frame lands outside it
        # (8 px at relu3_1 removes it, as 16 and 32 do; ~6% more pixels on a 640x480 frame)
        self.margin = 2 * self.multiple
        self.channels = {"relu3_1": 256, "relu4_1": 512}[depth]
        self._cache = {}
        self._fn = None
        self._fn_masked = None
        self._encode_fn = None
        self.last = layer_alias(STYLE_LAYERS[depth][-1])

    # construction ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, model=None, weights="imagenet", weights_dir=None, precision="float32", strict=False):
        """A trained decoder folder (``decoder.weights.h5`` + ``manifest.json``; default the shipped
        ``trained/adain-relu3_1``) with the VGG19 encoder it was trained on."""
        import sys

        from offline import artifacts

        model_dir = Path(model or DEFAULT_MODEL)
        manifest = artifacts.read_manifest(model_dir, kind="adain")
        depth = manifest.get("depth", "relu3_1")
        if depth not in DEPTHS:
            raise UserError(f"corrupt manifest {model_dir / 'manifest.json'}: unknown depth {depth!r}")
        encoder = build_encoder(depth, weights=weights, weights_dir=weights_dir, precision=precision)
        decoder = build_decoder(depth, dtype=dtype_policy(precision))
        artifacts.load_weights(decoder, model_dir / manifest.get("decoder", "decoder.weights.h5"))
        expected = manifest.get("encoder", {}).get("weights_sha256")
        if expected and encoder.weights_source != "random":
            got = weights_checksum(encoder.model)
            if got != expected:
                msg = (f"encoder weights ({encoder.weights_source}) differ from those the decoder in {model_dir} "
                       f"was trained with (sha256 {got[:12]} != {expected[:12]}); results will be poor")
                if strict:
                    raise UserError(msg)
                print(f"warning: {msg}", file=sys.stderr)
        return cls(encoder, decoder, depth, model_dir, manifest)

    @classmethod
    def random(cls, depth="relu3_1", seed=0, precision="float32", model_dir=None):
        """Random encoder and decoder weights: for tests and for wiring a pipeline before training."""
        keras.utils.set_random_seed(seed)
        encoder = build_encoder(depth, weights=None, precision=precision)
        return cls(encoder, build_decoder(depth, dtype=dtype_policy(precision)), depth, model_dir=model_dir)

    # styles ----------------------------------------------------------------------------------------
    @property
    def styles_dir(self):
        return self.model_dir / "styles" if self.model_dir else None

    def preset_names(self):
        d = self.styles_dir
        return sorted(p.stem for p in d.glob("*.npz")) if d and d.is_dir() else []

    @property
    def presets(self):
        """{name: StyleStats} of the presets shipped beside the decoder (``styles/NAME.npz``)."""
        return {name: self.style(name) for name in self.preset_names()}

    def resolve_style(self, source, max_side=512):
        return self.style(source, max_side)

    def style(self, source, max_side=512):
        """StyleStats from a preset name, a ``.npz`` preset, an image file or an RGB array (cached)."""
        if isinstance(source, StyleStats):
            return source
        if isinstance(source, np.ndarray):
            return self.style_from_image(source)
        key = (str(source), max_side)
        if key in self._cache:
            return self._cache[key]
        path = Path(source)
        if path.suffix.lower() == ".npz" and path.is_file():
            stats = StyleStats.load(path)
        elif path.is_file():
            from offline.media import read_image

            stats = self.style_from_image(read_image(path, max_side=max_side), name=path.stem)
        elif path.is_dir():
            raise UserError(f"style {source} is a folder: pass its images (or use the CLI, which expands folders)")
        elif self.styles_dir and (self.styles_dir / f"{source}.npz").is_file():
            stats = StyleStats.load(self.styles_dir / f"{source}.npz")
        else:
            known = ", ".join(self.preset_names()) or "none"
            raise UserError(f"style not found: {source} (not an image file, not a .npz, not a preset; presets: {known})")
        if stats.mean.size != self.channels:
            raise UserError(f"style {source} has {stats.mean.size} channels; this {self.depth} model needs {self.channels}")
        self._cache[key] = stats
        return stats

    def style_from_image(self, rgb, name=""):
        feats = self.encode(rgb)
        mean, std = mean_std(feats)
        return StyleStats(ops.convert_to_numpy(mean), ops.convert_to_numpy(std), name,
                          {"depth": self.depth, "shape": list(np.shape(rgb))})

    def encode(self, rgb):
        """RGB (H, W, 3) or (N, H, W, 3) 0..255 -> the encoder output (float32 tensor)."""
        x = np.asarray(rgb, np.float32)
        x = x[None] if x.ndim == 3 else x
        if self._encode_fn is None:
            from offline.backend import Compiled

            self._encode_fn = Compiled(lambda im: ops.cast(self.encoder(self.encoder.preprocess(im))[self.last], "float32"))
        return self._encode_fn(x)

    # stylizing -------------------------------------------------------------------------------------
    def stylize(self, content, mean, std, alpha=1.0):
        """The pure keras.ops function (compile it into a per-frame step): float RGB 0..255
        (N, H, W, 3) of any size -> float RGB 0..255 of the same size, clipped (padded to the
        encoder's multiple and cropped back in-graph). ``mean``/``std`` broadcast to (N, 1, 1, C)
        (a StyleStats' arrays); ``alpha`` a scalar."""
        content, crop = pad_to_multiple(content, self.multiple, self.margin)
        feats = self.encoder(self.encoder.preprocess(content))[self.last]
        t = adain(feats, mean, std, alpha)
        out = self.encoder.deprocess(ops.cast(self.decoder(t), "float32"))
        return ops.clip(crop(out), 0.0, 255.0)

    def _core_masked(self, images, means, stds, masks, alpha):
        """``masks`` (1, H, W, K) one-hot regions at image resolution; region k gets style k,
        normalised with the content statistics of that region (the paper's spatial control)."""
        images, crop = pad_to_multiple(images, self.multiple, self.margin)
        masks, _ = pad_to_multiple(masks, self.multiple, self.margin)
        feats = self.encoder(self.encoder.preprocess(images))[self.last]
        f = ops.cast(feats, "float32")
        k = self.multiple
        m = ops.average_pool(masks, pool_size=k, strides=k, padding="valid") if k > 1 else masks
        out = ops.zeros_like(f)
        for i in range(means.shape[0]):
            mi = m[..., i : i + 1]
            stats = masked_mean_std(f, mi)
            ti = adain(f, means[i], stds[i], alpha, content_stats=stats)
            out = out + mi * ti
        out = out / ops.maximum(ops.sum(m, axis=-1, keepdims=True), 1e-6)
        y = self.encoder.deprocess(ops.cast(self.decoder(ops.cast(out, feats.dtype)), "float32"))
        return ops.clip(crop(y), 0.0, 255.0)

    def frame_function(self):
        """``fn(frame_uint8, style, alpha) -> uint8``, compiled once per frame shape; ``style`` a
        StyleStats (its arrays are arguments, so switching styles or alpha never retraces)."""
        from offline.backend import Compiled

        if self._fn is None:
            self._fn = Compiled(self.stylize)

        def run(frame, style, alpha=1.0):
            style = self.style(style)
            x = np.asarray(frame, np.float32)[None]
            y = self._fn(x, style.mean.reshape(1, 1, 1, -1), style.std.reshape(1, 1, 1, -1), np.float32(alpha))
            return _to_uint8(ops.convert_to_numpy(y)[0])

        run.compiled = self._fn
        return run

    def stylize_image(self, content, style, alpha=1.0, mix=None, preserve_color=False, mask=None):
        """Stylize one RGB image. ``style``: one source or a list (interpolated with ``mix``
        weights, or one per region of ``mask``). ``mask``: (H, W) uint8 labels/gray values; with
        K styles, value v belongs to region round(v / 255 * (K - 1)). Returns uint8 RGB."""
        if not 0.0 <= float(alpha) <= 1.0:
            raise UserError(f"alpha must be in 0..1, got {alpha}")
        content = np.asarray(content)
        styles = [self.style(s) for s in (style if isinstance(style, (list, tuple)) else [style])]
        if mask is None:
            stats = styles[0] if len(styles) == 1 and mix is None else StyleStats(*mix_stats([(s.mean, s.std) for s in styles], mix), "mix")
            out = self.frame_function()(content, stats, alpha)
        else:
            if mix is not None:
                raise UserError("--mix and a region mask do not go together: each region takes one style")
            regions = region_masks(mask, len(styles), content.shape[:2])
            if self._fn_masked is None:
                from offline.backend import Compiled

                self._fn_masked = Compiled(self._core_masked)
            x, m = content.astype(np.float32)[None], regions[None]
            means = np.stack([s.mean.reshape(1, 1, -1) for s in styles])[:, None]
            stds = np.stack([s.std.reshape(1, 1, -1) for s in styles])[:, None]
            y = self._fn_masked(x, means, stds, m, np.float32(alpha))
            out = _to_uint8(ops.convert_to_numpy(y)[0])
        if preserve_color:
            out = preserve_colors(content, out)
        return out


def region_masks(mask, k, shape):
    """(H, W) gray mask -> (H, W, K) one-hot float32 regions; a size mismatch is a UserError."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.mean(axis=2)
    if mask.shape[:2] != tuple(shape):
        raise UserError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the content image {shape[1]}x{shape[0]}: "
                        "they must be the same size")
    if k < 2:
        raise UserError("a region mask needs at least two styles (one per region)")
    labels = np.rint(mask.astype(np.float32) / 255.0 * (k - 1)).astype(int)
    return np.eye(k, dtype=np.float32)[np.clip(labels, 0, k - 1)]


def preserve_colors(content, stylized):
    """Keep the content's colours: the stylized luminance with the content's chroma (YCrCb),
    Gatys et al. 2016's luminance-only transfer (works with cached style statistics)."""
    import cv2

    content = np.asarray(content, np.uint8)
    if content.shape != stylized.shape:
        content = cv2.resize(content, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
    y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    c = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    y[..., 1:] = c[..., 1:]
    return cv2.cvtColor(y, cv2.COLOR_YCrCb2RGB)


def _to_uint8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# --- command line --------------------------------------------------------------------------------

import click  # noqa: E402

from offline.commands import outputs  # noqa: E402
from offline.options import weights_options  # noqa: E402

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """AdaIN arbitrary style transfer: train a decoder, stylize images, contact sheets, presets.

    \b
    Examples:
      offline adain stylize photo.jpg --style la_muse -o styled.png
      offline adain stylize photo.jpg --style a.jpg --style b.jpg --mix 0.7,0.3 -o mixed.png
      offline adain sheet photos/*.jpg --style paintings/ -o sheet.png
      offline adain train --content photos/ --style paintings/ --steps 2000 --out trained/mine
    """


@cli.command("train")
@click.option("--content", "content_dir", required=True, type=click.Path(), help="Folder of content photos.")
@click.option("--style", "style_dir", required=True, type=click.Path(), help="Folder of style images (paintings).")
@click.option("--depth", type=click.Choice(DEPTHS), default="relu3_1", show_default=True,
              help="Encoder output: relu4_1 (the paper's) or relu3_1 (lighter, faster).")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True, help="Total optimizer steps.")
@click.option("--batch", type=click.IntRange(1), default=4, show_default=True, help="Batch size (paper: 8).")
@click.option("--size", type=click.IntRange(16), default=256, show_default=True, help="Crop size (paper: 256).")
@click.option("--style-weight", type=float, default=10.0, show_default=True, help="Style loss weight.")
@click.option("--tv-weight", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Total-variation weight on the output (0: the paper's loss); smooths the output.")
@click.option("--lattice-weight", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Weight of a penalty on a 2/4-pixel grid in the output (0: the paper's loss).")
@click.option("--lr", "learning_rate", type=float, default=1e-4, show_default=True, help="Adam learning rate.")
@click.option("--decay", type=float, default=5e-5, show_default=True, help="lr / (1 + decay * step).")
@weights_options
@click.option("--out", type=outputs.OutputFolder(), default="runs/adain/model", show_default=True,
              help="Where the decoder and manifest.json go (a model enters trained/ only when you say so).")
@click.option("--checkpoint-dir", type=outputs.OutputFolder(), default=None,
              help="Checkpoints and TensorBoard logs [default: <out>/../checkpoint].")
@click.option("--checkpoint-every", type=click.IntRange(1), default=200, show_default=True)
@click.option("--log-every", type=click.IntRange(1), default=25, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint (decoder + optimizer state).")
@click.option("--force", is_flag=True, help="Start over although a checkpoint or a model exists.")
@click.option("--mixed-precision", is_flag=True,
              help="Mixed precision (Keras policy) for the decoder and the frozen loss network; statistics stay float32.")
@click.option("--precision-dtype", type=click.Choice(["bfloat16", "float16"]), default="bfloat16", show_default=True,
              help="The half type --mixed-precision uses (bfloat16: AMX/AVX-512 CPUs and recent GPUs).")
@click.option("--exclude", multiple=True, help="Hold out images whose name matches (glob; repeatable).")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True, help="Input pipeline threads.")
@click.option("--seed", type=int, default=0, show_default=True)
def train_cmd(content_dir, style_dir, depth, steps, batch, size, style_weight, tv_weight, lattice_weight, learning_rate,
              decay, weights, weights_dir, out, checkpoint_dir, checkpoint_every, log_every, resume, force,
              mixed_precision, precision_dtype, exclude, workers, seed):
    """Train the decoder on content photos x style images (Keras fit; resumable)."""
    import shlex
    import sys

    from offline.adain_train import train

    precision = precision_dtype if mixed_precision else "float32"
    checkpoint_dir = checkpoint_dir or str(Path(out).parent / "checkpoint")
    if not resume:
        outputs.check_replaceable(checkpoint_dir, force, "checkpoint", marker="state.json", resumable=True)
        outputs.check_replaceable(out, force, "model", resumable=True)

    command = "offline adain " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("train"):]) \
        if "train" in sys.argv else None
    manifest = train(content_dir, style_dir, out, depth=depth, steps=steps, batch=batch, size=size,
                     style_weight=style_weight, weights=weights, weights_dir=weights_dir, resume=resume,
                     precision=precision, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                     log_every=log_every, exclude=exclude, workers=workers, seed=seed,
                     learning_rate=learning_rate, decay=decay, command=command, log=click.echo,
                     tv_weight=tv_weight, lattice_weight=lattice_weight)
    click.echo(f"wrote {out}/decoder.weights.h5 and manifest.json ({manifest['steps']} steps, "
               f"final {manifest['final_losses']})")


def _model_options(f):
    f = click.option("--precision", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True,
                     help="Compute dtype (bfloat16 is much faster on CPUs with AMX/AVX-512 BF16).")(f)
    f = weights_options(f)
    f = click.option("--model", "model_dir", type=click.Path(file_okay=False), default=None,
                     help="Model folder, or 'adain' (the shipped trained/adain-relu3_1, the default) or 'fast' "
                          "(trained/fast, the live model); 'random' for random weights (testing).")(f)
    return f


def _load_stylizer(model_dir, weights, weights_dir, precision):
    from offline.stylizers import load_stylizer

    return load_stylizer(model_dir or "adain", weights=weights, weights_dir=weights_dir, precision=precision)


def _expand_styles(styles):
    """--style values: folders expand to their images (an empty folder is an error)."""
    from offline.media import list_images

    out = []
    for s in styles:
        p = Path(s)
        out.extend(str(f) for f in list_images(p)) if p.is_dir() else out.append(s)
    return out


def _read_content(path, size):
    from offline.media import read_image

    return read_image(path, max_side=size) if size else read_image(path)


def _style_label(s):
    return Path(s).stem if isinstance(s, str) else getattr(s, "name", "style")


@cli.command("stylize")
@click.argument("content", nargs=-1, required=True, type=click.Path())
@click.option("--style", "styles", multiple=True, required=True,
              help="A style image, a folder of them, a .npz or a preset name (repeatable).")
@click.option("--mix", default=None, help="Interpolation weights for several styles, e.g. 0.6,0.4 (normalised).")
@click.option("--alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Content-style trade-off: 0 the content, 1 full style.")
@click.option("--preserve-color", is_flag=True, help="Keep the content's colours (luminance-only transfer).")
@click.option("--mask", type=click.Path(), default=None, help="Gray mask as big as the content image.")
@click.option("--style-per-region", is_flag=True, help="With --mask: style k paints region k (mask value k/(K-1)*255).")
@click.option("--size", type=click.IntRange(16), default=None, help="Resize content so its longer side is SIZE.")
@click.option("--style-size", type=click.IntRange(16), default=512, show_default=True,
              help="Longer side style images are read at.")
@_model_options
@click.option("-o", "--output", required=True, type=outputs.OutputFileOrFolder(outputs.IMAGE),
              help="Output file (one content) or folder.")
@click.option("--json", "as_json", is_flag=True, help="Print timing per image as JSON.")
def stylize_cmd(content, styles, mix, alpha, preserve_color, mask, style_per_region, size, style_size,
                model_dir, weights, weights_dir, precision, output, as_json):
    """Stylize CONTENT image(s) with one or more styles."""
    import json
    import time

    from offline.media import IMAGE_EXTENSIONS, fit_max_side, read_gray, resize, write_image

    if mask and not style_per_region:
        raise UserError("--mask needs --style-per-region (one style per region)")
    if style_per_region and not mask:
        raise UserError("--style-per-region needs --mask")
    weights_mix = [w for w in mix.split(",") if w.strip()] if mix else None
    try:
        weights_mix = [float(w) for w in weights_mix] if weights_mix else None
    except ValueError:
        raise UserError(f"bad --mix {mix!r}: expected numbers like 0.6,0.4") from None
    style_list = _expand_styles(styles)
    out = Path(output)
    single = len(content) == 1 and out.suffix.lower() in IMAGE_EXTENSIONS
    if len(content) > 1 and out.suffix.lower() in IMAGE_EXTENSIONS:
        raise UserError(f"-o {output} is a file but there are {len(content)} content images: give a folder")
    targets = [out] if single else [out / name for name in batch_names(content)]
    outputs.check_not_inputs(targets, [*content, *style_list, mask])
    originals = [_read_content(c, None) for c in content]  # unreadable inputs fail before the model loads
    images = [fit_max_side(o, size) if size else o for o in originals]
    mask_image = read_gray(mask) if mask else None
    for path, o in zip(content, originals):
        if mask_image is not None and mask_image.shape[:2] != o.shape[:2]:
            raise UserError(f"mask {mask} is {mask_image.shape[1]}x{mask_image.shape[0]} but {path} is "
                            f"{o.shape[1]}x{o.shape[0]}: they must be the same size")
    st = _load_stylizer(model_dir, weights, weights_dir, precision)
    t0 = time.perf_counter()
    stats = [st.style(s, max_side=style_size) for s in style_list]
    style_seconds = time.perf_counter() - t0
    report = {"styles": [_style_label(s) for s in style_list], "style_seconds": round(style_seconds, 4), "images": []}
    for path, image in zip(content, images):
        m = mask_image
        if m is not None and m.shape[:2] != image.shape[:2]:
            m = resize(m, (image.shape[1], image.shape[0]))
        t = time.perf_counter()
        result = st.stylize_image(image, stats, alpha=alpha, mix=weights_mix, preserve_color=preserve_color, mask=m)
        seconds = time.perf_counter() - t
        target = targets[len(report["images"])]
        write_image(target, result)
        report["images"].append({"content": str(path), "output": str(target), "width": image.shape[1],
                                 "height": image.shape[0], "seconds": round(seconds, 4)})
        if not as_json:
            click.echo(f"{target}  ({image.shape[1]}x{image.shape[0]}, {seconds:.2f} s)")
    if as_json:
        click.echo(json.dumps(report))


@cli.command("sheet")
@click.argument("content", nargs=-1, required=True, type=click.Path())
@click.option("--style", "styles", multiple=True, required=True,
              help="Style images, folders of them, .npz files or preset names (repeatable).")
@click.option("--alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True)
@click.option("--preserve-color", is_flag=True)
@click.option("--size", type=click.IntRange(16), default=256, show_default=True, help="Cell size (square crops).")
@click.option("--cols", type=click.IntRange(1), default=None, help="Wrap a single content's styles into rows of COLS.")
@_model_options
@click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Sheet image file.")
@click.option("--json", "as_json", is_flag=True, help="Print timing per image as JSON.")
def sheet_cmd(content, styles, alpha, preserve_color, size, cols, model_dir, weights, weights_dir, precision,
              output, as_json):
    """A contents x styles contact sheet (the first row shows the styles, the first column the contents)."""
    import json
    import time

    from offline.media import labelled_sheet, read_image, write_image

    style_list = _expand_styles(styles)
    outputs.check_not_inputs([output], [*content, *style_list])
    images = [_square(read_image(c), size) for c in content]
    st = _load_stylizer(model_dir, weights, weights_dir, precision)
    stats = [st.style(s) for s in style_list]
    thumbs = [_square(read_image(s), size) if Path(s).is_file() and Path(s).suffix.lower() != ".npz" else
              _name_tile(_style_label(s), size) for s in style_list]
    timings = []
    rows = [[None] + thumbs]
    for image in images:
        row = [image]
        for s in stats:
            t = time.perf_counter()
            row.append(st.stylize_image(image, s, alpha=alpha, preserve_color=preserve_color))
            timings.append(time.perf_counter() - t)
        rows.append(row)
    labels = [""] + [Path(c).stem for c in content]
    if cols and len(images) == 1 and len(stats) > cols:  # one content in many styles: wrap
        cells = [(thumbs[i], rows[1][i + 1]) for i in range(len(stats))]
        rows, labels = [], []
        for start in range(0, len(cells), cols):
            chunk = cells[start : start + cols]
            rows += [[images[0] if start == 0 else None] + [c[0] for c in chunk],
                     [None] + [c[1] for c in chunk]]
            labels += ["", ""]
    sheet = labelled_sheet(rows, cell=(size, size))
    write_image(output, sheet)
    report = {"output": str(output), "contents": len(images), "styles": len(stats), "size": size,
              "seconds_per_image": round(float(np.mean(timings)), 4) if timings else None}
    click.echo(json.dumps(report) if as_json else f"wrote {output} ({len(images)} x {len(stats)})")


def batch_names(paths, suffix="_stylized.png"):
    """Output names for a batch: ``STEM_stylized.png``, with the extension kept in the name where two
    inputs share a stem (a.jpg and a.png must not write one file)."""
    stems = [Path(p).stem for p in paths]
    return [f"{Path(p).stem}{'_' + Path(p).suffix[1:] if stems.count(Path(p).stem) > 1 else ''}{suffix}"
            for p in paths]


def _square(image, size):
    """Centre-crop to a square and resize to size x size."""
    from offline.media import resize

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return resize(image[y : y + s, x : x + s], (size, size))


def _name_tile(name, size):
    from offline.media import put_text

    tile = np.full((size, size, 3), 235, np.uint8)
    put_text(tile, name[:18], (6, size // 2), height=max(10, size // 14))
    return tile


@cli.command("presets")
@click.argument("styles", nargs=-1, required=True, type=click.Path())
@click.option("--style-size", type=click.IntRange(16), default=512, show_default=True,
              help="Longer side the style images are read at.")
@_model_options
@click.option("--out", type=outputs.OutputFolder(), default=None,
              help="Where NAME.npz go [default: <model>/styles].")
@click.option("--force", is_flag=True, help="Replace presets that exist.")
def presets_cmd(styles, style_size, model_dir, weights, weights_dir, precision, out, force):
    """Cache style statistics as presets (NAME.npz), so '--style NAME' works without the image."""
    import hashlib

    from offline.stylizers import resolve_model

    if out:
        folder = Path(out)
    elif str(model_dir).startswith("random"):
        raise UserError("--out is required with a random model")
    else:
        folder = resolve_model(model_dir or "adain") / "styles"
    files = _expand_styles(styles)
    for s in files:
        if not Path(s).is_file():
            raise UserError(f"style image not found: {s}")
        outputs.check_replaceable(folder / f"{Path(s).stem}.npz", force, "preset", marker=None)
    stems = [Path(s).stem for s in files]
    if len(set(stems)) < len(stems):
        raise UserError(f"two style images share a name ({', '.join(sorted({n for n in stems if stems.count(n) > 1}))}): "
                        "presets are named after the file")
    st = _load_stylizer(model_dir, weights, weights_dir, precision)
    folder.mkdir(parents=True, exist_ok=True)
    for s in files:
        p = Path(s)
        stats = st.style(str(p), max_side=style_size)
        stats.name = p.stem
        stats.meta.update({"source": p.name, "source_sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                           "style_size": style_size, "encoder": st.encoder.describe(),
                           "command": "offline adain presets", "model": getattr(st, "kind", "adain")})
        stats.save(folder / f"{p.stem}.npz")
        click.echo(f"{folder / (p.stem + '.npz')}")
