"""Video files in and out through PyAV (FFmpeg in its wheels): every writer of the project (render,
zoom, dream, the realtime recorder) goes through ``VideoWriter``, every reader of files through
``probe`` and ``decode``. OpenCV stays for cameras, windows and image work.

Why PyAV and not OpenCV's VideoWriter: OpenCV's MP4 is MPEG-4 Part 2 (``mp4v``), which browsers
do not play; it cannot carry sound, keep a variable-frame-rate clip's timestamps or read a phone
clip's rotation. Here:
- output is H.264 (libx264, yuv420p) in MP4 that plays in browsers and on phones; finished files
  have their index in front (``+faststart``) and appear at their path only when complete;
- ``live=True`` (the recorder) writes fragmented MP4 straight to the path instead, a fragment
  per second: a recording killed with SIGKILL still plays up to its last second;
- frames keep the timestamps they are given (variable frame rates survive), sizes are made even
  (H.264 needs it) by padding with the edge pixels or by cropping, and the sound of a source
  file can be copied over packet for packet (no re-encoding).
"""

import dataclasses
import heapq
import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from offline import media
from offline.errors import UserError

log = logging.getLogger(__name__)

CRF = 20  # x264 constant quality: 18 ~ visually lossless, 23 is x264's default, +6 ~ half the size
PRESET = "veryfast"  # x264 speed: at 640x360 on a 2-core CPU ~6 ms per frame ("medium" ~11) at a similar size
EVEN = ("pad", "crop")


