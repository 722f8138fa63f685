"""``offline vae``: a variational autoencoder on Fashion-MNIST and its latent manifold (``offline/vae.py``)."""

import shlex
import sys

import click

from offline.options import FloatRange

from offline.commands import outputs

from offline.errors import UserError
from offline.vae import VAESettings

_V = VAESettings()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Variational autoencoder on Fashion-MNIST.

    \b
    Examples:
      offline vae train                              # 2-D latent: the manifold as a picture and a GIF
      offline vae train --latent 16 --out runs/vae16 # sharper reconstructions
    """


@cli.command("train")
@click.option("--latent", type=click.IntRange(1, 512), default=_V.latent, show_default=True,
              help="Latent dimensions (2: the manifold is one picture).")
@click.option("--epochs", type=click.IntRange(1), default=_V.epochs, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=_V.batch, show_default=True)
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=_V.learning_rate,
              show_default=True)
@click.option("--kl-weight", type=FloatRange(0), default=_V.kl_weight, show_default=True,
              help="Weight of the KL term (1: the VAE; more: a smoother, blurrier space, beta-VAE).")
@click.option("--out", type=click.Path(), default=_V.out, show_default=True,
              help="Folder for weights, manifest, manifold.png/.gif, interpolation.png; --resume continues it.")
@click.option("--data-dir", type=click.Path(), default=None, help="Fashion-MNIST IDX files [Debian's, else download].")
@click.option("--seed", type=int, default=_V.seed, show_default=True)
@outputs.resume_options
def train_cmd(resume, force, **options):
    """Train the VAE; after an interruption --resume continues it."""
    outputs.training_folder(options["out"], options, resume, force)
    from pathlib import Path

    from offline.vae import train

    out = Path(options["out"])
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file")
    command = "offline " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    manifest = train(VAESettings(**options), command=command, log=click.echo)
    t = manifest["test"]
    click.echo(f"test loss {t['loss']:.1f} (reconstruction {t['reconstruction']:.1f} + KL {t['kl']:.2f}) "
               f"in {manifest['train_seconds_this_invocation']:.0f} s -> {out}")
