"""Image and video I/O shared by offline and realtime: reading, atomic writing, grids, animations.

Images inside the project are RGB uint8 numpy arrays (H, W, 3); OpenCV's BGR stays in this file.
"""

import contextlib
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from offline.errors import UserError, require_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path, size=None, max_side=None):
    """Read an image file as RGB uint8. ``size`` is (width, height) or None; ``max_side`` caps the
    longer side while keeping the aspect ratio. Unreadable files are a UserError."""
    path = require_file(path, "image")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"cannot read image (not an image, or corrupt): {path}")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size is not None:
        image = resize(image, size)
    elif max_side is not None:
        image = fit_max_side(image, max_side)
    else:
        check_size(image.shape[1], image.shape[0], f"image {path}")
    return image


def read_gray(path):
    """Read an image file as a single-channel uint8 array."""
    path = require_file(path, "image")
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UserError(f"cannot read image (not an image, or corrupt): {path}")
    return image


def resize(image, size):
    """Resize to (width, height): area filter when shrinking, cubic when enlarging. A size this
    machine cannot hold is a UserError (``check_size``), before OpenCV asks for the memory."""
    w, h = check_size(int(size[0]), int(size[1]), "resized image")
    shrinking = w * h < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out


def fit_max_side(image, max_side):
    """Scale so that the longer side is ``max_side`` (both up and down), keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    return resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))


def to_uint8(image):
    """Clip a float image in 0..255 and round it to uint8."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float32)), 0, 255).astype(np.uint8)


def parse_size(text):
    """'640x360' -> (640, 360); '512' -> (512, 512). Bad text, or a size this machine cannot hold
    (``check_size``), is a UserError."""
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise UserError(f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 640x360, or one number")
    check_size(*parts, what=f"size {text}")
    return tuple(parts)


BYTES_PER_PIXEL = 2000  # what a network's activations take per input pixel, roughly (VGG block 1: 64 x 4 B per tensor)


def max_pixels():
    """The most pixels an image may have here: physical memory / BYTES_PER_PIXEL (12 MP on 24 GB)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 << 30
    return memory // BYTES_PER_PIXEL


def check_size(width, height, what="image", minimum=1):
    """The one size check: at least ``minimum`` pixels a side (what the network needs), at most what
    this machine's memory can process (``max_pixels``). A UserError naming both numbers."""
    if min(width, height) < minimum:
        raise UserError(f"{what} is {width}x{height}: at least {minimum}x{minimum} pixels are needed")
    if width * height > max_pixels():
        raise UserError(f"{what} is {width}x{height} ({width * height / 1e6:.0f} megapixels): more than this "
                        f"machine's memory can process ({max_pixels() / 1e6:.0f} megapixels); use a smaller size")
    return width, height


def list_images(folder):
    """Sorted image files in a folder (not recursive). A missing or empty folder is a UserError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder: {folder}")
    return files


# --- atomic writes -------------------------------------------------------------------------------

def _temp_beside(path, suffix):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the final file should look like any other
    return tmp


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """A temporary path beside ``path`` (same folder, hidden, ending in ``suffix`` [path's]) to
    write to: moved onto ``path`` when the block ends, deleted if it raises. Every file the
    project writes goes through here, so no reader ever sees half a file."""
    tmp = _temp_beside(path, suffix or Path(path).suffix or ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path, data):
    with atomic_path(path, ".tmp") as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def write_image(path, image):
    """Write an RGB uint8 (or float 0..255) image atomically; the format follows the extension."""
    path = Path(path)
    ext = path.suffix.lower() or ".png"
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise UserError(f"cannot encode image as {ext}: {path}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def preserve_colors(content, stylized):
    """Keep the content's colours: the stylized luminance with the content's chroma (YCrCb),
    Gatys et al. 2016's luminance-only transfer (works with cached style statistics)."""
    content, stylized = to_uint8(content), to_uint8(stylized)
    if content.shape != stylized.shape:
        content = cv2.resize(content, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
    y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    c = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    y[..., 1:] = c[..., 1:]
    return cv2.cvtColor(y, cv2.COLOR_YCrCb2RGB)


def thumbnail(image, side=96):
    """The centre square of an RGB image, ``side`` pixels wide (a style's picture in a list)."""
    h, w = image.shape[:2]
    s = min(h, w)
    return resize(to_uint8(image)[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s], (side, side))


# --- grids and contact sheets --------------------------------------------------------------------

def grid(images, cols=None, pad=2, background=255, labels=None, label_height=None):
    """Tile same-size RGB (or gray) images into one picture, optionally with a caption under each."""
    images = [to_uint8(im) for im in images]
    images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    lh = 0
    if labels is not None:
        lh = label_height or max(14, min(28, w // 8))
    sheet = np.full((rows * (h + lh + pad) + pad, cols * (w + pad) + pad, 3), background, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + lh + pad), pad + c * (w + pad)
        sheet[y : y + im.shape[0], x : x + im.shape[1]] = im
        if labels is not None and labels[i]:
            put_text(sheet, str(labels[i]), (x + 2, y + h + lh - 4), height=lh - 4)
    return sheet


def put_text(image, text, origin, height=14, color=(0, 0, 0), thickness=1):
    """Draw text whose cap height is about ``height`` pixels (OpenCV's Hershey font)."""
    scale = max(0.3, height / 22.0)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


def labelled_sheet(rows, row_labels=None, col_labels=None, cell=None, pad=4):
    """A contact sheet: ``rows`` is a list of lists of RGB images (None leaves a blank cell)."""
    cell_h, cell_w = cell or next(im.shape[:2] for row in rows for im in row if im is not None)
    lw = 0 if row_labels is None else max(60, 8 * max(len(s) for s in row_labels))
    lh = 0 if col_labels is None else 22
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    sheet = np.full((lh + n_rows * (cell_h + pad) + pad, lw + n_cols * (cell_w + pad) + pad, 3), 255, np.uint8)
    for c, label in enumerate(col_labels or []):
        put_text(sheet, label[: max(4, cell_w // 8)], (lw + pad + c * (cell_w + pad), 16), height=12)
    for r, row in enumerate(rows):
        y = lh + pad + r * (cell_h + pad)
        if row_labels is not None:
            put_text(sheet, row_labels[r][:20], (4, y + cell_h // 2), height=12)
        for c, im in enumerate(row):
            if im is None:
                continue
            x = lw + pad + c * (cell_w + pad)
            sheet[y : y + cell_h, x : x + cell_w] = resize(to_uint8(im), (cell_w, cell_h))
    return sheet


# --- video and animation -------------------------------------------------------------------------

def write_gif(path, frames, fps=12, max_side=None):
    """Write an animated GIF atomically (Pillow: OpenCV cannot write GIFs)."""
    from PIL import Image

    frames = [to_uint8(f) for f in frames]
    if max_side:
        frames = [fit_max_side(f, max_side) for f in frames]
    pil = [Image.fromarray(f) for f in frames]
    with atomic_path(path, ".gif") as tmp:
        pil[0].save(tmp, save_all=True, append_images=pil[1:], duration=int(1000 / fps), loop=0, optimize=True)
    return Path(path)


def file_sha256(path):
    """The sha256 of a file, read in 1 MB pieces (weights files, checkpoints)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
