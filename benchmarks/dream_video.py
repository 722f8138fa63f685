"""Temporal coherence of ``offline dream-video`` outputs: how much the dream (output minus source)
changes from one frame to the next once aligned with the source's optical flow. Lower is steadier;
flicker and ghosting raise it. Also prints the dream strength (mean |output - source|).

    for m in flow noflow indep; do ...; done   # render with: (default) | --no-flow | --carry 0
    offline dream-video ../shared/data/video/bunny.mp4 -o /tmp/v_flow.mp4 --max-frames 48 --size 320x180 \\
        --backbone mobilenet --backbone-width 0.75
    python benchmarks/dream_video.py ../shared/data/video/bunny.mp4 /tmp/v_flow.mp4 /tmp/v_noflow.mp4 /tmp/v_indep.mp4
"""

import click
import numpy as np


@click.command()
@click.argument("source")
@click.argument("dreamed", nargs=-1, required=True)
def main(source, dreamed):
    from offline import dream
    from offline.media import resize
    from offline.video import decode

    def iter_video(path):
        return (f.rgb for f in decode(path))

    print("| output | frames | dream change per frame (flow-aligned, grey levels) | dream strength |")
    print("|---|---|---|---|")
    for path in dreamed:
        out = list(iter_video(path))
        h, w = out[0].shape[:2]
        src = [resize(f, (w, h)) for _, f in zip(range(len(out)), iter_video(source))]
        change = []
        for t in range(1, len(out)):
            prev = out[t - 1].astype(np.float32) - src[t - 1]
            cur = out[t].astype(np.float32) - src[t]
            change.append(np.abs(cur - dream.flow_warp(prev, dream._gray(src[t - 1]), dream._gray(src[t]))).mean())
        strength = np.mean([np.abs(o.astype(np.float32) - s).mean() for o, s in zip(out, src)])
        print(f"| {path} | {len(out)} | {np.mean(change):.2f} | {strength:.1f} |")


if __name__ == "__main__":
    main()
