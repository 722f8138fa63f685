"""``offline fast``: train the fast arbitrary-style model (offline/fast.py, offline/fast_train.py).

Stylizing, sheets and presets with a fast model go through ``offline adain stylize|sheet|presets
--model DIR``, which load whichever kind of model the folder's manifest names.
"""

import shlex
import sys
from pathlib import Path

import click

from offline.commands import outputs
from offline.errors import UserError
from offline.options import weights_options


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
@click.option("--style-weight", type=click.FloatRange(0), default=_d.style_weight, show_default=True)
@click.option("--scale-weight", type=click.FloatRange(0), default=_d.scale_weight, show_default=True,
              help="Weight of the style terms on 2x and 4x downscaled images (large strokes).")
@click.option("--temporal-weight", type=click.FloatRange(0), default=_d.temporal_weight, show_default=True,
              help="Weight of the moved-frame consistency term (flicker).")
@click.option("--lattice-weight", type=click.FloatRange(0), default=_d.lattice_weight, show_default=True)
@click.option("--teacher", type=click.Path(file_okay=False), default=_d.teacher or None,
              help="An AdaIN relu3_1 model folder (e.g. trained/adain-relu3_1) whose pictures are targets too.")
@click.option("--distill-weight", type=click.FloatRange(0), default=_d.distill_weight, show_default=True,
              help="Weight of the teacher's picture (mean squared grey levels).")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=_d.learning_rate,
              show_default=True)
@click.option("--decay", type=click.FloatRange(0), default=_d.decay, show_default=True, help="lr / (1 + decay * step).")
@click.option("--photo-styles", type=click.FloatRange(0, 1), default=_d.photo_styles, show_default=True,
              help="Share of style crops taken from the photos.")
@click.option("--exclude", multiple=True, help="Hold out images whose name matches (glob; repeatable).")
@weights_options
@click.option("--out", type=outputs.OutputFolder(), default=_d.out, show_default=True,
              help="Where network.weights.h5 and manifest.json go.")
@click.option("--checkpoint-dir", type=outputs.OutputFolder(), default=None,
              help="Checkpoints and TensorBoard logs [default: <out>/../checkpoint].")
@click.option("--checkpoint-every", type=click.IntRange(1), default=_d.checkpoint_every, show_default=True)
@click.option("--log-every", type=click.IntRange(1), default=_d.log_every, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint (weights + optimizer state).")
@click.option("--force", is_flag=True, help="Start over although a checkpoint or a model exists.")
@click.option("--workers", type=click.IntRange(1), default=_d.workers, show_default=True)
@click.option("--seed", type=int, default=_d.seed, show_default=True)
def train_cmd(content, style, weights, weights_dir, force, **options):
    """Train the fast model against VGG19 features (Keras fit; resumable)."""
    from offline.fast_train import FastTrainSettings, train

    for p in content + style:
        if not Path(p).exists():
            raise UserError(f"not found: {p}")
    options["teacher"] = options["teacher"] or ""
    settings = FastTrainSettings(content=tuple(content), style=tuple(style), weights=weights,
                                 weights_dir=weights_dir or "", exclude=tuple(options.pop("exclude")),
                                 checkpoint_dir=options.pop("checkpoint_dir") or "", **options)
    ckpt, out = settings.checkpoint_path, Path(settings.out)
    if not settings.resume:
        outputs.check_replaceable(ckpt, force, "checkpoint", marker="state.json", resumable=True)
        outputs.check_replaceable(out, force, "model", resumable=True)
    command = "offline fast " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("train"):]) \
        if "train" in sys.argv else None
    manifest = train(settings, command=command, log=click.echo)
    click.echo(f"wrote {out}/network.weights.h5 and manifest.json ({manifest['steps']} steps, "
               f"final {manifest['final_losses']})")
