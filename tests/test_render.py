"""offline render and offline/video.py: real files made with PyAV (H.264, AAC), real decoders."""

import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from offline import video
from offline.cli import main
from offline.effects import Effect
from offline.errors import UserError
from offline.render import RenderSettings, render


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def scene(i, w=64, h=48):
    """A frame that moves: a gradient and a bright square at x = 4 i."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    f = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)), np.full((h, w, 1), 90.0)], -1)
    f = f.copy()
    f[10:22, (4 * i) % (w - 12):(4 * i) % (w - 12) + 12] = 250
    return f.astype(np.uint8)


def make_clip(path, n=12, fps=12, size=(64, 48), times=None, sound=True):
    """An H.264 MP4 with a 440 Hz AAC track (``sound``), frames at ``times`` (seconds) if given."""
    w, h = size
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.time_base = Fraction(1, 1000)
        audio = tone_stream(out) if sound else None  # every stream before the first packet
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(scene(i, w, h), format="rgb24")
            frame.pts = int(round((times[i] if times else i / fps) * 1000))
            frame.time_base = Fraction(1, 1000)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if sound:
            write_tone(out, audio, times[-1] + 0.1 if times else n / fps)
    return path


def tone_stream(out):
    audio = out.add_stream("aac", rate=44100)
    audio.layout = "mono"
    return audio


def write_tone(out, audio, seconds, amplitude=0.3):
    """``seconds`` of a 440 Hz tone into the AAC stream ``audio`` of the output container ``out``."""
    t = np.arange(int(seconds * 44100)) / 44100
    samples = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for k in range(0, len(samples), 1024):
        af = av.AudioFrame.from_ndarray(samples[None, k:k + 1024], format="fltp", layout="mono")
        af.sample_rate, af.pts = 44100, k
        for p in audio.encode(af):
            out.mux(p)
    for p in audio.encode(None):
        out.mux(p)


def frame_times(path):
    with av.open(str(path)) as c:
        return [round(float(f.time), 3) for f in c.decode(video=0)]


def streams(path):
    with av.open(str(path)) as c:
        return {s.type: s.codec_context.name for s in c.streams}


# --- the writer and the reader ---------------------------------------------------------------------

def test_render_copies_sound_and_keeps_rate_duration_and_h264(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=24, fps=12)
    out = tmp_path / "out.mp4"
    res = run("render", src, "-o", out, "--effect", "none")
    assert res.exit_code == 0, res.output
    assert "sound copied (aac)" in res.output
    info = video.probe(out)
    assert (info.frames, info.width, info.height, info.codec, info.audio) == (24, 64, 48, "h264", "aac")
    assert info.fps == pytest.approx(12.0, rel=1e-3)  # the source's millisecond timestamps, kept
    assert abs(info.duration - 2.0) < 0.01
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        a = c.streams.audio[0]
        assert abs(float(a.duration * a.time_base) - 2.0) <= 1 / 12  # the sound, all of it, within one frame
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: plays while it downloads
    got = [f.rgb for f in video.decode(out)]
    assert np.abs(got[5].astype(int) - scene(5)).mean() < 4  # the picture survived the two encodes
    assert not (tmp_path / "out.chunks").exists()  # the work folder goes when the output is written


def test_variable_frame_rate_timestamps_survive(tmp_path):
    times = [0.0, 0.05, 0.3, 0.35, 0.8, 0.85, 0.9, 1.5]
    src = make_clip(tmp_path / "vfr.mp4", n=len(times), times=times)
    out = tmp_path / "out.mp4"
    res = run("render", src, "-o", out, "--effect", "none")
    assert res.exit_code == 0, res.output
    assert frame_times(out) == pytest.approx(times, abs=0.002)


def test_start_and_duration_cut_picture_and_sound_together(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=36, fps=12)
    out = tmp_path / "cut.mp4"
    res = run("render", src, "-o", out, "--effect", "none", "--start", 1, "--duration", 1)
    assert res.exit_code == 0, res.output
    times = frame_times(out)
    assert len(times) == 12 and times[0] == 0.0
    got = next(iter(video.decode(out))).rgb
    assert np.abs(got.astype(int) - scene(12)).mean() < np.abs(got.astype(int) - scene(0)).mean()
    info = video.probe(out)
    assert info.audio == "aac" and abs(info.duration - 1.0) < 0.05


@pytest.mark.parametrize("even, size", [("pad", (66, 50)), ("crop", (64, 48))])
def test_odd_sizes_are_made_even_and_said(tmp_path, even, size):
    src = make_clip(tmp_path / "in.mp4", n=4, sound=False)
    out = tmp_path / "odd.mp4"
    res = run("render", src, "-o", out, "--effect", "none", "--size", "65x49", "--even", even)
    assert res.exit_code == 0, res.output
    assert f"65x49 {'padded' if even == 'pad' else 'cropped'} to {size[0]}x{size[1]}" in res.output
    assert "no sound" in res.output
    info = video.probe(out)
    assert (info.width, info.height) == size


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to tag a rotation")
def test_a_portrait_phone_clip_comes_out_upright(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=4, sound=False)
    rotated = tmp_path / "phone.mp4"
    # a phone's portrait tag: turn 90 degrees clockwise to display (FFmpeg 5's spelling; 7 also reads it)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)],
                   check=True)
    info = video.probe(rotated)
    assert (info.width, info.height) == (48, 64) and info.rotation in (90, 270)
    out = tmp_path / "upright.mp4"
    res = run("render", rotated, "-o", out, "--effect", "none")
    assert res.exit_code == 0, res.output
    first = next(iter(video.decode(out))).rgb
    assert first.shape == (64, 48, 3)
    # ffmpeg's own auto-rotation is the reference
    ref = tmp_path / "ref.png"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(rotated), "-frames:v", "1", str(ref)], check=True)
    import cv2

    want = cv2.cvtColor(cv2.imread(str(ref)), cv2.COLOR_BGR2RGB)
    assert np.abs(first.astype(int) - want).mean() < 4
    assert np.abs(first.astype(int) - np.rot90(want, 2)).mean() > 20  # not the other way round


def test_damaged_packets_are_skipped_counted_and_the_render_completes(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=48, fps=12, size=(128, 96), sound=False)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    start, end = data.index(b"mdat") + 4, data.index(b"moov")  # the picture data, not the index
    assert end > start
    for off in range(start + (end - start) // 3, start + 2 * (end - start) // 3, 400):
        data[off:off + 60] = rng.integers(0, 256, 60, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    stats = video.DecodeStats()
    n = sum(1 for _ in video.decode(broken, stats=stats))
    assert 0 < n <= 48
    out = tmp_path / "out.mp4"
    res = run("render", broken, "-o", out, "--effect", "none")
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    if stats.skipped_packets:
        assert f"{stats.skipped_packets} damaged packet(s) skipped" in res.output
    assert video.probe(out).frames == n


# --- resuming --------------------------------------------------------------------------------------

class Counting(Effect):
    """The identity that counts the frames it sees, can stop midway and records its priming."""

    def __init__(self, stop_after=None):
        self.count, self.stop_after, self.primed = 0, stop_after, None

    def __call__(self, image):
        if self.stop_after is not None and self.count == self.stop_after:
            raise KeyboardInterrupt
        self.count += 1
        return image

    def prime(self, source, output):
        self.primed = (source.shape, output.shape)


def test_an_interrupted_render_resumes_after_its_last_chunk(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=30, fps=12)
    settings = RenderSettings(input=str(src), effect="none", chunk_frames=8)
    whole = tmp_path / "whole.mp4"
    render(settings, Counting(), whole, progress=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        render(settings, Counting(stop_after=19), out, progress=False)
    kept = sorted(p.name for p in (tmp_path / "out.chunks").glob("chunk_*.mp4"))
    assert kept == ["chunk_00000.mp4", "chunk_00001.mp4"]  # the third was unfinished: no file
    assert not list((tmp_path / "out.chunks").glob(".*"))  # nor its temporary
    assert not out.exists()
    with pytest.raises(UserError, match="--resume"):
        render(settings, Counting(), out, progress=False)
    with pytest.raises(UserError, match="other settings"):
        render(RenderSettings(input=str(src), effect="none", chunk_frames=8, crf=30), Counting(), out, resume=True,
               progress=False)
    effect = Counting()
    report = render(settings, effect, out, resume=True, progress=False)
    assert effect.count == 14 and report.rendered_now == 14  # only the frames after chunk 2
    assert effect.primed == ((48, 64, 3), (48, 64, 3))  # the state carried over the join
    assert frame_times(out) == frame_times(whole)
    a, b = [f.rgb.astype(int) for f in video.decode(out)], [f.rgb.astype(int) for f in video.decode(whole)]
    assert max(np.abs(x - y).mean() for x, y in zip(a, b)) < 1.0
    assert video.probe(out).audio == "aac"


def test_render_stylizes_every_frame_with_a_random_fast_model(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=6, fps=12)
    style = tmp_path / "style.png"
    from offline.media import write_image

    write_image(style, np.random.default_rng(0).integers(0, 255, (32, 32, 3)).astype(np.uint8))
    out = tmp_path / "styled.mp4"
    res = run("render", src, "-o", out, "--model", "random:fast", "--style", style, "--weights", "none")
    assert res.exit_code == 0, res.output
    got = [f.rgb for f in video.decode(out)]
    assert len(got) == 6
    assert np.abs(got[0].astype(int) - scene(0)).mean() > 10  # it did something to the picture


# --- bad input: one line, exit 2 -------------------------------------------------------------------

def sound_only(path):
    with av.open(str(path), "w") as out:
        write_tone(out, tone_stream(out), 1.0)
    return path


@pytest.mark.parametrize("case, message", [
    ("folder", "is a folder"),
    ("missing", "not found"),
    ("text", "not a video FFmpeg knows"),
    ("sound", "sound only"),
    ("same", "is also an input"),
    ("start", "past the end"),
    ("ext", "unknown extension"),
    ("channel", "LAYER:IDX"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, message):
    clip = make_clip(tmp_path / "in.mp4", n=4, sound=False)
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    args = {
        "folder": [tmp_path, "-o", tmp_path / "o.mp4"],
        "missing": [tmp_path / "nope.mp4", "-o", tmp_path / "o.mp4"],
        "text": [text, "-o", tmp_path / "o.mp4"],
        "sound": [sound_only(tmp_path / "song.m4a"), "-o", tmp_path / "o.mp4"],
        "same": [clip, "-o", clip],
        "start": [clip, "-o", tmp_path / "o.mp4", "--start", 60],
        "ext": [clip, "-o", tmp_path / "o.avi"],
        "channel": [clip, "-o", tmp_path / "o.mp4", "--effect", "dream", "--channel", "3"],
    }[case]
    res = run("render", *args, "--effect" if case != "channel" else "--crf", "none" if case != "channel" else 20)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert clip.exists() and clip.stat().st_size > 0  # the input is never touched


# --- the recorder ----------------------------------------------------------------------------------

RECORD = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[2])
from offline.video import VideoWriter
w = VideoWriter(sys.argv[1], 10, (64, 48), live=True)
for i in range(1000):
    w.write(np.full((48, 64, 3), (i * 7) % 255, np.uint8))
    if i == 35:
        print("ready", flush=True)
    time.sleep(0.01)
"""


