"""A gallery show, soaked: ``realtime run --install`` at full speed on a looping video file, a
show file whose scenes cross-fade every few seconds, sound from a WAV file driving alpha and the
scenes, the web page with viewers reading the stream, a recording. Every ``--every`` seconds it
samples the show process's RSS, open file descriptors and threads and the page's /health; at the
end the recording is decoded. Writes a JSON log and a plot.

    python benchmarks/show_soak.py --frames 300000 --out /tmp/soak     # ~6 h of a 30 FPS show
    python benchmarks/show_soak.py --compare-audio                       # loop rate with and without --audio

The figures: RSS, fds and threads should be flat (last hour against the first after warm-up), no
frame error, the recording playable to its end.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHOW = """fade = 2
[[scene]]
name = "muse"
style = "la_muse"
duration = 5
[[scene]]
name = "blend"
style = ["mondrian", "la_muse"]
weights = [0.6, 0.4]
duration = 5
[[scene]]
name = "strokes"
style = "brushstrokes"
smooth = 0.4
duration = 5
[audio]
alpha = [0.5, 1.0]
onset = "none"
"""


def beat_wav(path, seconds=8, period=0.5, rate=22050):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.003, int(rate * seconds))
    for k in range(int(seconds / period)):
        s = int(k * period * rate)
        x[s:s + int(0.05 * rate)] += rng.normal(0, 0.4, int(0.05 * rate))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def clip(path, seconds=10, size=(160, 96), fps=30):
    """A moving test clip (ffmpeg's testsrc2) as the looping file source."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size[0]}x{size[1]}:rate={fps}",
                    "-t", str(seconds), "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_sample(pid):
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "threads": int(status["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def viewer(url, stop, counts):
    """A browser tab: reads the MJPEG stream, reconnecting every 30 s (tabs come and go)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                t = time.time()
                while not stop.is_set() and time.time() - t < 30:
                    counts[0] += len(r.read(65536))
        except Exception:  # noqa: BLE001 - the show may be starting or ending
            time.sleep(1)


def show_command(work, frames, port=None, audio=True, record=True):
    cmd = [sys.executable, "-m", "realtime", "run", "--source", str(work / "clip.mp4"), "--install", "--no-display",
           "--show", str(work / "show.toml"), "--target-fps", "0", "--fps", "0", "--max-frames", str(frames),
           "--json", "--log", str(work / "show.log")]
    if audio:
        cmd += ["--audio", str(work / "beat.wav")]
    if port:
        cmd += ["--serve", str(port)]
    if record:
        cmd += ["--out", str(work / "recording.mp4")]
    return cmd


def soak(args, work):
    port = free_port()
    proc = subprocess.Popen(show_command(work, args.frames, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    stop, counts = threading.Event(), [0]
    viewers = []
    samples, t0 = [], time.time()
    log_path = work / "soak.json"
    try:
        while proc.poll() is None:
            time.sleep(min(args.every, 5) if not samples else args.every)
            if proc.poll() is not None:
                break
            if not viewers:
                for _ in range(args.viewers):
                    v = threading.Thread(target=viewer, args=(f"http://127.0.0.1:{port}/stream", stop, counts), daemon=True)
                    v.start()
                    viewers.append(v)
            row = {"t": round(time.time() - t0, 1), **proc_sample(proc.pid), "stream_mb": round(counts[0] / 2 ** 20, 1)}
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    health = json.loads(r.read())
                row.update(frames=health["frames"], fps=health["fps"], errors=sum(health["errors"].values()),
                           age=health["last_frame_age_s"], viewers=health["viewers"])
            except Exception as e:  # noqa: BLE001
                row["health_error"] = str(e)[:100]
            samples.append(row)
            print(json.dumps(row), flush=True)
            log_path.write_text(json.dumps({"samples": samples}, indent=0))
    finally:
        stop.set()
    out, err = proc.communicate()
    summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"stderr": err[-2000:]}
    return samples, summary, proc.returncode


def decode_all(path):
    import av

    n = 0
    with av.open(str(path)) as c:
        for _ in c.decode(video=0):
            n += 1
    return n


def plot(samples, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 3600 for s in samples]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3), dpi=110)
    for ax, key, label in zip(axes, ("rss_mb", "fds", "threads", "fps"), ("RSS (MiB)", "open files", "threads", "FPS")):
        ax.plot(t, [s.get(key, np.nan) for s in samples], lw=1.2)
        ax.set_xlabel("hours")
        ax.set_title(label, fontsize=9)
        lo = np.nanmin([s.get(key, np.nan) for s in samples])
        ax.set_ylim(0 if key != "rss_mb" else lo * 0.9, None)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def compare_audio(work, frames):
    """The loop's rate without and with --audio (unpaced, same show, no page, no recording)."""
    rates = {}
    for audio in (False, True, False, True):
        res = subprocess.run(show_command(work, frames, audio=audio, record=False), capture_output=True, text=True,
                             cwd=ROOT)
        fps = json.loads(res.stdout.strip().splitlines()[-1])["fps"]
        rates.setdefault("with audio" if audio else "without", []).append(fps)
        print(("with audio" if audio else "without"), fps, flush=True)
    return {k: round(float(np.mean(v)), 1) for k, v in rates.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300_000)
    ap.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--viewers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/soak")
    ap.add_argument("--plot", default=None, help="PNG of RSS, fds, threads and FPS over the run")
    ap.add_argument("--compare-audio", action="store_true")
    args = ap.parse_args()
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    clip(work / "clip.mp4")
    beat_wav(work / "beat.wav")
    (work / "show.toml").write_text(SHOW)
    if args.compare_audio:
        print(json.dumps(compare_audio(work, min(args.frames, 1500))))
        return
    samples, summary, rc = soak(args, work)
    live = [s for s in samples if "frames" in s]  # (not the last look, after the show ended)
    warm = [s for s in live if s["t"] >= 300] or live  # after five minutes: caches and JIT settled
    first, last = warm[: max(1, len(warm) // 6)], warm[-max(1, len(warm) // 6):]
    drift = {k: round(float(np.mean([s[k] for s in last]) - np.mean([s[k] for s in first])), 1)
             for k in ("rss_mb", "fds", "threads")}
    recorded = summary.get("recorded", [])
    result = {"frames": summary.get("frames"), "fps": summary.get("fps"), "exit_code": rc,
              "stopped": summary.get("stopped"), "hours": round(samples[-1]["t"] / 3600, 2) if samples else 0,
              "errors": max((s.get("errors", 0) for s in samples), default=None), "drift_last_vs_first_sixth": drift,
              "rss_mb": [round(min(s["rss_mb"] for s in warm), 1), round(max(s["rss_mb"] for s in warm), 1)],
              "fds": [min(s["fds"] for s in warm), max(s["fds"] for s in warm)],
              "threads": [min(s["threads"] for s in warm), max(s["threads"] for s in warm)],
              "recording_frames_decoded": decode_all(recorded[0]) if recorded else None,
              "stream_mb": samples[-1]["stream_mb"] if samples else 0}
    print(json.dumps(result))
    (work / "soak.json").write_text(json.dumps({"result": result, "summary": summary, "samples": samples}, indent=0))
    if args.plot:
        plot(samples, args.plot, f"realtime run --install, {result['frames']} frames in {result['hours']} h")


if __name__ == "__main__":
    main()
