"""The camera's size at the camera's rate: the effect runs at a processing size and the picture is
shown and recorded at the frame's own size, upsampled edge-aware with the full frame as the guide
(``offline.guided``); ``--target-fps`` moves the processing size along a small ladder of sizes,
each compiled during warm-up, to hold the rate (dynamic resolution, as games do).

    effect = ScaledEffect(stylize, ladder((1280, 720), (640, 360)), target_fps=30)
    effect.warmup((1280, 720))         # compiles 640x360, 512x288, 416x234 ..., once each
    out = effect(frame_1280x720)       # stylized at the current rung, shown at 1280x720
"""

import logging
import time

import cv2
import numpy as np

from offline.errors import UserError
from offline.guided import guided_upsample

log = logging.getLogger("realtime")

MULTIPLE = 8  # processing sizes are multiples of this (the fast model's own multiple)
STEPS = (1.0, 0.8, 0.64, 0.5)  # the ladder: each rung has 0.8x the width and height of the one above


def _round(v):
    return max(MULTIPLE, int(round(v / MULTIPLE)) * MULTIPLE)


def fit(size, limit):
    """``size`` (w, h) scaled down (never up) to fit within ``limit`` (w, h), aspect kept,
    multiples of 8."""
    w, h = size
    s = min(1.0, limit[0] / w, limit[1] / h)
    return _round(w * s), _round(h * s)


def ladder(frame_size, process_size, steps=STEPS):
    """Processing sizes from the largest down: ``process_size`` fitted into the frame, then
    0.8x, 0.64x, 0.5x of it (duplicates and sizes under 64 px dropped)."""
    top = fit(frame_size, process_size)
    rungs = []
    for s in steps:
        rung = (_round(top[0] * s), _round(top[1] * s))
        if min(rung) >= 64 and rung not in rungs:
            rungs.append(rung)
    return rungs or [top]


class RateController:
    """Chooses the ladder's rung from the frame times: down a rung when the recent frame time is
    over the budget (1/target) by ``slack``, up a rung when the rung above is predicted (by its
    pixel count) to fit well within the budget. Each move waits ``patience`` frames and the
    recent time is a median, so one slow frame (a GC, a style change) does not move it and it
    does not oscillate between two rungs."""

    def __init__(self, rungs, target_fps, patience=10, slack=1.0, headroom=0.85, window=9):
        self.rungs, self.budget = list(rungs), 1.0 / float(target_fps)
        self.patience, self.slack, self.headroom, self.window = int(patience), slack, headroom, int(window)
        self.level, self.moves = 0, 0
        self._times, self._since = [], 0

    def update(self, seconds):
        """One frame took ``seconds``; returns the rung to use next (an index into ``rungs``)."""
        self._times = (self._times + [float(seconds)])[-self.window:]
        self._since += 1
        if self._since < self.patience or len(self._times) < self.window:
            return self.level
        recent = float(np.median(self._times))
        if recent > self.budget * self.slack and self.level < len(self.rungs) - 1:
            self._move(+1)
        elif self.level > 0:
            here, above = self.rungs[self.level], self.rungs[self.level - 1]
            if recent * (above[0] * above[1]) / (here[0] * here[1]) < self.budget * self.headroom:
                self._move(-1)
        return self.level

    def _move(self, step):
        self.level += step
        self.moves += 1
        self._times, self._since = [], 0


class ScaledEffect:
    """An effect run at a processing size (a rung of ``rungs``) and brought back to each frame's
    own size by ``guided_upsample``; with ``target_fps`` a ``RateController`` picks the rung.
    Everything else (keys, styles, traces, labels) is the inner effect's."""

    def __init__(self, effect, rungs, target_fps=None, guided=True):
        if not rungs:
            raise UserError("no processing size")
        self.effect, self.rungs, self.guided = effect, list(rungs), guided
        self.controller = RateController(self.rungs, target_fps) if target_fps else None
        self.level = 0
        self.frame_seconds = 0.0

    def __getattr__(self, name):  # keys, styles, thumbnails, action, label, ...: the inner effect's
        return getattr(self.effect, name)

    @property
    def process_size(self):
        return self.rungs[self.level]

    @property
    def traces(self):
        return self.effect.traces

    def warmup(self, size):
        """Compile every rung (so a move never retraces) and time the top one."""
        seconds = {}
        for rung in reversed(self.rungs):
            t = time.perf_counter()
            seconds[rung] = self.effect.warmup(rung)
            log.info("processing size %dx%d ready (%.1f s; %.1f ms/frame)", *rung, time.perf_counter() - t,
                     1000 * seconds[rung])
        self.level = 0
        dummy = np.zeros((size[1], size[0], 3), np.uint8)
        t = time.perf_counter()
        self(dummy)
        self.effect.reset()
        return max(seconds[self.rungs[0]], time.perf_counter() - t)

    def __call__(self, image):
        t = time.perf_counter()
        w, h = self.rungs[self.level]
        small = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        out = self.effect(small)
        if out.shape[:2] != image.shape[:2]:
            out = guided_upsample(out, small, image) if self.guided else \
                cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        self.frame_seconds = time.perf_counter() - t
        if self.controller is not None:
            level = self.controller.update(self.frame_seconds)
            if level != self.level:
                log.info("processing size %dx%d -> %dx%d (frame %.0f ms, target %.0f ms)", *self.rungs[self.level],
                         *self.rungs[level], 1000 * self.frame_seconds, 1000 * self.controller.budget)
                self.level = level
        return out

    def model_call(self, image):
        return self(image)

    def label(self):
        return f"{self.effect.label()} @{self.process_size[0]}x{self.process_size[1]}"
