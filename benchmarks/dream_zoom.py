"""Seconds per infinite-zoom frame and the memory peak, per frame size and tiling.

Each configuration runs in its own subprocess (so ``ru_maxrss`` is that configuration's peak) with
the zoom defaults (``offline zoom``: 4 steps, 1 octave, the model's default layers, --tile 512), on
MobileNet 0.75 with genuine weights (the offline weights folder has no InceptionV3 file).
A first frame (tracing, 4x steps) is rendered before timing.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/dream_zoom.py
    python benchmarks/dream_zoom.py --configs 640x360:512,1280x720:512,1280x720:0 --frames 5
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import click


def child(size, tile, frames, model, alpha, weights, weights_dir, image):
    import numpy as np

    from offline import dream

    w, h = size
    config = dream.make_config(octaves=1, octave_scale=1.4, steps=4, step_size=0.01, tile=tile, jitter=32, seed=0)
    (ascent,) = dream.build_ascents([], model, alpha, weights, weights_dir, None, config)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = dream.cover(dream.read_image(image), (w, h)).astype(np.float32) if image else \
        dream.asc.noise_image((h, w), seed=0)
    with tempfile.TemporaryDirectory() as work:
        store = dream.FrameStore(work, {})
        t0 = time.perf_counter()
        dream.render_zoom(store, start, [ascent], dream.ZoomSettings(frames=1, steps=4))  # warm-up: traces, first frame
        warm = time.perf_counter() - t0
        store = dream.FrameStore(work, {}, resume=True)
        t0, c0 = time.perf_counter(), time.process_time()
        dream.render_zoom(store, start, [ascent], dream.ZoomSettings(frames=1 + frames, steps=4))
        per_frame = (time.perf_counter() - t0) / frames
        cpu_per_frame = (time.process_time() - c0) / frames  # all threads: robust to a busy machine
    return {"size": f"{w}x{h}", "tile": tile, "sec_per_frame": per_frame, "cpu_sec_per_frame": cpu_per_frame, "first_frame_s": warm,
            "rss_model_mb": rss_model / 1024, "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


@click.command()
@click.option("--configs", default="640x360:512,1280x720:512,1280x720:0", show_default=True,
              help="WxH:TILE,... (tile 0: untiled)")
@click.option("--frames", type=int, default=5, show_default=True, help="Timed frames per configuration.")
@click.option("--model", default="mobilenet", show_default=True)
@click.option("--alpha", type=float, default=0.75, show_default=True)
@click.option("--weights", default="imagenet", show_default=True)
@click.option("--weights-dir", envvar="STUDIO_WEIGHTS_DIR", default=None)
@click.option("--image", default=None, help="Start image [noise].")
@click.option("--child-config", default=None, hidden=True)
def main(configs, frames, model, alpha, weights, weights_dir, image, child_config):
    from offline.media import parse_size

    if child_config:
        size, tile = child_config.split(":")
        print(json.dumps(child(parse_size(size), int(tile), frames, model, alpha, weights, weights_dir, image)))
        return
    rows = []
    for cfg in configs.split(","):
        cmd = [sys.executable, __file__, "--child-config", cfg, "--frames", str(frames), "--model", model,
               "--width", str(alpha), "--weights", weights] + (["--image", image] if image else [])
        env = dict(os.environ, **({"STUDIO_WEIGHTS_DIR": weights_dir} if weights_dir else {}))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode:
            sys.exit(f"{cfg} failed:\n{out.stderr[-2000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{model} alpha {alpha}, zoom defaults (4 steps, 1 octave), {frames} timed frames, "
          f"{os.cpu_count()} CPU cores")
    print("| frame | tile | s / frame (wall) | CPU s / frame | first frame (s) | RSS after model load (MB) | RSS peak (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['tile'] or 'off'} | {r['sec_per_frame']:.2f} | {r['cpu_sec_per_frame']:.2f} | {r['first_frame_s']:.1f} | "
              f"{r['rss_model_mb']:.0f} | {r['rss_peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
