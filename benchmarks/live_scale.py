"""Camera size at camera rate (fills BENCHMARKS.md "Live: camera size at camera rate"):

1. Upsampling: held-out photos at 1280x720 stylized at 640x360 by the fast model, brought back to
   1280x720 by a bilinear upscale and by ``offline.guided.guided_upsample``. Sharpness: the mean
   gradient magnitude of the result on the photo's strong edges (the top 5% of its gradient), as
   a share of the full-resolution stylization's (the model run at 1280x720: what the camera's own
   size would give at 4x the cost); and each upsampler's time per frame.
2. Rates, in alternating rounds (640x360 alone, 1280x720 at --process-size 640x360, ...): the
   end-to-end rate of the loop (``realtime.benchmark``) on the demo source unpaced, so the ratio
   is what the 1280x720 picture costs on top of the 640x360 processing.
3. ``--target-fps``: the loop on the demo source paced at 30 FPS at 1280x720 with the ladder on;
   the FPS it holds, the size it settles on and how often it moved.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/live_scale.py --rounds 3
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = ("adain_cornell", "adain_golden_gate", "lomiri_Bridge", "ocv_baboon", "ocv_fruits", "fst_stata")


def edge_sharpness(image, guide):
    """Mean gradient magnitude of ``image`` where ``guide`` has its strongest 5% of gradients."""
    def grad(x):
        g = cv2.cvtColor(np.asarray(x, np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    strong = grad(guide)
    mask = strong >= np.percentile(strong, 95)
    return float(grad(image)[mask].mean())


def timed(fn, n=20):
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def upsampling(stylizer, style, photos):
    from offline import media
    from offline.guided import bilinear_upsample, guided_upsample

    rows = []
    for stem in photos:
        found = sorted((SHARED / "images" / "content").glob(f"{stem}.*"))
        if not found:
            continue
        full = cv2.resize(media.read_image(found[0]), (1280, 720), interpolation=cv2.INTER_AREA)
        small = cv2.resize(full, (640, 360), interpolation=cv2.INTER_AREA)
        ref = stylizer.stylize_image(full, style)
        out = stylizer.stylize_image(small, style)
        bil, gui = bilinear_upsample(out, full), guided_upsample(out, small, full)
        r = edge_sharpness(ref, full)
        rows.append({"photo": stem, "bilinear": edge_sharpness(bil, full) / r, "guided": edge_sharpness(gui, full) / r,
                     "bilinear_ms": 1000 * timed(lambda: bilinear_upsample(out, full)),
                     "guided_ms": 1000 * timed(lambda: guided_upsample(out, small, full))})
    return rows


def rates(rounds, frames):
    from offline.effects import EffectSettings
    from realtime.benchmark import benchmark
    from realtime.cli import _scaled

    effect = EffectSettings(effect="stylize").build()
    runs = {"640x360": [], "1280x720 @640x360": []}
    for _ in range(rounds):
        runs["640x360"].append(benchmark(effect, "demo", frames, size=(640, 360), fps=0))
        runs["1280x720 @640x360"].append(benchmark(effect, "demo", frames, size=(1280, 720), fps=0,
                                                   scale=lambda e, s: _scaled(e, s, (640, 360), 0.0)))
    held = benchmark(effect, "demo", frames * 3, size=(1280, 720), fps=30,
                     scale=lambda e, s: _scaled(e, s, (640, 360), 30.0))
    return runs, held


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    from offline.stylizers import load_stylizer

    stylizer = load_stylizer("fast", refine=False)
    up = upsampling(stylizer, args.style, PHOTOS)
    runs, held = rates(args.rounds, args.frames)
    result = {"upsampling": up, "rates": runs, "target_fps_30": held}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    print("upsampling 640x360 -> 1280x720 (edge sharpness as a share of the model run at 1280x720; ms/frame):")
    for r in up:
        print(f"  {r['photo']:20s} bilinear {r['bilinear']:.2f}  guided {r['guided']:.2f}   "
              f"{r['bilinear_ms']:.1f} / {r['guided_ms']:.1f} ms")
    if up:
        print(f"  {'mean':20s} bilinear {np.mean([r['bilinear'] for r in up]):.2f}  guided "
              f"{np.mean([r['guided'] for r in up]):.2f}   {np.mean([r['bilinear_ms'] for r in up]):.1f} / "
              f"{np.mean([r['guided_ms'] for r in up]):.1f} ms")
    print("end to end, demo source unpaced (alternating rounds):")
    for name, rs in runs.items():
        print(f"  {name:20s} e2e {[r['e2e_fps'] for r in rs]} FPS, model {[r['model_fps'] for r in rs]}")
    a = np.median([r["e2e_fps"] for r in runs["640x360"]])
    b = np.median([r["e2e_fps"] for r in runs["1280x720 @640x360"]])
    print(f"  1280x720 shown / 640x360: {b / a:.2f} (medians {b:.1f} / {a:.1f} FPS)")
    print(f"--target-fps 30 at 1280x720 (demo paced at 30): {held['e2e_fps']} FPS, settled at {held['process_size']}, "
          f"retraces {held['retraces']}, p50 latency {held['latency_p50_ms']} ms")


if __name__ == "__main__":
    main()
