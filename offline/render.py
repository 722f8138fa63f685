"""Rendering every frame of a video file through a per-frame effect (``offline render``).

    source file --decode--> frame --effect--> frame --encode--> chunk_00000.mp4, chunk_00001.mp4, ...
    chunks + the source's sound (copied) --join, no re-encoding--> OUT.mp4

Finished chunks of ``chunk_frames`` frames stay in a work folder (default ``OUT.chunks/`` beside
the output) with ``render.json``, the settings they came from; a chunk appears there only when
complete. After an interruption the same command with ``--resume`` continues after the last
finished chunk: the effect's state (the stylize smoothing's previous frame, the dream's carried
frame) is primed from that chunk's last frame, so the join does not jump. When the output is
written the work folder is removed.

Frames keep the source's timestamps (a variable-frame-rate phone clip stays in sync with its
sound), rotation metadata is applied (a portrait clip comes out upright), odd sizes are padded or
cropped to even ones, and damaged packets are skipped and counted.
"""

import dataclasses
import json
import queue
import threading
import time

from offline import video
from offline.errors import UserError
from offline.progress import Progress
from offline.workfolder import WorkFolder, work_folder

@dataclasses.dataclass
class RenderSettings:
    """Everything that decides a render's frames: the CLI's defaults and what ``render.json`` stores."""

    input: str = ""
    effect: str = "stylize"
    start: float = 0.0  # seconds into the source
    duration: float = None  # seconds (None: to the end)
    size: tuple = None  # (w, h) frames are resized to (None: the source's, upright)
    crf: int = video.CRF
    preset: str = video.PRESET
    even: str = "pad"  # odd sides: "pad" or "crop"
    audio: bool = True  # copy the source's sound
    chunk_frames: int = 120  # frames per finished piece on disk (what a resume redoes at most)
    effect_settings: dict = dataclasses.field(default_factory=dict)  # the effect's own options

    def to_json(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))  # as it reads back (tuples -> lists)

    def check(self):
        if self.start < 0:
            raise UserError(f"start must be 0 or more seconds, got {self.start}")
        if self.duration is not None and self.duration <= 0:
            raise UserError(f"duration must be positive, got {self.duration}")
        if not 0 <= self.crf <= 51:
            raise UserError(f"crf must be in 0..51, got {self.crf}")
        if self.even not in video.EVEN:
            raise UserError(f"even must be one of {', '.join(video.EVEN)}")
        if self.chunk_frames < 1:
            raise UserError("chunk_frames must be positive")
        return self


@dataclasses.dataclass
class RenderReport:
    output: str
    frames: int  # in the output
    rendered_now: int
    seconds: float
    skipped_packets: int
    size_note: str = None
    audio: str = None

    def line(self):
        fps = self.rendered_now / self.seconds if self.seconds else 0.0
        parts = [f"wrote {self.output}: {self.frames} frames", f"rendered {self.rendered_now} now at {fps:.1f} fps"]
        parts.append(f"sound copied ({self.audio})" if self.audio else "no sound")
        if self.skipped_packets:
            parts.append(f"{self.skipped_packets} damaged packet(s) skipped")
        if self.size_note:
            parts.append(self.size_note)
        return "; ".join(parts)


def render(settings, effect, output, work=None, resume=False, fresh=False, log=print, progress=True):
    """Render ``settings.input`` through ``effect`` (an ``offline.effects.Effect``-like object:
    ``__call__(rgb) -> rgb``, optional ``prime(source, output)``) into ``output`` (.mp4).
    Returns a ``RenderReport``. Ctrl-C keeps the finished chunks and says how to resume."""
    s = settings.check()
    info = video.probe(s.input)
    store = WorkFolder(work_folder(work, output), s.to_json(), resume, fresh)
    done_chunks = store.done()
    end = info.duration if s.duration is None else min(info.duration or s.duration, s.start + s.duration)
    if info.duration and s.start >= info.duration:
        raise UserError(f"start {s.start:g} s is past the end of {s.input} ({info.duration:.2f} s)")
    total = max(1, int(round((end - s.start) * info.fps))) if end else None
    after, first = None, done_chunks * s.chunk_frames
    if done_chunks:
        last = video.last_frame(store.path(done_chunks - 1))
        if last is None:
            raise UserError(f"cannot resume: {store.path(done_chunks - 1)} holds no frame; use --fresh")
        after = last[0]
        if hasattr(effect, "reset"):
            effect.reset(first)  # the dream's jitter is seeded by the frame's number
        if hasattr(effect, "prime"):
            source = next(iter(video.decode(s.input, s.start, s.duration, s.size, after=max(0.0, after - 1.5 / info.fps))), None)
            if source is not None:
                effect.prime(source.rgb, last[1])
        log(f"resuming after {done_chunks} finished chunk(s), {first} frames ({store.folder})")
    stats = video.DecodeStats()
    bar = Progress(total, unit="frame").start(done=first) if progress else None  # rate: the recent frames/s
    n, t0 = first, time.perf_counter()
    frames = _Prefetch(video.decode(s.input, s.start, s.duration, s.size, stats, after=after))
    encoder = _ChunkEncoder(store, s, info, first)
    try:
        for frame in frames:
            encoder.put(effect(frame.rgb), frame.time)
            n += 1
            if bar:
                bar(min(n, total) if total else n)
        encoder.finish()
    except BaseException:
        frames.stop()
        encoder.abort()
        kept = store.done()
        if kept:
            log(f"\nstopped: {kept} finished chunk(s) kept in {store.folder}; the same command with --resume continues")
        raise
    seconds = time.perf_counter() - t0
    count, audio_codec, note = join(s, info, store, output, encoder.note)
    return RenderReport(str(output), count, n - first, seconds, stats.skipped_packets, note, audio_codec)


