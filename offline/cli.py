"""``offline``: train models and render stills and videos. Argument parsing and wiring only.

Subcommands are imported lazily so that ``offline --help`` answers at once (TensorFlow takes
seconds to import).
"""

import importlib

import click

# command name -> "module:attribute" of a click command or group
COMMANDS = {
    "fashion": ("offline.commands.fashion:cli", "Fashion-MNIST classifier: train, eval, predict."),
    "gatys": ("offline.commands.gatys:gatys_cmd", "Gatys neural style transfer (optimisation)."),
    "texture": ("offline.commands.gatys:texture_cmd", "Texture synthesis from a style image."),
    "invert": ("offline.commands.gatys:invert_cmd", "Reconstruct an image from one layer's features."),
    "viz": ("offline.commands.visualize:cli", "CNN visualisation: filters, feature maps, saliency, maximisation."),
    "dream": ("offline.commands.dream:dream_cmd", "DeepDream a still image."),
    "zoom": ("offline.commands.dream:zoom_cmd", "Render an infinite-zoom DeepDream video."),
    "dream-video": ("offline.commands.dream:dream_video_cmd", "DeepDream every frame of a video (= render --effect dream)."),
    "cppn": ("offline.commands.cppn:cppn_cmd", "A network paints an image from pixel positions (any resolution)."),
    "ae": ("offline.commands.ae:cli", "Autoencoders on Fashion-MNIST (dense, conv, denoising) and a linear probe."),
    "vae": ("offline.commands.vae:cli", "Variational autoencoder on Fashion-MNIST and its latent manifold."),
    "gan": ("offline.commands.gan:cli", "DCGAN and VAE-GAN on Fashion-MNIST: train, sample."),
    "render": ("offline.commands.render:render_cmd",
               "Every frame of a video file through an effect, with its sound, into an H.264 MP4."),
    "stylize": ("offline.commands.adain:stylize_cmd",
                "Stylize photos with a trained style model: the fast one, AdaIN or a folder (--model)."),
    "adain": ("offline.commands.adain:cli", "AdaIN arbitrary style transfer: train, stylize, sheet, presets, export."),
    "fast": ("offline.commands.fast:cli", "The fast arbitrary-style model for live video on CPUs: train."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when they are run or asked for help."""

    def __init__(self, *args, lazy_commands=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, name):
        if name in self.lazy_commands:
            target = self.lazy_commands[name][0]
            module, attr = target.split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as e:
                if e.name != module:  # a real missing dependency: let it surface
                    raise
                return _not_yet(name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in sorted(self.lazy_commands.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _not_yet(name):
    @click.command(name=name)
    def cmd():
        raise click.ClickException(f"'{name}' is not available in this build")

    return cmd


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neural-studio")
def main():
    """Train models and render neural art offline.

    \b
    Examples:
      offline fashion train --model cnn --out trained/fashion_mnist
      offline gatys photo.jpg painting.jpg -o styled.png
      offline dream photo.jpg -o dream.png --backbone mobilenet --backbone-width 0.75
      offline adain stylize photo.jpg --style la_muse -o styled.png

    Pretrained weights: --weights imagenet (Keras download), a .h5 file, or a folder of weight
    files; set STUDIO_WEIGHTS_DIR to such a folder to work offline.
    """


def run():
    """The ``offline`` console script (``offline.commands.entry``: chatter filtered, exit codes)."""
    from offline.commands.entry import console

    console(main)

