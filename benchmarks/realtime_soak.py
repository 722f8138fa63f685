"""Long headless run on a looping video file: does memory grow? Prints RSS every --every frames.

    STUDIO_WEIGHTS_DIR=/work/shared/data/weights nice -n 10 python benchmarks/realtime_soak.py \
        --source ../shared/data/video/bunny.mp4 --effect features --size 160x90 --frames 10000
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import json
import time

import click

from offline.options import SIZE


@click.command()
@click.option("--source", required=True)
@click.option("--effect", default="features", type=click.Choice(["none", "features", "stylize"]))
@click.option("--size", type=SIZE, default=(160, 90))
@click.option("--frames", type=int, default=10_000)
@click.option("--every", type=int, default=1000)
@click.option("--fps", type=float, default=None, help="Source pace (default: the file's own).")
def main(source, effect, size, frames, every, fps):
    from offline.effects import build_effect
    from realtime.loop import run
    from realtime.sinks import rss_mb
    from realtime.sources import LatestFrame, open_source

    fx = build_effect(effect)
    src = open_source(source, size, loop=True, fps=fps)
    fx.warmup(src.size)
    traces = fx.traces
    t0 = time.perf_counter()
    rows, done = [], 0
    print(json.dumps({"frames": 0, "rss_mb": round(rss_mb()[0], 1)}), flush=True)  # after warm-up
    with LatestFrame(src, pace=fps != 0) as capture:
        while done < frames:
            stats = run(capture, fx, max_frames=min(every, frames - done))
            done += stats.frames
            rss, peak = rss_mb()
            row = {"frames": done, "rss_mb": round(rss, 1), "peak_mb": round(peak, 1),
                   "dropped": capture.dropped, "fps": stats.summary()["fps"],
                   "p99_ms": stats.summary()["latency_p99_ms"], "minutes": round((time.perf_counter() - t0) / 60, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if stats.stopped in ("ctrl-c", "sigterm"):
                break
    growth = rows[-1]["rss_mb"] - rows[0]["rss_mb"]
    print(json.dumps({"effect": fx.label(), "size": list(src.size), "frames": done, "rss_first_mb": rows[0]["rss_mb"],
                      "rss_last_mb": rows[-1]["rss_mb"], "growth_mb": round(growth, 1),
                      "retraces": fx.traces - traces}))


if __name__ == "__main__":
    main()
