"""A flat sky and a frame's corner at 4x (nearest neighbour, every pixel a 4x4 block), side by side:
the photo, each fast model given, the peer. Where a grid or an edge band would show.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/fast_zoom.py --model trained/fast \
        --model /tmp/fast-old --peer-python /tmp/stl/bin/python -o docs/images/fast_sky_zoom.png
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse  # noqa: E402
import tempfile  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from adain_eval import run_peer  # noqa: E402 (benchmarks/adain_eval.py)
from offline import media  # noqa: E402
from offline.fast import FastStylizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def crops(image, boxes, zoom=4):
    return [cv2.resize(image[y:y + h, x:x + w], (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST)
            for x, y, w, h in boxes]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photo", default=str(SHARED / "images" / "content" / "adain_golden_gate.jpg"))
    ap.add_argument("--style", default=str(SHARED / "images" / "style" / "the_scream.jpg"))
    ap.add_argument("--model", action="append", required=True, help="fast model folders (repeatable)")
    ap.add_argument("--label", action="append", default=None, help="a row label per --model [the folder's name]")
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--sky", default="150,10,64,48", help="x,y,w,h of a flat area in the resized photo")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    photo = media.read_image(args.photo, max_side=args.size)
    h, w = photo.shape[:2]
    boxes = [tuple(int(v) for v in args.sky.split(",")), (0, 0, 48, 48), (w - 48, h - 48, 48, 48)]
    rows, labels = [crops(photo, boxes)], ["photo"]
    for i, folder in enumerate(args.model):
        st = FastStylizer.load(folder)
        st.refine_steps = 0
        rows.append(crops(st.stylize_image(photo, args.style), boxes))
        labels.append(args.label[i] if args.label and i < len(args.label) else Path(folder).name)
    if args.peer_python:
        with tempfile.TemporaryDirectory() as tmp:
            outs, _ = run_peer(args.peer_python, [(None, args.style, photo)], tmp)
        rows.append(crops(media.resize(outs[0], (w, h)), boxes))
        labels.append("peer")
    sheet = media.labelled_sheet(rows, row_labels=labels, col_labels=["flat sky, 4x", "top-left corner, 4x",
                                                                      "bottom-right corner, 4x"],
                                 cell=(192, 256))
    media.write_image(args.output, sheet)
    print(args.output)


if __name__ == "__main__":
    main()
