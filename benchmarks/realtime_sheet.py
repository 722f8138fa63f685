"""The README picture of the realtime effects: frames of the demo source and a video, as captured,
with `features` (two layers) and with `stylize` (presets), one frame of a stylized run with its HUD.

    STUDIO_WEIGHTS_DIR=/work/shared/data/weights python benchmarks/realtime_sheet.py \
        --video ../shared/data/video/bunny.mp4 -o docs/images/realtime_effects.png
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import time

import click

from offline.options import SIZE


@click.command()
@click.option("--video", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--size", type=SIZE, default=(320, 180))
@click.option("--frame", "frame_index", type=int, default=100, help="Which frame of the video.")
@click.option("--styles", default=None, help="Comma-separated presets (default: the first three).")
@click.option("--model", default=None, help="AdaIN model folder (default: trained/adain-relu3_1).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True)
def main(video, size, frame_index, styles, model, out):
    from offline.errors import UserError
    from offline.media import labelled_sheet, write_image
    from offline.effects import build_effect
    from realtime.sinks import draw_hud
    from realtime.sources import DemoSource, VideoSource

    demo = DemoSource(size)
    for _ in range(40):
        demo_frame = demo.read()
    src = VideoSource(video, size)
    for _ in range(frame_index + 1):
        video_frame = src.read()
    src.close()
    inputs = [demo_frame, video_frame]

    columns = [("as captured", lambda f: f)]
    features = build_effect("features")
    features.warmup(size)
    columns.append((f"features {features.layer}", features))
    deep = build_effect("features", layer="conv_pw_11_relu")
    deep.warmup(size)
    columns.append(("features conv_pw_11_relu", deep))
    try:
        stylize = build_effect("stylize", style=tuple(styles.split(",")) if styles else (), smooth=0.0, model=model)
        stylize.warmup(size)
        for index in range(min(3, len(stylize.styles))):
            def styled(f, index=index):
                stylize.style_index = index
                stylize._prev = None
                return stylize(f)

            columns.append((f"stylize {stylize.styles[index][0]}", styled))
    except UserError as e:
        print(f"stylize skipped: {e.message}")
    rows = [[fn(f) for _, fn in columns] for f in inputs]
    # one cell as the window shows it: the HUD over the last effect, with its time measured here
    t = time.perf_counter()
    columns[-1][1](inputs[1])
    seconds = time.perf_counter() - t
    rows[1][-1] = draw_hud(rows[1][-1], [f"{1 / seconds:5.1f} FPS  {1000 * seconds:4.0f} ms", columns[-1][0]])
    sheet = labelled_sheet(rows, row_labels=["demo", "video"], col_labels=[name for name, _ in columns])
    write_image(out, sheet)
    print(out)


if __name__ == "__main__":
    main()
