"""``offline adain``: train a decoder, stylize images, contact sheets, presets (``offline/adain.py``
holds the maths and the Stylizer; ``offline/adain_train.py`` the training). ``stylize``, ``sheet``
and ``presets`` load whichever model a folder holds (AdaIN or the fast model, ``offline.stylizers``).
"""

from pathlib import Path

import importlib.util

import click
import numpy as np

from offline.adain import DEPTHS
from offline.adain_train import AdaINTrainSettings
from offline.commands import outputs
from offline.errors import UserError
from offline.options import FLOAT, FloatRange, PRECISION, SIZE, renamed, weights_options

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """AdaIN arbitrary style transfer: train a decoder, stylize images, contact sheets, presets.

    \b
    Examples:
      offline adain stylize photo.jpg --style la_muse -o styled.png
      offline adain stylize photo.jpg --style a.jpg --style b.jpg --mix 0.7,0.3 -o mixed.png
      offline adain sheet photos/*.jpg --style paintings/ -o sheet.png
      offline adain train --content photos/ --style paintings/ --steps 2000 --out trained/mine
    """


_train = AdaINTrainSettings()  # the one source of the defaults


@cli.command("train")
@click.option("--content", required=True, type=click.Path(), help="Folder of content photos.")
@click.option("--style", required=True, type=click.Path(), help="Folder of style images (paintings).")
@click.option("--depth", type=click.Choice(DEPTHS), default=_train.depth, show_default=True,
              help="Encoder output: relu4_1 (the paper's) or relu3_1 (lighter, faster).")
@click.option("--steps", type=click.IntRange(1), default=_train.steps, show_default=True, help="Total optimizer steps.")
@click.option("--batch", type=click.IntRange(1), default=_train.batch, show_default=True, help="Batch size (paper: 8).")
@click.option("--size", type=click.IntRange(16), default=_train.size, show_default=True, help="Crop size (paper: 256).")
@click.option("--style-weight", type=FLOAT, default=_train.style_weight, show_default=True, help="Style loss weight.")
@click.option("--tv-weight", type=FloatRange(0), default=_train.tv_weight, show_default=True,
              help="Total-variation weight on the output (0: the paper's loss); smooths the output.")
@click.option("--lattice-weight", type=FloatRange(0), default=_train.lattice_weight, show_default=True,
              help="Weight of a penalty on a 2/4-pixel grid in the output (0: the paper's loss).")
@click.option("--lr", "learning_rate", type=FLOAT, default=_train.learning_rate, show_default=True,
              help="Adam learning rate.")
@click.option("--decay", type=FLOAT, default=_train.decay, show_default=True, help="lr / (1 + decay * step).")
@outputs.training_run_options(_train)
@click.option("--mixed-precision", is_flag=True,
              help="Mixed precision (Keras policy) for the decoder and the frozen loss network; statistics stay float32.")
@click.option("--precision-dtype", type=click.Choice(["bfloat16", "float16"]), default="bfloat16", show_default=True,
              help="The half type --mixed-precision uses (bfloat16: AMX/AVX-512 CPUs and recent GPUs).")
def train_cmd(mixed_precision, precision_dtype, **options):
    """Train the decoder on content photos x style images (Keras fit; resumable)."""
    from offline.adain_train import train

    options["precision"] = precision_dtype if mixed_precision else "float32"
    settings, command = outputs.training_run(AdaINTrainSettings, "adain", options)
    manifest = train(settings, command=command, log=click.echo)
    click.echo(f"wrote {settings.out}/decoder.weights.h5 and manifest.json ({manifest['steps']} steps, "
               f"final {manifest['final_losses']})")


def _model_options(f):
    f = click.option("--precision", type=PRECISION, default="float32", show_default=True,
                     help="Compute dtype (bfloat16 is much faster on CPUs with AMX/AVX-512 BF16).")(f)
    f = weights_options(f)
    f = click.option("--model", "model_dir", type=click.Path(file_okay=False), default=None,
                     help="Model folder, or 'adain' (the shipped trained/adain-relu3_1, the default) or 'fast' "
                          "(trained/fast, the live model); 'random' for random weights (testing).")(f)
    return f


def _load_stylizer(model_dir, weights, weights_dir, precision, refine=True):
    from offline.stylizers import load_stylizer

    return load_stylizer(model_dir or "adain", weights=weights, weights_dir=weights_dir, precision=precision,
                         refine=refine)


_refine_option = click.option(
    "--refine/--no-refine", default=True, show_default=True,
    help="Fast model: refine each style image's code by a few optimisation steps (better style; "
         "about a minute per style on a 2-core CPU). Presets store the refined code.")


