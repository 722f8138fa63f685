"""GPU figures for the live tier (run by ``benchmarks/device_check.sh`` on a GPU machine): both
stylize models at 1280x720 and 1920x1080, fp32 vs fp16 and bf16, model-only and end to end
(``realtime bench``'s own measurement on the demo source, unpaced and paced at 30 FPS), one JSON
line per row and a summary at the end. Random VGG weights (timing does not depend on their
values; the shared genuine weights do not travel to the device machine), shipped presets.

    KERAS_BACKEND=jax python benchmarks/device_check.py --sizes 1280x720,1920x1080
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--precisions", default="fp32,fp16,bf16")
    ap.add_argument("--models", default="fast,adain")
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    import keras

    from offline import backend
    from realtime.benchmark import benchmark
    from offline.effects import build_effect

    info = {"backend": backend.name(), "gpu": backend.has_gpu(), "keras": keras.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}
    if backend.name() == "jax":
        import jax

        info["devices"] = [str(d) for d in jax.devices()]
    print(json.dumps({"machine": info}), flush=True)
    rows, t0 = [], time.time()
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            for precision in args.precisions.split(","):
                try:
                    effect = build_effect("stylize", model=model, precision=precision, weights="none")
                    for pace in (0, 30.0):
                        r = benchmark(effect, "demo", args.frames, size=(w, h), fps=pace)
                        r.update(model=model, precision=precision, paced=pace or "unpaced")
                        rows.append(r)
                        print(json.dumps(r), flush=True)
                except Exception as e:  # one failing row must not lose the others
                    rows.append({"model": model, "size": size, "precision": precision, "error": f"{type(e).__name__}: {e}"})
                    print(json.dumps(rows[-1]), flush=True)
    summary = [{k: r.get(k) for k in ("model", "size", "precision", "paced", "model_fps", "e2e_fps",
                                      "latency_p99_ms", "error") if k in r} for r in rows]
    print(json.dumps({"summary": summary, "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
