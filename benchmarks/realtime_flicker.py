"""Flicker of the stylize effect with and without temporal smoothing, and what smoothing costs.

Flicker = mean absolute frame-to-frame change of the output (0..255 levels), on consecutive frames
(no drops): the shared videos (motion: the change there is partly real) and a still camera (a photo
plus sensor noise, sigma 2 levels: every bit of output change there is flicker). Also reported:
the input's own change, and how far the smoothed output strays from the per-frame one.

    STUDIO_WEIGHTS_DIR=/work/shared/data/weights nice -n 5 python benchmarks/realtime_flicker.py \
        --videos ../shared/data/video --still ../shared/data/images/content/ocv_fruits.jpg --size 320x180
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import json
import time
from pathlib import Path

import click
import numpy as np

from offline.options import SIZE


def change(frames):
    return float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(frames, frames[1:])]))


def stylize_all(effect, frames):
    effect._prev = None
    outs = []
    t = time.perf_counter()
    for f in frames:
        outs.append(effect.step(f))
    return outs, 1000 * (time.perf_counter() - t) / len(frames)


class Identity:
    """A stylizer that returns its input: timing the step with it isolates the smoothing's cost."""

    multiple = 1

    def stylize(self, content, mean, std, alpha=1.0):
        return content


def smoothing_cost_ms(size, frames=50):
    """Milliseconds per frame the smoothing adds, at ``size``, on its own (identity stylizer)."""
    from offline.effects import StylizeEffect

    style = [("x", type("S", (), {"mean": np.zeros(3, np.float32), "std": np.ones(3, np.float32)}))]
    image = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    effects = {t: StylizeEffect(Identity(), style, temporal=t) for t in (False, True)}
    times = {t: [] for t in effects}
    for e in effects.values():
        e.warmup(size)
    for _ in range(frames):  # alternate, and take medians: robust to a busy machine
        for t, e in effects.items():
            start = time.perf_counter()
            e.step(image)
            times[t].append(time.perf_counter() - start)
    return 1000 * (np.median(times[True]) - np.median(times[False]))


@click.command()
@click.option("--videos", type=click.Path(exists=True, file_okay=False), required=True)
@click.option("--still", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--size", type=SIZE, default=(320, 180))
@click.option("--frames", type=int, default=48)
@click.option("--smooth", type=float, default=0.7)
@click.option("--style", default=None, help="Preset or image (default: the first preset).")
@click.option("--model", default=None, help="AdaIN model folder (default: trained/adain-relu3_1).")
@click.option("--cost-only", is_flag=True, help="Only time the smoothing itself at 640x360 and 1280x720.")
def main(videos, still, size, frames, smooth, style, model, cost_only):
    from offline.media import read_image, resize
    from offline.effects import StylizeEffect, build_effect
    from realtime.sources import VideoSource

    if cost_only:
        for cost_size in ((640, 360), (1280, 720)):
            print(f"smoothing alone at {cost_size[0]}x{cost_size[1]}: {smoothing_cost_ms(cost_size):.2f} ms/frame")
        return
    base = build_effect("stylize", style=(style,) if style else (), model=model)
    styles = base.styles[:1]
    plain = StylizeEffect(base.stylizer, styles, smooth=0.0, temporal=False)  # no smoothing in the graph
    smoothed = StylizeEffect(base.stylizer, styles, smooth=smooth)
    for e in (plain, smoothed):
        e.warmup(size)

    rng = np.random.default_rng(0)
    photo = resize(read_image(still), size).astype(np.float32)
    clips = {"still camera (photo + noise)": [np.clip(photo + rng.normal(0, 2, photo.shape), 0, 255).astype(np.uint8)
                                              for _ in range(frames)]}
    for video in sorted(Path(videos).glob("*.mp4")):
        src = VideoSource(video, size)
        clips[video.name] = [src.read() for _ in range(frames)]
        src.close()

    print(f"| clip | input change | output change, no smoothing | with smoothing {smooth} | reduction | "
          f"smoothed vs per-frame | ms/frame plain | ms/frame smoothed |")
    print("|---|---|---|---|---|---|---|---|")
    for name, clip in clips.items():
        out_plain, ms_plain = stylize_all(plain, clip)
        out_smooth, ms_smooth = stylize_all(smoothed, clip)
        a, b = change(out_plain), change(out_smooth)
        stray = float(np.mean([np.abs(x.astype(np.float32) - y).mean() for x, y in zip(out_plain, out_smooth)]))
        row = {"clip": name, "input": round(change(clip), 2), "plain": round(a, 2), "smoothed": round(b, 2),
               "reduction": f"{100 * (1 - b / a):.0f}%", "stray": round(stray, 2),
               "ms_plain": round(ms_plain, 1), "ms_smoothed": round(ms_smooth, 1)}
        print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
