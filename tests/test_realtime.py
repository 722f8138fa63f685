"""The realtime loop: sources, capture thread, effects, recorder, keys, CLI and bench.

Effects run on tiny frames; ``stylize`` uses a stand-in that follows the ``offline.adain.Stylizer``
contract (colour statistics transfer in keras.ops), so these tests do not depend on a trained model.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from realtime.cli import main
from offline.effects import Effect, FeaturesEffect, StylizeEffect
from realtime.loop import run
from realtime.sinks import Recorder, ScriptedKeys
from realtime.sources import CameraSource, DemoSource, LatestFrame

ROOT = Path(__file__).resolve().parents[1]


# --- helpers ---------------------------------------------------------------------------------------

def write_video(path, frames=12, size=(64, 48), fps=10):
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        img = np.full((h, w, 3), 40, np.uint8)
        cv2.circle(img, (5 + 4 * i, h // 2), 8, (0, 200, 255), -1)
        writer.write(img)
    writer.release()
    return path


def video_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def stats(mean, std, name=None):
    c = lambda v: np.asarray(v, np.float32).reshape(1, 1, 1, -1)  # noqa: E731
    return SimpleNamespace(mean=c(mean), std=c(std), name=name)


class FakeStylizer:
    """The Stylizer contract with colour-statistics transfer in place of the AdaIN network."""

    def __init__(self):
        self.presets = {"warm": stats([200, 120, 60], [40, 30, 20]), "cool": stats([50, 110, 200], [20, 30, 40])}

    def style(self, spec):
        if spec in self.presets:
            return self.presets[spec]
        from offline.media import read_image

        image = read_image(spec).astype(np.float32)
        return stats(image.mean(axis=(0, 1)), image.std(axis=(0, 1)) + 1e-3)

    def stylize(self, content, mean, std, alpha=1.0):
        c_mean = ops.mean(content, axis=(1, 2), keepdims=True)
        c_std = ops.std(content, axis=(1, 2), keepdims=True)
        styled = (content - c_mean) / (c_std + 1e-5) * std + mean
        return ops.clip(alpha * styled + (1.0 - alpha) * content, 0.0, 255.0)  # the contract: clipped


class ListSource:
    """Frames from a list (again and again with ``loop``); optionally raises ``error`` after them;
    ``delay`` seconds per read."""

    def __init__(self, frames, fps=0, error=None, delay=0.0, loop=False):
        self.frames, self.fps, self.error, self.delay, self.loop = list(frames), fps, error, delay, loop
        self.size = self.frames[0].shape[1::-1]
        self.name = "list"
        self.i = 0

    def read(self):
        time.sleep(self.delay)
        if self.i >= len(self.frames) and self.loop:
            self.i = 0
        if self.i >= len(self.frames):
            if self.error:
                raise self.error()
            return None
        self.i += 1
        return self.frames[self.i - 1]

    def close(self):
        pass


def still_frames(n, size=(64, 48), seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (size[1], size[0], 3)).astype(np.uint8)
    return [base.copy() for _ in range(n)]


# --- the CLI ---------------------------------------------------------------------------------------

def test_headless_run_writes_an_mp4_with_n_frames_of_the_right_size(tmp_path):
    video = write_video(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["run", "--source", str(video), "--effect", "none", "--no-display",
                                       "--max-frames", "5", "--fps", "0", "--loop", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["frames"] == 5 and summary["retraces"] == 0
    frames = video_frames(out)
    assert len(frames) == 5
    assert frames[0].shape == (48, 64, 3)


@pytest.mark.shared_data
def test_headless_run_on_shared_video_resizes_to_size(tmp_path, shared):
    out = tmp_path / "bunny.mp4"
    result = CliRunner().invoke(main, ["run", "--source", str(shared / "video" / "bunny.mp4"), "--effect", "none",
                                       "--no-display", "--size", "96x54", "--max-frames", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == 4 and frames[0].shape == (54, 96, 3)


def test_demo_source_moves_and_needs_nothing():
    demo = DemoSource((80, 45))
    a, b = demo.read(), demo.read()
    assert a.shape == (45, 80, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 0.5  # it moves


def test_bench_prints_the_fields():
    result = CliRunner().invoke(main, ["bench", "--source", "demo", "--effect", "none", "--size", "64x48",
                                       "--frames", "5", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    for key in ("model_fps", "e2e_fps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "dropped",
                "peak_rss_mb", "retraces"):
        assert key in figures, key
    assert figures["frames"] == 5 and figures["model_fps"] > 0


def test_missing_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    result = CliRunner().invoke(main, ["run", "--source", "demo", "--effect", "none", "--max-frames", "1"])
    assert result.exit_code == 2
    assert "--no-display" in result.output


@pytest.mark.parametrize("source", ["/no/such/clip.mp4", "7x"])
def test_bad_source_exits_2(source):
    result = CliRunner().invoke(main, ["run", "--source", source, "--effect", "none", "--no-display"])
    assert result.exit_code == 2, result.output
    assert "source not found" in result.output


# --- recorder, interrupts --------------------------------------------------------------------------

def test_recorder_finalises_on_ctrl_c_after_k_frames(tmp_path):
    out = tmp_path / "rec.mp4"
    capture = LatestFrame(ListSource(still_frames(2), delay=0.002, loop=True)).start()
    try:
        stats_ = run(capture, Effect(), recorder=Recorder(out, 10), record=True, keys=ScriptedKeys({4: KeyboardInterrupt}))
    finally:
        capture.stop()
    assert stats_.stopped == "ctrl-c"
    assert len(video_frames(out)) == 4


def test_recorder_finalises_when_the_source_raises_keyboard_interrupt(tmp_path):
    out = tmp_path / "rec.mp4"
    capture = LatestFrame(ListSource(still_frames(3), error=KeyboardInterrupt, delay=0.02)).start()
    try:
        stats_ = run(capture, Effect(), recorder=Recorder(out, 10), record=True)
    finally:
        capture.stop()
    assert stats_.stopped == "ctrl-c"
    assert 1 <= stats_.frames <= 3
    assert len(video_frames(out)) == stats_.frames  # playable, holding every frame that was shown


@pytest.mark.slow
def test_sigterm_leaves_a_playable_file(tmp_path):
    out = tmp_path / "term.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "run", "--source", "demo", "--effect", "none",
                             "--size", "64x48", "--no-display", "--out", str(out)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:  # recording has begun
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 130, output  # interrupted (like Ctrl-C), the recording finalised
    assert "stopped by sigterm" in output
    assert len(video_frames(out)) > 0
    from offline import video

    assert video.probe(out).codec == "h264"  # plays in a browser
    assert not list(tmp_path.glob(".term.*"))  # no temporary file left behind


def test_record_key_starts_and_stops_new_files(tmp_path):
    capture = LatestFrame(ListSource(still_frames(2), delay=0.005, loop=True)).start()
    recorder = Recorder(tmp_path / "r.mp4", 10)
    try:
        run(capture, Effect(), recorder=recorder, max_frames=8, keys=ScriptedKeys({2: "r", 4: "r", 5: "r"}))
    finally:
        capture.stop()
    assert [p.name for p in recorder.files] == ["r.mp4", "r-2.mp4"]
    assert len(video_frames(tmp_path / "r.mp4")) == 2  # frames 3 and 4


# --- the capture thread ----------------------------------------------------------------------------

class CountingSource:
    """An endless source at ``fps`` that numbers its frames in pixel (0, 0)."""

    def __init__(self, fps):
        self.fps, self.size, self.name, self.n = fps, (16, 12), "count", 0

    def read(self):
        frame = np.zeros((12, 16, 3), np.uint8)
        frame[0, 0, 0] = self.n % 256
        self.n += 1
        return frame

    def close(self):
        pass


def test_capture_thread_drops_frames_when_the_effect_is_slow():
    capture = LatestFrame(CountingSource(fps=200)).start()
    latencies, taken = [], 0
    try:
        for _ in range(6):
            frame = capture.get(timeout=2)
            taken += 1
            latencies.append(time.perf_counter() - frame.t_capture)
            time.sleep(0.05)  # a slow effect: 10 source frames per processed one
    finally:
        capture.stop()
    assert capture.dropped > taken  # most frames were replaced, not queued
    assert capture.captured - capture.dropped - taken <= 1  # at most one frame waiting, never a queue
    assert max(latencies) < 0.04  # a frame handed out is at most about one source period old


def test_camera_source_reconnects_after_it_disappears():
    class FakeCamera:
        opened = 0

        def __init__(self, index):
            FakeCamera.opened += 1
            self.ok = FakeCamera.opened != 2  # the second open fails: still unplugged
            self.reads = 0

        def isOpened(self):
            return self.ok

        def read(self):
            self.reads += 1
            if FakeCamera.opened == 1 and self.reads > 2:
                return False, None  # unplugged after two frames
            return True, np.full((12, 16, 3), 100, np.uint8)

        def get(self, prop):
            return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 16, cv2.CAP_PROP_FRAME_HEIGHT: 12}.get(prop, 0)

        def set(self, *a):
            return True

        def release(self):
            pass

    cam = CameraSource(0, opener=FakeCamera, retry_seconds=0.01)
    frames = [cam.read() for _ in range(5)]
    assert all(f.shape == (12, 16, 3) for f in frames)
    assert cam.reconnects == 1 and FakeCamera.opened == 3


def test_installation_mode_survives_an_effect_error():
    class Flaky(Effect):
        calls = 0

        def __call__(self, image):
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise RuntimeError("transient")
            return image

    capture = LatestFrame(ListSource(still_frames(2), delay=0.002, loop=True)).start()
    try:
        stats_ = run(capture, Flaky(), max_frames=3, resilient=True)
    finally:
        capture.stop()
    assert stats_.frames == 3


# --- effects ---------------------------------------------------------------------------------------

def test_none_keeps_pixels_and_stylize_changes_them():
    frame = still_frames(1)[0]
    assert np.array_equal(Effect()(frame), frame)
    effect = StylizeEffect(FakeStylizer(), sorted(FakeStylizer().presets.items()))
    effect.warmup((64, 48))
    out = effect(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() > 10


def test_injected_keys_change_style_and_alpha_without_retracing():
    effect = StylizeEffect(FakeStylizer(), sorted(FakeStylizer().presets.items()), alpha=1.0)
    effect.warmup((64, 48))
    assert effect.traces == 1
    capture = LatestFrame(ListSource(still_frames(2), delay=0.005, loop=True)).start()
    seen = []
    real_call = effect.step
    effect.step = lambda image: seen.append((effect.style_name, effect.alpha)) or real_call(image)
    try:
        run(capture, effect, max_frames=7, keys=ScriptedKeys({2: "n", 3: "-", 4: "-", 5: "s", 6: "p"}))
    finally:
        capture.stop()
    assert seen[0] == ("cool", 1.0)
    assert seen[2] == ("warm", 1.0) and seen[4] == ("warm", 0.8)
    assert effect.style_name == "cool" and effect.alpha == 0.8 and not effect.smooth_on
    assert effect.traces == 1  # style, alpha and smoothing are tensors: no retrace


def test_alpha_zero_returns_the_content():
    frame = still_frames(1)[0]
    effect = StylizeEffect(FakeStylizer(), [("warm", FakeStylizer().presets["warm"])], alpha=0.0, smooth=0)
    effect.warmup((64, 48))
    assert np.abs(effect(frame).astype(int) - frame).max() <= 1


def test_smoothing_reduces_flicker_on_a_still_noisy_camera():
    rng = np.random.default_rng(1)
    base = still_frames(1)[0].astype(np.float32)
    frames = [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(12)]

    def flicker(smooth):
        effect = StylizeEffect(FakeStylizer(), [("warm", FakeStylizer().presets["warm"])], smooth=smooth)
        effect.warmup((64, 48))
        outs = [effect(f).astype(np.float32) for f in frames]
        return np.mean([np.abs(a - b).mean() for a, b in zip(outs[3:], outs[4:])])

    assert flicker(0.8) < 0.6 * flicker(0.0)


def test_style_files_are_checked_at_start(tmp_path):
    from offline.errors import UserError
    from offline.effects import load_styles

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="corrupt"):
        load_styles(FakeStylizer(), [str(bad)])
    good = tmp_path / "styles"
    good.mkdir()
    cv2.imwrite(str(good / "a.png"), np.full((8, 8, 3), 200, np.uint8))
    assert [name for name, _ in load_styles(FakeStylizer(), [str(good)])] == ["a"]
    assert [name for name, _ in load_styles(FakeStylizer(), [])] == ["cool", "warm"]  # the presets


def test_features_effect_compiles_once_per_layer():
    effect = FeaturesEffect("mobilenet", layers=["conv_pw_1_relu", "conv_pw_3_relu"], layer="conv_pw_1_relu", weights=None)
    effect.warmup((64, 48))
    frame = DemoSource((64, 48)).read()
    out = effect(frame)
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 5
    effect.action("channel")  # one channel instead of the mean: same graph
    effect(frame)
    effect(frame)
    assert effect.traces == 1
    effect.action("layer")  # a new layer is a new graph, compiled once, right away
    effect(frame)
    effect(frame)
    assert effect.traces == 2 and "conv_pw_3_relu" in effect.label()


# --- with the real offline.adain.Stylizer (random weights) -----------------------------------------

def _adain():
    adain = pytest.importorskip("offline.adain")
    if not hasattr(getattr(adain, "Stylizer", None), "random"):
        pytest.skip("offline.adain has no Stylizer.random yet")
    return adain


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A model folder as `offline adain train` writes it, with random weights and one preset."""
    adain = _adain()
    folder = tmp_path_factory.mktemp("adain")
    st = adain.Stylizer.random("relu3_1")
    st.decoder.save_weights(str(folder / "decoder.weights.h5"))
    (folder / "manifest.json").write_text(json.dumps({"depth": "relu3_1", "decoder": "decoder.weights.h5"}))
    (folder / "styles").mkdir()
    rng = np.random.default_rng(0)
    st.style(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "styles" / "noise.npz")
    return folder


