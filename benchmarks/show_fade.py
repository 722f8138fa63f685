"""A style change with and without a cross-fade: the largest frame-to-frame change (mean absolute
grey levels) of the shipped fast model on a still photo, 30 FPS, a 2-second fade against a cut.

    python benchmarks/show_fade.py --image ../shared/data/images/content/<photo>.jpg
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offline.effects import build_effect  # noqa: E402
from offline.media import read_image  # noqa: E402


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def run(image, fade, frames=90, change_at=15, fps=30.0):
    effect = build_effect("stylize", style=["la_muse", "mondrian"], smooth=0.0)
    effect.fade, effect._clock = fade, Clock()
    outs = []
    for i in range(frames):
        if i == change_at:
            effect.action("next")
        outs.append(effect(image).astype(np.float32))
        effect._clock.now += 1 / fps
    steps = [float(np.abs(a - b).mean()) for a, b in zip(outs, outs[1:])]
    return {"fade_s": fade, "largest_step": round(max(steps), 2), "total_change": round(float(np.abs(outs[-1] - outs[0]).mean()), 2),
            "frames_changing": sum(s > 0.5 for s in steps), "traces": effect.traces}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--size", type=int, default=360)
    args = ap.parse_args()
    image = read_image(args.image, max_side=args.size)
    for fade in (0.0, 2.0):
        print(json.dumps(run(image, fade)))


if __name__ == "__main__":
    main()
