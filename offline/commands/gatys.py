"""``offline gatys|texture|invert``: optimisation-based renders through a frozen CNN (the library is
``offline/gatys.py``)."""

import click
import keras

from offline import media, video
from offline.backbone import load_backbone
from offline.commands import outputs
from offline.errors import UserError
from offline.options import FLOAT, SIZE, backbone_options, renamed, seed_option, weights_options, with_default
from offline.gatys import (ADAM_LR, CONTENT_WEIGHT, DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, INVERT_SHEET_LAYERS,
                           STYLE_WEIGHT, Objective, invert_features, normalised, read_capped,
                           layer_weights, style_transfer, synthesize_texture)


def parse_scales(text, size):
    if not text:
        return [size]
    try:
        scales = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise UserError(f"bad --scales {text!r}: expected sides such as 128,256,384") from None
    if not scales or min(scales) < 16 or scales != sorted(scales):
        raise UserError(f"bad --scales {text!r}: expected increasing sides >= 16, e.g. 128,256,384")
    return scales


def load_features(model, layers, weights, weights_dir, pool="max", alpha=1.0):
    """load_backbone, with a hint when the weights file stops before the layers asked for."""
    try:
        return load_backbone(model, layers=list(dict.fromkeys(layers)), weights=weights, pool=pool, alpha=alpha,
                             weights_dir=weights_dir)
    except UserError as e:
        if "lacks layer" in e.message:
            raise UserError(f"{e.message}. Choose layers that the weights hold, e.g. --content-layers block3_conv2 "
                            f"--style-layers block1_conv1,block2_conv1,block3_conv1") from None
        raise


def render_options(default_steps):
    """Options every optimisation command shares: backbone, optimiser, progress, animation."""
    def decorate(f):
        for option in reversed([
            click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Output image (.png/.jpg)."),
            click.option("--pool", type=click.Choice(["max", "avg"]), default="max", show_default=True,
                         help="Pooling in the backbone (Gatys et al. prefer avg)."),
            click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True),
            click.option("--steps", type=click.IntRange(1), default=default_steps, show_default=True,
                         help="Iterations (per scale)."),
            click.option("--lr", type=FLOAT, default=ADAM_LR, show_default=True, help="Adam step in 0..255 pixel units."),
            click.option("--tv-weight", type=FLOAT, default=None, help="Total-variation weight (smoothness)."),
            click.option("--save-every", type=click.IntRange(0), default=0, help="Keep a frame every K iterations."),
            click.option("--animation", type=outputs.OutputFile(outputs.ANIMATION, "animation"), default=None,
                         help="Write the kept frames as .gif or .mp4 (implies --save-every steps/20)."),
            click.option("--fps", type=FLOAT, default=10.0, show_default=True, help="Animation frame rate."),
            click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
        ]):
            f = option(f)
        return backbone_options()(seed_option(weights_options(f)))
    return decorate


def _save(output, result, animation=None, fps=10.0):
    media.write_image(output, result.image)
    if animation:
        frames = result.frames + [media.to_uint8(result.image)]
        video.write_animation(animation, frames, fps=fps)
    click.echo(f"wrote {output}" + (f" and {animation} ({len(result.frames) + 1} frames)" if animation else ""))
    if result.stopped == "interrupted":  # Ctrl-C or SIGTERM: the render so far is saved, the exit says so
        click.echo("interrupted: the render so far is saved", err=True)
        raise SystemExit(130)


def _report(result, term):
    if not result.history:
        return
    start, end = result.initial.get(term), result.history[-1].get(term)
    if start:
        click.echo(f"{term} loss {start:.4g} -> {end:.4g} ({100 * (end - start) / start:+.1f}%), "
                   f"{len(result.history)} iterations, {result.evaluations} evaluations, "
                   f"{result.history[-1]['time']:.1f}s" + (f" [{result.stopped}]" if result.stopped else ""))


