"""``realtime doctor``: is this machine ready for a show? One line per check: ``ok``, ``note``
(an optional part is missing: what it costs) or ``FIX`` (what stops a show, and what to do).
Nothing here loads a model; each check is a function returning ``(status, line)``.
"""

import importlib.util
import os
import sys
import threading
from pathlib import Path

OK, NOTE, FIX = "ok", "note", "FIX"


def check_camera(index, timeout=5.0):
    """Open the camera and read one frame, within ``timeout`` seconds (a missing V4L device can
    block OpenCV for longer)."""
    import cv2

    found = {}

    def probe():
        cap = cv2.VideoCapture(index)
        try:
            ok, frame = cap.read() if cap.isOpened() else (False, None)
            found["frame"] = frame if ok else None
        finally:
            cap.release()

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    frame = found.get("frame")
    if frame is None:
        return FIX, (f"camera {index}: no picture (not connected, in use by another program, or no permission: "
                     f"on Linux add yourself to the 'video' group); or show a file with --source FILE")
    return OK, f"camera {index}: {frame.shape[1]}x{frame.shape[0]}"


def check_display(environ=None):
    environ = os.environ if environ is None else environ
    if sys.platform.startswith("linux") and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return FIX, ("display: none (DISPLAY is not set): log in to the desktop session, or run headless with "
                     "--no-display (--serve, --out, --virtual-camera)")
    return OK, "display: " + (environ.get("WAYLAND_DISPLAY") or environ.get("DISPLAY") or sys.platform)


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def check_compute():
    from offline import backend

    if backend.has_gpu():
        return OK, f"accelerator: GPU ({backend.name()} backend): AdaIN and the fast model at 1080p"
    flags = cpu_flags()
    features = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    if flags and "avx2" not in flags:
        return NOTE, "accelerator: CPU without AVX2: the fast model runs, slowly; lower --process-size"
    return OK, f"accelerator: CPU ({os.cpu_count()} cores{', ' + ' '.join(features) if features else ''}): " \
               "the fast model live; AdaIN is for GPUs"


def weights_folders(environ=None):
    """Where ImageNet weights are looked for: $STUDIO_WEIGHTS_DIR, then Keras' cache."""
    from offline.backbone import WEIGHTS_DIR_ENV

    environ = os.environ if environ is None else environ
    folders = []
    if environ.get(WEIGHTS_DIR_ENV):
        folders.append(Path(environ[WEIGHTS_DIR_ENV]))
    folders.append(Path(environ.get("KERAS_HOME", Path(environ.get("HOME", "~")).expanduser() / ".keras")) / "models")
    return folders


def check_weights(environ=None):
    """The encoders a show may need: VGG19 (style images of one's own, AdaIN) and MobileNet
    (the features effect). The shipped presets need neither."""
    from offline.backbone import MODELS, find_weights_file

    folders = weights_folders(environ)
    missing = []
    for key, alpha, what in (("vgg19", 1.0, "style images and AdaIN"), ("mobilenet", 0.75, "--effect features")):
        if not any(find_weights_file(f, key, MODELS[key], False, alpha) for f in folders):
            missing.append(f"{key} ({what})")
    if missing:
        return FIX, (f"weights: {', '.join(missing)} not in {' or '.join(str(f) for f in folders)}: run the command "
                     f"once with internet, or set STUDIO_WEIGHTS_DIR to a folder holding them (presets work without)")
    return OK, f"weights: VGG19 and MobileNet found ({folders[0]})"


def check_models():
    from offline import artifacts

    folder = artifacts.SHIPPED["fast"]
    presets = sorted(folder.glob("styles/*.npz")) if folder.is_dir() else []
    if not (folder / "manifest.json").is_file() or not presets:
        return FIX, f"models: the fast model or its presets are missing from {folder}: reinstall the package"
    return OK, f"models: fast model with {len(presets)} presets"


EXTRAS = (("aiohttp", "--serve (the web page)"), ("pythonosc", "--osc"), ("pyvirtualcam", "--virtual-camera"))


def check_extras():
    missing = [f"{what} needs {module}" for module, what in EXTRAS if importlib.util.find_spec(module) is None]
    if missing:
        return NOTE, f"extras: {'; '.join(missing)}: pip install 'neural-studio[live]'"
    return OK, "extras: web page, OSC and virtual camera available"


def run_checks(camera=0, display=True, environ=None):
    """[(status, line)] for this machine; ``camera`` None skips the camera, ``display`` False the screen."""
    checks = [check_compute(), check_models(), check_weights(environ), check_extras()]
    if display:
        checks.insert(0, check_display(environ))
    if camera is not None:
        checks.insert(0, check_camera(camera))
    return checks
