"""What the fast model's coarse style term does, side by side: the training loss optimised directly
on the pixels of one picture (no network in between), with the coarse term off and on.

    python benchmarks/fast_scales.py --weights-dir ../shared/data/weights -o docs/images/fast_scales.jpg

relu3_1 sees ~24 px, so by the plain style term (channel means and stds at relu1_1..relu3_1) a
painting's wide strokes and large shapes are invisible: any texture with the right fine statistics
scores as well. ``offline.fast_train.coarse_style_loss`` adds the same term on output and style
both average-pooled 2x and 4x. Each column minimises AdaIN's content term + style_weight x (style +
scale_weight x coarse) by L-BFGS from the photo, ``--steps`` iterations, for scale_weight 0 (the
term off), 0.25 (the fast model's training setting) and 1. Printed per column: the style distance
of ``benchmarks/adain_eval.py`` at full size and with output and painting 4x downscaled (the
coarse strokes), and the content distance; the sheet is content | style | one column per weight.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adain_eval import content_distance, pooled, stats_distance  # noqa: E402 (benchmarks/adain_eval.py)
from keras import ops  # noqa: E402

from offline import media  # noqa: E402
from offline.adain import adain, build_encoder  # noqa: E402
from offline.losses import adain_losses  # noqa: E402
from offline.fast import VGG_LAYERS  # noqa: E402
from offline.losses import coarse_style_loss  # noqa: E402
from offline.gatys import optimize  # noqa: E402
from offline.losses import mean_std  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class TrainingLoss:
    """The fast model's content and style terms as a ``gatys.optimize`` objective: ``targets`` =
    (AdaIN target at relu3_1, the style's (mean, std) per layer, the style image)."""

    def __init__(self, encoder, style_weight, scale_weight):
        self.encoder, self.style_weight, self.scale_weight = encoder, style_weight, scale_weight

    def encode(self, rgb):
        return self.encoder.model(self.encoder.preprocess(rgb), training=False)

    def loss(self, x, targets):
        target, style_stats, style = targets
        content, style_term = adain_losses(self.encode(x), target, style_stats, VGG_LAYERS)
        coarse = coarse_style_loss(self.encode, x, style, VGG_LAYERS)
        total = content + self.style_weight * (style_term + self.scale_weight * coarse)
        return total, {"content": content, "style": style_term, "coarse": coarse}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights-dir", default=os.environ.get("STUDIO_WEIGHTS_DIR"))
    ap.add_argument("--content", default=str(SHARED / "images" / "content" / "adain_golden_gate.jpg"))
    ap.add_argument("--style", default=str(SHARED / "images" / "style" / "the_scream.jpg"))
    ap.add_argument("--size", type=int, default=256, help="longer side of both pictures")
    ap.add_argument("--steps", type=int, default=60, help="L-BFGS iterations a column")
    ap.add_argument("--style-weight", type=float, default=8.0)
    ap.add_argument("--scale-weights", default="0,0.25,1", help="comma-separated scale_weight per column")
    ap.add_argument("-o", "--output", default=None, help="the sheet (JPEG/PNG)")
    args = ap.parse_args()
    encoder = build_encoder("relu3_1", weights_dir=args.weights_dir)
    content = media.fit_max_side(media.read_image(args.content), args.size).astype(np.float32)
    style = media.fit_max_side(media.read_image(args.style), args.size).astype(np.float32)

    def feats(img):
        return encoder.model(encoder.preprocess(ops.convert_to_tensor(img[None], "float32")), training=False)

    f_c, f_s = feats(content), feats(style)
    target = adain(f_c[VGG_LAYERS[-1]], *mean_std(f_s[VGG_LAYERS[-1]]))
    targets = (target, [mean_std(f_s[n]) for n in VGG_LAYERS], ops.convert_to_tensor(style[None], "float32"))
    f_s4 = feats(pooled(style, 4))
    columns, rows = [], []
    for weight in (float(w) for w in args.scale_weights.split(",")):
        objective = TrainingLoss(encoder, args.style_weight, weight)
        out = np.clip(optimize(objective, targets, content.copy(), steps=args.steps).image, 0, 255)
        f_o = feats(out)
        row = {"scale_weight": weight, "style_distance": round(stats_distance(f_o, f_s), 3),
               "style_distance_4x": round(stats_distance(feats(pooled(out, 4)), f_s4), 3),
               "content_distance": round(content_distance(f_o[VGG_LAYERS[-1]], f_c[VGG_LAYERS[-1]]), 3)}
        print(row, flush=True)
        rows.append(row)
        columns.append(out.astype(np.uint8))
    print("\n| scale_weight | style distance | style distance, 4x downscaled | content distance |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['scale_weight']} | {r['style_distance']} | {r['style_distance_4x']} | {r['content_distance']} |")
    if args.output:
        h = content.shape[0]
        tiles = [content.astype(np.uint8), style.astype(np.uint8)] + columns
        tiles = [t if t.shape[0] == h else media.resize(t, (round(t.shape[1] * h / t.shape[0]), h)) for t in tiles]
        gap = np.full((h, 4, 3), 255, np.uint8)
        sheet = np.concatenate(sum([[t, gap] for t in tiles], [])[:-1], axis=1)
        media.write_image(args.output, sheet)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
