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
from offline.media import preserve_colors, to_uint8
from offline.losses import EPSILON, mean_std

DEPTHS = ("relu3_1", "relu4_1")
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
        raise UserError(f"mix has {w.size} weights for {n} styles")
    if (w < 0).any() or w.sum() <= 0:
        raise UserError(f"mix weights must be non-negative and not all zero: {list(weights)}")
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


# --- inference: cached styles and the Stylizer ---------------------------------------------------

class StyleStats:
    """A style as the encoder output's channel mean and std (each (C,) float32): computed once per
    style image, cached, saved as a preset (``NAME.npz``); stylizing never re-encodes the style."""

    def __init__(self, mean, std, name="", meta=None, thumbnail=None):
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        self.name = name
        self.meta = dict(meta or {})
        self.thumbnail = thumbnail  # a small RGB picture of the style (the web page's list), or None

    def save(self, path):
        from offline.media import atomic_write_bytes
        import io
        import json

        buf = io.BytesIO()
        extra = {} if self.thumbnail is None else {"thumbnail": np.asarray(self.thumbnail, np.uint8)}
        np.savez(buf, mean=self.mean, std=self.std, name=np.array(self.name), meta=np.array(json.dumps(self.meta)),
                 **extra)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path):
        import json

        try:
            with np.load(path) as data:
                return cls(data["mean"], data["std"], str(data["name"]) if "name" in data else Path(path).stem,
                           json.loads(str(data["meta"])) if "meta" in data else {},
                           data["thumbnail"] if "thumbnail" in data else None)
        except (OSError, KeyError, ValueError) as e:
            raise UserError(f"not a style preset (.npz with mean and std): {path} ({e})") from None

    def __repr__(self):
        return f"StyleStats({self.name!r}, channels={self.mean.size})"


def check_encoder(encoder, manifest, model_dir, strict=False):
    """The VGG weights loaded now against those the model was trained with (the manifest's
    checksum): a warning, or with ``strict`` a UserError, when they differ."""
    import sys

    expected = manifest.get("encoder", {}).get("weights_sha256")
    if expected and encoder.weights_source != "random":
        got = weights_checksum(encoder.model)
        if got != expected:
            msg = (f"encoder weights ({encoder.weights_source}) differ from those the model in {model_dir} was "
                   f"trained with (sha256 {got[:12]} != {expected[:12]}); results will be poor")
            if strict:
                raise UserError(msg)
            print(f"warning: {msg}", file=sys.stderr)


class StylizerBase:
    """What every stylizer shares (AdaIN's ``Stylizer`` and ``offline.fast.FastStylizer``): styles
    looked up by preset name, ``.npz``, image file or array and cached (``style``), and the compiled
    still-image function (``frame_function``). A subclass sets ``model_dir``, ``channels`` (numbers
    in a style), ``depth`` (its name in messages), ``_cache = {}``, ``_fn = None`` and provides
    ``style_from_image(rgb, name)`` and the pure ``stylize(content, mean, std, alpha)``."""

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

    style_size = 512  # longer side style images are read at, unless the caller says otherwise

    def style(self, source, max_side=None):
        """StyleStats from a preset name, a ``.npz`` preset, an image file or an RGB array (cached)."""
        if isinstance(source, StyleStats):
            return source
        if isinstance(source, np.ndarray):
            return self.style_from_image(source)
        max_side = max_side or self.style_size
        key = (str(source), max_side)
        if key in self._cache:
            return self._cache[key]
        path = Path(source)
        if path.suffix.lower() == ".npz" and path.is_file():
            stats = StyleStats.load(path)
        elif path.is_file():
            from offline.media import read_image, thumbnail

            image = read_image(path, max_side=max_side)
            if min(image.shape[:2]) < 16:  # the encoder pools 4x: a 1-pixel strip has no texture to read
                raise UserError(f"style image {source} is too narrow: {image.shape[1]}x{image.shape[0]} at "
                                f"{max_side} px on its longer side (at least 16 px both ways)")
            stats = self.style_from_image(image, name=path.stem)
            stats.thumbnail = thumbnail(image)
        elif path.is_dir():
            raise UserError(f"style {source} is a folder: pass its images (or use the CLI, which expands folders)")
        elif self.styles_dir and (self.styles_dir / f"{source}.npz").is_file():
            stats = StyleStats.load(self.styles_dir / f"{source}.npz")
        else:
            known = ", ".join(self.preset_names()) or "none"
            raise UserError(f"style not found: {source} (not an image file, not a .npz, not a preset; presets: {known})")
        if stats.mean.size != self.channels:
            raise UserError(f"style {source} has {stats.mean.size} numbers; this {self.depth} model needs "
                            f"{self.channels} (a preset of another model?)")
        self._cache[key] = stats
        return stats

    def frame_function(self):
        """``fn(frame_uint8, style, alpha) -> uint8``, compiled once per frame shape; ``style`` a
        StyleStats (its arrays are arguments, so switching styles or alpha never retraces)."""
        from offline.backend import Compiled

        if self._fn is None:
            self._fn = Compiled(self.stylize)  # stills come in many sizes: no XLA compile per size

        def run(frame, style, alpha=1.0):
            style = self.style(style)
            x = np.asarray(frame, np.float32)[None]
            y = self._fn(x, style.mean.reshape(1, 1, 1, -1), style.std.reshape(1, 1, 1, -1), np.float32(alpha))
            return to_uint8(ops.convert_to_numpy(y)[0])

        run.compiled = self._fn
        return run


class Stylizer(StylizerBase):
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

    kind = "adain"

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
        from offline import artifacts

        model_dir = Path(model or artifacts.SHIPPED["adain"])
        manifest = artifacts.read_manifest(model_dir, kind="adain")
        depth = manifest.get("depth", "relu3_1")
        if depth not in DEPTHS:
            raise UserError(f"corrupt manifest {model_dir / 'manifest.json'}: unknown depth {depth!r}")
        encoder = build_encoder(depth, weights=weights, weights_dir=weights_dir, precision=precision)
        decoder = build_decoder(depth, dtype=dtype_policy(precision))
        artifacts.load_weights(decoder, model_dir / manifest.get("decoder", "decoder.weights.h5"))
        check_encoder(encoder, manifest, model_dir, strict)
        return cls(encoder, decoder, depth, model_dir, manifest)

    @classmethod
    def random(cls, depth="relu3_1", seed=0, precision="float32", model_dir=None):
        """Random encoder and decoder weights: for tests and for wiring a pipeline before training."""
        keras.utils.set_random_seed(seed)
        encoder = build_encoder(depth, weights=None, precision=precision)
        return cls(encoder, build_decoder(depth, dtype=dtype_policy(precision)), depth, model_dir=model_dir)

    # styles ----------------------------------------------------------------------------------------
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
                raise UserError("a style mix and a region mask do not go together: each region takes one style")
            regions = region_masks(mask, len(styles), content.shape[:2])
            if self._fn_masked is None:
                from offline.backend import Compiled

                self._fn_masked = Compiled(self._core_masked)
            x, m = content.astype(np.float32)[None], regions[None]
            means = np.stack([s.mean.reshape(1, 1, -1) for s in styles])[:, None]
            stds = np.stack([s.std.reshape(1, 1, -1) for s in styles])[:, None]
            y = self._fn_masked(x, means, stds, m, np.float32(alpha))
            out = to_uint8(ops.convert_to_numpy(y)[0])
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