def _av():
    try:
        import av
    except ImportError:  # a dependency; only a broken install lacks it
        raise UserError("PyAV is not installed: pip install av") from None
    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own chatter (damaged packets are counted instead)
    return av


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. ``width``/``height`` are as displayed (rotation applied)."""

    path: str
    width: int
    height: int
    fps: float  # average frame rate
    frames: int  # frame count (the container's, else estimated from the duration)
    duration: float  # seconds
    rotation: int  # degrees counter-clockwise the stored frames are turned to display upright
    codec: str
    audio: str = None  # codec of the first audio stream, None without sound
    time_base: Fraction = Fraction(1, 90000)  # of the video stream's timestamps


def _open(path):
    av = _av()
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{path} is a folder, not a video file")
    if not p.exists():
        raise UserError(f"not found: {path}")
    try:
        return av.open(str(p))
    except av.error.FFmpegError as e:
        raise UserError(f"cannot read {path}: not a video FFmpeg knows ({type(e).__name__})") from None


def _video_stream(container, path):
    if not container.streams.video:
        if container.streams.audio:
            raise UserError(f"{path} has sound only ({container.streams.audio[0].codec_context.name}): no picture to render")
        raise UserError(f"{path} has no video stream")
    return container.streams.video[0]


def probe(path):
    """A ``VideoInfo``, or a one-line UserError for a folder, a missing file, an unknown container,
    a file with sound only or no video stream."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        rotation = 0
        # the rotation lives on the frames (display matrix side data): look at the first one
        try:
            for frame in container.decode(stream):
                rotation = int(round(frame.rotation or 0)) % 360
                break
        except _av().error.FFmpegError:
            pass
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = int(stream.frames) or int(round(duration * float(rate)))
        w, h = stream.codec_context.width, stream.codec_context.height
        if (rotation // 90) % 2:
            w, h = h, w
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(str(path), w, h, float(rate), frames, duration, rotation, stream.codec_context.name, audio,
                         stream.time_base or Fraction(1, 90000))


@dataclasses.dataclass
class DecodedFrame:
    index: int  # counted from the first frame returned
    time: float  # seconds from ``start``
    rgb: np.ndarray  # (H, W, 3) uint8, upright


class DecodeStats:
    """What decoding had to skip: damaged packets and frames that would not decode."""

    def __init__(self):
        self.skipped_packets = 0

    def __str__(self):
        return f"{self.skipped_packets} damaged packet(s) skipped" if self.skipped_packets else "nothing skipped"


def decode(path, start=0.0, duration=None, size=None, stats=None, after=None):
    """Yield the frames of ``path`` from ``start`` seconds for ``duration`` seconds (all: None) as
    ``DecodedFrame``s, upright (the file's rotation applied) and resized to ``size`` (w, h) if given.
    ``after``: skip frames whose time (from ``start``) is not later than this (resuming).
    A packet that does not decode is skipped and counted in ``stats``; decoding goes on."""
    av = _av()
    stats = stats if stats is not None else DecodeStats()

    with _open(path) as container:
        stream = _video_stream(container, path)
        base = stream.start_time if stream.start_time is not None else 0
        tb = stream.time_base or Fraction(1, 90000)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        seek_to = start + (after if after is not None else 0.0)
        if seek_to > 0:
            try:
                container.seek(base + int(seek_to / tb), stream=stream, backward=True)
            except av.error.FFmpegError:
                pass  # decode from the beginning and skip
        index, last_time = 0, None
        end = None if duration is None else start + duration
        for frame in _decoded(container, stream, stats):
            if frame.pts is not None:
                t = float((frame.pts - base) * tb)
            else:
                t = (last_time + 1.0 / rate) if last_time is not None else 0.0
            last_time = t
            if t < start - 0.5 / rate:
                continue
            if end is not None and t >= end - 1e-6:
                return
            rel = max(0.0, t - start)
            if after is not None and rel <= after + 1e-6:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            k = int(round((frame.rotation or 0) / 90.0)) % 4
            if k:
                rgb = np.ascontiguousarray(np.rot90(rgb, k))
            if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
                rgb = media.resize(rgb, tuple(size))
            yield DecodedFrame(index, rel, rgb)
            index += 1


def frame_times(path, start=0.0, duration=None):
    """The times (seconds from ``start``) of the frames ``decode`` yields for the same arguments,
    sorted, from the packets alone (demuxing, no decoding: a fraction of a second per minute of
    video). How a render splits a file into chunks that workers decode on their own."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        base = stream.start_time if stream.start_time is not None else 0
        tb = stream.time_base or Fraction(1, 90000)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        stamps = sorted(float((p.pts - base) * tb) for p in container.demux(stream) if p.pts is not None and p.size)
    end = None if duration is None else start + duration
    return [max(0.0, t - start) for t in stamps if t >= start - 0.5 / rate and (end is None or t < end - 1e-6)]


def _decoded(container, stream, stats):
    """The stream's frames; a packet that does not decode is skipped and counted. PyAV's demux
    ends with an empty packet that flushes the frames the decoder still holds."""
    av = _av()
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:  # damaged data: skip the packet, keep going
            stats.skipped_packets += 1
            continue
        yield from frames


def even_size(size, even="pad"):
    """(w, h) made even for yuv420p: one pixel more ("pad") or less ("crop") where odd."""
    w, h = (int(v) for v in size)
    if even == "pad":
        return w + w % 2, h + h % 2
    if even == "crop":
        return max(2, w - w % 2), max(2, h - h % 2)
    raise ValueError(f"even must be one of {EVEN}, got {even!r}")


def fit_even(frame, even="pad"):
    """Pad (repeating the last row/column) or crop a frame to even sides."""
    h, w = frame.shape[:2]
    if not (h % 2 or w % 2):
        return frame
    if even == "crop":
        return frame[: h - h % 2, : w - w % 2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class AudioCopy:
    """The packets of a file's first audio stream between ``start`` and ``start + duration``
    seconds, their times moved so ``start`` is 0: sound copied without re-encoding."""

    def __init__(self, path, start=0.0, duration=None):
        self.path, self.start, self.duration = str(path), float(start), duration
        av = _av()
        self.container = av.open(self.path)
        if not self.container.streams.audio:
            self.container.close()
            self.container = None
            self.stream = None
            return
        self.stream = self.container.streams.audio[0]
        tb = self.stream.time_base
        base = self.stream.start_time or 0
        self.offset = base + int(round(self.start / tb))
        self.end = None if duration is None else base + int(round((self.start + duration) / tb))
        if self.start > 0:
            try:
                self.container.seek(self.offset, stream=self.stream, backward=True)
            except av.error.FFmpegError:
                pass

    def __bool__(self):
        return self.stream is not None

    def packets(self):
        """(time in seconds, packet) with pts/dts already moved."""
        if self.stream is None:
            return
        av = _av()
        tb = self.stream.time_base
        try:
            for packet in self.container.demux(self.stream):
                if packet.pts is None or packet.size == 0:
                    continue
                if packet.pts < self.offset:
                    continue
                if self.end is not None and packet.pts >= self.end:
                    break
                packet.pts -= self.offset
                if packet.dts is not None:
                    packet.dts -= self.offset
                yield float(packet.pts * tb), packet
        except av.error.FFmpegError:  # damaged sound: what came before is kept
            log.warning("the sound of %s is damaged after some point: copied up to there", self.path)

    def close(self):
        if self.container is not None:
            self.container.close()
            self.container = None


def _temp_beside(path):
    return media._temp_beside(path, Path(path).suffix or ".mp4")


class VideoWriter:
    """H.264 MP4 (or MJPEG .avi) writer that only ever leaves a complete, playable file at ``path``.

    ``write(frame, time=None)``: RGB uint8 frames; ``time`` (seconds) keeps a source's timestamps,
    without it frames are 1/fps apart. ``size`` (w, h): frames of another size are resized; None:
    the first frame's. Odd sides are padded or cropped to even (``even``) and said once.
    ``audio``: an ``AudioCopy`` whose packets are interleaved with the video.
    ``live``: fragmented MP4 written straight to ``path`` (playable if the process is killed),
    x264 tuned for latency; otherwise a temporary file beside ``path``, moved into place by
    ``close()``. Use it as a context manager so an exception or Ctrl-C still finalises it."""

    def __init__(self, path, fps, size=None, crf=CRF, preset=PRESET, even="pad", audio=None, live=False,
                 time_base=None, faststart=True, threads=None):
        self.path = Path(path)
        self.fps = float(fps)
        if not self.fps > 0:
            raise UserError(f"frame rate must be positive, got {fps}")
        try:  # the output's folder, as every other writer makes it (FFmpeg only fails at the first frame)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write {self.path}: {e.strerror or e}") from None
        self.size = None if size is None else tuple(int(v) for v in size)
        self.crf, self.preset, self.even, self.live = int(crf), preset, even, live
        self.audio = audio if audio else None
        self.time_base = time_base or Fraction(1, 90000)
        self.faststart = faststart
        self.threads = threads  # x264 threads; None: x264's own choice (one per core and more)
        self.frames = 0
        self.note = None  # what was done to make the size even, if anything
        self._container = self._stream = self._audio_stream = None
        self._audio_iter = self._audio_next = None
        self._last_pts = -1
        self._avi = self.path.suffix.lower() == ".avi"
        self._target = self.path if live else _temp_beside(self.path)

    # opening is lazy: the first frame fixes the size
    def _open(self, frame_size):
        av = _av()
        w, h = self.size or frame_size
        ew, eh = even_size((w, h), self.even) if not self._avi else (w, h)
        if (ew, eh) != (w, h):
            self.note = f"{w}x{h} {'padded' if self.even == 'pad' else 'cropped'} to {ew}x{eh} (H.264 needs even sides)"
            log.info("%s: %s", self.path, self.note)
        self._out_size = (ew, eh)
        options = {}
        if not self._avi:
            options["movflags"] = ("frag_keyframe+empty_moov+default_base_moof" if self.live else
                                   "+faststart" if self.faststart else "")
        if self.live:
            options["flush_packets"] = "1"  # to the file as each fragment completes, not when a 32 kB buffer fills
        options = {k: v for k, v in options.items() if v}
        try:
            self._container = av.open(str(self._target), "w", format="avi" if self._avi else "mp4", options=options)
        except (av.error.FFmpegError, OSError) as e:
            raise UserError(f"cannot open video for writing: {self.path} ({type(e).__name__})") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        if self._avi:
            stream = self._container.add_stream("mjpeg", rate=rate)
            stream.pix_fmt = "yuvj420p"
            stream.options = {"q:v": "3"}
        else:
            stream = self._container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv420p"
            opts = {"crf": str(self.crf), "preset": self.preset}
            if self.threads:
                opts["threads"] = str(int(self.threads))
            if self.live:  # no B-frames or look-ahead (latency); a keyframe, hence a fragment, per second
                opts.update(tune="zerolatency", g=str(max(1, round(self.fps))))
            stream.options = opts
        stream.width, stream.height = ew, eh
        stream.codec_context.time_base = self.time_base if not self._avi else Fraction(1, 1) / rate
        self._stream = stream
        if self.audio is not None and not self._avi:
            self._audio_stream = self._container.add_stream_from_template(self.audio.stream)
            self._audio_iter = self.audio.packets()
            self._audio_next = next(self._audio_iter, None)

    def _mux_audio_until(self, t):
        while self._audio_next is not None and (t is None or self._audio_next[0] <= t):
            _, packet = self._audio_next
            packet.stream = self._audio_stream
            self._container.mux(packet)
            self._audio_next = next(self._audio_iter, None)

    def write(self, frame_rgb, time=None):
        frame = media.to_uint8(frame_rgb)
        if self._container is None:
            self._open((frame.shape[1], frame.shape[0]))
        if self.size and (frame.shape[1], frame.shape[0]) != self.size:
            frame = media.resize(frame, self.size)
        if not self._avi:
            frame = fit_even(frame, self.even)
        av = _av()
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._avi:
            pts = self.frames
        else:
            t = self.frames / self.fps if time is None else float(time)
            pts = int(round(t / self.time_base))
            pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the source said
        self._last_pts = pts
        vf.pts = pts
        vf.time_base = self._stream.codec_context.time_base
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1
        if self._audio_iter is not None:
            self._mux_audio_until(pts * float(self._stream.codec_context.time_base) + 0.5)

    def close(self):
        """Flush and finalise; a writer that got no frame leaves no file. Returns the path."""
        if self._container is None:
            self._discard()
            return self.path
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio_iter is not None:
                self._mux_audio_until(None)
        finally:
            self._container.close()
            self._container = None
            if self.audio is not None:
                self.audio.close()
        if not self.live:
            os.replace(self._target, self.path)
        return self.path

    def abort(self):
        """Drop what was written (an interrupted chunk): no file is left behind."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is deleted anyway
                pass
            self._container = None
        self._discard()

    def _discard(self):
        if not self.live and os.path.exists(self._target):
            os.remove(self._target)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def concat(parts, path, audio=None, faststart=True):
    """Join MP4 files of one H.264 stream (same encoder settings, timestamps already continuous)
    into ``path`` without re-encoding, interleaving ``audio`` (an ``AudioCopy``) by time. Written
    beside ``path`` and moved into place when complete. Returns the number of video packets."""
    av = _av()
    parts = [str(p) for p in parts]
    if not parts:
        raise ValueError("nothing to join")

    inputs = [av.open(p) for p in parts]
    count = 0
    try:
        with media.atomic_path(path, ".mp4") as tmp:
            out = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"} if faststart else {})
            v_out = out.add_stream_from_template(inputs[0].streams.video[0])
            a_out = out.add_stream_from_template(audio.stream) if audio else None
            base = inputs[0].streams.video[0].time_base  # every part's times in the first part's units

            def video_packets():
                last_dts = None
                for container in inputs:
                    stream = container.streams.video[0]
                    scale = Fraction(stream.time_base) / Fraction(base)
                    for packet in container.demux(stream):
                        if packet.size == 0 or packet.dts is None:
                            continue
                        if scale != 1:
                            packet.pts = None if packet.pts is None else int(round(packet.pts * scale))
                            packet.dts = int(round(packet.dts * scale))
                            packet.duration = int(round((packet.duration or 0) * scale))
                            packet.time_base = base
                        if last_dts is not None and packet.dts <= last_dts:  # B-frame delay across a join
                            packet.dts = last_dts + 1
                        last_dts = packet.dts
                        yield float(packet.dts * base), 0, packet

            streams = [video_packets()]
            if audio:
                streams.append(((t, 1, p) for t, p in audio.packets()))
            try:
                for _, kind, packet in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                    packet.stream = v_out if kind == 0 else a_out
                    out.mux(packet)
                    count += kind == 0
            finally:
                out.close()
    finally:
        for container in inputs:
            container.close()
        if audio:
            audio.close()
    return count


def last_frame(path):
    """(time in seconds, RGB) of the last frame of a (short) video file, or None if it has none.
    The time is the file's own timestamp (not counted from its first frame, as ``decode`` does):
    a render chunk's frames carry their times in the whole render."""
    av = _av()
    last = None
    with _open(path) as container:
        stream = _video_stream(container, path)
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and (last is None or frame.pts >= last.pts):
                    last = frame
        except av.error.FFmpegError:
            pass
        if last is None:
            return None
        return float(last.pts * stream.time_base), last.to_ndarray(format="rgb24")


def write_animation(path, frames, fps=12):
    """Write frames as .gif or .mp4 depending on the extension."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        return media.write_gif(path, frames, fps=fps)
    if path.suffix.lower() not in (".mp4", ".avi"):
        raise UserError(f"animation must be .gif or .mp4: {path}")
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with VideoWriter(path, fps, (w, h)) as writer:
        for f in frames:
            writer.write(f)
    return path
