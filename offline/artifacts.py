"""``trained/``: where artifacts live and what their manifests hold (read, write, validate).

An artifact is a folder with weights and ``manifest.json``. Loaders go through this module so
that a missing, truncated or corrupt file is one line naming the file and what to do, never a
traceback from h5py or json.
"""

import json
from pathlib import Path

from offline.errors import UserError

TRAINED = Path(__file__).resolve().parents[1] / "trained"
SHIPPED = {"adain": TRAINED / "adain-relu3_1", "fast": TRAINED / "fast"}  # the shipped stylize models


def read_manifest(folder, kind=None):
    """``folder/manifest.json`` as a dict; a UserError when it is missing, not JSON, or of another
    kind of model (manifests without ``kind`` are AdaIN decoders, which predate the field)."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise UserError(f"no model in {folder} (manifest.json missing); train one or choose another model folder")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"corrupt manifest {path} ({type(e).__name__}): restore it from git or retrain") from None
    if not isinstance(manifest, dict):
        raise UserError(f"corrupt manifest {path}: not a JSON object")
    if kind is not None and manifest.get("kind", "adain") != kind:
        raise UserError(f"{folder} holds a {manifest.get('kind', 'adain')} model, not a {kind} model")
    return manifest


def write_manifest(folder, manifest):
    from offline.media import atomic_write_text

    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(folder) / "manifest.json", json.dumps(manifest, indent=1))


def load_weights(model, path):
    """``model.load_weights(path)`` with one-line errors for a missing, truncated or mismatched file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights missing: {path}")
    try:
        model.load_weights(path)
    except Exception as e:  # h5py OSError, Keras ValueError on shape mismatches, ...
        raise UserError(f"cannot load weights {path} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                        f"the file is damaged or from another model: restore it or retrain") from None


def model_kind(folder):
    """'fast' or 'adain' for a model folder; None when it has no readable manifest."""
    try:
        return read_manifest(folder).get("kind", "adain")
    except UserError:
        return None


def backup_and_restore(folder, **kwargs):
    """``keras.callbacks.BackupAndRestore`` on ``folder``, its files checked first: a torn or
    corrupt checkpoint (a crash or a full disk while saving) is one line naming it, not h5py's
    OSError from inside ``fit``."""
    import keras

    folder = Path(folder)
    for f in sorted(folder.glob("*.h5")) + sorted(folder.glob("*.json")):
        try:
            if f.suffix == ".h5":
                import h5py

                h5py.File(f, "r").close()
            else:
                json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"damaged checkpoint {f} ({str(e).splitlines()[0][:80]}): --force to start over") from None
    return keras.callbacks.BackupAndRestore(str(folder), **kwargs)
