"""``offline gan``: DCGAN and VAE-GAN on Fashion-MNIST (``offline/gan.py``)."""

import shlex
import sys

import click

from offline.options import FloatRange

from offline.commands import outputs

from offline.commands.outputs import IMAGE, OutputFile, OutputFolder
from offline.errors import UserError
from offline.gan import KINDS, LOSSES, GANSettings

_G = GANSettings()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Generative adversarial networks on Fashion-MNIST.

    \b
    Examples:
      offline gan train --kind dcgan --out runs/dcgan
      offline gan train --kind vaegan --out runs/vaegan   # + reconstructions and latent arithmetic
      offline gan sample -n 64 -o grid.png                # from the shipped DCGAN
      offline gan sample --model runs/vaegan -n 16 -o vaegan.png
    """


@cli.command("train")
@click.option("--kind", type=click.Choice(KINDS), default=_G.kind, show_default=True)
@click.option("--latent", type=click.IntRange(1, 1024), default=_G.latent, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=_G.epochs, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=_G.batch, show_default=True)
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=_G.learning_rate,
              show_default=True, help="The generator's learning rate.")
@click.option("--beta-1", type=FloatRange(0, 1, max_open=True), default=_G.beta_1, show_default=True)
@click.option("--beta-2", type=FloatRange(0, 1, max_open=True), default=_G.beta_2, show_default=True)
@click.option("--d-ratio", type=FloatRange(0, min_open=True), default=_G.d_ratio, show_default=True,
              help="The discriminator's learning rate as a multiple of --lr (two time-scale update rule).")
@click.option("--filters", type=click.IntRange(1, 1024), default=_G.filters, show_default=True,
              help="Channels of the networks' first layer (the next layer has twice as many).")
@click.option("--loss", type=click.Choice(LOSSES), default=_G.loss, show_default=True)
@click.option("--spectral/--no-spectral", default=_G.spectral, show_default=True,
              help="Spectral normalisation of the discriminator.")
@click.option("--ema", type=FloatRange(0, 1, max_open=True), default=_G.ema, show_default=True,
              help="Momentum of the generator's weight average that draws the samples (0: the raw weights).")
@click.option("--feature-weight", type=FloatRange(0), default=_G.feature_weight, show_default=True,
              help="VAE-GAN: weight of the reconstruction loss on the discriminator's features.")
@click.option("--kl-weight", type=FloatRange(0), default=_G.kl_weight, show_default=True,
              help="VAE-GAN: weight of the KL term.")
@click.option("--minutes", type=FloatRange(0, min_open=True), default=None,
              help="Time budget: stop at the last epoch that ends within it.")
@click.option("--out", type=OutputFolder(), default=_G.out, show_default=True,
              help="Folder for weights, manifest, samples.png/.gif, interpolation.png; --resume continues it.")
@click.option("--data-dir", type=click.Path(), default=None, help="Fashion-MNIST IDX files [Debian's, else download].")
@click.option("--seed", type=int, default=_G.seed, show_default=True)
@outputs.resume_options
def train_cmd(resume, force, **options):
    """Train a GAN; after an interruption --resume continues it."""
    outputs.training_folder(options["out"], options, resume, force)
    from offline.gan import train

    command = "offline " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    m = train(GANSettings(**options), command=command, log=click.echo)
    f = m["final"]
    click.echo(f"{m['kind']}: D loss {f.get('d_loss', 0):.3f}, G loss {f.get('g_loss', 0):.3f} "
               f"in {m['train_seconds_this_invocation']:.0f} s -> {options['out']}")


@cli.command("sample")
@click.option("--model", default="dcgan", show_default=True,
              help="A folder from 'gan train' or 'vae train', or a shipped one: dcgan, vaegan, vae.")
@click.option("-n", "count", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--cols", type=click.IntRange(1, 256), default=None, help="Grid width [square-ish].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scale", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Enlarge the picture (nearest neighbour: the pixels stay pixels).")
@click.option("-o", "--output", type=OutputFile(IMAGE, "grid"), required=True)
def sample_cmd(model, count, cols, seed, scale, output):
    """Draw N samples from a generator into one grid picture."""
    from pathlib import Path

    import cv2

    from offline import media
    from offline.gan import resolve, sample

    folder = resolve(model)  # before loading anything: a wrong name is one line
    if Path(output).resolve().parent == folder.resolve() and Path(output).name.endswith(".h5"):
        raise UserError("the output would replace the model's weights")
    grid = sample(folder, count, seed, cols)
    if scale > 1:
        grid = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    media.write_image(output, grid)
    click.echo(f"{count} samples from {folder} -> {output}")
