"""DeepDream: stills (``offline dream``), infinite-zoom videos (``offline zoom``) and dreaming a video
(``offline dream-video``), on top of the gradient-ascent engine in :mod:`offline.ascent`.

    offline dream photo.jpg -o dream.png                                    # InceptionV3, mixed3 + mixed5
    offline dream photo.jpg -o dream.png --model mobilenet --width 0.75     # MobileNet, conv_pw_7 + conv_pw_11
    offline dream photo.jpg -o dog.png --model mobilenet --width 0.75 --class 207
    offline zoom --noise --size 640x360 -o zoom.mp4 --frames 240 --model mobilenet --width 0.75
    offline dream-video in.mp4 -o out.mp4 --model mobilenet --width 0.75 --blend 0.5

Layers that dream well (low layers paint textures and strokes, high layers eyes, fur, animal faces):
- InceptionV3 (the TF tutorial): ``mixed3:1.0,mixed5:1.5``; lower: mixed0..mixed2; higher: mixed6..mixed10.
- MobileNet: ``conv_pw_2_relu`` .. ``conv_pw_5_relu`` (stripes, eyes of cells, mesh),
  ``conv_pw_7_relu`` .. ``conv_pw_9_relu`` (scales, eyes, arches), ``conv_pw_10_relu`` ..
  ``conv_pw_13_relu`` (fur, dog and bird faces). Default ``conv_pw_7_relu:1.0,conv_pw_11_relu:1.5``.
- VGG16/19: ``block3_conv3`` .. ``block5_conv3``.

Zoom keeps every finished frame as a PNG in a work folder (default: beside the output,
``OUT.frames/``; dream-video is ``offline render --effect dream`` and keeps H.264 chunks). ``--resume`` continues an interrupted render from the first missing
frame; each frame's jitter is seeded by its index and the previous frame is always read back from
its PNG, so a resumed render is the same as an uninterrupted one.
"""

import json
import math
import time
from pathlib import Path

import click
import cv2
import numpy as np

from offline.commands import outputs
from offline.commands import outputs as commands_outputs  # zoom's parameter is called outputs
from offline import ascent as asc
from offline.errors import UserError
from offline.media import read_image, resize, to_uint8, write_gif, write_image
from offline.render import WorkFolder
from offline.video import VideoWriter
from offline.options import SIZE, parse_weighted_list, seed_option, weights_options, width_option

DEFAULT_BACKBONE = "inception_v3"
DREAM_LAYERS = {
    "inception_v3": "mixed3:1.0,mixed5:1.5",
    "mobilenet": "conv_pw_7_relu:1.0,conv_pw_11_relu:1.5",
    "vgg19": "block4_conv3:1.0,block5_conv3:1.5",
    "vgg16": "block4_conv3:1.0,block5_conv3:1.5",
}
FRAME_PATTERN = "frame_{:05d}.png"

FIRST_FRAME_BOOST = 4  # the first zoom frame dreams this many times --steps: the video opens on a dream


# --- objectives and engines from command-line options --------------------------------------------

def objective_entries(layers=(), channel=(), class_index=()):
    """The options as a list of ("layers", text) / ("channel", text) / ("class", n) entries: one
    for a still, a schedule for zoom (cycled with --loop). Empty -> the model's default layers."""
    as_tuple = lambda v: () if v is None else (tuple(v) if isinstance(v, (list, tuple)) else (v,))  # noqa: E731
    entries = [("layers", t) for t in as_tuple(layers)]
    entries += [("channel", t) for t in as_tuple(channel)]
    entries += [("class", int(n)) for n in as_tuple(class_index)]
    return entries


