"""Per-frame effects: ``none``, ``features`` (a backbone layer's activations as a heat map) and
``stylize`` (the fast model on CPUs, AdaIN on GPUs; cached style statistics). Defined once for the
live loop (``realtime``) and for ``offline render`` (every frame of a file); ``dream`` (in
``offline.dream``) follows the same interface for renders.

An effect maps an RGB uint8 frame to an RGB uint8 frame of the same size. The model part is one
``offline.backend.Compiled`` function per frame shape, built and run once in ``warmup`` before the
first frame; everything that changes while the show runs (style statistics, alpha, channel,
smoothing strength) is passed in as a tensor, so a key press never retraces it. ``traces`` counts
traces; a test asserts it stays put after warm-up.

``action(name)`` applies a key's effect-level meaning (next/prev style, alpha, smoothing, layer,
channel) and returns a short message for the log and the HUD.
"""

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from offline.errors import UserError

log = logging.getLogger("realtime")


@dataclass(frozen=True)
class Key:
    """One live control of an effect or of the loop (``realtime.keys`` builds the key table)."""

    keys: str  # the characters that trigger it ("+=": either); "esc" and "space" by name
    action: str  # what the loop or the effect does (Effect.action(name))
    hud: str  # one word on the HUD's help line; keys with the same word share it ("n/p style")
    help: str  # the sentence in --help

    def codes(self):
        named = {"esc": [27], "space": [32]}
        return named.get(self.keys) or [ord(c) for c in self.keys]

    def label(self):
        return self.keys if self.keys in ("esc", "space") else self.keys[0]

EFFECTS = ("stylize", "features", "none")

# Layers ``l`` cycles through for ``features``: ReLU outputs from shallow (edges) to deep (parts).
FEATURE_LAYERS = {
    "mobilenet": ("conv_pw_1_relu", "conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_7_relu",
                  "conv_pw_11_relu", "conv_pw_13_relu"),
    # Keras VGG convolutions include their ReLU: block3_conv1 is the paper's relu3_1.
    "vgg19": ("block1_conv2", "block2_conv2", "block3_conv1", "block3_conv4", "block4_conv1", "block5_conv1"),
}
DEFAULT_FEATURE_LAYER = {"mobilenet": "conv_pw_5_relu", "vgg19": "block3_conv1"}


class Effect:
    """The identity, and the interface every effect follows."""

    name = "none"
    keys = ()  # Key: what this effect's keys do (the loop adds its own)
    traces = 0
    cycle_action = "next"  # what --cycle does every N seconds
    memory = 0.0  # the share of the previous output that carries into the next frame (0: stateless)

    def reset(self, index=0):
        """Forget earlier frames, as at the start of a stream; ``index``: the next frame's number."""

    def warmup(self, size):
        """Compile for frames of ``size`` (width, height) and run once; returns seconds per call."""
        return 0.0

    def __call__(self, image):
        return image

    def prime(self, source, output):
        """Carry state over a resumed render's join: the previous source frame and its output."""

    def model_call(self, image):
        """The compiled model part alone (what `realtime bench` times as model-only)."""
        return self(image)

    def action(self, name, value=None):
        """A key's (or the web page's, or an OSC message's) action; ``value`` for settings set to
        a number or a name ("alpha", "style"). Returns a message, or None if it means nothing here."""
        return None

    def label(self):
        return self.name


def _time_calls(fn, n=3):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


