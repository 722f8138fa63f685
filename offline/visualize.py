"""CNN visualisation (``offline viz``): what a network's filters look for and where it looks.

    filters   the kernels of one convolution as a grid of small pictures (first layer: RGB)
    maps      feature maps of several layers for one image (the "deeper feature maps" figure)
    saliency  d score / d pixels over the image: vanilla gradients or guided backpropagation
    maximize  an image that maximises one channel (the gradient-ascent engine of DeepDream)

Every command takes any backbone (``--model``, ``--alpha``, ``--weights``).
"""

import dataclasses

import cv2
import keras
import numpy as np
from keras import ops

from offline import ascent, backend, media
from offline.errors import UserError


# --- filters -------------------------------------------------------------------------------------

def filter_images(kernel, bgr_input=False, cell=32):
    """(kh, kw, in, out) kernel -> ``out`` small pictures, each min-max normalised to 0..255.

    Three input channels show as colour (flipped to RGB for BGR-input models such as VGG);
    other depths as the mean absolute weight over input channels (grey)."""
    k = np.asarray(kernel, np.float32)
    if k.ndim != 4:
        raise UserError(f"not a convolution kernel: shape {k.shape}")
    if k.shape[2] == 3:
        pics = np.transpose(k, (3, 0, 1, 2))[..., ::-1] if bgr_input else np.transpose(k, (3, 0, 1, 2))
    else:
        pics = np.repeat(np.abs(k).mean(axis=2).transpose(2, 0, 1)[..., None], 3, axis=3)
    out = []
    for p in pics:
        lo, hi = p.min(), p.max()
        p = (p - lo) / (hi - lo + 1e-8) * 255.0
        out.append(cv2.resize(p, (cell, cell), interpolation=cv2.INTER_NEAREST))
    return out


def layer_kernel(model, name):
    layer = model.get_layer(name)
    for attr in ("kernel", "depthwise_kernel"):
        w = getattr(layer, attr, None)
        if w is not None and len(w.shape) == 4:
            return keras.ops.convert_to_numpy(w)
    convs = [l.name for l in model.layers if len(getattr(getattr(l, "kernel", None), "shape", ())) == 4]
    raise UserError(f"layer {name!r} has no convolution kernel; convolution layers: {', '.join(convs)}")


# --- feature maps --------------------------------------------------------------------------------

def colorize(values, colormap=cv2.COLORMAP_VIRIDIS):
    """A 2-D array -> RGB uint8 through a colour map, min-max normalised."""
    v = np.asarray(values, np.float32)
    v = (v - v.min()) / (v.max() - v.min() + 1e-8)
    return cv2.cvtColor(cv2.applyColorMap((v * 255).astype(np.uint8), colormap), cv2.COLOR_BGR2RGB)


def strongest_channels(features, count):
    """Indices of the ``count`` channels with the largest mean activation (the ones that fire)."""
    means = np.asarray(features, np.float32).reshape(-1, features.shape[-1]).mean(axis=0)
    return list(np.argsort(-means)[:count])


def feature_map_sheet(image, features, channels=8, cell=128):
    """Rows: the image then the ``channels`` strongest maps of each layer, all at ``cell`` px."""
    size = _cell_size(image, cell)
    rows, labels = [], []
    for name, f in features.items():
        f = np.asarray(f, np.float32)[0]
        cells = [media.resize(image, size)]
        for c in strongest_channels(f, channels):
            cells.append(cv2.resize(colorize(f[..., c]), size, interpolation=cv2.INTER_NEAREST))
        rows.append(cells)
        labels.append(name)
    return media.labelled_sheet(rows, row_labels=labels, cell=(size[1], size[0]))


def _cell_size(image, cell):
    h, w = image.shape[:2]
    s = cell / max(h, w)
    return max(1, round(w * s)), max(1, round(h * s))


# --- saliency ------------------------------------------------------------------------------------

@keras.ops.custom_gradient
def guided_relu(x):
    """ReLU whose backward pass lets through only positive gradients at positive inputs
    (Springenberg et al.'s guided backpropagation). Backend-neutral through keras.ops."""
    y = ops.relu(x)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return upstream * ops.cast(x > 0, upstream.dtype) * ops.cast(upstream > 0, upstream.dtype)

    return y, grad


class GuidedReLU(keras.layers.Layer):
    """Stands in for ``keras.layers.ReLU`` (MobileNet's ReLU6) in a guided clone."""

    def __init__(self, max_value=None, **kwargs):
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, x):
        y = guided_relu(x)
        return ops.minimum(y, self.max_value) if self.max_value is not None else y


def _is_relu(fn):
    return getattr(fn, "__name__", "") == "relu"


def guided_model(model):
    """A copy of ``model`` (same weights, same layer names) whose ReLUs are guided ReLUs."""
    def swap(layer):
        if isinstance(layer, keras.layers.ReLU):
            mv = layer.max_value
            return GuidedReLU(max_value=None if mv is None else float(mv), name=layer.name)
        new = layer.__class__.from_config(layer.get_config())
        if _is_relu(getattr(new, "activation", None)):
            new.activation = guided_relu  # Conv2D, Dense and Activation apply it in call()
        return new

    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return clone


def saliency_gradient(backbone, objective, image, method="gradient"):
    """d objective / d RGB pixels for an RGB image (H, W, 3) -> float32 (H, W, 3).

    The objective comes from :mod:`offline.ascent` (a class logit or one channel's mean), so
    saliency and activation maximisation measure the same score."""
    if method not in ("gradient", "guided"):
        raise UserError(f"unknown saliency method {method!r}: expected gradient or guided")
    if method == "guided":
        backbone = dataclasses.replace(backbone, model=guided_model(backbone.model))
    loss_fn = ascent.make_loss_fn(backbone, objective)

    def rgb_loss(x):
        return loss_fn(backbone.preprocess(x))

    _, _, grad = backend.value_and_grad(rgb_loss)(ops.convert_to_tensor(np.asarray(image, np.float32)[None]))
    return np.asarray(grad, np.float32)[0]


def saliency_overlay(image, grad, blur=1.0, opacity=0.7):
    """Max |gradient| over colour channels as a JET heat map blended over the image, more opaque
    where the saliency is higher (the photo stays readable where the network does not look)."""
    s = np.abs(grad).max(axis=2)
    if blur:
        s = cv2.GaussianBlur(s, (0, 0), blur)
    s = np.clip(s / (np.percentile(s, 99.5) + 1e-12), 0, 1)
    heat = cv2.cvtColor(cv2.applyColorMap((s * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    a = opacity * np.sqrt(s)[..., None]
    return (1 - a) * image.astype(np.float32) + a * heat.astype(np.float32)


def gradient_image(grad):
    """A signed gradient as an RGB picture: grey is zero (the guided-backprop figure)."""
    g = grad - grad.mean()
    g = g / (3 * g.std() + 1e-12)
    return np.clip(g * 127.5 + 127.5, 0, 255)


# --- commands ------------------------------------------------------------------------------------


