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


SHOW = '''fade = 1.5

[[scene]]
name = "day"
style = "la_muse"
duration = 10

[[scene]]
name = "mix"
style = ["mondrian", "la_muse"]
weights = [3, 1]
alpha = 0.8
smooth = 0.5
duration = 5
fade = 4

[[scene]]
name = "night"
style = "mondrian"
duration = 20

[[schedule]]
from = "22:00"
to = "06:00"
scenes = ["night"]

[[schedule]]
scenes = ["day", "mix"]
'''
PRESETS = {"la_muse", "mondrian"}


def test_a_show_file_parses_into_scenes_with_mixed_weights_and_windows(tmp_path):
    import datetime

    from realtime.showfile import parse

    show = parse(SHOW, tmp_path / "show.toml", PRESETS)
    day, mix, night = show.scenes
    assert (day.name, day.styles, day.weights, day.fade, day.duration) == ("day", ("la_muse",), (1.0,), 1.5, 10.0)
    assert mix.weights == (0.75, 0.25) and (mix.alpha, mix.smooth, mix.fade) == (0.8, 0.5, 4.0)
    assert show.styles == ("la_muse", "mondrian")
    at = lambda h, m=0: datetime.datetime(2026, 12, 4, h, m)  # noqa: E731
    assert show.scenes_at(at(23)) == (2,) and show.scenes_at(at(3)) == (2,)  # the window passes midnight
    assert show.scenes_at(at(6)) == (0, 1) and show.scenes_at(at(21, 59)) == (0, 1)
    (tmp_path / "pic.png").write_bytes(b"")
    show = parse('[[scene]]\nstyle = "pic.png"\n', tmp_path / "show.toml", PRESETS)
    assert show.scenes[0].styles == ("pic",) and show.styles == (str(tmp_path / "pic.png"),)


@pytest.mark.parametrize("edit, message", [
    (("weights = [3, 1]", "weights = [3]"), ":11: scene 'mix': weights: expected 2 numbers"),
    (("alpha = 0.8", "alpha = 2"), ":12: scene 'mix': alpha: 2 is outside 0..1"),
    (("alpha = 0.8", 'alpha = "high"'), ":12: scene 'mix': alpha: expected a number"),
    (('style = "mondrian"', 'style = "monet"'), ":19: scene 'night': no style 'monet': not a preset"),
    (('style = "mondrian"', 'style = "gone.jpg"'), ":19: scene 'night': no image"),
    (('to = "06:00"', 'to = "25:00"'), ':24: schedule 1: to: expected a time of day HH:MM'),
    (('scenes = ["night"]', 'scenes = ["nite"]'), ":25: schedule 1: no scene named 'nite'"),
    (("duration = 20", "duraton = 20"), ":20: scene 'night': unknown setting 'duraton'"),
    (('name = "mix"', 'name = "day"'), ":9: scene 2: the name 'day' is taken by scene 1"),
    (("[[scene]]\nname = \"night\"", "[[scene]\nname = \"night\""), ":17: not valid TOML"),
    (("fade = 1.5", "fade = -1"), ":1: fade: -1 is outside"),
])
def test_show_file_mistakes_are_one_line_naming_the_line(edit, message, tmp_path):
    from offline.errors import UserError
    from realtime.showfile import parse

    text = SHOW.replace(*edit)
    assert text != SHOW
    with pytest.raises(UserError) as e:
        parse(text, tmp_path / "show.toml", PRESETS)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


class SceneEffect:
    """The effect's side of a show: records the scenes it is given."""

    def __init__(self):
        self.styles = [("la_muse", None), ("mondrian", None)]
        self.scenes = []

    def action(self, name, value=None):
        assert name == "scene"
        self.scenes.append(value)

    def label(self):
        return self.scenes[-1].name if self.scenes else ""


def test_the_player_times_scenes_follows_the_clock_of_day_and_reloads_edits(tmp_path):
    import datetime
    import os

    from realtime.showfile import ShowPlayer, load

    path = tmp_path / "show.toml"
    path.write_text(SHOW)
    clock, day = Clock(), [datetime.datetime(2026, 12, 4, 12, 0)]
    effect = SceneEffect()
    player = ShowPlayer(load(path, PRESETS), effect, clock=clock, wallclock=lambda: day[0], known_styles=PRESETS)
    played = []

    def advance(seconds, step=0.5):
        for _ in range(int(seconds / step)):
            player.poll()
            if not played or played[-1] != effect.scenes[-1].name:
                played.append(effect.scenes[-1].name)
            clock.now += step

    advance(31)
    assert played == ["day", "mix", "day", "mix", "day"]  # 10 s, 5 s, 10 s, 5 s, ...
    assert effect.scenes[0].fade == 0.0 and effect.scenes[1].fade == 4.0  # the first scene is no fade
    day[0] = datetime.datetime(2026, 12, 4, 22, 30)
    advance(1)
    assert played[-1] == "night"  # the evening window starts at once
    # an edit: picked up within a second, the new timeline starts
    path.write_text(SHOW.replace('scenes = ["night"]', 'scenes = ["mix"]'))
    os.utime(path, ns=(1, 10 ** 18))
    advance(1.5)
    assert played[-1] == "mix" and player.reloads == 1
    # a broken edit: one log line, the show goes on with the last good file
    path.write_text(SHOW.replace("alpha = 0.8", "alpha = 9"))
    os.utime(path, ns=(1, 2 * 10 ** 18))
    advance(1.5)
    assert player.failed_reloads == 1 and player.show.scenes[1].alpha == 0.8 and played[-1] == "mix"
    # SIGHUP reloads at once
    path.write_text(SHOW.replace('scenes = ["night"]', 'scenes = ["day"]'))
    player._hup = True
    advance(0.5)
    assert played[-1] == "day" and player.reloads == 2


