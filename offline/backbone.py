"""Pretrained feature extractors over ``keras.applications``: named-layer outputs, each model's own
preprocessing and its exact inverse, and weight resolution that never falls back to random weights.

    bb = load_backbone("vgg19", layers=["block1_conv1", "block3_conv1"], weights="imagenet")
    feats = bb(bb.preprocess(images_rgb_0_255))      # {"block1_conv1": ..., "block3_conv1": ...}
    rgb = bb.deprocess(model_space_images)            # float RGB 0..255 (media.to_uint8 rounds)

Weights, in the order a user reaches for them:
- ``"imagenet"``: a file from the offline weights directory (``$STUDIO_WEIGHTS_DIR``) when one is
  set and holds it, else Keras' own download and cache (``~/.keras/models``).
- a file (legacy ``.h5`` by layer name, or Keras 3 ``.weights.h5``): every layer the truncated
  model needs must be in it; a partial file holding just those layers is fine.
- a directory: the same search as ``$STUDIO_WEIGHTS_DIR``.
- ``None``: random weights, for tests only.
"""

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

from offline.errors import UserError
from offline.media import file_sha256

WEIGHTS_DIR_ENV = "STUDIO_WEIGHTS_DIR"

# --- precision -----------------------------------------------------------------------------------
PRECISIONS = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
SHORT = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # the same, as people type them


def precision_name(precision):
    """One spelling: 'fp32'/'float32', 'bf16'/'bfloat16', 'fp16'/'float16' -> Keras' dtype name."""
    name = SHORT.get(str(precision), str(precision))
    if name not in PRECISIONS:
        raise UserError(f"bad precision {precision!r}: expected one of fp32, bf16, fp16 (or float32, bfloat16, "
                        f"float16)")
    return name


def dtype_policy(precision):
    """A precision (either spelling) -> the Keras dtype policy name (None for float32)."""
    return PRECISIONS[precision_name(precision)]


@contextmanager
def built_with(precision):
    """Layers built inside take the mixed policy for ``precision`` (keras.applications reads the
    global policy, not an argument); the previous global policy is restored on the way out."""
    policy = dtype_policy(precision)
    previous = keras.config.dtype_policy()
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


# --- preprocessing -------------------------------------------------------------------------------
# "caffe": RGB->BGR and ImageNet mean subtraction (VGG); "tf": scale to [-1, 1] (Inception, MobileNet).
# They equal keras.applications.<model>.preprocess_input, but are written in keras.ops so they
# run inside compiled graphs on any backend.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(x, mode):
    """RGB in 0..255 (any float dtype) -> the model's input space."""
    if mode == "caffe":
        return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype)
    if mode == "tf":
        return x / 127.5 - 1.0
    raise ValueError(f"unknown preprocessing mode {mode!r}")


def deprocess(x, mode):
    """Exact inverse of :func:`preprocess`: model space -> RGB in 0..255 (not clipped)."""
    if mode == "caffe":
        return ops.flip(x + ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=x.dtype), axis=-1)
    if mode == "tf":
        return (x + 1.0) * 127.5
    raise ValueError(f"unknown preprocessing mode {mode!r}")


# --- the models ----------------------------------------------------------------------------------

def _alpha_text(alpha):
    return {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}.get(float(alpha), str(alpha).replace(".", "_"))


@dataclass(frozen=True)
class ModelSpec:
    constructor: str  # attribute of keras.applications
    mode: str  # preprocessing mode
    top_size: int  # input side the classifier top expects
    file_stem: str  # stem of the official Keras weights file
    default_layers: tuple = ()
    takes_alpha: bool = False

    def weights_filename(self, include_top, alpha=1.0):
        if self.takes_alpha:
            stem = self.file_stem.format(alpha=_alpha_text(alpha), size=self.top_size)
            return f"{stem}.h5" if include_top else f"{stem}_no_top.h5"
        return f"{self.file_stem}.h5" if include_top else f"{self.file_stem}_notop.h5"