def test_a_live_recording_killed_with_sigkill_still_plays(tmp_path):
    from pathlib import Path

    out = tmp_path / "rec.mp4"
    p = subprocess.Popen([sys.executable, "-c", RECORD, str(out), str(Path(__file__).resolve().parents[1])],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    frames = list(video.decode(out))
    assert len(frames) >= 20  # every finished one-second fragment plays
    assert video.probe(out).codec == "h264"


def test_finished_chunks_without_their_render_json_are_never_joined_to_another_render(tmp_path):
    from offline.errors import UserError
    from offline.workfolder import WorkFolder

    store = WorkFolder(tmp_path / "w", {"input": "a.mp4"})
    store.path(0).write_bytes(b"a's finished chunk")
    (tmp_path / "w" / ".chunk_00001.abc.mp4").write_bytes(b"half a chunk: the render was killed")
    WorkFolder(tmp_path / "w", {"input": "a.mp4"}, resume=True)
    assert not list((tmp_path / "w").glob(".*"))  # the killed render's leftover is gone
    (tmp_path / "w" / "render.json").unlink()  # lost: whose chunk is it?
    with pytest.raises(UserError, match="missing"):
        WorkFolder(tmp_path / "w", {"input": "b.mp4"}, resume=True)
    WorkFolder(tmp_path / "x", {"input": "a.mp4"}).path(0).write_bytes(b"a's finished chunk")
    with pytest.raises(UserError, match="other settings"):
        WorkFolder(tmp_path / "x", {"input": "b.mp4"}, resume=True)


def test_a_ray_address_where_nothing_listens_is_one_line_within_seconds():
    import socket
    import time

    from offline.cluster import check_reachable
    from offline.errors import UserError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
    t = time.monotonic()
    with pytest.raises(UserError, match="cannot reach the Ray cluster"):
        check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - t < 6
    check_reachable("auto")  # Ray's own lookup: not ours to check
