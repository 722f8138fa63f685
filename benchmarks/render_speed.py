"""``offline render`` measured: what the file pipeline (decode, effect, encode, sound, join) costs on
top of the effect alone, memory over a long clip, and H.264's size next to OpenCV's mp4v.

    python benchmarks/render_speed.py --video ../shared/data/video/bunny.mp4 \
        --weights-dir ../shared/data/weights --json-out /tmp/render_speed.json

Rows:
- throughput: for each effect and size, the effect alone on frames already in memory (what the
  live loop calls model-only, smoothing included) and the whole render of the same frames, in
  frames per second, alternating (alone, render, alone, ... alone: ``--rounds`` renders);
  overhead = the median over renders of (render time per frame / the mean of the two effect-alone
  runs beside it - 1);
- memory: RSS sampled every second while rendering a long clip made by looping the source
  (``--long-minutes``, effect none: the pipeline itself), first and last minute;
- size: mp4v (OpenCV's default quality) and H.264 at the CRF that matches mp4v's PSNR against the
  source frames, in kbit/s.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offline import video  # noqa: E402
from offline.render import RenderSettings, render  # noqa: E402


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(effect, args):
    from offline.effects import build_effect

    if effect == "dream":
        from offline.dream import build_dream_effect

        return build_dream_effect(model="mobilenet", width=0.75, weights_dir=args.weights_dir, octaves=1, steps=2,
                                  layers="conv_pw_7_relu:1.0")
    if effect == "stylize":
        return build_effect("stylize", style=[args.style], model=args.model, weights_dir=args.weights_dir)
    return build_effect(effect, weights_dir=args.weights_dir)


def paired_overheads(alone, whole):
    """Each render's time per frame against the mean of the effect-alone runs on either side of it
    (alone, render, alone, ... alone): a slow spell of the shared machine falls on both sides of a
    pair and cancels, where one long run each would measure the spell."""
    return [100 * (w / ((alone[k] + alone[k + 1]) / 2) - 1) for k, w in enumerate(whole)]


def throughput(effect_name, size, args, workdir):
    frames = [f.rgb for f in video.decode(args.video, size=size)][: args.frames]
    fps = video.probe(args.video).fps

    def alone_run():
        effect = build(effect_name, args)
        effect.warmup(size) if hasattr(effect, "warmup") else None
        effect(frames[0])
        t = time.perf_counter()
        for f in frames:
            effect(f)
        return (time.perf_counter() - t) / len(frames)

    def render_run():
        effect = build(effect_name, args)
        effect.warmup(size) if hasattr(effect, "warmup") else None
        effect(frames[0])
        settings = RenderSettings(input=args.video, effect=effect_name, size=size, duration=len(frames) / fps)
        t = time.perf_counter()
        report = render(settings, effect, Path(workdir) / f"{effect_name}_{size[0]}.mp4", work=Path(workdir) / "chunks",
                        fresh=True, log=lambda *_: None, progress=False)
        return (time.perf_counter() - t) / report.frames, report.frames

    if effect_name == "none":  # the pipeline alone: nothing to compare with, its own rate
        whole, n = render_run()
        return {"effect": "none", "size": f"{size[0]}x{size[1]}", "frames": n, "render_fps": round(1 / whole, 2)}
    alone, whole, n = [alone_run()], [], 0
    for k in range(args.rounds):
        w, n = render_run()
        whole.append(w)
        alone.append(alone_run())
        print(f"  {effect_name} {size[0]}x{size[1]} pair {k + 1}: alone {1 / alone[-2]:.2f} / {1 / alone[-1]:.2f} FPS, "
              f"render {1 / w:.2f} FPS ({paired_overheads(alone, whole)[-1]:+.1f}%)", flush=True)
    pairs = paired_overheads(alone, whole)
    return {"effect": effect_name, "size": f"{size[0]}x{size[1]}", "frames": n, "rounds": args.rounds,
            "effect_fps": round(1 / float(np.mean(alone)), 2), "render_fps": round(1 / float(np.mean(whole)), 2),
            "overhead_pct": round(float(np.median(pairs)), 1), "overhead_pct_pairs": [round(x, 1) for x in pairs]}


def long_clip(args, workdir):
    """A ``--long-minutes`` clip looping the source (with its sound) -> RSS over its render."""
    src = Path(workdir) / "long.mp4"
    info = video.probe(args.video)
    loops = int(np.ceil(args.long_minutes * 60 / info.duration))
    with video.VideoWriter(src, info.fps, preset="ultrafast") as w:
        for k in range(loops):
            for f in video.decode(args.video):
                w.write(f.rgb, k * info.duration + f.time)
    samples, stop = [], threading.Event()

    def sample():
        t0 = time.perf_counter()
        while not stop.is_set():
            samples.append((time.perf_counter() - t0, rss_mb()))
            stop.wait(1.0)

    from offline.effects import Effect

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t = time.perf_counter()
    report = render(RenderSettings(input=str(src), effect="none"), Effect(), Path(workdir) / "long_out.mp4",
                    work=Path(workdir) / "long_chunks", fresh=True, log=lambda *_: None, progress=False)
    seconds = time.perf_counter() - t
    stop.set()
    thread.join()
    first = [m for s, m in samples if s <= 60] or [samples[0][1]]
    last = [m for s, m in samples if s >= samples[-1][0] - 60]
    return {"minutes": round(report.frames / info.fps / 60, 1), "frames": report.frames,
            "render_fps": round(report.frames / seconds, 1), "rss_first_minute_mb": round(max(first)),
            "rss_last_minute_mb": round(max(last)), "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def sizes(args, workdir):
    import cv2

    info = video.probe(args.video)
    src = [f.rgb for f in video.decode(args.video)]
    mp4v = Path(workdir) / "mp4v.mp4"
    w = cv2.VideoWriter(str(mp4v), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    for f in src:
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    cap, got = cv2.VideoCapture(str(mp4v)), []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        got.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    rows = [{"codec": "mp4v (OpenCV)", "psnr_db": round(np.mean([psnr(a, b) for a, b in zip(src, got)]), 2),
             "kbit_s": round(mp4v.stat().st_size * 8 / 1000 / info.duration)}]
    target = rows[0]["psnr_db"]
    for crf in range(36, 14, -2):
        out = Path(workdir) / f"x264_{crf}.mp4"
        with video.VideoWriter(out, info.fps, crf=crf) as w:
            for f in src:
                w.write(f)
        q = np.mean([psnr(a, f.rgb) for a, f in zip(src, video.decode(out))])
        if q >= target:
            rows.append({"codec": f"H.264 crf {crf} ({video.PRESET})", "psnr_db": round(q, 2),
                         "kbit_s": round(out.stat().st_size * 8 / 1000 / info.duration)})
            break
    out = Path(workdir) / "x264_default.mp4"
    with video.VideoWriter(out, info.fps) as w:
        for f in src:
            w.write(f)
    rows.append({"codec": f"H.264 crf {video.CRF} (our default)",
                 "psnr_db": round(np.mean([psnr(a, f.rgb) for a, f in zip(src, video.decode(out))]), 2),
                 "kbit_s": round(out.stat().st_size * 8 / 1000 / info.duration)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=str(Path(__file__).resolve().parents[2] / "shared/data/video/bunny.mp4"))
    ap.add_argument("--weights-dir", default=os.environ.get("STUDIO_WEIGHTS_DIR"))
    ap.add_argument("--model", default=None, help="stylize model folder [the default: fast on a CPU]")
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--frames", type=int, default=96, help="frames per throughput row")
    ap.add_argument("--dream-frames", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2, help="renders per row, each between two effect-alone runs")
    ap.add_argument("--sizes", nargs="*", default=["640x360", "1280x720"])
    ap.add_argument("--effects", nargs="*", default=["none", "stylize", "dream"])
    ap.add_argument("--long-minutes", type=float, default=10.0, help="0: skip the memory row")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    result = {"throughput": [], "memory": None, "size": None}
    with tempfile.TemporaryDirectory() as workdir:
        for effect in args.effects:
            for spec in args.sizes:
                size = tuple(int(v) for v in spec.split("x"))
                frames = args.frames
                if effect == "dream":
                    args.frames = args.dream_frames
                row = throughput(effect, size, args, workdir)
                args.frames = frames
                print(row, flush=True)
                result["throughput"].append(row)
        result["size"] = sizes(args, workdir)
        print(result["size"], flush=True)
        if args.long_minutes:
            result["memory"] = long_clip(args, workdir)
            print(result["memory"], flush=True)
    print("| effect | size | effect alone (fps) | render (fps) | pipeline overhead |")
    print("|---|---|---|---|---|")
    for r in result["throughput"]:
        if r["effect"] == "none":  # nothing to compare with: the pipeline's own rate
            print(f"| none (decode, encode, sound, join) | {r['size']} | - | {r['render_fps']} | - |")
        else:
            print(f"| {r['effect']} | {r['size']} | {r['effect_fps']} | {r['render_fps']} | {r['overhead_pct']:+.1f}% |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
