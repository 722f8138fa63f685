"""A render's work folder: its finished pieces (video chunks, zoom frames) and ``render.json``, the
settings they came from, so an interrupted render resumes after its last piece and never joins
pieces of another render. Used by ``offline render`` (chunks), Ray renders and dream zooms (frames)."""

import json
from pathlib import Path

from offline.errors import UserError
from offline.media import atomic_write_text


class WorkFolder:
    """Finished pieces of a render (``pattern``) plus ``render.json``, the settings they came from.
    A render resumes after the last piece; settings that would change the pieces must match."""

    pattern = "chunk_{:05d}.mp4"
    noun = "chunks"

    def __init__(self, folder, settings, resume=False, fresh=False):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"work folder {self.folder} is a file")
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(".*"):  # a piece being written when the process was killed
            if stale.is_file():
                stale.unlink()
        meta = self.folder / "render.json"
        have = len(self.finished())
        if have and fresh:
            self.clear()
            have = 0
        if have and not resume:
            raise UserError(f"{self.folder} already holds {have} finished {self.noun}: pass --resume to continue "
                            f"the render, --fresh to start over, or another --work folder")
        if have and not meta.exists():  # pieces of unknown origin must not join another render's
            raise UserError(f"cannot resume: {meta} is missing, so the {have} finished {self.noun} there cannot "
                            "be checked against this render; use --fresh to start over or another --work folder")
        if have:
            try:
                old = json.loads(meta.read_text())
                if not isinstance(old, dict):
                    raise ValueError("not a JSON object")
            except (OSError, UnicodeDecodeError, ValueError) as e:
                raise UserError(f"cannot resume: {meta} is damaged ({type(e).__name__}); use --fresh to start over "
                                f"or another --work folder") from None
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if diff:
                raise UserError(f"cannot resume: {self.folder} was rendered with other settings ({', '.join(diff)}); "
                                f"use --fresh or another --work folder")
        atomic_write_text(meta, json.dumps(settings, indent=1, sort_keys=True))

    @classmethod
    def attach(cls, folder):
        """The work folder as a worker sees it: where the pieces go, nothing checked or written."""
        store = cls.__new__(cls)
        store.folder = Path(folder)
        return store

    def path(self, i):
        return self.folder / self.pattern.format(i)

    def finished(self):
        """The numbers of all finished pieces (workers finish them out of order)."""
        prefix = self.pattern.split("{")[0]
        return {int(p.stem[len(prefix):]) for p in self.folder.glob(prefix + "*" + Path(self.pattern).suffix)
                if p.stem[len(prefix):].isdigit()}

    def done(self):
        """How many pieces are finished (0..n-1 all present)."""
        n = 0
        while self.path(n).exists():
            n += 1
        return n

    def clear(self):
        for p in self.folder.glob(self.pattern.split("{")[0] + "*"):
            p.unlink()

    def remove(self):
        """Delete the pieces and render.json, and the folder if nothing else is in it."""
        self.clear()
        (self.folder / "render.json").unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass


def work_folder(work, output, suffix=".chunks"):
    return Path(work) if work else Path(output).with_suffix(suffix)
