"""One output policy for every command, checked while the options are parsed (before any model
loads, so a mistake costs seconds, not a render):

- an output file has an extension the command writes, and can be created: the nearest existing
  folder above it is a folder (not a file) and accepts a new file (probed, so read-only mounts
  count too, also for root);
- an output is never one of the command's inputs (``check_not_inputs``);
- models, presets and checkpoints are replaced only with ``--force`` or continued with
  ``--resume`` (``check_replaceable``); images, sheets and videos a command renders are replaced,
  as a render is replaced by running it again;
- every ``train`` command follows one rule for its folder (``training_folder``): a finished model
  or an unfinished run there is continued only with ``--resume`` and replaced only with
  ``--force``; the error names the options that differ from the run stored there.

Errors are ``UserError``: one line, exit code 2.
"""

import os
import tempfile
from pathlib import Path

import click

from offline.errors import UserError
from offline.media import IMAGE_EXTENSIONS

IMAGE = IMAGE_EXTENSIONS
VIDEO = (".mp4", ".avi")
ANIMATION = (".gif", ".mp4")
TEXT = (".log", ".txt", ".jsonl", ".json")


def _writable_ancestor(path, what):
    """The nearest existing folder at or above ``path``'s parent; a UserError when it is a file or
    does not accept new files."""
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {what} {path}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UserError(f"cannot write {what} {path}: folder {parent} is not writable ({e.strerror})") from None
    return parent


def check_output_file(path, extensions, what="output"):
    """``extensions`` None: any name (a log file)."""
    p = Path(path)
    if extensions is not None and p.suffix.lower() not in extensions:
        raise UserError(f"{what} {path}: unknown extension {p.suffix or '(none)'}; "
                        f"this command writes {', '.join(extensions)}")
    if p.is_dir():
        raise UserError(f"{what} {path} is a folder: give a file name")
    _writable_ancestor(p, what)
    return str(path)


def check_output_folder(path, what="output folder"):
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    _writable_ancestor(p / "x", what)
    return str(path)


def _same(a, b):
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.abspath(a) == os.path.abspath(b)


def check_not_inputs(outputs, inputs):
    """An output that is also an input would destroy the input: refuse it."""
    for out in [o for o in outputs if o]:
        for inp in [i for i in inputs if i]:
            if _same(out, inp):
                raise UserError(f"output {out} is also an input: it would be overwritten; choose another name")


def check_replaceable(path, force=False, what="model", marker="manifest.json", resumable=False):
    """A model, preset or checkpoint (a folder holding ``marker``, or a file) that exists is replaced
    only with --force (callers that continue it with --resume do not ask)."""
    p = Path(path)
    target = p / marker if marker and p.is_dir() else p
    if target.exists() and not force:
        raise UserError(f"{what} {path} exists: " + ("--resume to continue it, " if resumable else "")
                        + "--force to replace it")


class OutputFile(click.ParamType):
    """A ``-o`` file checked at parse time (extension, writable folder)."""

    name = "FILE"

    def __init__(self, extensions, what="output"):
        self.extensions, self.what = (tuple(extensions) if extensions is not None else None), what

    def convert(self, value, param, ctx):
        return value if value is None else check_output_file(value, self.extensions, self.what)


class OutputFolder(click.ParamType):
    """An output folder checked at parse time (not a file, writable)."""

    name = "DIR"

    def __init__(self, what="output folder"):
        self.what = what

    def convert(self, value, param, ctx):
        return value if value is None else check_output_folder(value, self.what)


class OutputFileOrFolder(click.ParamType):
    """``-o`` that is a file when it has an image extension, else a folder."""

    name = "FILE|DIR"

    def __init__(self, extensions):
        self.extensions = tuple(extensions)

    def convert(self, value, param, ctx):
        if value is None:
            return value
        if Path(value).suffix.lower() in self.extensions:
            return check_output_file(value, self.extensions)
        if Path(value).suffix and not Path(value).is_dir():
            raise UserError(f"output {value}: unknown extension {Path(value).suffix}; give an image file "
                            f"({', '.join(self.extensions)}) or a folder")
        return check_output_folder(value)


