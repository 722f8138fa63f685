"""click options shared by several commands, defined once."""

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