def build_ascents(entries, model="inception_v3", width=1.0, weights="imagenet", weights_dir=None,
                  guide=None, config=None):
    """One :class:`offline.ascent.Ascent` per entry, sharing backbones (one without the top for
    layer/channel/guide objectives, one with it for classes). ``guide``: an RGB image or None."""
    from offline.backbone import load_backbone, model_spec

    key, _ = model_spec(model)
    entries = entries or [("layers", DREAM_LAYERS.get(key, ""))]
    if guide is not None and any(kind == "class" for kind, _ in entries):
        raise UserError("--guide works with --layers or --channel, not with --class")
    plain = []  # (kind, layer weights or (layer, idx)) without the top
    for kind, value in entries:
        if kind == "layers":
            if not value:
                raise UserError(f"no default dream layers for {key}: pass --layers")
            plain.append(("layers", parse_weighted_list(value)))
        elif kind == "channel":
            plain.append(("channel", asc.parse_channel(value)))
    needed = []
    for kind, v in plain:
        for name in (v if kind == "layers" else [v[0]]):
            if name not in needed:
                needed.append(name)

    def load(layers, include_top):
        try:
            return load_backbone(key, layers=layers, weights=weights, alpha=width, include_top=include_top,
                                 weights_dir=weights_dir)
        except UserError as e:
            if key == DEFAULT_BACKBONE and str(weights).lower() not in ("none", "random"):
                e.message += "; to dream without them: --model mobilenet --width 0.75 (or --weights none)"
            raise

    features = load(needed, False) if needed else None
    top = load(["predictions"], True) if any(kind == "class" for kind, _ in entries) else None
    guide_feats = {}
    if guide is not None:
        out = features(features.preprocess(np.asarray(guide, np.float32)[None]))
        guide_feats = {k: np.asarray(v) for k, v in out.items()}

    ascents, it = [], iter(plain)
    for kind, value in entries:
        if kind == "class":
            obj = asc.class_objective(value)
            bb = top
        else:
            pkind, v = next(it)
            if pkind == "channel":
                obj = asc.channel_objective(*v)
            elif guide is not None:
                obj = asc.guide_objective({k: guide_feats[k] for k in v}, v)
            else:
                obj = asc.layers_objective(v)
            bb = features
        ascents.append(asc.Ascent(bb, obj, config))
    return ascents


def make_config(octaves, octave_scale, steps, step_size, tile, jitter, seed):
    return asc.AscentConfig(steps=steps, step_size=step_size, octaves=octaves, octave_scale=octave_scale,
                            tile=tile, jitter=jitter, seed=seed).check()


def dream_options(steps, octaves, multiple=False):
    """The model, objective and ascent options shared by dream, zoom and dream-video."""
    again = " (repeat for a schedule)" if multiple else ""

    def deco(f):
        opts = [
            click.option("--model", default=DEFAULT_BACKBONE, show_default=True,
                         help="Backbone: inception_v3, mobilenet, vgg19, vgg16."),
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
            click.option("--octave-scale", type=float, default=1.4, show_default=True, help="Ratio between octaves."),
            click.option("--steps", type=int, default=steps, show_default=True, help="Gradient steps per octave."),
            click.option("--step-size", type=float, default=0.01, show_default=True,
                         help="Step on the normalised gradient, in half-ranges of the input (0.01 ~ 1.3 grey levels)."),
            click.option("--tile", type=int, default=512, show_default=True,
                         help="Gradient tile side (bounds memory on big images; 0: never tile)."),
            click.option("--jitter", type=int, default=32, show_default=True, help="Largest random roll, pixels."),
            seed_option,
        ]
        for opt in reversed(opts):
            f = opt(f)
        return width_option()(f)

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


def cover(image, size):
    """Resize to cover (W, H) keeping the aspect ratio, then crop the centre: no distortion."""
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    big = resize(image, (max(w, round(iw * s)), max(h, round(ih * s))))
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y : y + h, x : x + w]


class _Progress:
    """keras.utils.Progbar (with ETA), started lazily so that errors print before it."""

    def __init__(self, total, unit="step"):
        import keras

        self.bar = keras.utils.Progbar(total, stateful_metrics=["loss"], unit_name=unit)

    def __call__(self, done, total, loss):
        self.bar.update(done, values=[("loss", float(loss))])


