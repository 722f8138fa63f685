"""Installation shows: cross-fades between styles."""

import numpy as np
import pytest

from offline.adain import StyleStats
from offline.effects import StylizeEffect
from offline.stylizers import load_stylizer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def stylizer():
    return load_stylizer("random:fast", weights="none")


def styles(stylizer):
    a = stylizer.style(np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return [("a", a), ("b", StyleStats(a.mean + 1.0, a.std * 2.0, "b"))]


def test_a_style_change_fades_the_code_over_fade_seconds_without_a_retrace(stylizer):
    clock = Clock()
    effect = StylizeEffect(stylizer, styles(stylizer), smooth=0.0, fade=2.0, clock=clock)
    frame = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    effect(frame)
    traces = effect.traces
    (ma, sa), b = effect._stats(), effect.styles[1][1]
    effect.action("next")
    np.testing.assert_allclose(effect._stats()[0], ma)  # the fade starts from what is on screen
    outputs = []
    for _ in range(21):  # 2 s at 10 frames a second
        outputs.append(effect(frame).astype(int))
        if clock.now == 101.0:  # the midpoint: smoothstep(0.5) = 0.5, the two codes' average
            mean, std = effect._stats()
            np.testing.assert_allclose(mean.ravel(), (ma.ravel() + b.mean) / 2, rtol=1e-6)
            np.testing.assert_allclose(std.ravel(), (sa.ravel() + b.std) / 2, rtol=1e-6)
        clock.now += 0.1
    assert effect.traces == traces  # the code is an argument: no retrace during the fade
    np.testing.assert_allclose(effect._stats()[0].ravel(), b.mean)  # arrived
    assert effect.fade_position() == 1.0
    steps = [np.abs(x - y).mean() for x, y in zip(outputs, outputs[1:])]
    cut = StylizeEffect(stylizer, styles(stylizer), smooth=0.0)
    jump = np.abs(cut(frame).astype(int) - (cut.action("next") and cut(frame))).mean()
    assert max(steps) < jump / 4  # a fade of 20 frames: no frame-to-frame change near a cut's


def test_a_change_during_a_fade_starts_from_the_blend_on_screen(stylizer):
    clock = Clock()
    two = styles(stylizer)
    zeros = np.zeros_like(two[0][1].mean)
    effect = StylizeEffect(stylizer, two + [("c", StyleStats(zeros, zeros + 1, "c"))], fade=1.0, clock=clock)
    effect.action("next")
    clock.now += 0.5
    on_screen = effect._stats()[0].copy()
    effect.action("style", "c")
    np.testing.assert_allclose(effect._stats()[0], on_screen)
    clock.now += 1.0
    np.testing.assert_allclose(effect._stats()[0].ravel(), 0.0)
    effect.fade = 0.0
    effect.action("style", 0)  # fade 0: a cut
    np.testing.assert_allclose(effect._stats()[0].ravel(), effect.styles[0][1].mean)


def test_health_json_is_fresh_while_frames_come_and_503_when_they_stop():
    import json
    import time
    import urllib.error

    from realtime.loop import ErrorLog, Stats, state_of
    from realtime.web import WebServer
    from tests.test_live import FakeShow, free_port, get

    port = free_port()
    server = WebServer("127.0.0.1", port).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as e:  # no frame yet: not healthy
            get(f"http://127.0.0.1:{port}/health")
        assert e.value.code == 503
        with FakeShow(server):
            time.sleep(0.4)
            status, body = get(f"http://127.0.0.1:{port}/health")
            report = json.loads(body)
            assert status == 200 and report["ok"] and report["last_frame_age_s"] < 1.0
            assert {"frames", "fps", "errors", "uptime_s", "rss_mb", "viewers", "dropped"} <= set(report)
            assert report["rss_mb"] > 10 and report["uptime_s"] > 0
        errors = ErrorLog()
        errors(ValueError("bad frame"))
        errors(ValueError("bad frame"))
        show = FakeShow(server).show
        server.publish(np.zeros((8, 8, 3), np.uint8), state_of(show, Stats(), 0, errors))
        assert server.health()["errors"] == {"ValueError: bad frame": 2}
        assert server.health(stale=0.0)["ok"] is False  # a frame older than `stale`: a stuck show
    finally:
        server.stop()


def test_doctor_exits_0_when_ready_and_1_naming_a_missing_camera_or_weights(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from offline.backbone import MODELS
    from realtime.cli import main

    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("STUDIO_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("HOME", str(tmp_path))  # no Keras cache either
    monkeypatch.setenv("DISPLAY", ":0")
    res = CliRunner().invoke(main, ["doctor", "--camera", "none"])
    assert res.exit_code == 1 and "FIX  weights: vgg19" in res.output and "mobilenet" in res.output
    for key, alpha in (("vgg19", 1.0), ("mobilenet", 0.75)):
        (weights / MODELS[key].weights_filename(False, alpha)).write_bytes(b"")
    res = CliRunner().invoke(main, ["doctor", "--camera", "none"])
    assert res.exit_code == 0 and "ready for a show" in res.output and "FIX" not in res.output, res.output
    res = CliRunner().invoke(main, ["doctor", "--camera", "97"])  # no such camera
    assert res.exit_code == 1 and "FIX  camera 97: no picture" in res.output
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = CliRunner().invoke(main, ["doctor", "--camera", "none"])
    assert res.exit_code == 1 and "FIX  display" in res.output
    res = CliRunner().invoke(main, ["doctor", "--camera", "front"])
    assert res.exit_code == 2 and "--camera: expected a camera index or none" in res.output