class Devices(click.ParamType):
    """``--devices N|all``."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if str(value) == "all" or (str(value).isdigit() and int(value) >= 1):
            return str(value)
        self.fail(f"{value!r} is not a positive number or 'all'", param, ctx)


def devices_option(default="1"):
    return click.option("--devices", type=Devices(), default=default, show_default=True,
                        help="Train data-parallel on N devices (GPUs; 'all': every one), the batch split over them.")


OPTIONS_FILE = "options.json"  # the command line's options of the run in a training folder
# options that may change between a run and its --resume (how long, how it is logged, where data is)
_CONTINUE_FREELY = {"epochs", "steps", "minutes", "resume", "force", "log_every", "checkpoint_every", "workers",
                    "devices", "data_dir", "weights_dir", "weights", "checkpoint_dir", "logdir"}


def resume_options(f):
    """--resume and --force for a training command (``training_folder`` applies them)."""
    f = click.option("--force", is_flag=True, help="Start over, replacing the model or run in the folder.")(f)
    return click.option("--resume", is_flag=True, help="Continue the run in the folder (its checkpoint).")(f)


def _differences(old, new):
    """'--model mlp (was cnn), ...' for the options that differ (those a resume may change aside)."""
    keys = sorted(k for k in set(old) | set(new) if k not in _CONTINUE_FREELY and old.get(k) != new.get(k))
    return ", ".join(f"--{k.replace('_', '-')} {new.get(k)!r} (was {old.get(k)!r})" for k in keys)


def training_folder(out, options, resume, force, finished=("manifest.json",), checkpoints=("checkpoints",)):
    """The one rule for a training command's folder ``out``: empty or new, train; holding a
    finished model (any of ``finished``) or an unfinished run (any of ``checkpoints``, files or
    folders inside ``out``, or absolute paths), continue it with ``resume`` or start over with
    ``force`` (the checkpoints are removed); otherwise a UserError naming the options that differ
    from the stored run's. A run that starts writes its options as ``out/options.json`` for the
    next one to compare with (a --resume keeps those of the run it continues)."""
    import json
    import shutil

    from offline.media import atomic_write_text

    if resume and force:
        raise UserError("--resume continues the run, --force starts it over: pass one of them")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file")
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    options = json.loads(json.dumps(options, default=str))
    done = [out / f for f in finished if (out / f).exists()]
    started = [out / c for c in checkpoints if (out / c).exists()]
    stored = out / OPTIONS_FILE
    try:
        old = json.loads(stored.read_text()) if stored.is_file() else None
    except (OSError, ValueError):
        old = None
    differs = _differences(old, options) if isinstance(old, dict) else ""
    if (done or started) and not (resume or force):
        what = "a finished model" if done else "an unfinished run"
        raise UserError(f"{out} holds {what}" + (f" trained with other options ({differs})" if differs else "")
                        + ": --resume to continue it, --force to start over")
    if resume and not (done or started):
        raise UserError(f"--resume: nothing to continue in {out} (no checkpoint, no model)")
    if force:
        for c in started:
            shutil.rmtree(c) if c.is_dir() else c.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if not resume or old is None:  # a run's options are those it started with
        atomic_write_text(stored, json.dumps(options, indent=1, sort_keys=True))
    return differs


def training_run_options(defaults):
    """The options every training command shares (where it writes, checkpoints, logging, weights,
    held-out images, seed), with defaults from its settings dataclass (``defaults``)."""
    from offline.options import weights_options

    def decorate(f):
        for option in reversed([
            weights_options,
            click.option("--out", type=OutputFolder(), default=defaults.out, show_default=True,
                         help="Where the weights and manifest.json go (a model enters trained/ only when you say so)."),
            click.option("--checkpoint-dir", type=OutputFolder(), default=None,
                         help="Checkpoints and TensorBoard logs [default: <out>/../checkpoint]."),
            click.option("--checkpoint-every", type=click.IntRange(1), default=defaults.checkpoint_every,
                         show_default=True),
            click.option("--log-every", type=click.IntRange(1), default=defaults.log_every, show_default=True),
            click.option("--resume", is_flag=True, help="Continue from the checkpoint (weights + optimizer state)."),
            click.option("--force", is_flag=True, help="Start over although a checkpoint or a model exists."),
            click.option("--exclude", multiple=True, help="Hold out images whose name matches (glob; repeatable)."),
            click.option("--workers", type=click.IntRange(1), default=defaults.workers, show_default=True,
                         help="Input pipeline threads."),
            click.option("--seed", type=int, default=defaults.seed, show_default=True),
            devices_option(defaults.devices),
        ]):
            f = option(f)
        return f
    return decorate


def training_run(settings_class, group, options):
    """Settings from the parsed options, the overwrite policy applied (a checkpoint or a model that
    exists needs --resume or --force), and the command line as the manifest records it."""
    import shlex
    import sys

    force = options.pop("force")
    settings = settings_class(**{**options, "weights_dir": options.get("weights_dir") or "",
                                 "checkpoint_dir": options.get("checkpoint_dir") or "",
                                 "exclude": tuple(options.get("exclude", ()))})
    training_folder(settings.out, options, settings.resume, force,
                    checkpoints=(Path(settings.checkpoint_path).resolve() / "state.json",))
    command = f"offline {group} " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("train"):]) \
        if "train" in sys.argv else None
    return settings, command