def join(s, info, store, output, note=None):
    """The finished chunks + the source's sound -> ``output``; the work folder removed.
    Returns (frames, audio codec or None, the even-size note)."""
    chunks = [store.path(k) for k in range(store.done())]
    if not chunks:
        raise UserError(f"no frame of {s.input} could be decoded between {s.start:g} s and "
                        f"{'the end' if s.duration is None else f'{s.start + s.duration:g} s'}")
    audio = video.AudioCopy(s.input, s.start, s.duration) if s.audio else None
    audio_codec = audio.stream.codec_context.name if audio else None
    count = video.concat(chunks, output, audio=audio if audio else None)
    if note is None:  # resumed after the last chunk: the size note is in the first one
        w, h = s.size or (info.width, info.height)
        if w % 2 or h % 2:
            ew, eh = video.even_size((w, h), s.even)
            note = f"{w}x{h} {'padded' if s.even == 'pad' else 'cropped'} to {ew}x{eh} (H.264 needs even sides)"
    store.remove()
    return count, audio_codec, note


def build_render_effect(effect, effect_settings, weights_dir=None):
    """The per-frame effect a render's settings describe (``RenderSettings.effect`` and
    ``effect_settings``: what ``render.json`` keeps)."""
    s = effect_settings
    if effect == "dream":
        from offline.dream import build_dream_effect

        return build_dream_effect(weights_dir=weights_dir, **s)
    from offline.effects import EffectSettings, build_effect as build_live_effect

    if effect in ("stylize", "features"):
        return EffectSettings(**{**s, "style": tuple(s["style"]), "weights_dir": weights_dir}).build()
    return build_live_effect("none")


def memory_frames(effect, effect_settings, below=0.5 / 255):
    """How many frames of warm-up make a chunk rendered on its own match the frames rendered after
    the whole video before it: the effect's state decays by its ``memory`` per frame (the stylize
    smoothing, the dream's carry), so n frames leave memory**n of the difference; n makes that
    less than half a grey level. Read from the settings: no model loads."""
    import math

    memory = {"stylize": effect_settings.get("smooth", 0.0), "dream": effect_settings.get("carry", 0.0)}.get(effect, 0.0)
    if not memory:
        return 0
    return int(math.ceil(math.log(below) / math.log(memory)))


# Decoding runs ahead of the effect and encoding behind it, each in a thread: FFmpeg and x264
# release the GIL, so on a CPU their work overlaps the effect's instead of adding to it.

_END = object()
_ABORT = object()


class _Prefetch:
    """Iterate ``frames`` (a generator) in a thread, up to ``depth`` ahead; errors re-raised here."""

    def __init__(self, frames, depth=4):
        self.frames, self.queue = frames, queue.Queue(depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for item in self.frames:
                while not self.stopping.is_set():
                    try:
                        self.queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stopping.is_set():
                    break
            self.queue.put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self.queue.put(e)
        finally:
            self.frames.close()

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self):
        self.stopping.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.1)
            except queue.Empty:
                pass


class _ChunkEncoder:
    """Encodes (frame, time) pairs into the work folder's chunks in a thread; a chunk file appears
    only when complete. ``finish`` closes the last one and re-raises any error of the thread."""

    def __init__(self, store, settings, info, first, depth=4):
        self.store, self.s, self.info, self.n = store, settings, info, first
        # Beside an effect that keeps every core busy, x264's own threads only compete with it: one
        # thread costs less CPU per frame (640x360 veryfast: 6.0 against 6.9 ms). Alone, let it spread.
        self.threads = None if settings.effect == "none" else 1
        self.queue = queue.Queue(depth)
        self.writer, self.note, self.error = None, None, None
        self.thread = threading.Thread(target=self._run, name="encode", daemon=True)
        self.thread.start()

    def _run(self):
        s = self.s
        try:
            while True:
                item = self.queue.get()
                if item is _ABORT:
                    if self.writer is not None:
                        self.writer.abort()
                        self.writer = None
                    return
                if item is _END:
                    break
                if self.writer is None:
                    self.writer = video.VideoWriter(self.store.path(self.n // s.chunk_frames), self.info.fps,
                                                    crf=s.crf, preset=s.preset, even=s.even,
                                                    time_base=self.info.time_base, faststart=False,
                                                    threads=self.threads)
                self.writer.write(*item)
                self.n += 1
                if self.n % s.chunk_frames == 0:
                    self._close()
            if self.writer is not None:  # the last, shorter chunk: complete at the end of the stream
                self._close()
        except BaseException as e:  # noqa: BLE001 - re-raised by finish()
            self.error = e
            if self.writer is not None:
                self.writer.abort()
                self.writer = None
            while self.queue.get() not in (_END, _ABORT):  # unblock the producer
                pass

    def _close(self):
        self.writer.close()
        self.note = self.note or self.writer.note
        self.writer = None

    def put(self, frame, time_):
        if self.error is not None:
            raise self.error
        self.queue.put((frame, time_))

    def finish(self):
        self.queue.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self):
        """Stop; the unfinished chunk is deleted (finished ones stay)."""
        if self.thread.is_alive():
            self.queue.put(_ABORT)
            self.thread.join()

