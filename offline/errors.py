"""User-facing errors: one line, exit code 2, no traceback."""

import click


class UserError(click.ClickException):
    """A mistake the user can fix (missing file, bad option value, no camera).

    click prints it as ``Error: <message>`` and exits with code 2, like a usage error.
    """

    exit_code = 2


def require_file(path, what="file"):
    """Return ``path`` as a string, or raise a UserError naming it if it is not a readable file."""
    import os

    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{what} not found: {path}")
    if not os.path.isfile(path):
        raise UserError(f"{what} is not a file: {path}")
    return path
