"""``offline render --ray`` measured on this machine: the same render without Ray, with Ray and one
worker (Ray's own cost: start-up, actors, the chunk hand-off), and with two workers; plus the
per-frame costs a 4K estimate needs (decode and encode at 3840x2160).

    python benchmarks/ray_render.py --video ../shared/data/video/bunny.mp4 --size 640x360 \
        --weights-dir ../shared/data/weights --json-out /tmp/ray_render.json

Each render is the whole command's work (effect, decode, encode, join, sound) from the first
frame to the written file; Ray rows include starting the local Ray and loading the model in each
worker, as a user waits for them. Frames per second = frames / wall seconds.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offline import video  # noqa: E402
from offline.render import RenderSettings, build_render_effect, render  # noqa: E402


def effect_settings(args):
    from offline.effects import EffectSettings

    settings = vars(EffectSettings(effect="stylize", style=(args.style,)))
    return {**settings, "style": list(settings["style"]), "weights": str(settings["weights"])}


def plain(settings, out, args):
    t = time.perf_counter()
    report = render(settings, build_render_effect("stylize", settings.effect_settings, args.weights_dir), out,
                    progress=False)
    return report.frames, time.perf_counter() - t


def on_ray(settings, out, workers, args):
    """A fresh process per row: Ray's start-up counts, as it does for a user."""
    code = f"""
import json, time, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from offline.render import RenderSettings
from offline.cluster import render_on_ray
s = RenderSettings(**json.loads({json.dumps(json.dumps(settings.to_json()))}))
s.size = tuple(s.size) if s.size else None
t = time.perf_counter()
r = render_on_ray(s, {str(out)!r}, workers={workers}, weights_dir={args.weights_dir!r}, num_cpus=2, progress=False)
print("RESULT", json.dumps([r.frames, time.perf_counter() - t, r.warmup_frames]))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise SystemExit(res.stderr[-3000:])
    frames, seconds, warm = json.loads(line[0][7:])
    return frames, seconds, warm


def four_k_costs(tmp):
    """Decode and encode milliseconds per 3840x2160 frame (x264 veryfast, this CPU), 48 frames."""
    clip = Path(tmp) / "4k.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=24",
                    "-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", str(clip)], check=True)
    t = time.perf_counter()
    frames = [f.rgb for f in video.decode(clip)]
    decode = (time.perf_counter() - t) / len(frames)
    t = time.perf_counter()
    with video.VideoWriter(Path(tmp) / "4k_out.mp4", 24.0) as w:
        for i, f in enumerate(frames):
            w.write(f, i / 24.0)
    encode = (time.perf_counter() - t) / len(frames)
    return {"decode_ms": round(decode * 1000, 1), "encode_ms": round(encode * 1000, 1), "frames": len(frames)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--video", required=True)
    p.add_argument("--size", default="640x360")
    p.add_argument("--style", default="la_muse")
    p.add_argument("--weights-dir", default=None)
    p.add_argument("--chunk-frames", type=int, default=60, help="smaller than the default 120: two workers get work")
    p.add_argument("--repeat", type=int, default=4, help="loop the clip this many times (Ray's start-up amortised "
                                                         "as on a real job)")
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    if args.repeat > 1:
        looped = Path(tempfile.mkdtemp()) / "looped.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(args.repeat - 1), "-i", args.video,
                        "-c", "copy", str(looped)], check=True)
        args.video = str(looped)
    w, h = (int(v) for v in args.size.split("x"))
    settings = RenderSettings(input=args.video, effect="stylize", size=(w, h), chunk_frames=args.chunk_frames,
                              effect_settings=effect_settings(args))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        frames, seconds = plain(settings, Path(tmp) / "plain.mp4", args)
        rows["no Ray"] = {"frames": frames, "seconds": round(seconds, 2), "fps": round(frames / seconds, 2)}
        print(json.dumps({"no Ray": rows["no Ray"]}), flush=True)
        for workers in (1, 2):
            frames, seconds, warm = on_ray(settings, Path(tmp) / f"ray{workers}.mp4", workers, args)
            rows[f"Ray, {workers} worker(s)"] = {"frames": frames, "seconds": round(seconds, 2),
                                                 "fps": round(frames / seconds, 2), "warmup_frames": warm}
            print(json.dumps({f"Ray, {workers}": rows[f"Ray, {workers} worker(s)"]}), flush=True)
        rows["ray_1_overhead"] = round(rows["Ray, 1 worker(s)"]["seconds"] / rows["no Ray"]["seconds"] - 1, 3)
        rows["4k"] = four_k_costs(tmp)
    print(json.dumps(rows, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
