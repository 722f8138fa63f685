"""Frame sources (camera, video file, image folder, demo) and the capture thread.

A source's ``read()`` returns the next RGB uint8 frame of a fixed size, or None at the end of the
stream; it raises ``SourceError`` when a device fails (the camera source handles that itself by
reconnecting). ``LatestFrame`` runs a source in its own thread and keeps only the newest frame.

No TensorFlow here: a ``none``-effect run starts in a fraction of a second.
"""

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from offline.errors import UserError
from offline.media import IMAGE_EXTENSIONS, list_images, read_image, resize

log = logging.getLogger("realtime")

DEMO_SIZE = (640, 360)


class SourceError(RuntimeError):
    """A device stopped delivering frames (camera unplugged, stream broken)."""


@dataclass
class Frame:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    t_capture: float  # time.perf_counter() when it was read
    index: int  # 0, 1, 2 ... in capture order (gaps = dropped frames)


def _fit(image, size):
    """Resize to (width, height) when a size is set (the compiled effect needs one fixed shape)."""
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return resize(image, size)


class DemoSource:
    """A synthetic moving pattern: needs no camera, no file and no download.

    Colour plasma (drawn at quarter resolution, then upscaled) with bouncing discs and a sweeping
    bar, so that effects have both texture and motion to work on. Frame ``t`` is deterministic.
    """

    name = "demo"

    def __init__(self, size=None, fps=30.0):
        self.size = tuple(size or DEMO_SIZE)
        self.fps = fps
        self.t = 0
        w, h = self.size
        yy, xx = np.mgrid[0 : max(2, h // 4), 0 : max(2, w // 4)].astype(np.float32)
        self._xx, self._yy = xx / max(1, w // 4), yy / max(1, h // 4)

    def read(self):
        w, h = self.size
        s = self.t / (self.fps or 30.0)  # the pattern moves as at 30 FPS when unpaced (--fps 0)
        self.t += 1
        x, y = self._xx, self._yy
        v = np.sin(9 * x + s) + np.sin(7 * y - 1.3 * s) + np.sin(6 * (x + y) + 0.7 * s)
        v += np.sin(11 * np.hypot(x - 0.5 - 0.3 * np.cos(0.5 * s), y - 0.5) - 2 * s)
        rgb = np.stack([np.sin(v * 0.9 + p) for p in (0.0, 2.1, 4.2)], axis=-1)
        image = cv2.resize((rgb * 80 + 120).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        step = max(4, h // 8)  # a grid of lines: edges and straight structure for the effects to act on
        image[::step] //= 2
        image[:, ::step] //= 2
        for k, colour in enumerate([(250, 240, 60), (40, 60, 230), (240, 70, 160)]):
            cx = int(w * (0.5 + 0.4 * np.sin(0.9 * s + 2.1 * k)))
            cy = int(h * (0.5 + 0.35 * np.cos(1.3 * s + 1.7 * k)))
            cv2.circle(image, (cx, cy), max(3, h // (6 + 2 * k)), colour, -1, cv2.LINE_AA)
        bx = int((s * 0.15 % 1.0) * w)
        cv2.rectangle(image, (bx, 0), (bx + max(2, w // 40), h), (255, 255, 255), -1)
        cv2.putText(image, "neural studio", (w // 20, h - h // 10), cv2.FONT_HERSHEY_DUPLEX,
                    max(0.3, h / 300), (255, 255, 255), max(1, h // 180), cv2.LINE_AA)
        return image

    def close(self):
        pass


class LatentSource:
    """Frames drawn by a trained generator (DCGAN, VAE-GAN, VAE): a grid of ``rows`` rows of
    square cells, each a sample on its own slow walk through the latent space (``LatentWalk``),
    enlarged to the frame. Installation visuals that any effect can paint over."""

    def __init__(self, model, size=None, fps=30.0, rows=3, period=20.0, seed=0):
        from offline.gan import LatentWalk, load_generator

        self.name = f"latent:{model}"
        self.size = tuple(size or DEMO_SIZE)
        self.fps = fps
        w, h = self.size
        self.cell = max(8, -(-h // rows))
        self.rows, self.cols = -(-h // self.cell), -(-w // self.cell)
        self.generator, latent, _ = load_generator(model)
        self.walk = LatentWalk(latent, self.rows * self.cols, period, seed)
        self.t = 0

    def read(self):
        import keras

        z = self.walk.at(self.t / (self.fps or 30.0))  # moves as at 30 FPS when unpaced (--fps 0)
        self.t += 1
        samples = np.clip(keras.ops.convert_to_numpy(self.generator(z, training=False))[..., 0], 0, 1)
        c = self.cell
        cells = [cv2.resize(s, (c, c), interpolation=cv2.INTER_CUBIC) for s in samples]
        rows = [np.concatenate(cells[r * self.cols:(r + 1) * self.cols], axis=1) for r in range(self.rows)]
        canvas = np.concatenate(rows, axis=0)
        w, h = self.size
        y0, x0 = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
        grey = (np.clip(canvas[y0:y0 + h, x0:x0 + w], 0, 1) * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)

    def close(self):
        pass


class VideoSource:
    """A video file as a camera stand-in, read through PyAV (``offline.video``: upright, damaged
    packets skipped); ``loop`` starts again at the end (installations)."""

    def __init__(self, path, size=None, loop=False):
        from offline import video

        self.path = str(path)
        self.name = Path(path).name
        self.loop = loop
        info = video.probe(self.path)  # a folder, sound only, an unknown container: one line
        self.fps = info.fps or 25.0
        self.size = tuple(size or (info.width, info.height))
        self._frames = self._open()

    def _open(self):
        from offline import video

        return video.decode(self.path)

    def read(self):
        frame = next(self._frames, None)
        if frame is None and self.loop:
            self._frames.close()
            self._frames = self._open()
            frame = next(self._frames, None)
        if frame is None:
            return None
        return _fit(frame.rgb, self.size)

    def close(self):
        self._frames.close()


class FolderSource:
    """The images of a folder, one per frame, resized to one size (default: the first image's)."""

    def __init__(self, folder, size=None, loop=False, fps=2.0):
        self.files = list_images(folder)
        self.name = Path(folder).name
        self.loop = loop
        self.fps = fps
        self.size = tuple(size or read_image(self.files[0]).shape[1::-1])
        self._i = 0

    def read(self):
        if self._i >= len(self.files):
            if not self.loop:
                return None
            self._i = 0
        path = self.files[self._i]
        self._i += 1
        return _fit(read_image(path), self.size)

    def close(self):
        pass


class CameraSource:
    """A camera by index. When it disappears, ``read()`` keeps retrying to reopen it (it never
    gives up: an installation waits for the camera to come back).

    ``opener`` builds the capture object (``cv2.VideoCapture`` by default); tests pass a fake.
    """

    def __init__(self, index, size=None, opener=cv2.VideoCapture, retry_seconds=1.0, wait_first=5.0):
        self.index = int(index)
        self.name = f"camera {self.index}"
        self.opener = opener
        self.retry_seconds = retry_seconds
        self.reconnects = 0
        self._interrupted = threading.Event()
        self._cap = self._try_open(size)
        deadline = time.monotonic() + wait_first
        if self._cap is None:
            log.warning("waiting up to %s s for camera %d", wait_first, self.index)
        while self._cap is None and time.monotonic() < deadline:
            time.sleep(min(1.0, retry_seconds))
            self._cap = self._try_open(size)
        if self._cap is None:
            raise UserError(f"no camera at index {self.index} (is it plugged in and free?)")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 30.0
        native = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.size = tuple(size or native)

    def _try_open(self, size):
        cap = self.opener(self.index)
        if not cap.isOpened():
            cap.release()
            return None
        if size:  # ask the driver for the size; _fit() below makes sure of it
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        return cap

    def read(self):
        while not self._interrupted.is_set():
            if self._cap is not None:
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    return _fit(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.size)
                log.warning("camera %d stopped delivering frames; reconnecting", self.index)
                self._cap.release()
                self._cap = None
            if self._interrupted.wait(self.retry_seconds):
                break
            self._cap = self._try_open(self.size)
            if self._cap is not None:
                self.reconnects += 1
                log.warning("camera %d is back (reconnect %d)", self.index, self.reconnects)
        return None

    def interrupt(self):
        """Make a ``read()`` that is waiting for the camera to come back return None (shutdown)."""
        self._interrupted.set()

    def close(self):
        if self._cap is not None:
            self._cap.release()


def open_source(spec, size=None, loop=False, fps=None, camera_wait=5.0):
    """``demo``, a camera index (``0``), a video file, a folder of images or ``latent:MODEL[:ROWS]``
    (a generator's latent walk: MODEL a folder or dcgan, vaegan, vae) -> a source.

    ``fps`` overrides the source's pace (frames per second the capture thread delivers);
    ``camera_wait`` is how long to wait for a camera at start (installations: for ever)."""
    spec = str(spec)
    if spec == "demo":
        source = DemoSource(size)
    elif spec.startswith("latent:"):
        model, _, rows = spec[len("latent:"):].rpartition(":")
        if not (model and rows.isdigit() and int(rows) > 0):
            model, rows = spec[len("latent:"):], "3"
        source = LatentSource(model or "dcgan", size, rows=int(rows))
    elif spec.isdigit():
        source = CameraSource(int(spec), size, wait_first=camera_wait)
    elif Path(spec).is_dir():
        source = FolderSource(spec, size, loop=loop)
    elif Path(spec).is_file():
        if Path(spec).suffix.lower() in IMAGE_EXTENSIONS:
            raise UserError(f"--source takes a folder of images, not one image: {spec}")
        source = VideoSource(spec, size, loop=loop)
    else:
        raise UserError(f"source not found: {spec} (expected demo, a camera index, a video file, a folder "
                        f"or latent:MODEL)")
    if fps is not None:
        source.fps = fps
    return source


class LatestFrame:
    """Reads ``source`` in a thread and keeps only the newest frame.

    A slow consumer makes the thread overwrite frames (counted in ``dropped``) instead of queueing
    them, so latency stays bounded. ``pace`` sleeps between reads at the source's fps, so files and
    the demo behave like a camera (a camera's own ``read()`` already blocks at its frame rate).
    An exception in the source (e.g. KeyboardInterrupt from a test source) is re-raised by ``get``.
    """

    def __init__(self, source, pace=True):
        self.source = source
        self.pace = pace and bool(getattr(source, "fps", 0)) and not isinstance(source, CameraSource)
        self.captured = 0
        self.dropped = 0
        self.ended = False
        self._frame = None
        self._error = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        period = 1.0 / self.source.fps if self.pace else 0.0
        next_t = time.perf_counter()
        try:
            while not self._stop.is_set():
                image = self.source.read()
                if image is None:
                    break
                frame = Frame(image, time.perf_counter(), self.captured)
                with self._cond:
                    if self._frame is not None:
                        self.dropped += 1  # the consumer never saw it: replaced, not queued
                    self._frame = frame
                    self.captured += 1
                    self._cond.notify()
                if period:
                    next_t = max(next_t + period, time.perf_counter() - period)
                    self._stop.wait(max(0.0, next_t - time.perf_counter()))
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer thread
            self._error = e
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify()

    def get(self, timeout=1.0):
        """The newest frame not yet taken; None if none came within ``timeout`` or the stream ended
        (check ``ended``). A pending frame is handed out before a source error is re-raised."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self.ended, timeout)
            frame, self._frame = self._frame, None
            if frame is None and self._error is not None:
                error, self._error = self._error, None
                raise error
            return frame

    def restart(self):
        """Start a new capture thread on the same source after it ended with an error."""
        if self._thread.is_alive():
            return self
        self.ended, self._error = False, None
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        return self.start()

    def stop(self):
        self._stop.set()
        if hasattr(self.source, "interrupt"):
            self.source.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self.source.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
