"""The realtime loop: newest captured frame -> effect -> window / recorder, keys in between.

    with LatestFrame(open_source("demo")) as capture:
        stats = run(capture, effect, window=Window(), recorder=Recorder("out.mp4", 30))
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager

from realtime.sinks import HELP, KEYS, NoKeys, Stats, WindowKeys, draw_hud, snapshot

log = logging.getLogger("realtime")


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that ``finally`` blocks (the recorder) still run.
    A BaseException, like KeyboardInterrupt, so resilient ``except Exception`` cannot swallow it."""


@contextmanager
def sigterm_raises():
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run(capture, effect, window=None, recorder=None, record=False, keys=None, max_frames=None, cycle=None,
        hud=True, snapshot_dir=".", resilient=False):
    """Show frames until the source ends, ``max_frames`` are done, q/Esc, Ctrl-C or SIGTERM.

    ``resilient`` (installation mode): an error in a frame is logged and the show goes on; a
    source that failed is restarted. Returns the ``Stats`` (``stopped`` says why it ended: Ctrl-C
    and SIGTERM end it normally, after the recorder has been finalised)."""
    keys = keys or (WindowKeys(window) if window else NoKeys())
    stats, message = Stats(), ""
    stats.stopped = "max-frames"
    next_cycle = time.monotonic() + cycle if cycle else None
    with sigterm_raises():
        try:
            while max_frames is None or stats.frames < max_frames:
                try:
                    frame = capture.get(timeout=0.5)
                    if frame is None:
                        if capture.ended:
                            stats.stopped = "end of source"
                            break
                        keys.poll()  # a camera is reconnecting: keep the window alive meanwhile
                        continue
                    out = effect(frame.image)
                    stats.frame_ready(frame)
                    if record:
                        recorder.write(out)
                    if window is not None:
                        lines = [f"{stats.fps:5.1f} FPS  {stats.latency_ms:4.0f} ms  dropped {capture.dropped}",
                                 effect.label() + ("  REC" if record else ""), message]
                        window.show(draw_hud(out, [l for l in lines if l], HELP) if hud else out)
                except Exception:
                    if not resilient:
                        raise
                    log.exception("error in the frame loop; going on")
                    time.sleep(0.5)
                    if capture.ended:
                        capture.restart()
                    continue
                if next_cycle is not None and time.monotonic() >= next_cycle:
                    message = effect.action(effect.cycle_action) or ""
                    next_cycle += cycle
                action = KEYS.get(keys.poll())
                if action == "quit":
                    stats.stopped = "quit key"
                    break
                elif action == "hud":
                    hud = not hud
                elif action == "record" and recorder is not None:
                    record = not record
                    if not record:
                        recorder.stop()
                    message = "recording" if record else f"saved {recorder.files[-1]}"
                elif action == "snapshot":
                    message = f"saved {snapshot(out, snapshot_dir)}"
                elif action == "fullscreen" and window is not None:
                    window.toggle_fullscreen()
                elif action:
                    message = effect.action(action) or message
                if action:
                    log.info("key %s: %s", action, message)
        except KeyboardInterrupt:
            stats.stopped = "ctrl-c"
        except Terminated:
            stats.stopped = "sigterm"
        finally:
            if recorder is not None:
                recorder.close()
    return stats
