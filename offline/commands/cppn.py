"""``offline cppn``: a network paints an image from (row, col) positions (``offline/cppn.py``)."""

import dataclasses
from pathlib import Path

import click

from offline.commands import outputs
from offline.cppn import PainterSettings
from offline.errors import UserError
from offline.options import FloatRange, renamed, with_default

_P = PainterSettings()


@click.command("cppn")
@click.argument("image", required=False, type=click.Path())
@click.option("--images", "folder", type=click.Path(file_okay=False), default=None,
              help="Train one network on every image of this folder (an image code per image).")
@click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE),
              help="The final painting (.png/.jpg), at --scale times the training size.")
@click.option("--gif", type=outputs.OutputFile((".gif",), "animation"), default=None,
              help="The painting taking shape over training (a frame every --every epochs).")
@click.option("--morph", type=outputs.OutputFile((".gif",), "animation"), default=None,
              help="With --images: a GIF morphing from each image to the next.")
@click.option("--scale", type=FloatRange(0.1, 16), default=1.0, show_default=True,
              help="Render the final painting at this many times the training size (it is resolution-free).")
@click.option("--size", type=click.IntRange(8, 512), default=_P.size, show_default=True,
              help="Longer side the images are learned at.")
@click.option("--hidden", type=click.IntRange(1, 32), default=_P.hidden, show_default=True)
@click.option("--units", "width", type=click.IntRange(1, 1024), default=None, help=f"Units per layer.  [default: {_P.width}]")
@renamed("--width", "--units", "width", "--backbone-width is MobileNet's width elsewhere", click.IntRange(1, 1024))
@with_default("width", _P.width)
@click.option("--epochs", type=click.IntRange(1), default=_P.epochs, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=_P.batch, show_default=True)
@click.option("--lr", "learning_rate", type=FloatRange(0, min_open=True), default=_P.learning_rate,
              show_default=True)
@click.option("--every", type=click.IntRange(1), default=_P.every, show_default=True, help="Epochs per GIF frame.")
@click.option("--seed", type=int, default=_P.seed, show_default=True)
def cppn_cmd(image, folder, output, gif, morph, scale, **options):
    """Teach a network to paint IMAGE from pixel positions, (row, col) -> (r, g, b).

    The course's regression: 6 hidden layers of 20 ReLU units, every pixel in random order,
    Adam. The network is a function of position, so the painting renders at any size.

    \b
    Examples:
      offline cppn photo.jpg -o painted.png --gif learning.gif
      offline cppn photo.jpg -o big.png --scale 4
      offline cppn --images faces/ -o first.png --morph morph.gif
    """
    from offline import media
    from offline.cppn import morph as morph_frames
    from offline.cppn import render, train_painter

    if bool(image) == bool(folder):
        raise UserError("give an IMAGE or --images FOLDER (one of them)")
    if morph and not folder:
        raise UserError("--morph needs --images FOLDER (several images to morph between)")
    settings = PainterSettings(**options).check()
    paths = [Path(image)] if image else media.list_images(folder)
    if folder and len(paths) < 2:
        raise UserError(f"--images {folder}: {len(paths)} image(s); a morph needs at least 2")
    outputs.check_not_inputs([output, gif, morph], [str(p) for p in paths])
    images = [media.read_image(p, max_side=settings.size) for p in paths]
    h, w = images[0].shape[:2]
    images = [media.resize(im, (w, h)) for im in images]  # one grid for every image
    model, losses, frames = train_painter(images, settings)
    code = None if len(images) == 1 else [1.0] + [0.0] * (len(images) - 1)
    big = (max(1, round(w * scale)), max(1, round(h * scale)))
    media.write_image(output, render(model, big, code))
    click.echo(f"wrote {output} ({big[0]}x{big[1]}; learned at {w}x{h}, loss {losses[0]:.4f} -> {losses[-1]:.4f})")
    if gif:
        media.write_gif(gif, frames, fps=12)
        click.echo(f"wrote {gif} ({len(frames)} frames)")
    if morph:
        frames = morph_frames(model, len(images), (w, h))
        media.write_gif(morph, frames, fps=12)
        click.echo(f"wrote {morph} ({len(frames)} frames)")
    return dataclasses.asdict(settings)
