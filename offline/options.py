"""click options shared by several commands, defined once."""

import functools

import click

from offline.media import parse_size


def weights_options(f):
    """``--weights`` and ``--weights-dir`` (env STUDIO_WEIGHTS_DIR), passed to load_backbone."""
    f = click.option("--weights-dir", envvar="STUDIO_WEIGHTS_DIR", type=click.Path(file_okay=False), default=None,
                     help="Folder of offline weight files searched for 'imagenet' [env STUDIO_WEIGHTS_DIR].")(f)
    f = click.option("--weights", default="imagenet", show_default=True,
                     help="imagenet (Keras download/cache), a .h5/.weights.h5 file, a folder, or none (random).")(f)
    return f


def seed_option(f):
    return click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")(f)


class SizeType(click.ParamType):
    """WIDTHxHEIGHT or one number (square)."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_size(value)
        except click.ClickException as e:
            self.fail(e.message, param, ctx)


SIZE = SizeType()


class FloatRange(click.FloatRange):
    """click's FloatRange, refusing NaN (which passes click's checks: every comparison with it is
    false) and infinity: a number a show or a render can use."""

    def convert(self, value, param, ctx):
        import math

        v = super().convert(value, param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


FLOAT = FloatRange()


class SizeOrFullType(SizeType):
    """WxH, or 'full' (returned as None)."""

    name = "WxH|full"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == "full"):
            return None
        return super().convert(value, param, ctx)


SIZE_OR_FULL = SizeOrFullType()


def parse_weighted_list(text, default_weight=1.0):
    """'a:1.0,b:1.5' -> {'a': 1.0, 'b': 1.5}; 'a,b' -> equal weights."""
    from offline.errors import UserError

    out = {}
    for item in filter(None, (t.strip() for t in str(text).split(","))):
        name, _, w = item.partition(":")
        try:
            out[name] = float(w) if w else default_weight
        except ValueError:
            raise UserError(f"bad weight in {item!r}: expected NAME or NAME:NUMBER") from None
    if not out:
        raise UserError(f"empty list: {text!r}")
    return out


def renamed(old, new, dest, meaning="", type=None):
    """Keep ``old``, the spelling of an option before it became ``new``, working for now: hidden,
    its value goes to ``dest`` with a one-line deprecation notice on stderr."""
    key = "deprecated_" + old.lstrip("-").replace("-", "_")

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            value = kwargs.pop(key, None)
            if value is not None:
                click.echo(f"warning: {old} is deprecated; use {new}" + (f" ({meaning})" if meaning else ""), err=True)
                if kwargs.get(dest) is None:
                    kwargs[dest] = value
            return f(*args, **kwargs)

        return click.option(old, key, type=type, default=None, hidden=True)(wrapper)
    return decorate


def with_default(dest, default):
    """Fill ``dest`` with ``default`` when neither its option nor a renamed one gave it."""
    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if kwargs.get(dest) is None:
                kwargs[dest] = default
            return f(*args, **kwargs)
        return wrapper
    return decorate


def backbone_options(default="vgg19", width=1.0, choices="vgg19, vgg16, inception_v3, mobilenet"):
    """The feature network of a command (``--backbone``) and MobileNet's width multiplier
    (``--backbone-width``): one spelling in every command. ``--model`` is a trained folder
    elsewhere, ``--width`` and ``--alpha`` had other meanings: the old spellings still work here
    with a notice. The values arrive as ``model`` and ``width``."""
    def decorate(f):
        f = with_default("width", width)(with_default("model", default)(f))
        f = renamed("--alpha", "--backbone-width", "width", "--alpha is the content-style trade-off", FLOAT)(f)
        f = renamed("--width", "--backbone-width", "width", type=FLOAT)(f)
        f = renamed("--model", "--backbone", "model", "--model names a trained folder")(f)
        f = click.option("--backbone-width", "width", type=FLOAT, default=None,
                         help=f"MobileNet width multiplier: 0.25, 0.5, 0.75 or 1.0  [default: {width}]")(f)
        return click.option("--backbone", "model", default=None,
                            help=f"Feature network: {choices}  [default: {default}]")(f)
    return decorate


class PrecisionType(click.ParamType):
    """A precision in either spelling (fp32/float32, bf16/bfloat16, fp16/float16; ``auto`` where
    the command picks), passed on as Keras' dtype name (``float32``, ...) or ``auto``."""

    name = "fp32|bf16|fp16"

    def __init__(self, auto=False):
        self.auto = auto
        if auto:
            self.name = "auto|fp32|bf16|fp16"

    def convert(self, value, param, ctx):
        from offline.backbone import precision_name
        from offline.errors import UserError

        if self.auto and value == "auto":
            return value
        try:
            return precision_name(value)
        except UserError as e:
            self.fail(e.message, param, ctx)


PRECISION = PrecisionType()
PRECISION_AUTO = PrecisionType(auto=True)