def test_stylize_effect_runs_the_real_stylizer_without_retracing():
    adain = _adain()
    st = adain.Stylizer.random("relu3_1")
    rng = np.random.default_rng(0)
    styles = [(n, st.style(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))) for n in ("a", "b")]
    effect = StylizeEffect(st, styles)
    effect.warmup((30, 22))  # not a multiple of the encoder's 4: padded and cropped inside
    frame = DemoSource((30, 22)).read()
    out = effect(frame)
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() > 5
    effect.action("next")
    effect.action("alpha-")
    effect(frame)
    assert effect.traces == 1


def test_cli_stylize_writes_changed_frames_and_checks_styles_at_start(tmp_path, random_model):
    out = tmp_path / "styled.mp4"
    base = ["run", "--source", "demo", "--size", "32x24", "--effect", "stylize", "--model", str(random_model),
            "--weights", "none", "--no-display", "--max-frames", "3"]
    result = CliRunner().invoke(main, base + ["--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "noise" in json.loads(result.output.strip().splitlines()[-1])["effect"]  # the preset is the default
    frames = video_frames(out)
    assert len(frames) == 3
    demo = cv2.cvtColor(DemoSource((32, 24)).read(), cv2.COLOR_RGB2BGR)
    assert np.abs(frames[0].astype(int) - demo).mean() > 10

    missing = CliRunner().invoke(main, base + ["--style", str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 2 and "nope.jpg" in missing.output
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    corrupt = CliRunner().invoke(main, base + ["--style", str(bad)])
    assert corrupt.exit_code == 2 and "bad.jpg" in corrupt.output


def test_the_none_path_does_not_import_tensorflow():
    """`realtime --help` and `--effect none` start at once: TensorFlow loads only for model effects."""
    code = "import sys, realtime.cli, realtime.loop, offline.effects; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_installation_mode_logs_to_a_file_and_cycles(tmp_path):
    log = tmp_path / "show.log"
    result = CliRunner().invoke(main, ["run", "--source", "demo", "--size", "32x24", "--effect", "none", "--install",
                                       "--no-display", "--cycle", "0.05", "--max-frames", "8", "--log", str(log)])
    assert result.exit_code == 0, result.output
    text = log.read_text()
    assert "demo at 32x24" in text


def test_one_key_table_drives_dispatch_hud_and_help():
    from realtime import keys
    from offline.effects import Effect, FeaturesEffect, StylizeEffect

    t = keys.table(StylizeEffect.keys)
    assert t[ord("n")] == "next" and t[ord("=")] == "alpha+" and t[27] == "quit" and t[32] == "snapshot"
    assert ord("l") not in t  # a features key means nothing to stylize
    assert keys.table(FeaturesEffect.keys)[ord("l")] == "layer"
    assert keys.hud_line(StylizeEffect.keys) == ("n/p style  +/- alpha  s smooth  h HUD  r record  space snapshot  "
                                                 "f fullscreen  q quit")
    assert keys.hud_line(Effect.keys).startswith("h HUD")
    text = keys.help_text([("stylize", StylizeEffect.keys)])
    assert "n next style" in text and "q quit" in text


def test_installation_errors_are_one_line_each_and_rate_limited(caplog):
    import logging

    from realtime.loop import ErrorLog

    now = [0.0]
    errors = ErrorLog(every=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="realtime"):
        for i in range(500):
            now[0] = i * 0.1  # 50 s of frames failing at 10 FPS
            errors(ValueError("bad style file\nwith a second line"))
        errors(KeyError("other"))
        now[0] = 61.0
        errors(ValueError("bad style file\nwith a second line"))
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert lines == ["error in the frame loop, going on: ValueError: bad style file",
                     "error in the frame loop, going on: KeyError: 'other'",
                     "error in the frame loop, 500 more times since the last report: ValueError: bad style file"]


def test_a_killed_recordings_leftover_is_removed_on_the_next_start(tmp_path):
    from realtime.sinks import Recorder

    stale = tmp_path / ".show.abc123.mp4"
    stale.write_bytes(b"\x00\x00\x00\x18ftypmp42 no index: a SIGKILLed writer's file")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    fresh = tmp_path / ".show.def456.mp4"  # another recorder writing right now
    fresh.write_bytes(b"being written")
    other = tmp_path / ".other.abc123.mp4"
    other.write_bytes(b"not ours")
    os.utime(other, (time.time() - 120, time.time() - 120))
    Recorder(tmp_path / "show.mp4", 10)
    assert not stale.exists() and fresh.exists() and other.exists()


def test_an_unpaced_demo_source_still_moves():
    from realtime.sources import open_source

    src = open_source("demo", (64, 48), fps=0)
    a, b = src.read(), src.read()
    assert a.shape == (48, 64, 3) and np.abs(a.astype(int) - b).mean() > 0


def test_the_readme_main_command_runs_offline_on_presets(monkeypatch, tmp_path):
    """``realtime run --source demo --effect stylize``: the shipped presets need no encoder, so no
    download and no weights; the network is blocked and any VGG load would fail the test."""
    import socket

    from offline import adain, backbone

    def blocked(*args, **kwargs):
        raise OSError("the network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    for module in (adain, backbone):
        monkeypatch.setattr(module, "load_backbone", lambda *a, **k: pytest.fail(f"an encoder was loaded: {a}"))
    result = CliRunner().invoke(main, ["run", "--source", "demo", "--effect", "stylize", "--no-display",
                                       "--size", "64x48", "--max-frames", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["frames"] == 3 and summary["effect"].startswith("stylize la_muse")  # the best first impression


def test_run_at_a_processing_size_shows_the_frame_size_and_reports_the_ladder(tmp_path, random_model):
    out = tmp_path / "o.mp4"
    result = CliRunner().invoke(main, ["run", "--source", "demo", "--size", "320x184", "--effect", "stylize",
                                       "--model", str(random_model), "--weights", "none", "--process-size", "160x96",
                                       "--target-fps", "1000", "--no-display", "--max-frames", "30",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["process_sizes"][0] == [160, 96] and summary["size"] == [320, 184]
    assert summary["retraces"] == 0 and summary["process_size"] in summary["process_sizes"]
    assert summary["size_moves"] >= 1  # 1000 FPS cannot be held: it went down the ladder
    from offline import video

    assert video.probe(out).width == 320  # recorded at the frame's size
    bad = CliRunner().invoke(main, ["run", "--source", "demo", "--process-size", "0x0", "--no-display"])
    assert bad.exit_code == 2 and "size" in bad.output
