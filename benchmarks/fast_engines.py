"""Where the fast model's frame time goes, and whether another engine would run it faster.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/fast_engines.py --rounds 8

In one process, on the same frame, in alternating rounds (the machine is shared and noisy: each
round times every row back to back, the table gives medians over rounds):
- ``keras xla``: the realtime loop's compiled frame function (``FastStylizer.frame_function``:
  uint8 in and out, padding, transformer, crop), TensorFlow with XLA;
- ``onnxruntime``: the same function exported by ``offline adain export --format onnx`` (the
  graph the ONNX users run), ONNX Runtime on the CPU with as many threads as cores;
- ``transformer body``: the transformer without its output stage (up to ``out_conv`` at 1/4),
  and ``full transformer``: the same network with the shipped model's weights, both XLA, float
  input of the padded size: what the convolutions cost against everything around them;
- ``1 thread``: the keras xla row with TensorFlow limited to one thread (a second process), for
  the machine's scaling from one core to two.

Prints one JSON object (``--json-out`` also writes it).
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

import numpy as np  # noqa: E402

ONE_THREAD = r"""
import json, os, sys, time
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import numpy as np
sys.path.insert(0, sys.argv[1])
from offline.fast import FastStylizer
s = FastStylizer.load(sys.argv[2])
fn, style = s.frame_function(), s.style(sys.argv[3])
frame = np.random.default_rng(0).integers(0, 256, (int(sys.argv[5]), int(sys.argv[4]), 3), dtype=np.uint8)
for _ in range(3): fn(frame, style, 1.0)
ms = []
for _ in range(int(sys.argv[6])):
    t = time.perf_counter(); fn(frame, style, 1.0); ms.append(1000 * (time.perf_counter() - t))
print(json.dumps({"ms": float(np.median(ms))}))
"""


def timed(fn, repeat):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - t) / repeat


def body_model(transformer):
    """The transformer up to its output stage: the input of ``half_conv`` (the "resize" output) or
    ``to_pixels`` (the "shuffle" output), i.e. ``out_conv``'s modulated, rectified 1/4 features."""
    import keras

    names = {layer.name for layer in transformer.layers}
    first = "half_conv" if "half_conv" in names else "to_pixels"
    return keras.Model(transformer.inputs, transformer.get_layer(first).input)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="the fast model's folder [trained/fast]")
    ap.add_argument("--style", default="la_muse")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=10, help="calls per row per round")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import onnxruntime as ort

    from offline import artifacts
    from offline.backend import Compiled
    from offline.export import export
    from offline.fast import FastStylizer
    from offline.adain import pad_to_multiple

    model = args.model or str(artifacts.SHIPPED["fast"])
    stylizer = FastStylizer.load(model)
    style = stylizer.style(args.style)
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    fn = stylizer.frame_function()

    padded, _ = pad_to_multiple(frame[None].astype(np.float32), stylizer.multiple, stylizer.margin)
    padded = np.asarray(padded)
    mean, std = style.mean[None].astype(np.float32), style.std[None].astype(np.float32)
    transformer = stylizer.network.transformer
    body = body_model(transformer)
    full_fn = Compiled(lambda a, m, s: transformer([a, m, s]), jit_compile=True)
    body_fn = Compiled(lambda a, m, s: body([a, m, s]), jit_compile=True)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "fast.onnx"
        export(stylizer, onnx_path, "onnx", (width, height))
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count()
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        feed = {"image": frame[None].astype(np.float32), "style_mean": mean, "style_std": std}
        rows = {
            "keras xla (frame function)": lambda: fn(frame, style, 1.0),
            "onnxruntime (the ONNX export)": lambda: session.run(None, feed),
            "full transformer (xla)": lambda: np.asarray(full_fn(padded, mean, std)),
            "transformer body (xla)": lambda: np.asarray(body_fn(padded, mean, std)),
        }
        times = {name: [] for name in rows}
        for r in range(args.rounds):
            for name, call in rows.items():
                times[name].append(timed(call, args.repeat))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {t[-1]:.1f} ms" for n, t in times.items()),
                  file=sys.stderr, flush=True)

    one = subprocess.run([sys.executable, "-c", ONE_THREAD, str(Path(__file__).resolve().parents[1]), model,
                          args.style, str(width), str(height), str(args.rounds * args.repeat)],
                         capture_output=True, text=True)
    result = {"size": args.size, "model": model, "date": time.strftime("%Y-%m-%d %H:%M"),
              "cores": os.cpu_count(), "rounds": args.rounds, "repeat": args.repeat,
              "ms_median": {n: round(float(np.median(t)), 1) for n, t in times.items()},
              "ms_rounds": {n: [round(v, 1) for v in t] for n, t in times.items()}}
    if one.returncode == 0:
        result["ms_median"]["keras xla, 1 thread (separate run)"] = round(json.loads(one.stdout.strip().splitlines()[-1])["ms"], 1)
    else:
        result["one_thread_error"] = one.stderr[-800:]
    print(json.dumps(result, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