# --- stills --------------------------------------------------------------------------------------

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
      offline dream photo.jpg -o dream.png --model mobilenet --width 0.75 --layers conv_pw_3_relu
      offline dream photo.jpg -o dog.png --model mobilenet --width 0.75 --class 207 --steps 40
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
    out = ascent.run(start, progress=_Progress(n) if n else None)
    write_image(output, out)
    click.echo(f"wrote {output} ({start.shape[1]}x{start.shape[0]}, {ascent.backbone.name}, "
               f"{ascent.objective.describe()}, {time.perf_counter() - t0:.1f} s)")


# --- frames kept on disk (resume) ----------------------------------------------------------------

class FrameStore(WorkFolder):
    """Finished zoom frames as PNGs in a work folder plus ``render.json`` (see ``WorkFolder``)."""

    pattern = FRAME_PATTERN
    noun = "frames"

    def read(self, i):
        return read_image(self.path(i))

    def write(self, i, frame):
        write_image(self.path(i), frame)

    def frames(self, n):
        for i in range(n):
            yield self.read(i)


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


# --- infinite zoom -------------------------------------------------------------------------------

def zoom_step(image, zoom=1.02, rotate=0.0):
    """Zoom into the centre by ``zoom`` (and rotate by ``rotate`` degrees): the centre crop of
    1/zoom the size, resized back. Same size, same centre (sub-pixel exact: one affine warp)."""
    h, w = image.shape[:2]
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    m = cv2.getRotationMatrix2D(centre, rotate, zoom)
    return cv2.warpAffine(np.asarray(image), m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def match_colour_stats(image, reference, strength=1.0):
    """Move each channel's mean and standard deviation toward ``reference`` = (mean, std) arrays of
    shape (3,). Applied to every zoom frame it stops the slow drift to saturated colours and
    blown-out contrast that a long feedback loop of dreaming otherwise takes."""
    x = np.asarray(image, np.float32)
    if not strength:
        return x
    mean, std = x.reshape(-1, 3).mean(0), x.reshape(-1, 3).std(0) + 1e-6
    matched = (x - mean) / std * reference[1] + reference[0]
    return np.clip(x + strength * (matched - x), 0, 255)


def colour_stats(image):
    x = np.asarray(image, np.float32).reshape(-1, 3)
    return x.mean(0), x.std(0)


def schedule_index(i, n_entries, frames, every=None, loop=False):
    """Which schedule entry frame ``i`` uses: once through over the render, or cycling with --loop."""
    if n_entries <= 1:
        return 0
    every = every or (48 if loop else math.ceil(frames / n_entries))
    k = i // max(1, every)
    return k % n_entries if loop else min(k, n_entries - 1)


def _render_settings(**kw):
    return json.loads(json.dumps(kw))  # as it will read back from render.json (tuples -> lists)


@click.command("zoom")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "outputs", multiple=True, required=True, type=commands_outputs.OutputFile(commands_outputs.VIDEO + (".gif",)),
              help="Output video: .mp4 (OpenCV) and/or .gif (repeat -o for both).")
@click.option("--noise", is_flag=True, help="Start from noise instead of an image.")
@click.option("--frames", type=int, default=240, show_default=True)
@click.option("--fps", type=float, default=24.0, show_default=True)
@click.option("--zoom", "zoom_factor", type=float, default=1.02, show_default=True, help="Zoom per frame.")
@click.option("--rotate", type=float, default=0.0, show_default=True, help="Degrees per frame.")
@click.option("--size", type=SIZE, default=None, help="Frame size WxH [image: its size; noise: 640x360].")
@click.option("--loop", is_flag=True, help="Cycle the --layers/--channel/--class schedule every --every frames.")
@click.option("--every", type=int, default=None, help="Frames per schedule entry [once through; --loop: 48].")
@click.option("--work", type=click.Path(file_okay=False), default=None, help="Frames folder [OUT.frames beside the output].")
@click.option("--resume", is_flag=True, help="Continue an interrupted render from its work folder.")
@click.option("--fresh", is_flag=True, help="Delete the work folder's frames and start over.")
@click.option("--gif-side", type=int, default=None, help="Longest side of GIF frames [frame size].")
@click.option("--stabilize", type=float, default=0.0, show_default=True,
              help="Pull each frame's colour mean/std toward the start image's (0..1; 0: off).")