def _save_every(save_every, animation, steps):
    return save_every or (max(1, steps // 20) if animation else 0)


@click.command("gatys")
@click.argument("content", type=click.Path())
@click.argument("styles", nargs=-1, required=True, type=click.Path())
@click.option("--content-layers", default=DEFAULT_CONTENT_LAYERS, show_default=True,
              help="Layers (NAME or NAME:WEIGHT, comma-separated) for the content loss.")
@click.option("--style-layers", default=DEFAULT_STYLE_LAYERS, show_default=True,
              help="Layers (NAME or NAME:WEIGHT) for the style loss.")
@click.option("--content-weight", type=FLOAT, default=CONTENT_WEIGHT, show_default=True)
@click.option("--style-weight", type=FLOAT, default=STYLE_WEIGHT, show_default=True)
@click.option("--style-mix", default=None, help="Blend weights of several styles, e.g. 0.7,0.3 (default equal).")
@click.option("--max-side", "size", type=click.IntRange(16), default=None, help="Longer side of the output.  [default: 384]")
@renamed("--size", "--max-side", "size", "--size is WxH elsewhere", click.IntRange(16))
@with_default("size", 384)
@click.option("--scales", default=None, help="Coarse-to-fine longer sides, e.g. 128,256,384 (overrides --size).")
@click.option("--style-scale", type=FLOAT, default=1.0, show_default=True,
              help="Style image side relative to the render's (bigger -> larger strokes).")
@click.option("--init", "init", type=click.Choice(["content", "noise", "style"]), default="content", show_default=True)
@click.option("--preserve-color", is_flag=True, help="Transfer on luminance only; keep the content's colours.")
@render_options(default_steps=200)
def gatys_cmd(content, styles, output, content_layers, style_layers, content_weight, style_weight, style_mix,
              size, scales, style_scale, init, preserve_color, model, width, pool, optimizer, steps, lr, tv_weight,
              save_every, animation, fps, quiet, seed, weights, weights_dir):
    """Gatys neural style transfer: CONTENT painted in the style of STYLE (several are blended).

    \b
    Example (genuine VGG19 blocks 1-3 only, as on machines without a full download):
      offline gatys photo.jpg painting.jpg -o out.png --scales 192,384 \\
        --content-layers block3_conv2 --style-layers block1_conv1,block2_conv1,block3_conv1
    """
    outputs.check_not_inputs([output, animation], [content, *styles])
    keras.utils.set_random_seed(seed)
    content_image = read_capped(content, 1 << 30)
    style_images = [read_capped(s, 1 << 30) for s in styles]
    mix = None
    if style_mix:
        try:
            mix = [float(v) for v in style_mix.split(",")]
        except ValueError:
            raise UserError(f"bad --style-mix {style_mix!r}: expected numbers such as 0.7,0.3") from None
        if len(mix) != len(style_images):
            raise UserError(f"--style-mix has {len(mix)} weights for {len(style_images)} style images")
        normalised(mix)
    sides = parse_scales(scales, size)
    content_w, style_w = layer_weights(content_layers), layer_weights(style_layers)
    bb = load_features(model, list(content_w) + list(style_w), weights, weights_dir, pool=pool, alpha=width)
    objective = Objective(bb, content=content_w, style=style_w, content_weight=content_weight,
                          style_weight=style_weight, tv_weight=0.0 if tv_weight is None else tv_weight)
    result = style_transfer(objective, content_image, style_images, style_mix=mix,
                            scales=sides, steps=steps, optimizer=optimizer, init=init,
                            preserve_color=preserve_color, seed=seed,
                            save_every=_save_every(save_every, animation, steps), style_scale=style_scale,
                            progress=not quiet, lr=lr)
    _save(output, result, animation, fps)
    _report(result, "style")


@click.command("texture")
@click.argument("style", type=click.Path())
@click.option("--size", type=SIZE, default=None, help="Output WIDTHxHEIGHT (default: the style image's size).")
@click.option("--max-side", type=click.IntRange(16), default=384, show_default=True,
              help="Cap the style image's longer side (features are measured at this scale).")
@click.option("--style-layers", default=DEFAULT_STYLE_LAYERS, show_default=True, help="Layers (NAME or NAME:WEIGHT).")
@click.option("--tileable", is_flag=True, help="Opposite edges wrap around (the texture tiles seamlessly).")
@render_options(default_steps=200)
def texture_cmd(style, size, max_side, style_layers, tileable, output, model, width, pool, optimizer, steps, lr,
                tv_weight, save_every, animation, fps, quiet, seed, weights, weights_dir):
    """Texture synthesis (Gatys et al. 2015): a new image with the Gram statistics of STYLE."""
    outputs.check_not_inputs([output, animation], [style])
    keras.utils.set_random_seed(seed)
    style_image = read_capped(style, max_side)
    size = size or (style_image.shape[1], style_image.shape[0])
    style_w = layer_weights(style_layers)
    bb = load_features(model, list(style_w), weights, weights_dir, pool=pool, alpha=width)
    # about block3's receptive field, a multiple of its stride (4) so the crop lands on whole features
    wrap = max(4, min(32, min(size) // 4) // 4 * 4) if tileable else 0
    objective = Objective(bb, style=style_w, style_weight=1.0, tv_weight=tv_weight or 0.0, wrap=wrap)
    result = synthesize_texture(objective, style_image, size, steps=steps, optimizer=optimizer, seed=seed,
                                save_every=_save_every(save_every, animation, steps), progress=not quiet, lr=lr)
    _save(output, result, animation, fps)
    _report(result, "style")


@click.command("invert")
@click.argument("image", type=click.Path())
@click.option("--layer", "layer", default=None,
              help=f"Layer to invert; with --sheet a comma list [default with --sheet: {INVERT_SHEET_LAYERS}].")
@click.option("--sheet", is_flag=True, help="One reconstruction per layer, side by side with the original.")
@click.option("--max-side", "size", type=click.IntRange(16), default=None, help="Cap on the image's longer side.  [default: 224]")
@renamed("--size", "--max-side", "size", "--size is WxH elsewhere", click.IntRange(16))
@with_default("size", 224)
@click.option("--alpha-norm", "alpha_norm", type=FLOAT, default=1e-4, show_default=True,
              help="Weight of the alpha-norm prior (keeps pixels in range).")
@click.option("--alpha-norm-power", type=FLOAT, default=6.0, show_default=True, help="The alpha of the alpha-norm.")
@render_options(default_steps=200)
def invert_cmd(image, layer, sheet, size, alpha_norm, alpha_norm_power, output, model, width, pool, optimizer, steps,
               lr, tv_weight, save_every, animation, fps, quiet, seed, weights, weights_dir):
    """Reconstruct IMAGE from one layer's features (Mahendran & Vedaldi 2015), starting from noise."""
    outputs.check_not_inputs([output, animation], [image])
    keras.utils.set_random_seed(seed)
    picture = read_capped(image, size)
    if layer is None and not sheet:
        raise UserError("give --layer LAYER (or --sheet for one reconstruction per layer)")
    layers = list(layer_weights(layer or INVERT_SHEET_LAYERS))
    if len(layers) > 1 and not sheet:
        raise UserError(f"--layer takes one layer without --sheet, got {len(layers)}")
    tv = 1e-3 if tv_weight is None else tv_weight
    results = []
    for name in layers:
        bb = load_features(model, [name], weights, weights_dir, pool=pool, alpha=width)
        objective = Objective(bb, invert={name: 1.0}, tv_weight=tv, alpha_norm_weight=alpha_norm,
                              alpha_norm_power=alpha_norm_power)
        result = invert_features(objective, picture, steps=steps, optimizer=optimizer, seed=seed,
                                 save_every=_save_every(save_every, animation, steps), progress=not quiet, lr=lr)
        _report(result, "features")
        results.append(result)
    if sheet:
        cells = [picture] + [media.to_uint8(r.image) for r in results]
        media.write_image(output, media.labelled_sheet([cells], col_labels=["original"] + layers))
        click.echo(f"wrote {output}")
        if animation:
            video.write_animation(animation, results[-1].frames + [media.to_uint8(results[-1].image)], fps=fps)
    else:
        _save(output, results[0], animation, fps)
