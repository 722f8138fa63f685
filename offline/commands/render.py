"""``offline render``: every frame of a video file through a per-frame effect, with its sound, into
an H.264 MP4 that plays everywhere; resumable (``offline.render``)."""

import dataclasses
import json

import click

from offline import video
from offline.commands import outputs
from offline.commands.effects import BACKBONE_WIDTH, FEATURES, MODEL, STYLIZE, apply, settings_from_options
from offline.errors import UserError
from offline.options import FLOAT, FloatRange, SIZE, seed_option

EFFECTS = ("stylize", "features", "dream", "none")
DEFAULT_BACKBONE = {"features": "mobilenet", "dream": "inception_v3"}

DREAM = [
    click.option("--layers", default=None, help="Dream: weighted layers, e.g. mixed3:1.0,mixed5:1.5 [per backbone]."),
    click.option("--class", "class_index", type=int, default=None, help="Dream toward an ImageNet class (0..999)."),
    click.option("--guide", type=click.Path(dir_okay=False), default=None,
                 help="Dream: pull features toward this image's."),
    click.option("--octaves", type=click.IntRange(1), default=2, show_default=True, help="Dream: scales per frame."),
    click.option("--octave-scale", type=FLOAT, default=1.4, show_default=True, help="Dream: ratio between octaves."),
    click.option("--steps", type=click.IntRange(1), default=5, show_default=True, help="Dream: steps per octave."),
    click.option("--step-size", type=FLOAT, default=0.01, show_default=True, help="Dream: gradient step."),
    click.option("--tile", type=click.IntRange(0), default=512, show_default=True, help="Dream: gradient tile side."),
    click.option("--jitter", type=click.IntRange(0), default=32, show_default=True, help="Dream: largest random roll."),
    click.option("--carry", type=FloatRange(0, 1, max_open=True), default=0.5, show_default=True,
                 help="Dream: weight of the previous dreamed frame, warped by optical flow, in each frame's start."),
    click.option("--no-flow", is_flag=True, help="Dream: carry the previous frame without optical flow."),
    seed_option,
]


@click.command("render")
@click.argument("source", type=click.Path())
@click.option("-o", "--output", required=True, type=outputs.OutputFile((".mp4",), "video"),
              help="Output video (.mp4: H.264 with the source's sound).")
@click.option("--effect", type=click.Choice(EFFECTS), default="stylize", show_default=True,
              help="What to do to each frame (none: re-encode, trim, resize).")
@click.option("--start", type=FloatRange(0), default=0.0, show_default=True, help="Seconds into the source.")
@click.option("--duration", type=FloatRange(0, min_open=True), default=None,
              help="Seconds to render [to the end].")
@click.option("--size", type=SIZE, default=None, help="Resize frames to WxH [the source's, upright].")
@click.option("--crf", type=click.IntRange(0, 51), default=video.CRF, show_default=True,
              help="H.264 quality: lower is better and bigger (18 ~ visually lossless).")
