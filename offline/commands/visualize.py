"""``offline viz``: look inside a CNN: filters, feature maps, saliency, activation maximisation
(the library is ``offline/visualize.py``)."""

import click
import numpy as np

from offline import ascent, media
from offline.commands import outputs
from offline.backbone import layer_alias, load_backbone
from offline.errors import UserError
from offline.gatys import read_capped
from offline import options
from offline.options import FLOAT, seed_option, weights_options
from offline.progress import Progress
from offline.visualize import (feature_map_sheet, filter_images, gradient_image, layer_kernel, saliency_gradient,
                               saliency_overlay)


def backbone_options(f):
    return options.backbone_options()(weights_options(f))


def output_option(f):
    return click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Output image (.png).")(f)


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
@click.option("--step-size", type=FLOAT, default=0.03, show_default=True, help="In units of half the input range.")
@click.option("--octaves", type=click.IntRange(1), default=3, show_default=True)
@click.option("--octave-scale", type=FLOAT, default=1.4, show_default=True)
@click.option("--jitter", type=click.IntRange(0), default=8, show_default=True, help="Random roll, pixels.")
@click.option("--blur", type=FLOAT, default=0.5, show_default=True, help="Gaussian blur per step (regulariser).")
@click.option("--decay", type=FLOAT, default=0.0, show_default=True, help="L2 decay toward grey per step.")
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
    bar = Progress(steps * len(ascent.octave_sizes((size, size), octaves, octave_scale)), loss_name="activation")
    image = engine.run(ascent.noise_image((size, size), seed=seed), progress=bar)
    media.write_image(output, image)
    click.echo(f"wrote {output} (channel {channel} of {layer}, activation {engine.last_loss:.4g})")