MODELS = {
    "vgg19": ModelSpec("VGG19", "caffe", 224, "vgg19_weights_tf_dim_ordering_tf_kernels",
                       ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")),
    "vgg16": ModelSpec("VGG16", "caffe", 224, "vgg16_weights_tf_dim_ordering_tf_kernels",
                       ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")),
    "inception_v3": ModelSpec("InceptionV3", "tf", 299, "inception_v3_weights_tf_dim_ordering_tf_kernels",
                              ("mixed3", "mixed5")),
    "mobilenet": ModelSpec("MobileNet", "tf", 224, "mobilenet_{alpha}_{size}_tf",
                           ("conv_pw_5_relu", "conv_pw_9_relu"), takes_alpha=True),
}
ALIASES = {"inceptionv3": "inception_v3", "inception": "inception_v3", "vgg": "vgg19"}


def model_spec(name):
    key = ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return key, MODELS[key]


def layer_alias(name):
    """AdaIN/paper names for VGG layers: relu4_1 -> block4_conv1 (Keras convs include the ReLU)."""
    m = re.fullmatch(r"relu(\d)_(\d)", name)
    return f"block{m.group(1)}_conv{m.group(2)}" if m else name


# --- the extractor -------------------------------------------------------------------------------

@dataclass
class Backbone:
    """A frozen, truncated ``keras.applications`` model that returns named layers' outputs."""

    name: str
    model: keras.Model  # model-space images -> {layer: features}
    layers: list
    mode: str
    alpha: float = 1.0
    include_top: bool = False
    weights_source: str = "random"
    weights_sha256: str = None

    def __call__(self, x, training=False):
        return self.model(x, training=training)

    def preprocess(self, x):
        return preprocess(ops.convert_to_tensor(x, dtype="float32"), self.mode)

    def deprocess(self, x):
        return deprocess(x, self.mode)

    def clip(self, x):
        """Clip a model-space image to what 0..255 RGB can represent."""
        return self.preprocess(ops.clip(self.deprocess(x), 0.0, 255.0))

    def describe(self):
        return {"model": self.name, "alpha": self.alpha, "layers": list(self.layers),
                "weights": self.weights_source, "weights_sha256": self.weights_sha256}


def load_backbone(name="vgg19", layers=None, weights="imagenet", pool="max", alpha=1.0,
                  include_top=False, input_shape=None, weights_dir=None, precision="float32"):
    """Build a frozen feature extractor returning ``{layer: features}`` for ``layers``.

    ``pool="avg"`` replaces max-pooling by average pooling (Gatys et al. found it gives smoother
    results). ``include_top`` keeps the classifier (the layer ``predictions`` gives class scores).
    ``precision`` "bfloat16"/"float16" computes in that type (inputs stay float32; outputs are
    in it: cast before statistics, as ``offline.losses`` does).
    """
    with built_with(precision):
        return _load_backbone(name, layers, weights, pool, alpha, include_top, input_shape, weights_dir)


def _load_backbone(name, layers, weights, pool, alpha, include_top, input_shape, weights_dir):
    key, spec = model_spec(name)
    layers = [layer_alias(l) for l in (layers or spec.default_layers)]
    if pool not in ("max", "avg"):
        raise UserError(f"bad pool {pool!r}: expected max or avg")
    if input_shape is None:
        input_shape = (spec.top_size, spec.top_size, 3) if include_top else (None, None, 3)

    weights_file, source = resolve_weights(key, spec, weights, include_top, alpha, weights_dir)
    kwargs = dict(include_top=include_top, input_shape=input_shape)
    if spec.takes_alpha:
        kwargs["alpha"] = alpha
    download = weights == "imagenet" and weights_file is None
    try:
        base = getattr(keras.applications, spec.constructor)(weights="imagenet" if download else None, **kwargs)
    except ValueError as e:  # e.g. an alpha that MobileNet has no weights for
        raise UserError(f"cannot build {key}: {e}") from None
    except Exception as e:  # the download failed: no network, proxy, ...
        if not download:
            raise
        raise UserError(
            f"could not download ImageNet weights for {key} ({_reason(e)}); pass --weights FILE "
            f"or DIR, or set {WEIGHTS_DIR_ENV} to a folder holding {spec.weights_filename(include_top, alpha)}"
        ) from None

    names = [l.name for l in base.layers]
    unknown = [l for l in layers if l not in names]
    if unknown:
        raise UserError(f"unknown layer {unknown[0]!r} for {key}; valid layers: {', '.join(_feature_layers(base))}")
    model = keras.Model(base.inputs, {l: base.get_layer(l).output for l in layers}, name=f"{key}_features")
    if pool == "avg":
        model = _with_average_pooling(model)
    sha = None
    if weights_file is not None:
        sha = load_weights_checked(model, weights_file)
    model.trainable = False
    return Backbone(key, model, layers, spec.mode, alpha=alpha, include_top=include_top,
                    weights_source=source, weights_sha256=sha)


def _feature_layers(model):
    """Names of the layers worth asking for (skip inputs, paddings and the like)."""
    skip = (keras.layers.InputLayer, keras.layers.ZeroPadding2D, keras.layers.Reshape, keras.layers.Dropout)
    return [l.name for l in model.layers if not isinstance(l, skip)]


def _with_average_pooling(model):
    def swap(layer):
        if isinstance(layer, keras.layers.MaxPooling2D):
            cfg = layer.get_config()
            return keras.layers.AveragePooling2D(pool_size=cfg["pool_size"], strides=cfg["strides"],
                                                 padding=cfg["padding"], name=cfg["name"])
        return layer  # shared: keeps its weights

    return keras.models.clone_model(model, clone_function=swap)


# --- weights -------------------------------------------------------------------------------------

def resolve_weights(key, spec, weights, include_top, alpha, weights_dir=None):
    """-> (file or None, description). None with "imagenet" means: let Keras download it."""
    if weights is None or (isinstance(weights, str) and weights.lower() in ("none", "random")):
        return None, "random"
    weights = os.fspath(weights)
    if weights.lower() == "imagenet":
        folder = weights_dir or os.environ.get(WEIGHTS_DIR_ENV)
        if folder and not Path(folder).is_dir():
            source = "--weights-dir" if weights_dir else f"${WEIGHTS_DIR_ENV}"
            raise UserError(f"{source} is {folder}, which is not a folder (unset it to download the weights)")
        if folder:
            found = find_weights_file(folder, key, spec, include_top, alpha)
            if found:
                return found, f"imagenet ({found})"
        return None, "imagenet (keras download)"
    path = Path(weights)
    if path.is_dir():
        found = find_weights_file(path, key, spec, include_top, alpha)
        if not found:
            raise UserError(f"no weights file for {key} in {path} (looked for {spec.weights_filename(include_top, alpha)} "
                            f"or {key}*{'' if include_top else 'notop'}*.h5)")
        return found, str(found)
    if not path.exists():
        raise UserError(f"weights not found: {weights} (expected imagenet, a .h5 file or a folder)")
    return path, str(path)


def _reason(error):
    """The first line of a download error, shortened: Keras wraps urllib's reason in a plain Exception."""
    text = str(error).strip().splitlines()
    text = text[-1] if text else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def find_weights_file(folder, key, spec, include_top, alpha):
    """The official Keras file name first, then ``<model>*notop*.h5`` style names, two levels deep."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = [p for p in list(folder.glob("*.h5")) + list(folder.glob("*/*.h5"))]
    official = spec.weights_filename(include_top, alpha)
    for p in candidates:
        if p.name == official:
            return p
    prefix = official.split("_weights")[0] if not spec.takes_alpha else official.rsplit("_tf", 1)[0]
    for p in sorted(candidates):
        n = p.name.lower()
        notop = "notop" in n or "no_top" in n
        if n.startswith(prefix) and notop == (not include_top):
            return p
    return None


def read_weight_arrays(path):
    """{key: [arrays]} from a legacy Keras HDF5 file (key = layer name) or a Keras 3 ``.weights.h5``
    (key = the structural path such as ``conv2d_3``), plus the format name."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"not a Keras weights file (HDF5): {path} ({e})") from None
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:
            out = {}
            for raw in root.attrs["layer_names"]:
                lname = raw.decode() if isinstance(raw, bytes) else str(raw)
                g = root[lname]
                wnames = [w.decode() if isinstance(w, bytes) else str(w) for w in g.attrs.get("weight_names", [])]
                if wnames:
                    out[lname] = [np.asarray(g[w]) for w in wnames]
            return out, "legacy"
        if "layers" in root:
            out = {}
            for lname, g in root["layers"].items():
                if "vars" in g and len(g["vars"]):
                    out[lname] = [np.asarray(g["vars"][str(i)]) for i in range(len(g["vars"]))]
            return out, "keras3"
    raise UserError(f"not a Keras weights file (no layer_names or layers group): {path}")


def _structural_keys(model):
    """The keys Keras 3 gives layers in ``.weights.h5``: snake_case class name plus a counter."""
    from keras.src.utils.naming import to_snake_case

    counts, keys = {}, {}
    for layer in model.layers:
        base = to_snake_case(layer.__class__.__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        keys[layer.name] = base if n == 0 else f"{base}_{n}"
    return keys


def load_weights_checked(model, path):
    """Load weights by layer into ``model``; every layer with weights must be in the file."""
    arrays, fmt = read_weight_arrays(path)
    keys = _structural_keys(model) if fmt == "keras3" else {l.name: l.name for l in model.layers}
    needed = [l for l in model.layers if l.weights]
    missing = [l.name for l in needed if keys[l.name] not in arrays]
    if missing:
        have = ", ".join(sorted(arrays)) or "nothing"
        raise UserError(f"weights file {path} lacks layer {missing[0]}"
                        f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}, which this model needs; "
                        f"it holds: {have}")
    for layer in needed:
        values = arrays[keys[layer.name]]
        shapes = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != shapes:
            raise UserError(f"weights file {path}: layer {layer.name} has shapes {[v.shape for v in values]}, "
                            f"the model needs {shapes}")
        layer.set_weights(values)
    return file_sha256(path)
