"""The realtime loop: newest captured frame -> effect -> window / recorder, keys in between.

    with LatestFrame(open_source("demo")) as capture:
        stats = run(capture, effect, window=Window(), recorder=Recorder("out.mp4", 30))
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager

from realtime import keys as key_table
from realtime.sinks import NoKeys, Stats, WindowKeys, draw_hud, snapshot

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


class ErrorLog:
    """Installation mode's errors: one log line per distinct error (type and message) when it first
    happens, then at most one line a minute saying how often it came back, so a failing style on
    a days-long show neither floods the log nor slows the frames (the traceback goes to DEBUG)."""

    def __init__(self, every=60.0, clock=time.monotonic):
        self.every, self.clock = every, clock
        self.seen = {}  # key -> [count, count at the last line, time of the last line]

    def __call__(self, error):
        key = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        now = self.clock()
        entry = self.seen.get(key)
        if entry is None:
            self.seen[key] = [1, 1, now]
            log.error("error in the frame loop, going on: %s", key)
            log.debug("traceback", exc_info=error)
            return True
        entry[0] += 1
        if now - entry[2] >= self.every:
            log.error("error in the frame loop, %d more times since the last report: %s", entry[0] - entry[1], key)
            entry[1], entry[2] = entry[0], now
            return True
        return False


class Show:
    """What the keys change (HUD, recording, fullscreen, the effect's settings) and the sinks."""

    def __init__(self, effect, window=None, recorder=None, record=False, hud=True, snapshot_dir="."):
        self.effect, self.window, self.recorder = effect, window, recorder
        self.record, self.hud, self.snapshot_dir = record, hud, snapshot_dir
        self.message = ""  # the last key's or cycle's outcome, on the HUD
        self.bypass = False  # the effect switched off from a control: frames shown as captured
        self.keys = key_table.table(effect.keys)
        self.help = key_table.hud_line(effect.keys)

    def output(self, out, stats, dropped):
        if self.record:
            self.recorder.write(out)
        if self.window is not None:
            lines = [f"{stats.fps:5.1f} FPS  {stats.latency_ms:4.0f} ms  dropped {dropped}",
                     self.effect.label() + ("  REC" if self.record else ""), self.message]
            self.window.show(draw_hud(out, [l for l in lines if l], self.help) if self.hud else out)
        self.last = out

    def key(self, action):
        """Apply a key's action (or a control's: a name, or (name, value) from the web page or OSC);
        returns its name (the loop stops on "quit")."""
        value = None
        if isinstance(action, tuple):
            action, value = action
        if action == "record" and value is not None and bool(value) == self.record:
            return action  # /record 1 while recording: nothing to do
        if action == "bypass":
            self.bypass = not self.bypass if value is None else bool(value)
            self.message = "effect off" if self.bypass else "effect on"
        elif action == "hud":
            self.hud = not self.hud
        elif action == "record" and self.recorder is not None:
            self.record = not self.record
            if not self.record:
                self.recorder.stop()
            self.message = "recording" if self.record else f"saved {self.recorder.files[-1]}"
        elif action == "snapshot":
            self.message = f"saved {snapshot(self.last, self.snapshot_dir)}"
        elif action == "fullscreen" and self.window is not None:
            self.window.toggle_fullscreen()
        elif action and action != "quit":
            try:
                self.message = self.effect.action(action, value) or self.message
            except (TypeError, ValueError) as e:  # a control sent a value of the wrong kind
                self.message = f"{action}: bad value {value!r} ({e})"
        if action:
            log.info("key %s: %s", action, self.message)
        return action


def state_of(show, stats, dropped, errors=None):
    """The page's view of the show: HUD figures, the effect's settings, errors so far by kind."""
    effect = show.effect
    out = {"fps": round(stats.fps, 2), "latency_ms": round(stats.latency_ms, 1), "dropped": dropped,
           "frames": stats.frames, "label": effect.label(), "effect": effect.name, "recording": bool(show.record),
           "message": show.message, "bypass": show.bypass,
           "errors": {k: v[0] for k, v in errors.seen.items()} if errors is not None else {}}
    styles = getattr(effect, "styles", None)
    if styles:
        out.update(styles=[name for name, _ in styles], style_index=effect.style_index, alpha=effect.alpha,
                   smooth=bool(effect.smooth_on), thumbnails=sorted(effect.thumbnails))
    return out


def run(capture, effect, window=None, recorder=None, record=False, keys=None, max_frames=None, cycle=None,
        hud=True, snapshot_dir=".", resilient=False, controls=(), publishers=()):
    """Show frames until the source ends, ``max_frames`` are done, q/Esc, Ctrl-C or SIGTERM.

    ``controls`` (the web page, OSC) have ``poll()`` -> actions, applied between frames like keys;
    ``publishers`` (the web page) get ``publish(frame, state)`` with each output frame.
    ``resilient`` (installation mode): an error in a frame is logged and the show goes on; a
    source that failed is restarted. Returns the ``Stats`` (``stopped`` says why it ended: Ctrl-C
    and SIGTERM end it normally, after the recorder has been finalised)."""
    keys = keys or (WindowKeys(window) if window else NoKeys())
    show = Show(effect, window, recorder, record, hud, snapshot_dir)
    errors = ErrorLog()
    stats = Stats()
    stats.stopped = "max-frames"
    next_cycle = time.monotonic() + cycle if cycle else None
    with sigterm_raises():
        try:
            while max_frames is None or stats.frames < max_frames:
                try:
                    frame = capture.get(timeout=0.5)  # the newest frame; older ones were dropped
                    if frame is None and capture.ended:
                        stats.stopped = "end of source"
                        break
                    if frame is not None:  # (None: a camera is reconnecting; keys stay live)
                        out = frame.image if show.bypass else effect(frame.image)
                        stats.frame_ready(frame)
                        show.output(out, stats, capture.dropped)
                        if publishers:
                            state = {**state_of(show, stats, capture.dropped, errors), "captured": frame.t_capture}
                            for p in publishers:
                                p.publish(out, state)
                except Exception as e:
                    if not resilient:
                        raise
                    errors(e)
                    if capture.ended:  # the source failed: give it a moment, then start it again
                        time.sleep(0.5)
                        capture.restart()
                if next_cycle is not None and time.monotonic() >= next_cycle:
                    show.message = effect.action(effect.cycle_action) or ""
                    next_cycle += cycle
                if show.key(show.keys.get(keys.poll())) == "quit":
                    stats.stopped = "quit key"
                    break
                for control in controls:
                    for action in control.poll():
                        try:  # checked at the door (realtime.actions); a control never stops a show
                            show.key(action)
                        except Exception as e:  # noqa: BLE001
                            errors(e)
        except KeyboardInterrupt:
            stats.stopped = "ctrl-c"
        except Terminated:
            stats.stopped = "sigterm"
        finally:
            if recorder is not None:
                recorder.close()
    return stats