@dream_options(steps=4, octaves=1, multiple=True)
def zoom_cmd(image, outputs, noise, frames, fps, zoom_factor, rotate, size, loop, every, work, resume, fresh, gif_side,
             stabilize,
             model, width, weights, weights_dir, layers, channel, class_index, guide, octaves, octave_scale, steps,
             step_size, tile, jitter, seed):
    """Render an infinite-zoom DeepDream video from IMAGE (or --noise).

    Each frame zooms into the previous one (--zoom, --rotate) and dreams --steps on it.

    \b
    Examples:
      offline zoom photo.jpg -o zoom.mp4 --frames 240 --zoom 1.02
      offline zoom --noise --size 640x360 -o zoom.mp4 -o zoom.gif --model mobilenet --width 0.75 \\
          --layers conv_pw_5_relu --layers conv_pw_11_relu --loop --every 48
    """
    commands_outputs.check_not_inputs(outputs, [image, guide])
    if frames < 1 or fps <= 0 or zoom_factor <= 0:
        raise UserError("--frames and --fps must be positive, --zoom > 0")
    entries = objective_entries(layers, channel, class_index)
    config = make_config(octaves, octave_scale, steps, step_size, tile, jitter, seed)
    start = _start_image(image, noise, size, seed, (640, 360))
    settings = _render_settings(kind="zoom", image=str(image) if image else None, noise=noise,
                                size=[start.shape[1], start.shape[0]], zoom=zoom_factor, rotate=rotate, loop=loop,
                                every=every, stabilize=stabilize, entries=entries, guide=guide, model=model, width=width,
                                weights=str(weights), octaves=octaves, octave_scale=octave_scale, steps=steps,
                                step_size=step_size, tile=tile, jitter=jitter, seed=seed)
    store = FrameStore(_work_folder(work, outputs[0]), settings, resume, fresh)
    guide_img = read_image(guide, max_side=224) if guide else None
    ascents = build_ascents(entries, model, width, weights, weights_dir, guide_img, config)
    render_zoom(store, start, ascents, frames, zoom_factor, rotate, steps, seed, every, loop, stabilize)
    write_outputs(outputs, store, frames, fps, gif_side)


def render_zoom(store, start, ascents, frames, zoom=1.02, rotate=0.0, steps=4, seed=0, every=None, loop=False,
                stabilize=0.0):
    """Dream frames store.done() .. frames-1; returns how many were rendered now.

    ``stabilize``: how far each zoomed frame's colour statistics move back toward the start
    image's (0: not at all), see :func:`match_colour_stats`."""
    reference = colour_stats(start)
    first = store.done()
    if first >= frames:
        click.echo(f"all {frames} frames already in {store.folder}")
        return 0
    if first:
        click.echo(f"resuming at frame {first} of {frames} ({store.folder})")
    bar = _Progress(frames, unit="frame")
    prev = store.read(first - 1) if first else None
    for i in range(first, frames):
        ascent = ascents[schedule_index(i, len(ascents), frames, every, loop)]
        ascent.rng = np.random.default_rng([seed, i])  # per-frame jitter: resumed == uninterrupted
        x = start if prev is None else match_colour_stats(zoom_step(prev, zoom, rotate), reference, stabilize)
        frame = to_uint8(ascent.run(x, steps=steps * (FIRST_FRAME_BOOST if i == 0 else 1)))
        store.write(i, frame)
        prev = frame
        bar(i + 1, frames, ascent.last_loss)
    return frames - first


# --- dreaming a video ----------------------------------------------------------------------------

