"""The shipped Fashion-MNIST generators measured with our own classifier (``offline/quality.py``):
Frechet distance on the classifier's penultimate features (ours, not FID) between the 10,000 test
images and 10,000 samples, precision and recall on the same features (k = 3), class coverage (share of samples per class) and mean confidence, the
training time from each manifest; the floor is 10,000 training images against the test images.
Also a picture: 64 samples of each model side by side, and the coverage as bars.

    python benchmarks/generative_eval.py --json-out /tmp/generative.json \
        --sheet docs/images/generators.png
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offline import gan, quality  # noqa: E402
from offline.fashion import CLASS_NAMES, load_classifier, load_data  # noqa: E402


def coverage_chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=110)
    names = list(rows)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar(np.arange(10) + (i - (len(names) - 1) / 2) * width, rows[name]["class_share"], width, label=name)
    ax.axhline(0.1, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(10), [c.split("/")[0] for c in CLASS_NAMES], fontsize=8)
    ax.set_ylabel("share of samples")
    ax.legend(fontsize=8, ncol=len(names))
    ax.set_title("class coverage (the classifier's verdict on 10,000 samples; dashed: uniform)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["vae", "dcgan", "vaegan"])
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--json-out", default=None)
    p.add_argument("--sheet", default=None, help="PNG: 64 samples of each model side by side")
    p.add_argument("--chart", default=None, help="PNG: class coverage bars")
    args = p.parse_args()
    classifier, _ = load_classifier()
    data = load_data()
    real_f, real_p = quality.features_and_probabilities(classifier, data["x_test"])
    floor_f, _ = quality.features_and_probabilities(classifier, data["x_train"][: args.n])
    floor_pr = quality.precision_recall(real_f, floor_f)
    rows = {"real (train vs test)": {"frechet": round(quality.frechet_distance(floor_f, real_f), 2),
                                     "precision": round(floor_pr[0], 3), "recall": round(floor_pr[1], 3),
                                     "class_share": quality.class_coverage(real_p)[0].round(3).tolist(),
                                     "confidence": round(quality.class_coverage(real_p)[1], 3)}}
    grids = []
    for name in args.models:
        generator, latent, manifest = gan.load_generator(name)
        z = np.random.default_rng(0).standard_normal((args.n, latent)).astype(np.float32)
        images = gan.generate(generator, z)
        f, probs = quality.features_and_probabilities(classifier, images)
        share, confidence = quality.class_coverage(probs)
        seconds = manifest.get("train_seconds_total", manifest.get("train_seconds_this_invocation"))
        precision, recall = quality.precision_recall(real_f, f)
        rows[name] = {"frechet": round(quality.frechet_distance(f, real_f), 2),
                      "precision": round(precision, 3), "recall": round(recall, 3), "class_share": share.round(3).tolist(),
                      "smallest_class_share": round(float(share.min()), 3), "confidence": round(confidence, 3),
                      "latent": latent, "train_seconds": seconds, "epochs": manifest.get("epochs_run_this_invocation")}
        grids.append((name, gan.tile(images[:64], 8)))
        print(json.dumps({name: rows[name]}), flush=True)
    print(json.dumps(rows, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    if args.sheet:
        from offline import media

        h = max(g.shape[0] for _, g in grids)
        label = 24
        cells = []
        for name, g in grids:
            canvas = np.zeros((h + label, g.shape[1], 3), np.uint8)
            canvas[label:label + g.shape[0]] = g
            media.put_text(canvas, name, (6, 17), height=14, color=(255, 255, 255))
            cells.append(canvas)
        gap = np.zeros((h + label, 8, 3), np.uint8)
        media.write_image(args.sheet, np.concatenate([c for cell in cells for c in (cell, gap)][:-1], axis=1))
    if args.chart:
        coverage_chart({k: v for k, v in rows.items()}, args.chart)


if __name__ == "__main__":
    main()
