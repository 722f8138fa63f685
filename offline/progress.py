"""The one progress display of every long job (renders, optimisations, dreams, epochs): a bar with
count, rate and ETA on a terminal; plain lines every few seconds where output goes to a log file,
systemd or CI (no escape codes, no ever-growing line). The rate and the ETA are the recent rate's
(the last few seconds), so a slow first step (compiling, warm-up) does not skew them. Created at
the first update, so that a start-up error prints before it."""

import sys
import time


def _clock(seconds):
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """``update(done, values=[(name, value), ...])``; calling it as ``progress(done, total, loss)`` is
    the gradient-ascent engine's callback (``offline.ascent``). Metrics show their latest value."""

    WINDOW = 5.0  # seconds of updates the rate is measured over
    EVERY_TTY, EVERY_LOG = 0.1, 5.0  # seconds between redraws on a terminal / lines in a log

    def __init__(self, total, unit="step", title=None, loss_name="loss", stream=None, clock=time.monotonic):
        self.total, self.unit, self.title, self.loss_name = total, unit, title, loss_name
        self.stream, self.clock = stream or sys.stderr, clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._marks = None  # [(time, done)] within the window
        self._shown = None  # time of the last line or redraw
        self.values = {}

    def start(self, names=(), done=0):
        """Start the clock now (e.g. at ``on_train_begin``, when the first update comes only after
        a whole epoch); ``done``: units finished before (a resumed job's), not counted in the rate."""
        if self._marks is None:
            if self.title:
                print(self.title, file=self.stream, flush=True)
            self._marks = [(self.clock(), done)]
        return self

    def rate(self):
        """Units per second over the recent window (None until two updates)."""
        (t0, d0), (t1, d1) = self._marks[0], self._marks[-1]
        return (d1 - d0) / (t1 - t0) if t1 - t0 > 0.2 and d1 > d0 else None  # (a rate needs some time)

    def line(self, done):
        rate = self.rate()
        parts = [f"{done}/{self.total}" if self.total else f"{done}"]
        if self.total:
            parts.append(f"{100 * done / self.total:3.0f}%")
        if rate:
            parts.append(f"{rate:.3g} {self.unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}")
            if self.total and done < self.total:
                parts.append(f"ETA {_clock((self.total - done) / rate)}")
        parts += [f"{k} {v:.4g}" for k, v in self.values.items()]
        text = "  ".join(parts)
        if self.tty and self.total:
            filled = int(24 * min(done, self.total) / self.total)
            text = f"[{'#' * filled}{'.' * (24 - filled)}] " + text
        return text

    def update(self, done, values=()):
        if self._marks is None:  # started by this update: it is the baseline of the rate
            self.start(done=done)
        self.values.update((k, float(v)) for k, v in values)
        now = self.clock()
        self._marks.append((now, done))
        while len(self._marks) > 2 and now - self._marks[1][0] >= self.WINDOW:
            self._marks.pop(0)
        final = bool(self.total) and done >= self.total
        every = self.EVERY_TTY if self.tty else self.EVERY_LOG
        if not final and self._shown is not None and now - self._shown < every:
            return
        self._shown = now
        if self.tty:
            self.stream.write("\r" + self.line(done) + "\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(self.line(done) + "\n")
        self.stream.flush()

    def __call__(self, done, total=None, loss=None):
        self.update(done, [] if loss is None else [(self.loss_name, loss)])


def epoch_bar(epochs, terms=("loss",)):
    """A Keras callback: the bar in epochs for ``fit`` runs with few, long epochs (Keras' own
    prints one bar per epoch), showing ``terms`` from the logs; the clock starts with training."""
    import keras

    class EpochBar(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = Progress(epochs, unit="epoch")

        def on_train_begin(self, logs=None):
            self.bar.start(terms)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.update(epoch + 1, [(k, logs[k]) for k in terms if k in logs])

    return EpochBar()
