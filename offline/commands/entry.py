"""How ``offline`` and ``realtime`` run as console scripts, one policy for both:

- TensorFlow's start-up chatter is filtered from stderr (``offline.quiet``);
- ``KERAS_BACKEND`` names a backend that is installed, or the command stops with one line;
- exit codes: 0 done, 2 a user error or an operating-system refusal (a full disk, a read-only
  folder: one line, no traceback), 130 interrupted; SIGTERM is
  treated like Ctrl-C, so whatever a command saves on Ctrl-C (a render, a checkpoint, a
  recording) it saves on SIGTERM too.
"""

import importlib.util
import os
import signal
import sys

import click

BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def check_backend():
    name = os.environ.get("KERAS_BACKEND", "tensorflow")
    module = BACKEND_MODULES.get(name)
    if module is None:
        raise click.ClickException(f"KERAS_BACKEND={name} is not a Keras backend (tensorflow or jax)")
    if importlib.util.find_spec(module) is None:
        hint = "pip install '.[jax]'" if name == "jax" else f"pip install {module}"
        raise click.ClickException(f"KERAS_BACKEND={name} but {module} is not installed: {hint}, or unset KERAS_BACKEND")


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def console(main):
    """Run a click group as the console script."""
    from offline.errors import UserError
    from offline.quiet import filter_stderr

    filter_stderr()
    try:
        check_backend()
    except click.ClickException as e:
        UserError(e.message).show()
        sys.exit(2)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        rv = main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except OSError as e:  # a full disk, a read-only folder, a file gone mid-run: one line, not a traceback
        UserError(f"{e.strerror or e}" + (f": {e.filename}" if getattr(e, "filename", None) else "")).show()
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)
