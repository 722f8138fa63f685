"""``offline dream|zoom|dream-video``: DeepDream stills, infinite-zoom videos and dreamed videos (the
library is ``offline/dream.py``, the engine ``offline/ascent.py``)."""

import time
from pathlib import Path

import click
import numpy as np

from offline import ascent as asc
from offline.commands import outputs
from offline.dream import (DEFAULT_BACKBONE, FrameStore, ZoomSettings, build_ascents, build_dream_effect,
                           cover, make_config, objective_entries, render_zoom)
from offline.errors import UserError
from offline.media import read_image, write_gif, write_image
from offline.options import FLOAT, SIZE, backbone_options, renamed, seed_option, weights_options
from offline.progress import Progress
from offline.video import VideoWriter


def dream_options(steps, octaves, multiple=False):
    """The model, objective and ascent options shared by dream, zoom and dream-video."""
    again = " (repeat for a schedule)" if multiple else ""

    def deco(f):
        opts = [
            weights_options,
            click.option("--layers", multiple=multiple, default=None,
                         help=f"Weighted layers, e.g. mixed3:1.0,mixed5:1.5 [default per model]{again}."),
            click.option("--channel", multiple=multiple, default=None,
                         help=f"Amplify one channel: LAYER:IDX{again}."),
            click.option("--class", "class_index", type=int, multiple=multiple, default=None,
                         help=f"Dream toward an ImageNet class (0..999) through the classifier top{again}."),
            click.option("--guide", type=click.Path(dir_okay=False), default=None,
                         help="Guided hallucination: pull features toward this image's."),
            click.option("--octaves", type=int, default=octaves, show_default=True, help="Scales, smallest first."),
            click.option("--octave-scale", type=FLOAT, default=1.4, show_default=True, help="Ratio between octaves."),
            click.option("--steps", type=int, default=steps, show_default=True, help="Gradient steps per octave."),
            click.option("--step-size", type=FLOAT, default=0.01, show_default=True,
                         help="Step on the normalised gradient, in half-ranges of the input (0.01 ~ 1.3 grey levels)."),
            click.option("--tile", type=int, default=512, show_default=True,
                         help="Gradient tile side (bounds memory on big images; 0: never tile)."),
            click.option("--jitter", type=int, default=32, show_default=True, help="Largest random roll, pixels."),
            seed_option,
        ]
        for opt in reversed(opts):
            f = opt(f)
        return backbone_options(DEFAULT_BACKBONE, choices="inception_v3, mobilenet, vgg19, vgg16")(f)

    return deco


def _start_image(image, noise, size, seed, default_size, max_side=None):
    """The RGB float image to dream on: IMAGE (resized to --size) or --noise of --size."""
    if bool(image) == bool(noise):
        raise UserError("give an IMAGE or --noise (one of them)")
    if noise:
        w, h = size or default_size
        return asc.noise_image((h, w), seed=seed)
    img = read_image(image, max_side=None if size else max_side)
    return (cover(img, size) if size else img).astype(np.float32)


@click.command("dream")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Output image (.png, .jpg).")
@click.option("--noise", is_flag=True, help="Start from noise instead of an image.")
@click.option("--size", type=SIZE, default=None, help="Resize the input (or the noise) to WxH [noise: 512x512].")
@click.option("--max-side", type=int, default=None, help="Shrink the input so its longer side is at most this.")
@dream_options(steps=20, octaves=4)
def dream_cmd(image, output, noise, size, max_side, model, width, weights, weights_dir, layers, channel, class_index,
              guide, octaves, octave_scale, steps, step_size, tile, jitter, seed):
    """DeepDream a still IMAGE (or --noise) into OUT.

    \b
    Examples:
      offline dream photo.jpg -o dream.png
      offline dream photo.jpg -o dream.png --backbone mobilenet --backbone-width 0.75 --layers conv_pw_3_relu
      offline dream photo.jpg -o dog.png --backbone mobilenet --backbone-width 0.75 --class 207 --steps 40
    """
    outputs.check_not_inputs([output], [image, guide])
    entries = objective_entries(layers, channel, class_index)
    if len(entries) > 1:
        raise UserError("choose one of --layers, --channel, --class")
    config = make_config(octaves, octave_scale, steps, step_size, tile, jitter, seed)
    start = _start_image(image, noise, size, seed, (512, 512), max_side)
    guide_img = read_image(guide, max_side=224) if guide else None
    (ascent,) = build_ascents(entries, model, width, weights, weights_dir, guide_img, config)
    t0 = time.perf_counter()
    n = len(asc.octave_sizes(start.shape[:2], octaves, octave_scale)) * steps
    out = ascent.run(start, progress=Progress(n) if n else None)
    write_image(output, out)
    click.echo(f"wrote {output} ({start.shape[1]}x{start.shape[0]}, {ascent.backbone.name}, "
               f"{ascent.objective.describe()}, {time.perf_counter() - t0:.1f} s)")


def _work_folder(work, output):
    return Path(work) if work else Path(output).with_suffix(".frames")


def write_outputs(outputs, store, count, fps, gif_side=None):
    """Assemble the finished frames into each output (.mp4/.avi via OpenCV, .gif via Pillow)."""
    for out in outputs:
        if Path(out).suffix.lower() == ".gif":
            write_gif(out, list(store.frames(count)), fps=fps, max_side=gif_side)
        else:
            first = store.read(0)
            with VideoWriter(out, fps, (first.shape[1], first.shape[0])) as writer:
                for frame in store.frames(count):
                    writer.write(frame)
        click.echo(f"wrote {out} ({count} frames, {fps:g} fps)")


_Z = ZoomSettings()  # the one source of zoom's defaults


