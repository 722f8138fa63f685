"""`realtime bench` for none, features and stylize side by side in one run, as a Markdown table.

    STUDIO_WEIGHTS_DIR=/work/shared/data/weights nice -n 5 python benchmarks/realtime_bench.py \
        --source ../shared/data/video/bunny.mp4 --size 640x360 --frames 100

Each effect is timed model-only (the compiled call, back to back) and end to end (capture thread
at the source's pace -> effect -> post-processing), with latency from capture to frame ready.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import json

import click

from offline.options import SIZE


@click.command()
@click.option("--source", required=True)
@click.option("--size", type=SIZE, default=(640, 360))
@click.option("--frames", type=int, default=100)
@click.option("--fps", type=float, default=None, help="Source pace (default: the file's own; 0 = unpaced).")
@click.option("--effects", default="none,features,stylize")
@click.option("--precision", default="auto")
@click.option("--model", default=None, help="AdaIN model folder (default: trained/adain-relu3_1).")
def main(source, size, frames, fps, effects, precision, model):
    from offline.errors import UserError
    from realtime.benchmark import benchmark
    from offline.effects import build_effect

    rows = []
    for name in effects.split(","):
        try:
            effect = build_effect(name, precision=precision, model=model)
        except UserError as e:
            print(f"{name}: skipped ({e.message})")
            continue
        runs = [fps] + ([0] if name == "none" else [])  # none, unpaced: the pipeline's own ceiling
        for pace in runs:
            r = benchmark(effect, source, frames, size=size, fps=pace)
            if name == "none":  # the identity has no model: the ratio would be meaningless
                r["model_fps"] = r["e2e_vs_model"] = "-"
                r["effect"] = "none (source pace)" if pace != 0 else "none (unpaced: pipeline ceiling)"
            print(json.dumps(r), flush=True)
            rows.append(r)
    cols = ["effect", "model_fps", "e2e_fps", "e2e_vs_model", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
            "captured", "dropped", "retraces", "peak_rss_mb"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