def _expand_styles(styles):
    """--style values: folders expand to their images (an empty folder is an error)."""
    from offline.media import list_images

    out = []
    for s in styles:
        p = Path(s)
        out.extend(str(f) for f in list_images(p)) if p.is_dir() else out.append(s)
    return out


def _style_label(s):
    return Path(s).stem if isinstance(s, str) else getattr(s, "name", "style")


@cli.command("stylize")
@click.argument("content", nargs=-1, required=True, type=click.Path())
@click.option("--style", "styles", multiple=True, required=True,
              help="A style image, a folder of them, a .npz or a preset name (repeatable).")
@click.option("--mix", default=None, help="Interpolation weights for several styles, e.g. 0.6,0.4 (normalised).")
@click.option("--alpha", type=FloatRange(0, 1), default=1.0, show_default=True,
              help="Content/style trade-off (0 = content, 1 = full style).")
@click.option("--preserve-color", is_flag=True, help="Keep the content's colours (luminance-only transfer).")
@click.option("--mask", type=click.Path(), default=None, help="Gray mask as big as the content image.")
@click.option("--style-per-region", is_flag=True, help="With --mask: style k paints region k (mask value k/(K-1)*255).")
@click.option("--max-side", "size", type=click.IntRange(16), default=None,
              help="Resize content so its longer side is this many pixels.")
@renamed("--size", "--max-side", "size", "--size is WxH elsewhere", click.IntRange(16))
@click.option("--style-size", type=click.IntRange(16), default=None,
              help="Resize styles so their longer side is SIZE before computing statistics.")
@_model_options
@click.option("-o", "--output", required=True, type=outputs.OutputFileOrFolder(outputs.IMAGE),
              help="Output image (one content) or folder (several, or folders: NAME_stylized.png each).")
@click.option("--resume", is_flag=True, help="Skip the images whose output exists (an interrupted batch continues).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Stylize on Ray workers: a cluster's ADDRESS (host:port, auto) or, alone, a local Ray.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Ray: how many workers [one per GPU, else per node].")
@click.option("--json", "as_json", is_flag=True, help="Print timing per image as JSON.")
@_refine_option
def stylize_cmd(content, styles, mix, alpha, preserve_color, mask, style_per_region, size, style_size,
                model_dir, weights, weights_dir, precision, output, resume, ray_address, workers, as_json, refine):
    """Stylize CONTENT images (files or folders of them) with one or more styles."""
    import json
    import time

    from offline.media import IMAGE_EXTENSIONS, list_images, read_gray, read_image

    if mask and not style_per_region:
        raise UserError("--mask needs --style-per-region (one style per region)")
    if style_per_region and not mask:
        raise UserError("--style-per-region needs --mask")
    if workers and ray_address is None:
        raise UserError("--workers is for --ray")
    weights_mix = [w for w in mix.split(",") if w.strip()] if mix else None
    try:
        weights_mix = [float(w) for w in weights_mix] if weights_mix else None
    except ValueError:
        raise UserError(f"bad --mix {mix!r}: expected numbers like 0.6,0.4") from None
    style_list = _expand_styles(styles)
    content = [str(f) for c in content for f in (list_images(c) if Path(c).is_dir() else [c])]
    out = Path(output)
    single = len(content) == 1 and out.suffix.lower() in IMAGE_EXTENSIONS
    if len(content) > 1 and out.suffix.lower() in IMAGE_EXTENSIONS:
        raise UserError(f"-o {output} is a file but there are {len(content)} content images: give a folder")
    targets = [out] if single else [out / name for name in batch_names(content)]
    outputs.check_not_inputs(targets, [*content, *style_list, mask])
    mask_image = read_gray(mask) if mask else None
    for path in content:  # unreadable inputs fail before the model loads
        h, w = read_image(path).shape[:2]
        if mask_image is not None and mask_image.shape[:2] != (h, w):
            raise UserError(f"mask {mask} is {mask_image.shape[1]}x{mask_image.shape[0]} but {path} is "
                            f"{w}x{h}: they must be the same size")
    jobs = [(c, t) for c, t in zip(content, targets) if not (resume and Path(t).exists())]
    if resume and len(jobs) < len(content):
        click.echo(f"{len(content) - len(jobs)} of {len(content)} outputs exist: skipped (--resume)", err=True)
    options = {"size": size, "alpha": alpha, "mix": weights_mix, "preserve_color": preserve_color, "mask": mask_image}
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    if ray_address is not None:
        from offline.cluster import stylize_on_ray

        model = {"model_dir": model_dir or "adain", "weights": weights, "weights_dir": weights_dir,
                 "precision": precision, "refine": refine}
        t0 = time.perf_counter()
        records = stylize_on_ray(jobs, model, style_list, style_size, options,
                                 None if ray_address == "local" else ray_address, workers)
        seconds = time.perf_counter() - t0
        report = {"styles": [_style_label(s) for s in style_list], "images": records, "seconds": round(seconds, 2)}
        click.echo(json.dumps(report) if as_json else
                   f"{len(records)} images -> {out} in {seconds:.1f} s ({len(records) / max(seconds, 1e-9):.2f} images/s)")
        return
    from offline.stylizers import stylize_file

    st = _load_stylizer(model_dir, weights, weights_dir, precision, refine)
    t0 = time.perf_counter()
    stats = [st.style(s, max_side=style_size) for s in style_list]
    style_seconds = time.perf_counter() - t0
    report = {"styles": [_style_label(s) for s in style_list], "style_seconds": round(style_seconds, 4), "images": []}
    for path, target in jobs:
        record = stylize_file(st, stats, path, target, **options)
        report["images"].append(record)
        if not as_json:
            click.echo(f"{target}  ({record['width']}x{record['height']}, {record['seconds']:.2f} s)")
    if as_json:
        click.echo(json.dumps(report))