class FeaturesEffect(Effect):
    """One backbone layer's activations (the channel mean, or one channel), colour-mapped and
    blended over the frame. Keys: l next layer, c next channel (after the last: the mean again),
    +/- blend."""

    name = "features"
    cycle_action = "layer"
    keys = (Key("l", "layer", "layer", "next layer"),
            Key("c", "channel", "channel", "next channel (after the last: the mean)"),
            Key("+=", "alpha+", "blend", "more heat map"), Key("-_", "alpha-", "blend", "less heat map"))

    def __init__(self, backbone="mobilenet", layers=None, layer=None, alpha=0.75, weights="imagenet",
                 weights_dir=None, precision="float32", blend=0.6, colormap=cv2.COLORMAP_INFERNO, channel=None):
        from offline.backbone import load_backbone, model_spec

        key, _ = model_spec(backbone)
        self.layers = list(layers or FEATURE_LAYERS.get(key, ()))
        start = layer or DEFAULT_FEATURE_LAYER.get(key, self.layers[0] if self.layers else None)
        if start is None:
            raise UserError(f"backbone {backbone} has no default layer: choose one")
        if start not in self.layers:
            self.layers.append(start)
        self.backbone = load_backbone(key, layers=self.layers, weights=weights, alpha=alpha, weights_dir=weights_dir,
                                      precision=precision)
        self.layer_index = self.layers.index(start)
        self.channel = channel  # None: mean over channels
        self.blend = blend
        self.colormap = colormap
        self._compiled = {}  # layer -> Compiled
        self._channels = {}  # layer -> number of channels
        self._size = None

    @property
    def layer(self):
        return self.layers[self.layer_index]

    @property
    def traces(self):
        return sum(c.traces for c in self._compiled.values())

    def _compile(self, layer):
        import keras
        from keras import ops

        from offline.backend import Compiled

        bb = self.backbone
        sub = keras.Model(bb.model.inputs, bb.model.get_layer(layer).output)

        def feature_map(frame, channel_weights):
            x = bb.preprocess(ops.cast(frame, "float32"))
            f = ops.cast(sub(x, training=False), "float32")[0]
            m = ops.tensordot(f, channel_weights, axes=1)  # weighted channel sum: mean or one-hot
            # mean +- 2.5 std to 0..255 rather than min..max: a few hot border pixels would
            # otherwise wash out the whole map
            mean, std = ops.mean(m), ops.std(m)
            m = ops.clip((m - mean) / (5.0 * std + 1e-6) + 0.5, 0.0, 1.0)
            return ops.cast(ops.round(255.0 * m), "uint8")

        self._channels[layer] = int(sub.output.shape[-1])
        if self.channel is not None and not 0 <= self.channel < self._channels[layer]:
            raise UserError(f"channel {self.channel}: layer {layer} has channels 0..{self._channels[layer] - 1}")
        return Compiled(feature_map)

    def _weights(self):
        c = self._channels[self.layer]
        if self.channel is None:
            return np.full((c,), 1.0 / c, np.float32)
        w = np.zeros((c,), np.float32)
        w[self.channel] = 1.0
        return w

    def model_call(self, image):
        return self.feature_map(image)

    def feature_map(self, image):
        """The uint8 activation map (h, w) at the layer's own resolution: the model-only part."""
        from keras import ops

        if self.layer not in self._compiled:
            self._compiled[self.layer] = self._compile(self.layer)
        return ops.convert_to_numpy(self._compiled[self.layer](image[None], self._weights()))

    def warmup(self, size):
        self._size = tuple(size)
        dummy = np.zeros((size[1], size[0], 3), np.uint8)
        self.feature_map(dummy)
        return _time_calls(lambda: self.feature_map(dummy))

    def __call__(self, image):
        m = self.feature_map(image)
        m = cv2.resize(m, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        heat = cv2.cvtColor(cv2.applyColorMap(m, self.colormap), cv2.COLOR_BGR2RGB)
        return cv2.addWeighted(image, 1.0 - self.blend, heat, self.blend, 0.0)

    def action(self, name, value=None):
        if name == "alpha" and value is not None:  # the heat map's opacity
            self.blend = float(np.clip(float(value), 0.0, 1.0))
        elif name == "layer":
            self.layer_index = (self.layer_index + 1) % len(self.layers)
            self.channel = None
            if self._size is not None and self.layer not in self._compiled:
                self.warmup(self._size)  # a new layer is a new shape: compile it once, now
        elif name == "channel":
            c = self._channels.get(self.layer, 1)
            self.channel = 0 if self.channel is None else (None if self.channel + 1 >= c else self.channel + 1)
        elif name in ("alpha+", "alpha-"):
            self.blend = float(np.clip(self.blend + (0.1 if name == "alpha+" else -0.1), 0.0, 1.0))
        else:
            return None
        return self.label()

    def label(self):
        channel = "mean" if self.channel is None else f"ch {self.channel}"
        return f"features {self.backbone.name}:{self.layer} {channel} blend {self.blend:.1f}"


class StylizeEffect(Effect):
    """Stylization with cached style statistics, and temporal smoothing against flicker.

    ``stylizer`` follows the contract of ``offline.stylizers`` (AdaIN or the fast model); ``styles`` is a list of
    ``(name, StyleStats)`` computed once at start. Keys: n/p style, +/- alpha, s smoothing.

    Cross-fades (``fade`` seconds, 0: a cut): a style change blends the style code from what is
    on screen to the new style's over ``fade`` seconds (smoothstep in time). The code is an
    argument of the compiled step, so a fade costs nothing per frame and never retraces.

    Smoothing (why: video style transfer flickers because the decoder amplifies tiny input
    changes such as sensor noise): where the input pixel barely changed since the previous frame,
    the output is blended with the previous output; where it moved, the new output is taken as is,
    so motion does not leave ghosts. ``smooth`` is the blend weight for a perfectly still pixel.
    """

    name = "stylize"
    keys = (Key("n", "next", "style", "next style"), Key("p", "prev", "style", "previous style"),
            Key("+=", "alpha+", "alpha", "more style"), Key("-_", "alpha-", "alpha", "less style"),
            Key("s", "smooth", "smooth", "temporal smoothing on/off"))

    def __init__(self, stylizer, styles, alpha=1.0, smooth=0.7, motion_scale=6.0, temporal=True, fade=0.0,
                 clock=None):
        if not styles:
            raise UserError("no styles: give style images, folders or preset names, or ship presets with the model")
        self.stylizer = stylizer
        self._stylize_ops = stylizer.stylize  # pure keras.ops: (content, mean, std, alpha) -> RGB 0..255
        self.styles = list(styles)
        self.style_index = 0
        self.alpha = float(alpha)
        self.smooth = float(smooth)
        self.smooth_on = smooth > 0
        self.temporal = temporal
        self.motion_scale = motion_scale
        self._compiled = None
        self._prev = None  # (previous input frame, previous float output) for smoothing
        self.fade = float(fade)
        self._clock = clock or time.monotonic
        self._fading = None  # (mean, std, start, seconds): the code the picture fades from, since when, how long
        self._mix = None  # (label, mean, std): a mixed code (a show file's scene) instead of one style's

    @property
    def traces(self):
        return self._compiled.traces if self._compiled else 0

    def fade_position(self):
        """0..1 through the current cross-fade (1: none running)."""
        if self._fading is None:
            return 1.0
        mean0, std0, start, length = self._fading
        t = (self._clock() - start) / length if length > 0 else 1.0
        if t >= 1.0:
            self._fading = None
            return 1.0
        return max(0.0, t)

    def _start_fade(self, seconds):
        if seconds > 0:
            self._fading = (*self._stats(), self._clock(), float(seconds))  # from what is on screen, mid-fade too

    def _set_style(self, index):
        index %= len(self.styles)
        if index != self.style_index or self._mix is not None:
            self._start_fade(self.fade)
        self.style_index, self._mix = index, None

    def _code(self, index):
        stats = self.styles[index][1]
        shape = (1, 1, 1, -1)  # broadcast over the batch and the image
        return np.asarray(stats.mean, np.float32).reshape(shape), np.asarray(stats.std, np.float32).reshape(shape)

    def set_mix(self, names, weights):
        """The code of ``names`` mixed by ``weights`` (summing to 1), at once: a control moving
        continuously (the sound's envelope) needs no fade of its own."""
        index = {n: i for i, (n, _) in enumerate(self.styles)}
        if any(n not in index for n in names):
            return f"no style {next(n for n in names if n not in index)!r}"
        codes = [self._code(index[n]) for n in names]
        mean = sum(np.float32(w) * m for w, (m, _) in zip(weights, codes))
        std = sum(np.float32(w) * sd for w, (_, sd) in zip(weights, codes))
        self._mix = (" + ".join(f"{n} {w:.0%}" for n, w in zip(names, weights)), mean, std)
        return None

    def apply_scene(self, scene):
        """A show file's scene (``realtime.showfile.Scene``): its styles' codes mixed by its weights
        (the same linear mix as ``--mix``), its alpha and smoothing, faded in over its ``fade``."""
        names = [n for n, _ in self.styles]
        missing = [s for s in scene.styles if s not in names]
        if missing:
            return f"no style {missing[0]!r}"
        self._start_fade(scene.fade)
        self.style_index = names.index(scene.styles[int(np.argmax(scene.weights))])
        self._mix = None
        if len(scene.styles) > 1:
            self.set_mix(scene.styles, scene.weights)  # the one mixing of codes
        self.alpha = float(scene.alpha)
        if scene.smooth is not None:
            self.smooth, self.smooth_on = float(scene.smooth), scene.smooth > 0
        return self.label()

    def _build(self):
        from keras import ops

        from offline.backend import Compiled

        stylize, scale, temporal = self._stylize_ops, self.motion_scale, self.temporal

        def step(frame, prev_frame, prev_out, mean, std, alpha, smooth):
            x = ops.cast(frame, "float32")
            y = ops.cast(stylize(x, mean, std, alpha), "float32")  # any frame size: pads and crops
            if temporal:
                # motion averaged over 4x4 blocks (ignores single noisy pixels) and the weight map
                # brought back up bilinearly: a 5x5 sliding average at full size cost more than the
                # fast model itself (60 ms at 640x360)
                motion = ops.mean(ops.abs(x - ops.cast(prev_frame, "float32")), axis=-1, keepdims=True)
                motion = ops.average_pool(motion, 4, strides=4, padding="same")
                weight = smooth * ops.exp(-motion / scale)
                weight = ops.image.resize(weight, ops.shape(x)[1:3], interpolation="bilinear")
                y = y + weight * (prev_out - y)
            return ops.cast(ops.round(y), "uint8"), y

        # XLA fuses the fast model's element-wise work (instance norms, modulation, smoothing):
        # 30% less time per frame on a CPU; VGG-sized AdaIN gains nothing from it
        # one static trace per frame shape: the live loop's processing sizes are a few, known at warm-up
        return Compiled(step, jit_compile=getattr(self.stylizer, "jit_compile", False), reduce_retracing=False)

    def _stats(self):
        """The style code for this frame: the style's (or the scene's mix), or a blend on the way to it."""
        mean, std = self._mix[1:] if self._mix is not None else self._code(self.style_index)
        t = self.fade_position()
        if t < 1.0:
            w = np.float32(t * t * (3.0 - 2.0 * t))  # smoothstep: no jolt where the fade starts or ends
            mean0, std0 = self._fading[:2]
            mean, std = mean0 + w * (mean - mean0), std0 + w * (std - std0)
        return mean, std

    def step(self, image):
        """Stylize one frame; returns the uint8 frame (the model-only part, smoothing included)."""
        from keras import ops

        if self._compiled is None:
            self._compiled = self._build()
        batch = image[None]
        if self._prev is None or self._prev[0].shape != batch.shape:
            self._prev = (batch, np.zeros(batch.shape, np.float32))
            smooth = 0.0  # nothing to blend with yet
        else:
            smooth = self.smooth if self.smooth_on else 0.0
        mean, std = self._stats()
        out, y = self._compiled(batch, self._prev[0], self._prev[1], mean, std,
                                np.asarray(self.alpha, np.float32), np.asarray(smooth, np.float32))
        self._prev = (batch, y)  # y stays a backend tensor: no copy back to the device
        return ops.convert_to_numpy(out)[0]

    def prime(self, source, output):
        self._prev = (np.asarray(source)[None], np.asarray(output, np.float32)[None])

    def reset(self, index=0):
        self._prev = None

    @property
    def memory(self):
        return self.smooth if self.smooth_on and self.temporal else 0.0

    def warmup(self, size):
        dummy = np.zeros((size[1], size[0], 3), np.uint8)
        self.step(dummy)
        self.step(dummy)
        seconds = _time_calls(lambda: self.step(dummy))
        self._prev = None
        return seconds

    def __call__(self, image):
        return self.step(image)

    model_call = step

    def action(self, name, value=None):
        if name == "style" and value is not None:  # an index or a name
            names = [n for n, _ in self.styles]
            if isinstance(value, str) and not value.lstrip("-").isdigit():
                if value not in names:
                    return f"no style {value!r}"
                self._set_style(names.index(value))
            else:
                self._set_style(int(value))
        elif name == "scene" and value is not None:
            return self.apply_scene(value)
        elif name == "mix" and value is not None:  # (names, weights) at once, e.g. from the sound
            return self.set_mix(*value)
        elif name == "alpha" and value is not None:
            self.alpha = round(float(np.clip(float(value), 0.0, 1.0)), 3)
        elif name in ("next", "prev"):
            self._set_style(self.style_index + (1 if name == "next" else -1))
        elif name in ("alpha+", "alpha-"):
            self.alpha = round(float(np.clip(self.alpha + (0.1 if name == "alpha+" else -0.1), 0.0, 1.0)), 2)
        elif name == "smooth":
            self.smooth_on = not self.smooth_on
        else:
            return None
        return self.label()

    @property
    def thumbnails(self):
        """{style index: small RGB picture} for the styles that have one (the web page's list)."""
        return {i: s.thumbnail for i, (_, s) in enumerate(self.styles) if getattr(s, "thumbnail", None) is not None}

    @property
    def style_name(self):
        return self._mix[0] if self._mix is not None else self.styles[self.style_index][0]

    def label(self):
        smooth = f"smooth {self.smooth:.1f}" if self.smooth_on and self.temporal else "smooth off"
        return f"stylize {self.style_name} alpha {self.alpha:.1f} {smooth}"


def load_styles(stylizer, specs):
    """``--style`` values (preset names, image files, folders of images) -> [(name, StyleStats)],
    each computed once now, so a missing or corrupt style is an error at start, not mid-show.
    No specs: the model's shipped presets."""
    from pathlib import Path

    from offline.media import list_images

    if not specs:
        presets = dict(stylizer.presets)
        if not presets:
            raise UserError("the model ships no style presets: give style images or folders")
        # the model's best first impression first (its manifest's "default_style"), then by name
        first = (getattr(stylizer, "manifest", None) or {}).get("default_style")
        return sorted(presets.items(), key=lambda kv: (kv[0] != first, kv[0]))
    styles = []
    for spec in specs:
        paths = list_images(spec) if Path(spec).is_dir() else [spec]
        for p in paths:
            stats = stylizer.style(str(p))
            styles.append((Path(p).stem if Path(p).exists() else str(p), stats))
    return styles


@dataclass
class EffectSettings:
    """Every setting of a per-frame effect: the one source of the defaults of ``realtime run``,
    ``realtime bench``, ``offline render`` and ``build_effect``, and what a render's ``render.json``
    stores. Fields of the other effects are ignored."""

    effect: str = "stylize"
    # stylize
    style: tuple = ()  # images, folders, preset names [the model's presets]
    model: str = None  # a model folder, "fast" or "adain" [fast on a CPU, adain on a GPU]
    alpha: float = 1.0  # content-style trade-off
    smooth: float = 0.7  # temporal smoothing of still regions (0: off)
    refine: bool = False  # fast model: refine each style image's code first (~1 min each on a CPU);
    # off by default so that a style image starts at once (presets are refined already)
    # features
    backbone: str = "mobilenet"
    backbone_width: float = 0.75  # MobileNet width
    layer: str = None  # [per backbone]
    channel: int = None  # one channel instead of the mean
    blend: float = 0.6  # opacity of the heat map
    # both
    precision: str = "auto"
    weights: str = "imagenet"
    weights_dir: str = None

    def build(self):
        """The effect (models load here). Errors the user can fix are UserErrors (exit 2)."""
        if self.effect == "none":
            return Effect()
        from offline import backend

        if self.effect == "features":
            return FeaturesEffect(self.backbone, layer=self.layer, alpha=self.backbone_width, weights=self.weights,
                                  weights_dir=self.weights_dir, precision=backend.resolve_precision(self.precision),
                                  blend=self.blend, channel=self.channel)
        if self.effect == "stylize":
            from offline.stylizers import load_stylizer

            # "auto" is resolved per model where it loads: the fast model stays fp32 on a CPU
            stylizer = load_stylizer(self.model, weights=self.weights, weights_dir=self.weights_dir,
                                     precision=self.precision, gpu=backend.has_gpu(), refine=self.refine)
            return StylizeEffect(stylizer, load_styles(stylizer, self.style), alpha=self.alpha, smooth=self.smooth)
        raise UserError(f"unknown effect {self.effect!r}; choose one of: {', '.join(EFFECTS)}")


def build_effect(name, **settings):
    """``build_effect("stylize", style=["la_muse"])``: ``EffectSettings(effect=name, ...).build()``."""
    return EffectSettings(effect=name, **settings).build()
