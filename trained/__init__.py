"""Artifacts produced by the project's own commands (models, style presets), each a folder with a
``manifest.json``. Shipped inside the wheel, so ``path()`` works from a checkout and an install."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(name):
    """Folder of a shipped artifact, e.g. ``path("fashion_mnist")``."""
    return ROOT / name
