"""DeepDream: stills (``offline dream``), infinite-zoom videos (``offline zoom``) and dreaming a video
(``offline dream-video``), on top of the gradient-ascent engine in :mod:`offline.ascent`.

    offline dream photo.jpg -o dream.png                                    # InceptionV3, mixed3 + mixed5
    offline dream photo.jpg -o dream.png --backbone mobilenet --backbone-width 0.75     # MobileNet, conv_pw_7 + conv_pw_11
    offline dream photo.jpg -o dog.png --backbone mobilenet --backbone-width 0.75 --class 207
    offline zoom --noise --size 640x360 -o zoom.mp4 --frames 240 --backbone mobilenet --backbone-width 0.75
    offline dream-video in.mp4 -o out.mp4 --backbone mobilenet --backbone-width 0.75 --carry 0.5

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

import dataclasses
import json
import math

import cv2
import numpy as np

from offline import ascent as asc
from offline.errors import UserError
from offline.media import read_image, resize, to_uint8, write_image
from offline.options import parse_weighted_list
from offline.progress import Progress
from offline.workfolder import WorkFolder

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
        raise UserError("a guide image works with layer or channel objectives, not with a class")
    plain = []  # (kind, layer weights or (layer, idx)) without the top
    for kind, value in entries:
        if kind == "layers":
            if not value:
                raise UserError(f"no default dream layers for {key}: choose layers")
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
                e.message += "; to dream without them: --backbone mobilenet --backbone-width 0.75 (or --weights none)"
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


def cover(image, size):
    """Resize to cover (W, H) keeping the aspect ratio, then crop the centre: no distortion."""
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    big = resize(image, (max(w, round(iw * s)), max(h, round(ih * s))))
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y : y + h, x : x + w]



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


@dataclasses.dataclass
class ZoomSettings:
    """Every setting of an infinite-zoom render: the CLI's defaults, ``render_zoom``'s, and (bar
    the frame count and rate, which a resume may change) what ``render.json`` stores."""

    image: str = None  # start from this image ...
    noise: bool = False  # ... or from noise
    size: tuple = None  # (w, h) [the image's; noise: 640x360]
    frames: int = 240
    fps: float = 24.0
    zoom: float = 1.02  # per frame
    rotate: float = 0.0  # degrees per frame
    loop: bool = False  # cycle the objective schedule every ``every`` frames
    every: int = None  # frames per schedule entry [once through; loop: 48]
    stabilize: float = 0.0  # pull each frame's colour statistics toward the start image's (0..1)
    entries: list = dataclasses.field(default_factory=list)  # objective_entries(): the schedule
    guide: str = None
    model: str = DEFAULT_BACKBONE
    width: float = 1.0  # MobileNet width
    weights: str = "imagenet"
    octaves: int = 1
    octave_scale: float = 1.4
    steps: int = 4  # per octave and frame (the first frame dreams FIRST_FRAME_BOOST times as long)
    step_size: float = 0.01
    tile: int = 512
    jitter: int = 32
    seed: int = 0

    def check(self):
        if self.frames < 1 or self.fps <= 0 or self.zoom <= 0:
            raise UserError(f"frames and fps must be positive and zoom > 0, got {self.frames}, {self.fps:g}, {self.zoom:g}")
        if not 0.0 <= self.stabilize <= 1.0:
            raise UserError(f"stabilize must be in 0..1, got {self.stabilize:g}")
        return self

    def config(self):
        return make_config(self.octaves, self.octave_scale, self.steps, self.step_size, self.tile, self.jitter, self.seed)

    def render_key(self, size):
        """What decides the frames (``render.json``; the frame count and rate may change on resume)."""
        d = dataclasses.asdict(self)
        d.update(kind="zoom", size=list(size), weights=str(self.weights))
        for k in ("frames", "fps"):
            d.pop(k)
        return json.loads(json.dumps(d))  # as it reads back (tuples -> lists)


def render_zoom(store, start, ascents, settings, log=print):
    """Dream frames store.done() .. settings.frames-1; returns how many were rendered now.

    ``settings.stabilize``: how far each zoomed frame's colour statistics move back toward the
    start image's (0: not at all), see :func:`match_colour_stats`."""
    s = settings
    frames, zoom, rotate, steps, seed, every, loop, stabilize = (s.frames, s.zoom, s.rotate, s.steps, s.seed, s.every,
                                                                s.loop, s.stabilize)
    reference = colour_stats(start)
    first = store.done()
    if first >= frames:
        log(f"all {frames} frames already in {store.folder}")
        return 0
    if first:
        log(f"resuming at frame {first} of {frames} ({store.folder})")
    bar = Progress(frames, unit="frame")
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
            raise UserError(f"carry must be in [0, 1), got {carry}")
        self.ascent, self.carry, self.flow, self.seed = ascent, float(carry), bool(flow), seed
        self.index = 0
        self._prev = None  # (previous source frame, previous dreamed frame)

    def warmup(self, size):
        return 0.0

    def prime(self, source, output):
        self._prev = (np.asarray(source), np.asarray(output))

    def reset(self, index=0):
        self._prev, self.index = None, int(index)

    @property
    def memory(self):
        return self.carry

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
        raise UserError("choose one objective: layers, a channel or a class")
    config = make_config(octaves, octave_scale, steps, step_size, tile, jitter, seed)
    guide_img = read_image(guide, max_side=224) if guide else None
    (ascent,) = build_ascents(entries, model, width, weights, weights_dir, guide_img, config)
    return DreamEffect(ascent, carry, flow, seed)


