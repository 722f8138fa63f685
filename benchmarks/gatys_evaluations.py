"""Why L-BFGS does not reach the tutorial loop's *final* loss 5x sooner: network evaluations (forward +
backward passes, the unit both optimisers pay for) to reach each multiple of the final loss of
the TF tutorial's Adam loop, on the objective of gatys_lbfgs_vs_adam.py. Counting evaluations
makes the comparison free of timing noise.

    STUDIO_WEIGHTS_DIR=../shared/data/weights python benchmarks/gatys_evaluations.py --size 128

Rows:
- the tutorial's Adam loop (one evaluation a step);
- ``offline gatys``' L-BFGS (projected onto the 0..255 box);
- the same L-BFGS without the box (a diagnostic only: its images leave 0..255, so its loss is that
  of a different, looser problem);
- L-BFGS on bfloat16 evaluations (the network in bfloat16, ~2x cheaper per evaluation on this
  CPU's AMX), counted by the float32 loss of the points it visits.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gatys_lbfgs_vs_adam import build_objective, objective_options, tutorial_adam  # noqa: E402

from keras import ops  # noqa: E402

from offline import gatys  # noqa: E402

LEVELS = (1.5, 1.2, 1.1, 1.05, 1.02, 1.01, 1.005, 1.002, 1.0)


class _Budget(Exception):
    pass


def count_lbfgs(evaluate, true_loss, x0, budget, **box):
    """Run ``gatys._lbfgs`` on ``evaluate`` for ``budget`` evaluations; returns the float32 loss
    (``true_loss``) of every point it evaluated, in order."""
    losses = []

    def counted(x):
        if len(losses) >= budget:
            raise _Budget
        f, g = evaluate(x)
        losses.append(true_loss(x, f))
        return f, g

    try:
        gatys._lbfgs(counted, lambda x, f: None, x0, 10**9, **box)
    except _Budget:
        pass
    return losses


def first_at(losses, level):
    return next((i + 1 for i, f in enumerate(losses) if f <= level), None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    objective_options(p)
    p.add_argument("--budget", type=int, default=1000, help="evaluations per L-BFGS run (the tutorial loop makes 1000)")
    a = p.parse_args()

    objective, targets, _, content_s, _, size = build_objective(a)
    objective16, targets16, *_ = build_objective(a, precision="bfloat16")
    shape = content_s.shape

    def evaluator(obj, tg):
        fn = gatys._compiled(obj)

        def evaluate(x):
            loss, _, grad = fn(ops.convert_to_tensor(np.asarray(x, np.float32).reshape((1,) + shape)), tg)
            return float(loss), np.asarray(grad, np.float64).ravel()
        return evaluate

    f32, f16 = evaluator(objective, targets), evaluator(objective16, targets16)

    def float32_loss(x, f):
        return f32(x)[0]

    print(f"image {size[0]}x{size[1]}, content {a.content_layers} x{a.content_weight:g}, style {a.style_layers}")
    _, curve, final = tutorial_adam(objective, targets, content_s, a.adam_steps)
    adam = [loss for _, loss in curve] + [final]
    x0 = content_s.astype(np.float64).ravel()
    runs = {
        "Adam, the tutorial loop": adam,
        "L-BFGS (offline gatys, 0..255 box)": count_lbfgs(f32, lambda x, f: f, x0, a.budget),
        "L-BFGS without the box (diagnostic)": count_lbfgs(f32, lambda x, f: f, x0, a.budget, lo=-np.inf, hi=np.inf),
        "L-BFGS on bfloat16 evaluations": count_lbfgs(f16, float32_loss, x0, a.budget),
    }
    print(f"Adam's final loss after {a.adam_steps} steps: {final:.4g}")
    print("| loss level | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for k in LEVELS:
        cells = [str(first_at(r, k * final) or "not reached") for r in runs.values()]
        print(f"| {k:.3f} x Adam's final | " + " | ".join(cells) + " |")
    print("| best loss / Adam's final | " + " | ".join(f"{min(r) / final:.5f}" for r in runs.values()) + " |")


if __name__ == "__main__":
    main()
