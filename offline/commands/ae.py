"""``offline ae``: the course's autoencoders on Fashion-MNIST (``offline/ae.py``)."""

import shlex
import sys

from pathlib import Path

import click

from offline.options import FloatRange

from offline.commands import outputs

from offline.ae import KINDS, AESettings

_A = AESettings()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Autoencoders on Fashion-MNIST: dense, convolutional, denoising.

    \b
    Examples:
      offline ae train --kind dense
      offline ae train --kind denoising --mask 0.5   # then compare the two linear probes
    """


@cli.command("train")
@click.option("--kind", type=click.Choice(KINDS), default=_A.kind, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=_A.epochs, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=_A.batch, show_default=True)
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=_A.learning_rate,
              show_default=True)
@click.option("--mask", type=FloatRange(0, 1, max_open=True), default=_A.mask, show_default=True,
              help="Denoising: share of input pixels set to 0.")
@click.option("--probe-epochs", type=click.IntRange(1), default=_A.probe_epochs, show_default=True,
              help="Epochs of the linear probe on the frozen codes.")
@click.option("--out", type=click.Path(file_okay=False), default=_A.out, show_default=True,
              help="Parent folder: OUT/KIND gets weights, manifest and pictures; --resume continues it.")
@click.option("--data-dir", type=click.Path(), default=None, help="Fashion-MNIST IDX files [Debian's, else download].")
@click.option("--seed", type=int, default=_A.seed, show_default=True)
@outputs.resume_options
def train_cmd(resume, force, **options):
    """Train one autoencoder, then a linear probe on its codes."""
    outputs.training_folder(str(Path(options["out"]) / options["kind"]), options, resume, force)
    from offline.ae import train

    command = "offline " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    m = train(AESettings(**options), command=command, log=click.echo)
    click.echo(f"{m['architecture']}: test MSE {m['test_mse']:.4f}, linear probe on the {m['code_size']}-number codes "
               f"{m['linear_probe_test_accuracy']:.4f}, {m['train_seconds_this_invocation']:.0f} s -> "
               f"{options['out']}/{m['architecture']}")