@cli.command("sheet")
@click.argument("content", nargs=-1, required=True, type=click.Path())
@click.option("--style", "styles", multiple=True, required=True,
              help="Style images, folders of them, .npz files or preset names (repeatable).")
@click.option("--alpha", type=FloatRange(0, 1), default=1.0, show_default=True)
@click.option("--preserve-color", is_flag=True)
@click.option("--size", type=click.IntRange(16), default=256, show_default=True, help="Cell size (square crops).")
@click.option("--cols", type=click.IntRange(1), default=None, help="Wrap a single content's styles into rows of COLS.")
@_model_options
@click.option("-o", "--output", required=True, type=outputs.OutputFile(outputs.IMAGE), help="Sheet image file.")
@click.option("--json", "as_json", is_flag=True, help="Print timing per image as JSON.")
@_refine_option
def sheet_cmd(content, styles, alpha, preserve_color, size, cols, model_dir, weights, weights_dir, precision,
              output, as_json, refine):
    """A contents x styles contact sheet (the first row shows the styles, the first column the contents)."""
    import json
    import time

    from offline.media import labelled_sheet, read_image, write_image

    style_list = _expand_styles(styles)
    outputs.check_not_inputs([output], [*content, *style_list])
    images = [_square(read_image(c), size) for c in content]
    st = _load_stylizer(model_dir, weights, weights_dir, precision, refine)
    stats = [st.style(s) for s in style_list]
    thumbs = [_square(read_image(s), size) if Path(s).is_file() and Path(s).suffix.lower() != ".npz" else
              _name_tile(_style_label(s), size) for s in style_list]
    timings = []
    rows = [[None] + thumbs]
    for image in images:
        row = [image]
        for s in stats:
            t = time.perf_counter()
            row.append(st.stylize_image(image, s, alpha=alpha, preserve_color=preserve_color))
            timings.append(time.perf_counter() - t)
        rows.append(row)
    labels = [""] + [Path(c).stem for c in content]
    if cols and len(images) == 1 and len(stats) > cols:  # one content in many styles: wrap
        cells = [(thumbs[i], rows[1][i + 1]) for i in range(len(stats))]
        rows, labels = [], []
        for start in range(0, len(cells), cols):
            chunk = cells[start : start + cols]
            rows += [[images[0] if start == 0 else None] + [c[0] for c in chunk],
                     [None] + [c[1] for c in chunk]]
            labels += ["", ""]
    sheet = labelled_sheet(rows, cell=(size, size))
    write_image(output, sheet)
    report = {"output": str(output), "contents": len(images), "styles": len(stats), "size": size,
              "seconds_per_image": round(float(np.mean(timings)), 4) if timings else None}
    click.echo(json.dumps(report) if as_json else f"wrote {output} ({len(images)} x {len(stats)})")


def batch_names(paths, suffix="_stylized.png"):
    """Output names for a batch: ``STEM_stylized.png``, with the extension kept in the name where two
    inputs share a stem (a.jpg and a.png must not write one file)."""
    stems = [Path(p).stem for p in paths]
    return [f"{Path(p).stem}{'_' + Path(p).suffix[1:] if stems.count(Path(p).stem) > 1 else ''}{suffix}"
            for p in paths]


