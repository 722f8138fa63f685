"""CNN visualisation (``offline viz``): what a network's filters look for and where it looks.

    filters   the kernels of one convolution as a grid of small pictures (first layer: RGB)
    maps      feature maps of several layers for one image (the "deeper feature maps" figure)
    saliency  d score / d pixels over the image: vanilla gradients or guided backpropagation
    maximize  an image that maximises one channel (the gradient-ascent engine of DeepDream)

Every command takes any backbone (``--model``, ``--alpha``, ``--weights``).
"""

import dataclasses

import click
import cv2
import keras
import numpy as np
from keras import ops

from offline.commands import outputs
from offline import ascent, backend, media
from offline.backbone import layer_alias, load_backbone
from offline.errors import UserError
from offline.gatys import read_capped
from offline.options import seed_option, weights_options, width_option


def backbone_options(f):
    f = width_option()(f)
    f = click.option("--model", default="vgg19", show_default=True,
                     help="Backbone: vgg19, vgg16, inception_v3, mobilenet.")(f)
    return weights_options(f)


def output_option(f):
    return click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Output image (.png).")(f)


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
        raise UserError(f"unknown --method {method!r}: expected gradient or guided")
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

@click.group("viz", context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """CNN visualisation: filters, feature maps, saliency, activation maximisation (any backbone)."""


@cli.command("filters")
@click.option("--layer", default="block1_conv1", show_default=True, help="A convolution layer.")
@click.option("--cell", type=click.IntRange(4), default=32, show_default=True, help="Pixels per filter.")
@output_option
@backbone_options
def filters_cmd(layer, cell, output, model, width, weights, weights_dir):
    """PNG grid of one convolution's filters (first layer: normalised RGB)."""
    bb = load_backbone(model, layers=[layer_alias(layer)], weights=weights, alpha=width, weights_dir=weights_dir)
    kernel = layer_kernel(bb.model, layer_alias(layer))
    pics = filter_images(kernel, bgr_input=bb.mode == "caffe", cell=cell)
    media.write_image(output, media.grid(pics, cols=int(np.ceil(np.sqrt(len(pics)))), pad=2))
    click.echo(f"wrote {output} ({len(pics)} filters of {layer}, {kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]})")


@cli.command("maps")
@click.argument("image", type=click.Path())
@click.option("--layers", required=True, help="Comma-separated layers, e.g. block1_conv1,block2_conv1,block3_conv1.")
@click.option("--channels", type=click.IntRange(1), default=8, show_default=True, help="Strongest maps per layer.")
@click.option("--size", type=click.IntRange(16), default=224, show_default=True, help="Cap on the longer side fed to the net.")
@click.option("--cell", type=click.IntRange(16), default=128, show_default=True, help="Longer side of each cell.")
@output_option
@backbone_options
def maps_cmd(image, layers, channels, size, cell, output, model, width, weights, weights_dir):
    """PNG grid of feature maps: one row per layer, its strongest channels."""
    outputs.check_not_inputs([output], [image])
    picture = read_capped(image, size)
    names = [layer_alias(l.strip()) for l in layers.split(",") if l.strip()]
    if not names:
        raise UserError("--layers is empty")
    bb = load_backbone(model, layers=names, weights=weights, alpha=width, weights_dir=weights_dir)
    feats = bb(bb.preprocess(picture[None]))
    sheet = feature_map_sheet(picture, {n: feats[n] for n in names}, channels=channels, cell=cell)
    media.write_image(output, sheet)
    click.echo(f"wrote {output} ({len(names)} layers x {channels} maps)")


@cli.command("saliency")
@click.argument("image", type=click.Path())
@click.option("--class", "class_index", type=int, default=None,
              help="ImageNet class whose logit to explain (uses the classifier top; default: the top class).")
@click.option("--layer", default=None, help="Explain one channel of this layer instead of a class.")
@click.option("--channel", type=click.IntRange(0), default=0, show_default=True, help="The channel of --layer.")
@click.option("--method", type=click.Choice(["gradient", "guided"]), default="gradient", show_default=True,
              help="Vanilla gradients or guided backpropagation.")
@click.option("--size", type=click.IntRange(16), default=224, show_default=True, help="Cap on the image's longer side.")
@click.option("--gradient-image", "gradient_out", type=outputs.OutputFile(outputs.IMAGE, "gradient image"), default=None,
              help="Also write the signed gradient as an RGB picture.")
@output_option
@backbone_options
def saliency_cmd(image, class_index, layer, channel, method, size, gradient_out, output, model, width, weights,
                 weights_dir):
    """Heat map of d score / d pixel over IMAGE (a class logit, or one channel of a layer)."""
    outputs.check_not_inputs([output, gradient_out], [image])
    picture = read_capped(image, size)
    if layer is not None and class_index is not None:
        raise UserError("give --class or --layer/--channel, not both")
    if layer is not None:
        objective = ascent.channel_objective(layer_alias(layer), channel)
        bb = load_backbone(model, layers=objective.layers_needed, weights=weights, alpha=width, weights_dir=weights_dir)
        what = f"{layer}:{channel}"
    else:
        bb = load_backbone(model, layers=["predictions"], weights=weights, alpha=width, weights_dir=weights_dir,
                           include_top=True)
        if class_index is None:  # explain what the network sees
            top = int(bb.model.input_shape[1])
            probs = np.asarray(bb(bb.preprocess(media.resize(picture, (top, top))[None]))["predictions"])[0]
            class_index = int(np.argmax(probs))
        objective = ascent.class_objective(class_index)
        what = f"class {class_index}"
    grad = saliency_gradient(bb, objective, picture, method=method)
    media.write_image(output, saliency_overlay(picture, grad))
    if gradient_out:
        media.write_image(gradient_out, gradient_image(grad))
    click.echo(f"wrote {output} ({method} saliency of {what})")


@cli.command("maximize")
@click.option("--layer", required=True, help="Layer whose channel to maximise.")
@click.option("--channel", type=click.IntRange(0), required=True, help="Channel index.")
@click.option("--size", type=click.IntRange(32), default=224, show_default=True, help="Side of the square image.")
@click.option("--steps", type=click.IntRange(1), default=60, show_default=True, help="Steps per octave.")
@click.option("--step-size", type=float, default=0.03, show_default=True, help="In units of half the input range.")
@click.option("--octaves", type=click.IntRange(1), default=3, show_default=True)
@click.option("--octave-scale", type=float, default=1.4, show_default=True)
@click.option("--jitter", type=click.IntRange(0), default=8, show_default=True, help="Random roll, pixels.")
@click.option("--blur", type=float, default=0.5, show_default=True, help="Gaussian blur per step (regulariser).")
@click.option("--decay", type=float, default=0.0, show_default=True, help="L2 decay toward grey per step.")
@output_option
@seed_option
@backbone_options
def maximize_cmd(layer, channel, size, steps, step_size, octaves, octave_scale, jitter, blur, decay, output, seed,
                 model, width, weights, weights_dir):
    """Activation maximisation: an image that excites one channel, grown from grey noise by the
    same gradient-ascent engine (octaves, jitter) as DeepDream."""
    objective = ascent.channel_objective(layer_alias(layer), channel)
    bb = load_backbone(model, layers=objective.layers_needed, weights=weights, alpha=width, weights_dir=weights_dir)
    config = ascent.AscentConfig(steps=steps, step_size=step_size, octaves=octaves, octave_scale=octave_scale,
                                 tile=0, jitter=jitter, blur=blur, decay=decay, seed=seed)
    engine = ascent.Ascent(bb, objective, config)
    bar = keras.utils.Progbar(steps * len(ascent.octave_sizes((size, size), octaves, octave_scale)),
                              stateful_metrics=["activation"])
    image = engine.run(ascent.noise_image((size, size), seed=seed),
                       progress=lambda done, total, loss: bar.update(done, values=[("activation", loss)]))
    media.write_image(output, image)
    click.echo(f"wrote {output} (channel {channel} of {layer}, activation {engine.last_loss:.4g})")

