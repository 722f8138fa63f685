"""What the README's main command shows in its window: run it under Xvfb, take screenshots of the
screen with FFmpeg (x11grab) and report the run's own statistics (frames, FPS, latency).

    python benchmarks/realtime_window.py -o docs/images/realtime_window.png -- --source demo --effect stylize

Needs ``Xvfb`` and ``ffmpeg`` (Debian: xvfb, ffmpeg). Everything after ``--`` goes to ``realtime run``;
``--max-frames`` and ``--json`` are added.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True, help="screenshot PNG")
    ap.add_argument("--frames", type=int, default=800, help="frames the run lasts")
    ap.add_argument("--at", type=float, default=20.0, help="seconds after the start to take the screenshot")
    ap.add_argument("--screen", default="1280x720")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    run_args = [x for x in a.args if x != "--"]
    display = ":97"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{a.screen}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    env = {**os.environ, "DISPLAY": display}
    cmd = [sys.executable, "-m", "realtime", "run", *run_args, "--max-frames", str(a.frames), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the run logs quietly (--json), so wait for its window: TensorFlow's import, the model,
        # the warm-up, then a few seconds of frames
        time.sleep(a.at)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", a.screen, "-i", display,
                        "-frames:v", "1", a.output], env=env, check=True)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        xvfb.terminate()
    stats = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err[-800:]}
    print(json.dumps({"screenshot": a.output, "command": "realtime run " + " ".join(run_args), **stats}, indent=1))


if __name__ == "__main__":
    main()
