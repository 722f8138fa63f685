"""One stylizer contract, two models: AdaIN on VGG19 (``offline.adain.Stylizer``, quality, GPUs)
and the fast network (``offline.fast.FastStylizer``, live video on CPUs).

Both offer ``style(source) -> StyleStats`` (cached, presets by name), ``stylize(content, mean,
std, alpha)`` (pure keras.ops, compiled into per-frame loops), ``frame_function()`` and
``stylize_image(content, style, alpha, mix, preserve_color, mask)``. ``load_stylizer`` reads a
model folder's manifest and builds the right one.
"""

from pathlib import Path

from offline import artifacts
from offline.errors import UserError

MODELS = artifacts.SHIPPED  # --model NAME shorthands


def resolve_model(model, gpu=False):
    """``--model`` (None, a shorthand name or a folder) -> a folder. None: the fast model on a CPU
    (when it is shipped), AdaIN on a GPU."""
    if model is None:
        if not gpu and (MODELS["fast"] / "manifest.json").is_file():
            return MODELS["fast"]
        return MODELS["adain"]
    if str(model) in MODELS and not Path(model).is_dir():
        return MODELS[str(model)]
    return Path(model)


def load_stylizer(model=None, weights="imagenet", weights_dir=None, precision="float32", gpu=False, refine=True):
    """The stylizer for a model folder (or ``random``/``random:relu3_1``/``random:fast`` for tests).
    ``refine=False``: a fast model takes the head's code for style images at once (no refinement)."""
    stylizer = _load(model, weights, weights_dir, precision, gpu)
    if not refine and getattr(stylizer, "refine_steps", 0):
        stylizer.refine_steps = 0
    return stylizer


def _load(model, weights, weights_dir, precision, gpu):
    from offline.backend import resolve_precision

    if model is not None and str(model).startswith("random"):
        kind = str(model).split(":", 1)[1] if ":" in str(model) else "relu3_1"
        precision = resolve_precision(precision, "fast" if kind == "fast" else "adain")
        if kind == "fast":
            from offline.fast import FastStylizer

            return FastStylizer.random(precision=precision)
        from offline.adain import Stylizer

        return Stylizer.random(kind, precision=precision)
    folder = resolve_model(model, gpu)
    if not folder.is_dir():
        raise UserError(f"model folder not found: {folder}")
    kind = artifacts.read_manifest(folder).get("kind", "adain")
    precision = resolve_precision(precision, kind)
    if kind == "fast":
        from offline.fast import FastStylizer

        return FastStylizer.load(folder, weights=weights, weights_dir=weights_dir, precision=precision)
    if kind == "adain":
        from offline.adain import Stylizer

        return Stylizer.load(folder, weights=weights, weights_dir=weights_dir, precision=precision)
    raise UserError(f"{folder} holds a {kind!r} model, which cannot stylize")


def stylize_file(stylizer, stats, content, target, size=None, alpha=1.0, mix=None, preserve_color=False, mask=None):
    """Read ``content``, stylize it with ``stats`` (a list of ``StyleStats``), write ``target``
    (atomically); returns what the batch report says about it. ``size``: longer side to resize
    the content to; ``mask``: a gray (H, W) region mask, resized to the content."""
    import time

    from offline.media import read_image, resize, write_image

    image = read_image(content, max_side=size) if size else read_image(content)
    if mask is not None and mask.shape[:2] != image.shape[:2]:
        mask = resize(mask, (image.shape[1], image.shape[0]))
    t = time.perf_counter()
    result = stylizer.stylize_image(image, stats, alpha=alpha, mix=mix, preserve_color=preserve_color, mask=mask)
    seconds = time.perf_counter() - t
    write_image(target, result)
    return {"content": str(content), "output": str(target), "width": image.shape[1], "height": image.shape[0],
            "seconds": round(seconds, 4)}
