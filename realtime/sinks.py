"""Where frames go: an OpenCV window (with the HUD), an MP4 recorder, PNG snapshots; and where keys
come from (the window, a script for tests, or nowhere when headless)."""

import logging
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from offline.media import write_image
from offline.video import VideoWriter

log = logging.getLogger("realtime")



class Window:
    """An OpenCV window; ``poll_key`` also pumps its events (OpenCV draws only in waitKey)."""

    def __init__(self, title="neural studio", fullscreen=False, hide_cursor=False):
        self.title = title
        # GUI_NORMAL: no Qt toolbar (a gallery wall shows the picture only); KEEPRATIO when resized.
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self.fullscreen = False
        self._sized = False
        if fullscreen:
            self.toggle_fullscreen()
        self._unclutter = hide_cursor_process() if hide_cursor else None

    def show(self, image_rgb):
        if not self._sized:  # start at the frame's own size, not the toolkit's default
            cv2.resizeWindow(self.title, image_rgb.shape[1], image_rgb.shape[0])
            self._sized = True
        cv2.imshow(self.title, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))

    def poll_key(self):
        return cv2.waitKey(1) & 0xFF

    def toggle_fullscreen(self):
        self.fullscreen = not self.fullscreen
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)

    def close(self):
        if self._unclutter is not None:
            self._unclutter.terminate()
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)


def hide_cursor_process():
    """OpenCV's HighGUI cannot hide the mouse pointer; on X11 ``unclutter`` can, when installed."""
    exe = shutil.which("unclutter")
    if exe is None:
        log.info("cursor stays visible: install 'unclutter' to hide it in installation mode")
        return None
    return subprocess.Popen([exe, "-idle", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class WindowKeys:
    def __init__(self, window):
        self.window = window

    def poll(self):
        key = self.window.poll_key()
        return -1 if key == 255 else key


class NoKeys:
    """Headless: no keyboard (stop with --max-frames, Ctrl-C or SIGTERM)."""

    def poll(self):
        return -1


class ScriptedKeys:
    """Keys for tests: ``{poll_number: "n"}`` presses n at that poll (one poll per frame, counted
    from 1); a value that is an exception class (e.g. KeyboardInterrupt) is raised there instead."""

    def __init__(self, script):
        self.script = dict(script)
        self.polls = 0

    def poll(self):
        self.polls += 1
        key = self.script.get(self.polls, -1)
        if isinstance(key, type) and issubclass(key, BaseException):
            raise key()
        return ord(key) if isinstance(key, str) else key


class Recorder:
    """MP4 recording that ``r`` starts and stops. Each start writes a new file (``out.mp4``, then
    ``out-2.mp4`` ...): H.264 in fragmented MP4 written straight to the file, a fragment per
    second (``offline.video.VideoWriter(live=True)``), so a recording plays in a browser and
    survives even SIGKILL up to its last second; ``close()`` (called from the loop's ``finally``)
    finalises one that is open on Ctrl-C/SIGTERM."""

    def __init__(self, path, fps):
        self.base = Path(path)
        self.fps = fps
        self.writer = None
        self.files = []
        remove_leftovers(self.base)


    @property
    def recording(self):
        return self.writer is not None

    def _next_path(self):
        n = len(self.files) + 1
        return self.base if n == 1 else self.base.with_name(f"{self.base.stem}-{n}{self.base.suffix}")

    def start(self, size):
        if self.writer is None:
            path = self._next_path()
            self.writer = VideoWriter(path, self.fps, size, live=True, threads=1)  # one x264 thread: beside the effect, more only compete
            self.files.append(path)
            log.info("recording to %s", path)

    def write(self, frame):
        if self.writer is None:
            self.start((frame.shape[1], frame.shape[0]))
        self.writer.write(frame)

    def stop(self):
        if self.writer is not None:
            path = self.writer.close()
            log.info("recorded %d frames to %s", self.writer.frames, path)
            self.writer = None

    close = stop


def remove_leftovers(path, stale=30.0):
    """Delete the hidden temporary files a killed recording left beside ``path`` (``.NAME.*.mp4``,
    untouched for ``stale`` seconds). A writer killed with SIGKILL never wrote the MP4 index, so
    they cannot be played or repaired."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for tmp in path.parent.glob(f".{path.stem}.*{path.suffix}"):
        try:
            if time.time() - tmp.stat().st_mtime > stale:
                tmp.unlink()
                removed.append(tmp)
                log.warning("removed %s, left by a recording that was killed (it cannot be played)", tmp)
        except OSError:
            pass
    return removed


def snapshot(image, folder):
    path = Path(folder) / time.strftime("snapshot-%Y%m%d-%H%M%S.png")
    n = 1
    while path.exists():
        n += 1
        path = path.with_name(time.strftime(f"snapshot-%Y%m%d-%H%M%S-{n}.png"))
    return write_image(path, image)


def draw_hud(image, lines, help_line=None):
    """Lines of text on a translucent box, top left; returns a new image (recordings stay clean)."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(0.8, h / 720 * 0.8))
    step = int(28 * scale / 0.8)
    lines = list(lines) + ([help_line] if help_line else [])
    box_w = min(w, int(max(len(s) for s in lines) * 11 * scale / 0.8) + 16)
    box_h = min(h, step * len(lines) + 10)
    roi = out[:box_h, :box_w]
    roi[:] = (roi * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(out, text, (8, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class Stats:
    """FPS and capture-to-ready latency of the frames the loop finished."""

    def __init__(self, keep=100_000):
        self.frames = 0
        self.latencies = deque(maxlen=keep)  # seconds; bounded so a days-long run does not grow
        self.t_first = self.t_last = None
        self.fps = 0.0  # smoothed, for the HUD

    def frame_ready(self, frame, t_ready=None):
        t = time.perf_counter() if t_ready is None else t_ready
        self.latencies.append(t - frame.t_capture)
        if self.t_last is not None and t > self.t_last:
            self.fps = 0.9 * self.fps + 0.1 / (t - self.t_last) if self.fps else 1.0 / (t - self.t_last)
        self.t_first = t if self.t_first is None else self.t_first
        self.t_last = t
        self.frames += 1

    @property
    def latency_ms(self):
        return 1000 * self.latencies[-1] if self.latencies else 0.0

    def summary(self):
        lat = np.asarray(self.latencies) * 1000
        span = (self.t_last - self.t_first) if self.frames > 1 else 0.0
        pct = {f"latency_p{p}_ms": round(float(np.percentile(lat, p)), 2) if len(lat) else None for p in (50, 95, 99)}
        return {"frames": self.frames, "fps": round((self.frames - 1) / span, 2) if span > 0 else None, **pct}


def rss_mb():
    """(current, peak) resident memory of this process in MiB (Linux /proc; else peak twice)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