@click.option("--preset", type=click.Choice(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"]),
              default=video.PRESET, show_default=True, help="x264 speed: slower presets make smaller files.")
@click.option("--even", type=click.Choice(video.EVEN), default="pad", show_default=True,
              help="Odd frame sides (H.264 needs even): pad with the edge pixels or crop one.")
@click.option("--audio/--no-audio", default=True, show_default=True, help="Copy the source's sound.")
@click.option("--work", type=click.Path(), default=None, help="Chunks folder [OUT.chunks beside the output].")
@click.option("--resume", is_flag=True, help="Continue an interrupted render from its work folder.")
@click.option("--fresh", is_flag=True, help="Delete the work folder's chunks and start over.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Render the chunks on Ray workers: a cluster's ADDRESS (host:port, auto) or, alone, a local Ray.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Ray: how many workers [one per GPU, else one per node].")
@click.option("--overlap", type=click.IntRange(0), default=None,
              help="Ray: frames a worker runs before a chunk it did not lead into [enough for the smoothing or carry].")
@apply(STYLIZE)
@click.option("--backbone", default=None, help="Features, dream: backbone [features: mobilenet; dream: inception_v3].")
@apply([BACKBONE_WIDTH])
@click.option("--channel", default=None, metavar="N|LAYER:IDX",
              help="Features: show channel N; dream: amplify channel IDX of LAYER.")
@apply(FEATURES)
@apply(DREAM)
@apply(MODEL)
def render_cmd(source, output, effect, start, duration, size, crf, preset, even, audio, work, resume, fresh,
               ray_address, workers, overlap, **o):
    """Render every frame of the video SOURCE through an effect into OUT.mp4.

    Every frame, the source's frame rate and timestamps, its sound copied unchanged; a portrait
    phone clip comes out upright. Finished chunks stay in a work folder until the output is
    written: after Ctrl-C the same command with --resume continues.

    \b
    Examples:
      offline render clip.mp4 -o styled.mp4 --style la_muse
      offline render clip.mp4 -o styled.mp4 --style painting.jpg --start 30 --duration 10 --size 1280x720
      offline render clip.mp4 -o feat.mp4 --effect features --layer conv_pw_5_relu
      offline render clip.mp4 -o dream.mp4 --effect dream --backbone mobilenet --backbone-width 0.75
      offline render clip.mp4 -o styled.mp4 --style la_muse --resume
      offline render clip.mp4 -o styled.mp4 --style la_muse --ray auto   # on a Ray cluster's workers
    """
    from offline.render import RenderSettings, build_render_effect, render

    outputs.check_not_inputs([output], [source, o["guide"]])
    if resume and fresh:
        raise UserError("--resume and --fresh do not go together")
    effect_settings = _effect_settings(effect, o)
    info = video.probe(source)  # a folder, an unknown container, sound only: one line, before any model loads
    settings = RenderSettings(input=str(source), effect=effect, start=start, duration=duration,
                              size=tuple(size) if size else None, crf=crf, preset=preset, even=even, audio=audio,
                              effect_settings=effect_settings).check()
    if info.duration and start >= info.duration:
        raise UserError(f"--start {start:g} s is past the end of {source} ({info.duration:.2f} s)")
    if ray_address is None and (workers or overlap is not None):
        raise UserError("--workers and --overlap are for --ray")
    if ray_address is not None:
        from offline.cluster import render_on_ray

        report = render_on_ray(settings, output, work, resume, fresh, None if ray_address == "local" else ray_address,
                               workers, overlap, o["weights_dir"], log=click.echo)
        click.echo(f"{report.line()}; {report.workers} Ray worker(s), {report.warmup_frames} warm-up frames")
        return
    fx = build_render_effect(effect, effect_settings, o["weights_dir"])
    if effect == "stylize" and len(getattr(fx, "styles", ())) > 1:
        click.echo(f"style: {fx.style_name} (the first of {len(fx.styles)}; --style chooses)")
    report = render(settings, fx, output, work, resume, fresh, log=click.echo)
    click.echo(report.line())


def _effect_settings(effect, o):
    """The options that shape this effect's frames (what render.json keeps), checked."""
    channel = o["channel"]
    if effect in ("stylize", "features"):
        if effect == "features" and channel is not None and not str(channel).isdigit():
            raise UserError(f"--channel for features is a channel number, got {channel!r}")
        settings = settings_from_options({**o, "effect": effect, "weights_dir": None,
                                          "backbone": o["backbone"] or DEFAULT_BACKBONE["features"],
                                          "channel": None if channel is None else int(channel)})
        settings.weights = str(settings.weights)
        return json.loads(json.dumps(dataclasses.asdict(settings)))  # as it reads back from render.json
    if effect == "dream":
        if channel is not None and ":" not in str(channel):
            raise UserError(f"--channel for dream is LAYER:IDX, got {channel!r}")
        given = [k for k, v in (("--layers", o["layers"]), ("--channel", channel), ("--class", o["class_index"]))
                 if v is not None]
        if len(given) > 1:
            raise UserError(f"choose one of {', '.join(given)}")
        return {"layers": o["layers"], "channel": channel, "class_index": o["class_index"],
                "model": o["backbone"] or DEFAULT_BACKBONE["dream"], "width": o["backbone_width"],
                "weights": str(o["weights"]), "guide": o["guide"], "octaves": o["octaves"],
                "octave_scale": o["octave_scale"], "steps": o["steps"], "step_size": o["step_size"], "tile": o["tile"],
                "jitter": o["jitter"], "seed": o["seed"], "carry": o["carry"], "flow": not o["no_flow"]}
    return {}
