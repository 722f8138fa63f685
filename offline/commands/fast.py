"""``offline fast``: train the fast arbitrary-style model (offline/fast.py, offline/fast_train.py).

Stylizing, sheets and presets with a fast model go through ``offline adain stylize|sheet|presets
--model DIR``, which load whichever kind of model the folder's manifest names.
"""

from pathlib import Path

import click

from offline.options import FloatRange

from offline.commands import outputs
from offline.errors import UserError


def _defaults():
    from offline.fast_train import FastTrainSettings  # the one source of the defaults

    return FastTrainSettings()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """The fast arbitrary-style model for live video on CPUs.

    \b
    Examples:
      offline fast train --content photos/ --style paintings/ --out runs/fast/model
      offline fast train --content photos/ --style paintings/ --out runs/fast/model --resume
      offline adain stylize photo.jpg --model trained/fast --style la_muse -o styled.png
    """


_d = _defaults()


@cli.command("train")
@click.option("--content", multiple=True, required=True, type=click.Path(),
              help="A folder of photos or one photo (repeatable).")
@click.option("--style", multiple=True, required=True, type=click.Path(),
              help="A folder of paintings or one painting (repeatable).")
@click.option("--steps", type=click.IntRange(1), default=_d.steps, show_default=True, help="Total optimizer steps.")
@click.option("--batch", type=click.IntRange(1), default=_d.batch, show_default=True, help="Content crops per step.")
@click.option("--size", type=click.IntRange(64), default=_d.size, show_default=True, help="Crop size.")
@click.option("--style-weight", type=FloatRange(0), default=_d.style_weight, show_default=True)
@click.option("--scale-weight", type=FloatRange(0), default=_d.scale_weight, show_default=True,
              help="Weight of the style terms on 2x and 4x downscaled images (large strokes).")
@click.option("--temporal-weight", type=FloatRange(0), default=_d.temporal_weight, show_default=True,
              help="Weight of the moved-frame consistency term (flicker).")
@click.option("--lattice-weight", type=FloatRange(0), default=_d.lattice_weight, show_default=True)
@click.option("--teacher", type=click.Path(file_okay=False), default=_d.teacher or None,
              help="An AdaIN relu3_1 model folder (e.g. trained/adain-relu3_1) whose pictures are targets too.")
@click.option("--distill-weight", type=FloatRange(0), default=_d.distill_weight, show_default=True,
              help="Weight of the teacher's picture (mean squared grey levels).")
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=_d.learning_rate,
              show_default=True)
@click.option("--decay", type=FloatRange(0), default=_d.decay, show_default=True, help="lr / (1 + decay * step).")
@click.option("--photo-styles", type=FloatRange(0, 1), default=_d.photo_styles, show_default=True,
              help="Share of style crops taken from the photos.")
@click.option("--output", type=click.Choice(["resize", "shuffle"]), default=_d.output, show_default=True,
              help="Output stage: 'resize' (no pixel grid) or 'shuffle' (the first shipped model's).")
@click.option("--up", type=click.Choice(["resize", "shuffle"]), default=_d.up, show_default=True,
              help="The body's 1/8 -> 1/4 step: 'resize' (no 8-px grid) or 'shuffle' (models to step 12,000).")
@click.option("--padding", type=click.Choice(["reflect", "zeros"]), default=_d.padding, show_default=True,
              help="Convolution borders: 'reflect' (no edge band) or 'zeros' (models to step 12,000).")
@click.option("--init", type=click.Path(file_okay=False), default=None,
              help="A fast model folder (e.g. trained/fast) whose weights start every layer that matches.")
@outputs.training_run_options(_d)
def train_cmd(content, style, **options):
    """Train the fast model against VGG19 features (Keras fit; resumable)."""
    from offline.fast_train import FastTrainSettings, train

    for p in content + style:
        if not Path(p).exists():
            raise UserError(f"not found: {p}")
    options.update(content=tuple(content), style=tuple(style), teacher=options["teacher"] or "",
                   init=options["init"] or "")
    if options["init"] and not Path(options["init"]).is_dir():
        raise UserError(f"--init {options['init']}: not a folder")
    settings, command = outputs.training_run(FastTrainSettings, "fast", options)
    out = Path(settings.out)
    manifest = train(settings, command=command, log=click.echo)
    click.echo(f"wrote {out}/network.weights.h5 and manifest.json ({manifest['steps']} steps, "
               f"final {manifest['final_losses']})")


@cli.command("refine-photos")
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.argument("photos", nargs=-1, required=True, type=click.Path())
@click.option("--size", type=click.IntRange(8, 1024), default=192, show_default=True,
              help="Side of each photo's centre square (a multiple of 8).")
@click.option("--steps", type=click.IntRange(0), default=None,
              help="Refinement steps per style (0: the head's code as it is) [default: 40].")
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=None,
              help="Adam's learning rate on the code [default: 0.1].")
@click.option("--force", is_flag=True, help="Replace the model's refine photos and settings.")
def refine_photos_cmd(model_dir, photos, size, steps, learning_rate, force):
    """Give a fast model the photos its style side refines each painting's code on.

    \b
    Each style image's code (the head's one-pass guess) is refined by a few Adam steps on the
    training loss of these photos; presets made afterwards store the refined code:
      offline fast refine-photos trained/fast a.jpg b.jpg c.jpg d.jpg --force
      offline adain presets --model trained/fast paintings/*.jpg --force
    """
    from offline.fast import RefineSettings, set_refine_photos
    from offline.media import read_image

    for p in photos:
        if not Path(p).is_file():
            raise UserError(f"not found: {p}")
    defaults = RefineSettings()
    settings = RefineSettings(steps=defaults.steps if steps is None else steps,
                              learning_rate=learning_rate or defaults.learning_rate)
    images = [read_image(p) for p in photos]
    set_refine_photos(model_dir, images, settings, size=size, sources=[Path(p).name for p in photos], force=force)
    click.echo(f"wrote {Path(model_dir) / settings.photos} ({len(images)} photos, {size} px) and the manifest's "
               f"refine block ({settings.steps} steps)")