@click.command("zoom")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "outputs", multiple=True, required=True, type=outputs.OutputFile(outputs.VIDEO + (".gif",)),
              help="Output video: .mp4 (H.264) and/or .gif (repeat -o for both).")
@click.option("--noise", is_flag=True, help="Start from noise instead of an image.")
@click.option("--frames", type=int, default=_Z.frames, show_default=True)
@click.option("--fps", type=FLOAT, default=_Z.fps, show_default=True)
@click.option("--zoom", type=FLOAT, default=_Z.zoom, show_default=True, help="Zoom per frame.")
@click.option("--rotate", type=FLOAT, default=_Z.rotate, show_default=True, help="Degrees per frame.")
@click.option("--size", type=SIZE, default=None, help="Frame size WxH [image: its size; noise: 640x360].")
@click.option("--loop", is_flag=True, help="Cycle the --layers/--channel/--class schedule every --every frames.")
@click.option("--every", type=int, default=None, help="Frames per schedule entry [once through; --loop: 48].")
@click.option("--work", type=click.Path(file_okay=False), default=None, help="Frames folder [OUT.frames beside the output].")
@click.option("--resume", is_flag=True, help="Continue an interrupted render from its work folder.")
@click.option("--fresh", is_flag=True, help="Delete the work folder's frames and start over.")
@click.option("--gif-side", type=int, default=None, help="Longest side of GIF frames [frame size].")
@click.option("--stabilize", type=FLOAT, default=_Z.stabilize, show_default=True,
              help="Pull each frame's colour mean/std toward the start image's (0..1; 0: off).")
@dream_options(steps=_Z.steps, octaves=_Z.octaves, multiple=True)
def zoom_cmd(outputs, work, resume, fresh, gif_side, weights_dir, layers, channel, class_index, **options):
    """Render an infinite-zoom DeepDream video from IMAGE (or --noise).

    Each frame zooms into the previous one (--zoom, --rotate) and dreams --steps on it.

    \b
    Examples:
      offline zoom photo.jpg -o zoom.mp4 --frames 240 --zoom 1.02
      offline zoom --noise --size 640x360 -o zoom.mp4 -o zoom.gif --backbone mobilenet --backbone-width 0.75 \\
          --layers conv_pw_5_relu --layers conv_pw_11_relu --loop --every 48
    """
    from offline.commands import outputs as policy

    policy.check_not_inputs(outputs, [options["image"], options["guide"]])
    settings = ZoomSettings(entries=objective_entries(layers, channel, class_index), **options).check()
    config = settings.config()
    start = _start_image(settings.image, settings.noise, settings.size, settings.seed, (640, 360))
    store = FrameStore(_work_folder(work, outputs[0]), settings.render_key((start.shape[1], start.shape[0])), resume,
                       fresh)
    guide_img = read_image(settings.guide, max_side=224) if settings.guide else None
    ascents = build_ascents(settings.entries, settings.model, settings.width, settings.weights, weights_dir, guide_img,
                            config)
    render_zoom(store, start, ascents, settings, log=click.echo)
    write_outputs(outputs, store, settings.frames, settings.fps, gif_side)


@click.command("dream-video")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=outputs.OutputFile((".mp4",)), help="Output video (.mp4).")
@click.option("--carry", "carry", type=FLOAT, default=None,
              help="Weight of the previous dreamed frame (warped) in each frame's start; 0: independent frames.  "
                   "[default: 0.5]")
@renamed("--blend", "--carry", "carry", "--blend is the heat map's opacity in the features effect", FLOAT)
@click.option("--no-flow", is_flag=True, help="Blend without optical-flow warping (to compare).")
@click.option("--size", type=SIZE, default=None, help="Resize frames to WxH [source size].")
@click.option("--max-frames", type=click.IntRange(1), default=None, help="Only the first N frames (previews).")
@click.option("--work", type=click.Path(), default=None, help="Chunks folder [OUT.chunks beside the output].")
@click.option("--resume", is_flag=True, help="Continue an interrupted render from its work folder.")
@click.option("--fresh", is_flag=True, help="Delete the work folder's chunks and start over.")
@dream_options(steps=5, octaves=2)
def dream_video_cmd(video, output, carry, no_flow, size, max_frames, work, resume, fresh, model, width, weights,
                    weights_dir, layers, channel, class_index, guide, octaves, octave_scale, steps, step_size, tile,
                    jitter, seed):
    """DeepDream every frame of VIDEO, with its sound: `offline render VIDEO --effect dream`.

    Each frame starts from a blend of itself and the previous dreamed frame warped by optical flow,
    so the hallucinations stick to the moving scene instead of flickering.

    \b
    Example:
      offline dream-video in.mp4 -o out.mp4 --backbone mobilenet --backbone-width 0.75 --carry 0.5
    """
    from offline import video as video_io
    from offline.render import RenderSettings, render

    outputs.check_not_inputs([output], [video, guide])
    carry = 0.5 if carry is None else carry
    if not 0.0 <= carry < 1.0:
        raise UserError(f"--carry must be in [0, 1), got {carry}")
    info = video_io.probe(video)
    dream = dict(layers=layers, channel=channel, class_index=class_index, model=model, width=width,
                 weights=str(weights), guide=guide, octaves=octaves, octave_scale=octave_scale, steps=steps,
                 step_size=step_size, tile=tile, jitter=jitter, seed=seed, carry=carry, flow=not no_flow)
    duration = max_frames / info.fps if max_frames else None
    settings = RenderSettings(input=str(video), effect="dream", size=tuple(size) if size else None,
                              duration=duration, effect_settings=dream).check()
    effect = build_dream_effect(weights_dir=weights_dir, **dream)
    click.echo(render(settings, effect, output, work, resume, fresh, log=click.echo).line())