def flow_warp(image, prev_gray, cur_gray):
    """Warp ``image`` (aligned with the previous source frame) onto the current source frame with
    Farneback optical flow: for each current pixel, where it was in the previous frame."""
    flow = cv2.calcOpticalFlowFarneback(cur_gray, prev_gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    h, w = cur_gray.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(np.asarray(image), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def _gray(frame):
    return cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2GRAY)


class DreamEffect:
    """DeepDream as a per-frame effect for ``offline render`` (the interface of
    ``offline.effects.Effect``): each frame starts from a blend of itself and the previous dreamed
    frame warped onto it by optical flow (``carry``: that frame's weight), so the hallucinations
    stick to the moving scene instead of flickering. Each frame's jitter is seeded by its index."""

    name = "dream"

    def __init__(self, ascent, carry=0.5, flow=True, seed=0):
        if not 0.0 <= carry < 1.0:
            raise UserError(f"--carry must be in [0, 1), got {carry}")
        self.ascent, self.carry, self.flow, self.seed = ascent, float(carry), bool(flow), seed
        self.index = 0
        self._prev = None  # (previous source frame, previous dreamed frame)

    def warmup(self, size):
        return 0.0

    def prime(self, source, output):
        self._prev = (np.asarray(source), np.asarray(output))

    def __call__(self, image):
        start = np.asarray(image, np.float32)
        if self._prev is not None and self.carry > 0:
            prev_src, prev_dream = self._prev
            if prev_src.shape == image.shape:
                carried = flow_warp(prev_dream, _gray(prev_src), _gray(image)) if self.flow else prev_dream
                start = self.carry * carried.astype(np.float32) + (1.0 - self.carry) * start
        self.ascent.rng = np.random.default_rng([self.seed, self.index])
        frame = to_uint8(self.ascent.run(start))
        self._prev = (image, frame)
        self.index += 1
        return frame

    def label(self):
        return f"dream carry {self.carry:g}{'' if self.flow else ' (no flow)'}"


def build_dream_effect(layers=None, channel=None, class_index=None, model=DEFAULT_BACKBONE, width=1.0,
                       weights="imagenet", weights_dir=None, guide=None, octaves=2, octave_scale=1.4, steps=5,
                       step_size=0.01, tile=512, jitter=32, seed=0, carry=0.5, flow=True):
    """The dream effect from its options (one objective); loads the backbone."""
    entries = objective_entries(layers, channel, class_index)
    if len(entries) > 1:
        raise UserError("choose one of --layers, --channel, --class")
    config = make_config(octaves, octave_scale, steps, step_size, tile, jitter, seed)
    guide_img = read_image(guide, max_side=224) if guide else None
    (ascent,) = build_ascents(entries, model, width, weights, weights_dir, guide_img, config)
    return DreamEffect(ascent, carry, flow, seed)


@click.command("dream-video")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=outputs.OutputFile((".mp4",)), help="Output video (.mp4).")
@click.option("--blend", "--carry", "carry", type=float, default=0.5, show_default=True,
              help="Weight of the previous dreamed frame (warped) in each frame's start; 0: independent frames.")
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
      offline dream-video in.mp4 -o out.mp4 --model mobilenet --width 0.75 --blend 0.5
    """
    from offline import video as video_io
    from offline.render import RenderSettings, render

    outputs.check_not_inputs([output], [video, guide])
    if not 0.0 <= carry < 1.0:
        raise UserError(f"--blend must be in [0, 1), got {carry}")
    info = video_io.probe(video)
    dream = dict(layers=layers, channel=channel, class_index=class_index, model=model, width=width,
                 weights=str(weights), guide=guide, octaves=octaves, octave_scale=octave_scale, steps=steps,
                 step_size=step_size, tile=tile, jitter=jitter, seed=seed, carry=carry, flow=not no_flow)
    duration = max_frames / info.fps if max_frames else None
    settings = RenderSettings(input=str(video), effect="dream", size=tuple(size) if size else None,
                              duration=duration, effect_settings=dream).check()
    effect = build_dream_effect(weights_dir=weights_dir, **dream)
    click.echo(render(settings, effect, output, work, resume, fresh, log=click.echo).line())
