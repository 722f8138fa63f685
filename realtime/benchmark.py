"""`realtime bench`: how fast the model runs alone, and how fast and how late frames come out of the
whole loop (capture thread, effect, post-processing) on the same source and size."""

import time

from realtime.loop import run
from realtime.sinks import rss_mb
from realtime.sources import LatestFrame, open_source


def model_only_fps(effect, image, frames):
    """Back-to-back calls of the compiled model part on one frame (results fetched to the host)."""
    effect.model_call(image)
    t = time.perf_counter()
    for _ in range(frames):
        effect.model_call(image)
    return frames / (time.perf_counter() - t)


def benchmark(effect, source, frames, size=None, fps=None, loop=True, scale=None):
    """``scale(effect, frame_size)``: the effect to time on the source's frames (e.g. at a
    processing size, ``realtime.scale``)."""
    src = open_source(source, size, loop=loop, fps=fps)
    image = src.read()
    if scale is not None:
        effect = scale(effect, src.size)
    warmup_s = effect.warmup(src.size)
    traces = effect.traces
    # Model-only before and after the loop, averaged: on a shared, noisy machine a single
    # measurement taken at another moment than the loop's would skew the ratio.
    before = model_only_fps(effect, image, max(2, frames // 2))
    with LatestFrame(src, pace=fps != 0) as capture:
        stats = run(capture, effect, max_frames=frames)
    model_fps = (before + model_only_fps(effect, image, max(2, frames // 2))) / 2
    s = stats.summary()
    return {
        "effect": effect.label(),
        "source": str(source),
        "size": "x".join(map(str, src.size)),
        "source_fps": None if fps == 0 else round(src.fps, 2),
        "frames": s["frames"],
        "warmup_ms": round(1000 * warmup_s, 2),
        "model_fps": round(model_fps, 2),
        "e2e_fps": s["fps"],
        "e2e_vs_model": round(s["fps"] / model_fps, 3) if s["fps"] else None,
        "latency_p50_ms": s["latency_p50_ms"],
        "latency_p95_ms": s["latency_p95_ms"],
        "latency_p99_ms": s["latency_p99_ms"],
        "captured": capture.captured,
        "dropped": capture.dropped,
        "retraces": effect.traces - traces,
        "process_size": "x".join(map(str, effect.process_size)) if hasattr(effect, "process_size") else None,
        "peak_rss_mb": round(rss_mb()[1], 1),
    }