def _square(image, size):
    """Centre-crop to a square and resize to size x size."""
    from offline.media import resize

    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return resize(image[y : y + s, x : x + s], (size, size))


def _name_tile(name, size):
    from offline.media import put_text

    tile = np.full((size, size, 3), 235, np.uint8)
    put_text(tile, name[:18], (6, size // 2), height=max(10, size // 14))
    return tile


@cli.command("presets")
@click.argument("styles", nargs=-1, required=True, type=click.Path())
@click.option("--style-size", type=click.IntRange(16), default=None,
              help="Longer side the style images are read at.")
@_model_options
@click.option("--out", type=outputs.OutputFolder(), default=None,
              help="Where NAME.npz go [default: <model>/styles].")
@click.option("--force", is_flag=True, help="Replace presets that exist.")
@_refine_option
def presets_cmd(styles, style_size, model_dir, weights, weights_dir, precision, out, force, refine):
    """Cache style statistics as presets (NAME.npz), so '--style NAME' works without the image."""
    import hashlib

    from offline.stylizers import resolve_model

    if out:
        folder = Path(out)
    elif str(model_dir).startswith("random"):
        raise UserError("--out is required with a random model")
    else:
        folder = resolve_model(model_dir or "adain") / "styles"
    files = _expand_styles(styles)
    for s in files:
        if not Path(s).is_file():
            raise UserError(f"style image not found: {s}")
        outputs.check_replaceable(folder / f"{Path(s).stem}.npz", force, "preset", marker=None)
    stems = [Path(s).stem for s in files]
    if len(set(stems)) < len(stems):
        raise UserError(f"two style images share a name ({', '.join(sorted({n for n in stems if stems.count(n) > 1}))}): "
                        "presets are named after the file")
    st = _load_stylizer(model_dir, weights, weights_dir, precision, refine)
    folder.mkdir(parents=True, exist_ok=True)
    for s in files:
        p = Path(s)
        stats = st.style(str(p), max_side=style_size)
        stats.name = p.stem
        stats.meta.update({"source": p.name, "source_sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                           "style_size": style_size or st.style_size, "encoder": st.encoder.describe(),
                           "command": "offline adain presets", "model": st.kind})
        stats.save(folder / f"{p.stem}.npz")
        click.echo(f"{folder / (p.stem + '.npz')}")


@cli.command("export")
@_model_options
@click.option("--format", "fmt", type=click.Choice(["onnx", "saved_model"]), default="onnx", show_default=True)
@click.option("--size", type=SIZE, default=(640, 360), show_default=True,
              help="The frame size WxH the exported function takes.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output: FILE.onnx, or a folder for --format saved_model.")
@click.option("--force", is_flag=True, help="Replace an export that exists.")
def export_cmd(model_dir, weights, weights_dir, precision, fmt, size, output, force):
    """Export the per-frame function (a frame and a style's cached statistics in, the stylized
    frame out) for ONNX Runtime, OpenCV DNN or TouchDesigner, with the model's presets as JSON.

    \b
    Examples:
      offline adain export --model fast --format onnx --size 640x360 -o fast_640x360.onnx
      offline adain export --model adain --format saved_model -o adain_saved_model/
    """
    from offline import backend
    from offline.export import export, onnx_parity

    if backend.name() != "tensorflow":
        raise UserError(f"export runs on the TensorFlow backend (Keras' exporters; this is {backend.name()}): "
                        "run it with KERAS_BACKEND=tensorflow, the model is the same")
    if fmt == "onnx":
        outputs.check_output_file(output, (".onnx",), "export")
    else:
        outputs.check_output_folder(output, "export folder")
    outputs.check_replaceable(output, force, "export", marker=None)
    if fmt == "onnx":
        if importlib.util.find_spec("tf2onnx") is None:
            raise UserError("ONNX export needs tf2onnx: pip install 'neural-studio[export]' (tf2onnx onnxruntime)")
    st = _load_stylizer(model_dir, weights, weights_dir, precision)
    w, h = size
    model, styles = export(st, output, fmt, (w, h))
    click.echo(f"wrote {output} ({st.kind}, {w}x{h}, inputs image/style_mean/style_std) and {styles} "
               f"({len(st.presets)} presets)")
    if fmt == "onnx":
        diff = onnx_parity(model, output, st, (w, h))
        if diff is not None:
            click.echo(f"ONNX Runtime vs Keras on a test frame: largest difference {diff:.3g} grey levels")
            if diff > 1.0:
                raise UserError(f"the exported model differs from Keras by {diff:.2f} grey levels (more than 1)")
