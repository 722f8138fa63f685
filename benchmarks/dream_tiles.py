"""Tiled vs untiled DeepDream gradient at 1280x720: error and time per tile margin.

The tiled gradient keeps only each tile's core; ``margin`` pixels of context around it make it
equal to the untiled gradient (up to the features' reach). Genuine MobileNet 0.75 weights, the
model's default dream layers, one photo.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/dream_tiles.py
"""

import time

import click
import numpy as np


@click.command()
@click.option("--size", default="1280x720", show_default=True)
@click.option("--tile", type=int, default=512, show_default=True)
@click.option("--margins", default="0,32,64,96,128", show_default=True)
@click.option("--model", default="mobilenet", show_default=True)
@click.option("--alpha", type=float, default=0.75, show_default=True)
@click.option("--weights", default="imagenet", show_default=True)
@click.option("--weights-dir", envvar="STUDIO_WEIGHTS_DIR", default=None)
@click.option("--image", default="../shared/data/images/content/lomiri_aitzgorri.jpg", show_default=True)
def main(size, tile, margins, model, alpha, weights, weights_dir, image):
    from offline import dream
    from offline.media import parse_size

    w, h = parse_size(size)
    (ascent,) = dream.build_ascents([], model, alpha, weights, weights_dir, None, dream.asc.AscentConfig())
    x = ascent.to_model(dream.cover(dream.read_image(image), (w, h)).astype(np.float32))

    def timed(tile_, margin):
        ascent.gradient(x, tile=tile_, margin=margin)  # trace the shapes first
        t0 = time.perf_counter()
        _, g = ascent.gradient(x, tile=tile_, margin=margin)
        return g, time.perf_counter() - t0

    full, t_full = timed(0, 0)
    print(f"{model} {alpha} {ascent.objective.describe()}, {w}x{h}, tile {tile}")
    print("| margin | rel. L2 error vs untiled | max abs error / max abs | gradient time (s) |")
    print("|---|---|---|---|")
    print(f"| untiled | 0 | 0 | {t_full:.2f} |")
    for m in (int(v) for v in margins.split(",")):
        g, t = timed(tile, m)
        rel = np.linalg.norm(g - full) / np.linalg.norm(full)
        mx = np.abs(g - full).max() / np.abs(full).max()
        print(f"| {m} | {rel:.4f} | {mx:.4f} | {t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
