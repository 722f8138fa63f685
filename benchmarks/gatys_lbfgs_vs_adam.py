"""Time for ``offline gatys`` (L-BFGS, coarse-to-fine) to reach the total loss that the TF
tutorial's loop (Adam lr 0.02, beta_1 0.99, epsilon 0.1, pixels in [0, 1] clipped each step)
reaches, on the same objective (same image size, layers and weights), side by side in one run.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/gatys_lbfgs_vs_adam.py \\
        --size 128 --adam-steps 1000

TensorFlow backend (the reference loop is the tutorial's tf.Variable + GradientTape loop).
"""

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from offline import gatys, media  # noqa: E402
from offline.backbone import load_backbone  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def tutorial_adam(objective, targets, content, steps):
    """The TF tutorial's training loop, on our objective; returns (seconds, loss per step)."""
    image = tf.Variable(content[None].astype(np.float32) / 255.0)
    opt = keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss, _ = objective.loss(image * 255.0, targets)
        opt.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return loss

    t0 = time.perf_counter()
    curve = []  # (seconds since start, loss before the step)
    for _ in range(steps):
        loss = float(train_step())
        curve.append((time.perf_counter() - t0, loss))
    final, _ = objective.loss(tf.convert_to_tensor(image * 255.0), targets)
    return curve[-1][0], curve, float(final)


def scipy_lbfgs_b(evaluate, after_step, x, steps, memory=10, lo=0.0, hi=255.0):
    """The engine ``offline gatys`` used before (scipy's L-BFGS-B, box bounds, memory 10), kept
    here only to compare against: same objective, same evaluation function."""
    from scipy.optimize import minimize

    scale = 0.25 * np.sqrt(x.size)  # first step of ~1/4 grey level per pixel, as it was

    def fun(v):
        loss, grad = evaluate((v * scale).astype(np.float32))
        return loss, grad.astype(np.float64).ravel() * scale

    def callback(intermediate_result):
        after_step(intermediate_result.x * scale, float(intermediate_result.fun))

    minimize(fun, x / scale, jac=True, method="L-BFGS-B", bounds=[(lo / scale, hi / scale)] * x.size,
             callback=callback, options={"maxiter": steps, "maxfun": 4 * steps + 20, "maxcor": memory,
                                         "ftol": 1e-12, "gtol": 1e-12})


def time_to(curve, level):
    """First time at which a (seconds, loss) curve is at or below ``level`` (None if never)."""
    return next((t for t, loss in curve if loss <= level), None)


def objective_options(p):
    """The benchmark objective's options (shared with gatys_evaluations.py)."""
    p.add_argument("--content", default=os.path.join(SHARED, "images", "content", "adain_chicago.jpg"))
    p.add_argument("--style", default=os.path.join(SHARED, "images", "style", "the_scream.jpg"))
    p.add_argument("--size", type=int, default=128, help="longer side of the render (both sides)")
    p.add_argument("--adam-steps", type=int, default=1000)
    p.add_argument("--content-layers", default="block3_conv2")
    p.add_argument("--style-layers", default="block1_conv1,block2_conv1,block3_conv1")
    p.add_argument("--content-weight", type=float, default=gatys.CONTENT_WEIGHT)
    p.add_argument("--style-weight", type=float, default=gatys.STYLE_WEIGHT)
    p.add_argument("--weights", default="imagenet")


def build_objective(a, precision="float32"):
    """(objective, targets, content at full size, content at the render size, style, size) from the options."""
    content_w, style_w = gatys.layer_weights(a.content_layers), gatys.layer_weights(a.style_layers)
    bb = load_backbone("vgg19", list(dict.fromkeys(list(content_w) + list(style_w))), a.weights, precision=precision)
    objective = gatys.Objective(bb, content=content_w, style=style_w, content_weight=a.content_weight,
                                style_weight=a.style_weight)
    content, style = media.read_image(a.content), media.read_image(a.style)
    size = gatys.scale_size(content, a.size)
    content_s = media.resize(content, size)
    targets = objective.targets(content=content_s, styles=[media.fit_max_side(style, a.size)])
    return objective, targets, content, content_s, style, size


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    objective_options(p)
    p.add_argument("--coarse-steps", type=int, default=60, help="L-BFGS iterations at half size")
    p.add_argument("--max-steps", type=int, default=900, help="L-BFGS iteration cap at full size")
    p.add_argument("--scipy", action="store_true", help="also run scipy's L-BFGS-B (the previous engine; needs scipy)")
    a = p.parse_args()

    objective, targets, content, content_s, style, size = build_objective(a)

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}, Keras {keras.__version__}")
    print(f"image {size[0]}x{size[1]}, content {a.content_layers} x{a.content_weight:g}, "
          f"style {a.style_layers} x{a.style_weight:g}, weights {objective.backbone.weights_source}")

    adam_s, curve, adam_loss = tutorial_adam(objective, targets, content_s, a.adam_steps)
    print(f"reference Adam (tutorial loop): {a.adam_steps} steps in {adam_s:.1f}s, "
          f"loss {curve[0][1]:.4g} -> {adam_loss:.4g}")

    # ours, single-scale and coarse-to-fine; each stops at the reference's final loss or its cap
    runs = {}
    ours = gatys._lbfgs
    configs = [(f"L-BFGS {a.size}", [a.size], [a.max_steps], ours),
               (f"L-BFGS {a.size // 2},{a.size}", [a.size // 2, a.size], [a.coarse_steps, a.max_steps], ours)]
    if a.scipy:
        configs.append((f"scipy L-BFGS-B {a.size}", [a.size], [a.max_steps], scipy_lbfgs_b))
    for label, scales, steps, engine in configs:
        gatys._lbfgs = engine  # swap the engine behind gatys.optimize (benchmark only)
        t0 = time.perf_counter()
        try:
            result = gatys.style_transfer(objective, content, [style], scales=scales, steps=steps, optimizer="lbfgs",
                                          progress=False, target_loss=adam_loss)
        finally:
            gatys._lbfgs = ours
        seconds = time.perf_counter() - t0
        fine = [h for h in result.history if h["scale"] == a.size]
        # loss only counts at full size; times include the coarse scale and tracing
        runs[label] = [(h["time"], h["loss"]) for h in fine]
        print(f"{label}: {'reached' if result.stopped == 'target' else 'did NOT reach'} {adam_loss:.4g} in "
              f"{seconds:.1f}s ({len(result.history)} iterations, {result.evaluations} evaluations), "
              f"loss {result.history[-1]['loss']:.4g}" +
              (f"; {adam_s / seconds:.1f}x less time" if result.stopped == "target" else ""))
    print("| loss level | Adam (s) | " + " | ".join(f"{k} (s)" for k in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for k in (1.5, 1.2, 1.1, 1.05, 1.02, 1.0):
        ta = adam_s if k == 1.0 else time_to(curve, k * adam_loss)
        cells = []
        for c in runs.values():
            t = time_to(c, k * adam_loss)
            cells.append("not reached" if not t else f"{t:.1f} ({ta / t:.1f}x)" if ta else f"{t:.1f}")
        adam_cell = f"{ta:.1f}" if ta else "not reached"
        print(f"| {k:.2f} x Adam's final | {adam_cell} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