def test_run_plays_a_show_file_and_refuses_a_broken_one_before_loading(tmp_path):
    import json

    from click.testing import CliRunner

    from realtime.cli import main

    path = tmp_path / "show.toml"
    path.write_text('fade = 0\n[[scene]]\nstyle = ["la_muse", "mondrian"]\nduration = 0.2\n'
                    '[[scene]]\nstyle = "mondrian"\nalpha = 0.5\nduration = 0.2\n')
    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--size", "64x48", "--show", str(path),
                                    "--max-frames", "20", "--json", "--target-fps", "0"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["frames"] == 20 and summary["retraces"] == 0
    path.write_text('[[scene]]\nstyle = "la_muse"\nalpha = 7\n')
    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--show", str(path)])
    assert res.exit_code == 2 and f"{path}:3: scene 'scene 1': alpha: 7 is outside 0..1" in res.output
    assert "loading" not in res.output  # refused before the model loads
    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--show", str(path), "--style", "x"])
    assert res.exit_code == 2 and "leave out --style" in res.output


def test_a_scene_mixes_the_codes_by_its_weights_and_fades_in(stylizer):
    from realtime.showfile import Scene

    clock = Clock()
    effect = StylizeEffect(stylizer, styles(stylizer), clock=clock)
    (a, b) = (s for _, s in effect.styles)
    effect.action("scene", Scene("m", ("a", "b"), (0.75, 0.25), alpha=0.6, smooth=0.3, fade=2.0))
    np.testing.assert_allclose(effect._stats()[0].ravel(), a.mean)  # the fade starts where the picture is
    clock.now += 2.0
    np.testing.assert_allclose(effect._stats()[0].ravel(), 0.75 * a.mean + 0.25 * b.mean, rtol=1e-6)
    np.testing.assert_allclose(effect._stats()[1].ravel(), 0.75 * a.std + 0.25 * b.std, rtol=1e-6)
    assert (effect.alpha, effect.smooth) == (0.6, 0.3) and effect.style_name == "a 75% + b 25%"
    assert effect.action("scene", Scene("x", ("nope",), (1.0,))) == "no style 'nope'"


def beat_wav(path, beats=8, period=0.5, rate=22050):
    """Quiet noise with a 50 ms burst every ``period`` seconds (a known beat)."""
    import wave

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.003, int(rate * beats * period))
    for k in range(beats):
        s = int(k * period * rate)
        x[s:s + int(0.05 * rate)] += rng.normal(0, 0.5, int(0.05 * rate))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)  # stereo: mixed down to mono
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.repeat(np.clip(x, -1, 1)[:, None], 2, 1) * 32767).astype(np.int16).tobytes())
    return path


def test_a_wav_with_a_known_beat_gives_its_onsets_and_a_breathing_envelope(tmp_path):
    from realtime.audio import BLOCK, Analysis, read_wav

    samples, rate = read_wav(beat_wav(tmp_path / "beat.wav"))
    analysis, onsets, values = Analysis(), [], []
    for i in range(0, len(samples), BLOCK):
        before = analysis.onset_count
        analysis.feed(samples[i:i + BLOCK], rate)
        values.append(analysis.value)
        if analysis.onset_count > before:
            onsets.append(i / rate)
    assert len(onsets) == 8
    assert np.allclose(onsets, np.arange(8) * 0.5, atol=BLOCK / rate + 1e-9)  # on the beat, within a block
    per_block = BLOCK / rate
    at = lambda t: values[int(t / per_block)]  # noqa: E731
    assert at(1.03) > 0.6 and at(1.45) < at(1.1) - 0.2  # up with the beat, down (release) before the next


def test_the_sound_drives_alpha_and_onsets_advance_the_show(tmp_path, stylizer):
    from realtime.audio import AudioControl, WavInput

    effect = StylizeEffect(stylizer, styles(stylizer))
    source = WavInput(beat_wav(tmp_path / "beat.wav"), pace=False, loop=False)
    control = AudioControl(source, effect, alpha=(0.2, 0.9), mix=("a", "b"), onset="next")
    source.analysis.value, source.analysis.onset_count = 0.5, 0
    control.poll()
    assert effect.alpha == pytest.approx(0.55) and effect.style_name == "a 50% + b 50%"
    source.analysis.onset_count = 3  # three onsets since the last frame: one step
    control.poll()
    assert effect.style_index == 1

    class Player:
        advanced = 0

        def advance(self):
            self.advanced += 1

    player = Player()
    control = AudioControl(source, effect, onset="next", player=player)
    source.analysis.onset_count = 5
    control.poll()
    assert player.advanced == 1
    source = WavInput(beat_wav(tmp_path / "beat.wav"), pace=False, loop=False)
    source.start()._thread.join(5)  # unpaced: the whole file at once, on its thread
    assert source.analysis.onset_count == 8 and source.analysis.blocks > 80


def test_audio_mistakes_are_one_line(tmp_path):
    from click.testing import CliRunner

    from realtime.cli import main

    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--audio", str(tmp_path / "no.wav")])
    assert res.exit_code == 2 and "no WAV file" in res.output
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--audio", str(tmp_path / "bad.wav")])
    assert res.exit_code == 2 and "cannot read the WAV file" in res.output and "loading" not in res.output
    path = tmp_path / "show.toml"
    path.write_text('[[scene]]\nstyle = "la_muse"\n[audio]\nmix = ["la_muse", "monet"]\n')
    res = CliRunner().invoke(main, ["run", "--source", "demo", "--no-display", "--show", str(path)])
    assert res.exit_code == 2 and f"{path}:4: audio: mix: expected two styles" in res.output
