"""Edge-aware upsampling of an effect's small output to the camera's size, guided by the full-size
frame (OpenCV; every step is a box filter, a resize or a multiply-add, SIMD and threaded there).

The effect runs at a processing size (say 640x360) and the picture is shown at the camera's
(1280x720). A bilinear upscale of the small result is soft at every edge. The fast guided filter
(He & Sun 2015) fits, in each small window, the output as a linear function of the frame's
brightness, ``out ~ a * guide + b``; where the output follows the frame's edges ``a`` is large,
on flat areas and on brush strokes that owe nothing to the frame it is ~0. We keep the small
result exactly (its bilinear upscale: no stroke is smoothed away) and add only the frame's own
fine detail, scaled by the upscaled ``a``:

    out = up(small_out) + up(a) * (guide - up(small_guide))

so edges the output shares with the frame come back at full sharpness and nothing else changes.
Measured against a bilinear upscale in BENCHMARKS.md (``benchmarks/live_upsampling.py``).
"""

import cv2
import numpy as np


def guided_upsample(small_out, small_frame, frame, radius=2, eps=1e-3):
    """``small_out`` (h, w, 3) uint8: the effect's output at the processing size; ``small_frame``:
    the frame it was computed from (h, w, 3); ``frame``: the full-size frame (H, W, 3). Returns
    the output at (H, W), uint8. ``radius`` is the window at the small size; ``eps`` how strong
    an edge must be before it is followed (brightness 0..1, squared).

    The gain ``a`` is fitted on brightness (the output's luma against the frame's) and its detail
    is added to R, G and B alike (luma moves, colour differences stay): the full-size work is one
    float channel and a few OpenCV passes, where three float channels in numpy took 4-6x longer."""
    size = (frame.shape[1], frame.shape[0])
    if small_out.shape[:2] == frame.shape[:2]:
        return np.asarray(small_out, np.uint8)
    small_out = np.asarray(small_out, np.uint8)
    g = cv2.cvtColor(np.asarray(small_frame, np.uint8), cv2.COLOR_RGB2GRAY)
    gf = g.astype(np.float32) * (1.0 / 255.0)
    pf = cv2.cvtColor(small_out, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_g, mean_p = box(gf), box(pf)
    a = (box(gf * pf) - mean_g * mean_p) / (box(gf * gf) - mean_g * mean_g + eps)
    a = box(a)  # averaged over the windows that cover each pixel
    up = cv2.resize(small_out, size, interpolation=cv2.INTER_LINEAR)
    detail = cv2.subtract(cv2.cvtColor(np.asarray(frame, np.uint8), cv2.COLOR_RGB2GRAY),
                          cv2.resize(g, size, interpolation=cv2.INTER_LINEAR), dtype=cv2.CV_32F)
    gain = cv2.multiply(cv2.resize(a, size, interpolation=cv2.INTER_LINEAR), detail)
    # the same brightness step added to R, G and B: luma moves by it, colour differences do not
    return cv2.add(up, cv2.cvtColor(gain, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_8U)


def bilinear_upsample(small_out, frame):
    """The plain upscale ``guided_upsample`` is compared with."""
    return cv2.resize(np.asarray(small_out, np.uint8), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
