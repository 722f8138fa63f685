"""The per-frame effects' options, shared by ``realtime run``, ``realtime bench`` and
``offline render`` (one definition of each option and its default)."""

import dataclasses

import click

from offline.effects import EffectSettings
from offline.options import FLOAT, FloatRange, PRECISION_AUTO, SIZE, SIZE_OR_FULL, weights_options

_E = EffectSettings()  # the one source of the defaults

STYLIZE = [
    click.option("--style", multiple=True, metavar="IMG|DIR|PRESET",
                 help="Style image, folder of images or shipped preset name (repeatable). "
                      "Default: the model's presets."),
    click.option("--model", type=click.Path(file_okay=False), default=None,
                 help="Stylize: model folder, or 'fast' / 'adain' [default: fast on a CPU, adain on a GPU]."),
    click.option("--alpha", type=FloatRange(0, 1), default=_E.alpha, show_default=True,
                 help="Stylize: content-style trade-off (keys +/-)."),
    click.option("--smooth", type=FloatRange(0, 0.99), default=_E.smooth, show_default=True,
                 help="Stylize: temporal smoothing of still regions against flicker; 0 = off (key s)."),
    click.option("--refine/--no-refine", default=_E.refine, show_default=True,
                 help="Stylize, fast model: refine each style image's code before the first frame "
                      "(about a minute per image on a 2-core CPU; presets are refined already)."),
]
BACKBONE_WIDTH = click.option("--backbone-width", "--backbone-alpha", "backbone_width", type=FLOAT,
                              default=_E.backbone_width, show_default=True,
                              help="Features, dream: MobileNet width multiplier.")
FEATURES = [
    click.option("--layer", default=None, help="Features: first layer shown (key l cycles)."),
    click.option("--blend", type=FloatRange(0, 1), default=_E.blend, show_default=True,
                 help="Features: opacity of the heat map (keys +/-)."),
]
MODEL = [
    click.option("--precision", type=PRECISION_AUTO, default=_E.precision,
                 show_default=True, help="auto: fp16 on a GPU; on a CPU fp32 for the fast model, bf16 for AdaIN and features where the CPU has native bfloat16 (AVX-512 BF16/AMX)."),
    weights_options,
]
LIVE = [
    click.option("--effect", type=click.Choice(["stylize", "features", "none"]), default=_E.effect,
                 show_default=True, help="What to do to each frame."),
    click.option("--backbone", default=_E.backbone, show_default=True,
                 help="Features: backbone model (mobilenet, vgg19, ...)."),
    click.option("--channel", type=click.IntRange(0), default=None,
                 help="Features: show this channel instead of the mean over channels (key c)."),
    click.option("--size", type=SIZE, default=None, help="Frame size WxH [default: the source's; demo 640x360]."),
    click.option("--loop/--no-loop", default=False, help="Start a video file or folder again at its end."),
    click.option("--process-size", type=SIZE_OR_FULL, default="640x360", show_default=True,
                 help="Run the effect at most at this size (aspect kept) and show it at the frame's own size, "
                      "upsampled edge-aware; 'full': the frame's size."),
    click.option("--fps", type=FLOAT, default=None,
                 help="Pace of file, folder and demo sources in frames/s (0: as fast as they decode) "
                      "[default: the file's own, demo 30, folder 2]."),
]


def apply(options):
    """A decorator applying click options in the order listed (as they show in --help)."""
    def deco(f):
        for option in reversed(options):
            f = option(f)
        return f

    return deco


def effect_options(f):
    """Options of ``realtime run`` and ``realtime bench``: which effect, and its settings."""
    return apply(LIVE[:1] + STYLIZE + LIVE[1:2] + [BACKBONE_WIDTH] + FEATURES[:1] + LIVE[2:3] + FEATURES[1:]
                 + MODEL[:1] + LIVE[3:] + MODEL[1:])(f)


def target_fps_option(default_help):
    return click.option("--target-fps", type=FloatRange(0), default=None, metavar="N",
                        help="Hold N frames/s by moving the processing size along a ladder of sizes compiled at "
                             f"start (0: off) [{default_help}].")


def build_effect_from_options(o):
    """The effect that ``effect_options`` describe (models load here, after every check)."""
    return settings_from_options(o).build()


def settings_from_options(o):
    names = {f.name for f in dataclasses.fields(EffectSettings)}
    return EffectSettings(**{k: (tuple(v) if k == "style" else v) for k, v in o.items() if k in names})
