"""DeepDream commands (offline/dream.py): zoom step, schedule, resume, video output, CLI on tiny
inputs with random weights, bad inputs."""

import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from offline import dream
from offline.cli import main
from offline.media import write_image
from offline.video import VideoWriter

TINY = ["--backbone", "mobilenet", "--backbone-width", "0.25", "--weights", "none", "--steps", "1", "--octaves", "1",
        "--layers", "conv_pw_2_relu"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (48, 64, 3)).astype(np.float32), (0, 0), 2)
    return write_image(tmp_path / "photo.png", img)


# --- zoom step and schedule ----------------------------------------------------------------------

def test_zoom_step_keeps_size_and_centre():
    h, w = 41, 61
    img = np.zeros((h, w, 3), np.float32)
    img[h // 2, w // 2] = 255.0  # a dot on the centre pixel
    img[h // 2, w // 2 + 10] = 255.0  # and one 10 px to its right
    out = dream.zoom_step(img, zoom=1.2)
    assert out.shape == img.shape
    row = out[h // 2, :, 0]
    peaks = [x for x in range(1, w - 1) if row[x] > 50 and row[x] >= row[x - 1] and row[x] >= row[x + 1]]
    assert peaks == [w // 2, w // 2 + 12]  # the centre stays, everything else moves out by the zoom
    assert np.argmax(out[:, w // 2, 0]) == h // 2
    # rotation about the centre also keeps it
    rotated = dream.zoom_step(img, zoom=1.0, rotate=90.0)
    assert rotated[h // 2, w // 2, 0] > 200 and rotated[h // 2 - 10, w // 2, 0] > 100


def test_zoom_step_on_uint8_frames_keeps_dtype_and_size():
    frame = np.random.default_rng(0).integers(0, 255, (36, 64, 3), dtype=np.uint8)
    out = dream.zoom_step(frame, 1.02)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_schedule_once_through_or_looping():
    assert [dream.schedule_index(i, 2, 6) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    assert [dream.schedule_index(i, 3, 9, every=2, loop=True) for i in range(9)] == [0, 0, 1, 1, 2, 2, 0, 0, 1]
    assert [dream.schedule_index(i, 2, 9, every=2) for i in range(6)] == [0, 0, 1, 1, 1, 1]
    assert dream.schedule_index(100, 1, 10) == 0


# --- resume --------------------------------------------------------------------------------------

class CountingAscent:
    """Stands in for offline.ascent.Ascent: brightens the frame and counts calls."""

    def __init__(self):
        self.calls, self.rng, self.last_loss = [], None, 0.0

    def run(self, x, steps=None, progress=None):
        self.calls.append(steps)
        return np.clip(np.asarray(x, np.float32) + 10, 0, 255)


def test_resume_skips_finished_frames(tmp_path):
    start = np.full((24, 32, 3), 50.0, np.float32)
    settings = {"kind": "test"}
    store = dream.FrameStore(tmp_path / "w", settings)
    first = CountingAscent()
    assert dream.render_zoom(store, start, [first], dream.ZoomSettings(frames=3, steps=2)) == 3
    assert first.calls == [2 * dream.FIRST_FRAME_BOOST, 2, 2]
    stamps = [os.stat(store.path(i)).st_mtime_ns for i in range(3)]
    frames_before = [store.read(i) for i in range(3)]

    # "interrupted" after 3 frames: resume renders only frames 3 and 4
    again = dream.FrameStore(tmp_path / "w", settings, resume=True)
    second = CountingAscent()
    assert dream.render_zoom(again, start, [second], dream.ZoomSettings(frames=5, steps=2)) == 2
    assert second.calls == [2, 2]
    assert [os.stat(store.path(i)).st_mtime_ns for i in range(3)] == stamps
    assert again.done() == 5
    # frame 3 continued from frame 2 as read back from disk (brighter, not from the start image)
    assert again.read(3).mean() > frames_before[2].mean()
    # everything done: nothing is rendered
    assert dream.render_zoom(dream.FrameStore(tmp_path / "w", settings, resume=True), start, [second],
                             dream.ZoomSettings(frames=5)) == 0


def test_existing_frames_need_resume_and_matching_settings(tmp_path):
    store = dream.FrameStore(tmp_path / "w", {"zoom": 1.02})
    dream.render_zoom(store, np.zeros((8, 8, 3), np.float32), [CountingAscent()], dream.ZoomSettings(frames=1))
    with pytest.raises(dream.UserError, match="--resume"):
        dream.FrameStore(tmp_path / "w", {"zoom": 1.02})
    with pytest.raises(dream.UserError, match="zoom"):
        dream.FrameStore(tmp_path / "w", {"zoom": 1.05}, resume=True)
    fresh = dream.FrameStore(tmp_path / "w", {"zoom": 1.05}, fresh=True)
    assert fresh.done() == 0


# --- optical flow --------------------------------------------------------------------------------

def test_flow_warp_follows_the_motion():
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.uniform(0, 255, (80, 120)).astype(np.float32), (0, 0), 3).astype(np.uint8)
    prev, cur = scene[:, 10:100], scene[:, 13:103]  # the camera pans 3 px
    warped = dream.flow_warp(np.dstack([prev] * 3), prev, cur)[..., 0].astype(np.float32)
    inner = (slice(10, -10), slice(10, -10))
    err_warped = np.abs(warped[inner] - cur[inner]).mean()
    err_still = np.abs(prev[inner].astype(np.float32) - cur[inner]).mean()
    assert err_warped < 0.3 * err_still


# --- the commands on tiny inputs -----------------------------------------------------------------

def test_dream_still_cli(photo, tmp_path):
    out = tmp_path / "out.png"
    res = run("dream", photo, "-o", out, *TINY, "--steps", "2")
    assert res.exit_code == 0, res.output
    img, src = cv2.imread(str(out)), cv2.imread(str(photo))
    assert img.shape == src.shape
    assert np.abs(img.astype(int) - src).mean() > 0.5
    noise = tmp_path / "noise.png"
    res = run("dream", "--noise", "--size", "40x32", "-o", noise, *TINY[:-2], "--channel", "conv_pw_2_relu:1")
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(noise)).shape == (32, 40, 3)


def test_zoom_cli_writes_mp4_and_gif_and_resumes(photo, tmp_path):
    mp4, gif = tmp_path / "z.mp4", tmp_path / "z.gif"
    res = run("zoom", photo, "-o", mp4, "-o", gif, "--frames", 3, "--fps", 12, "--size", "64x48", *TINY)
    assert res.exit_code == 0, res.output
    frames_dir = tmp_path / "z.frames"
    assert sorted(p.name for p in frames_dir.glob("frame_*.png")) == [f"frame_{i:05d}.png" for i in range(3)]
    res = run("zoom", photo, "-o", mp4, "--frames", 5, "--fps", 12, "--size", "64x48", "--resume", *TINY)
    assert res.exit_code == 0, res.output
    assert "resuming at frame 3" in res.output
    cap = cv2.VideoCapture(str(mp4))
    n, size = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, size = n + 1, frame.shape[:2]
    assert (n, size) == (5, (48, 64))
    assert round(cap.get(cv2.CAP_PROP_FPS)) == 12
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.size == (64, 48)


def test_dream_video_keeps_frame_count_size_and_fps(tmp_path):
    src = tmp_path / "in.mp4"
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.uniform(0, 255, (48, 96, 3)).astype(np.float32), (0, 0), 2)
    with VideoWriter(src, 15, (64, 48)) as w:
        for i in range(4):
            w.write(scene[:, 2 * i : 2 * i + 64])
    out = tmp_path / "out.mp4"
    res = run("dream-video", src, "-o", out, *TINY, "--carry", 0.5)
    assert res.exit_code == 0, res.output
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (64, 48)
    assert round(cap.get(cv2.CAP_PROP_FPS)) == 15


# --- bad inputs exit 2 with one line -------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["dream", "missing.jpg", "-o", "{tmp}/o.png"],
    ["dream", "{photo}", "-o", "{tmp}/o.txt"],
    ["dream", "{photo}", "--noise", "-o", "{tmp}/o.png"],
    ["dream", "-o", "{tmp}/o.png"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--channel", "conv_pw_2_relu"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--layers", "conv_pw_2_relu:x"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--layers", "no_such_layer"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--octave-scale", "1.0", "--octaves", "3"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--class", "3", "--layers", "conv_pw_2_relu"],
    ["dream", "{photo}", "-o", "{tmp}/o.png", "--weights", "{tmp}/nothing.h5"],
    ["zoom", "{photo}", "-o", "{tmp}/z.mkv"],
    ["zoom", "{photo}", "-o", "{tmp}/z.mp4", "--frames", "0"],
    ["dream-video", "{tmp}/missing.mp4", "-o", "{tmp}/v.mp4"],
    ["dream-video", "{photo}", "-o", "{tmp}/v.mp4", "--carry", "1.5"],
])
def test_bad_inputs_exit_2(args, photo, tmp_path):
    args = [a.format(tmp=tmp_path, photo=photo) for a in args]
    extra = [] if "--weights" in args else ["--weights", "none"]
    res = run(*args, "--backbone", "mobilenet", "--backbone-width", "0.25", *extra)
    assert res.exit_code == 2, res.output
    assert res.output.strip().splitlines()[-1].startswith("Error")
    assert "Traceback" not in res.output


def test_default_inception_without_its_weights_is_a_clear_error(photo, tmp_path):
    empty = tmp_path / "weights"
    empty.mkdir()
    res = run("dream", photo, "-o", tmp_path / "o.png", "--weights", empty)
    assert res.exit_code == 2
    assert "inception_v3" in res.output and "mobilenet" in res.output


def test_colour_stabilisation_pulls_statistics_back():
    rng = np.random.default_rng(0)
    start = rng.uniform(60, 180, (20, 30, 3)).astype(np.float32)
    saturated = np.clip((start - 120) * 3 + 140, 0, 255)
    ref = dream.colour_stats(start)
    full = dream.match_colour_stats(saturated, ref, 1.0)
    np.testing.assert_allclose(dream.colour_stats(full)[0], ref[0], atol=0.5)
    np.testing.assert_allclose(dream.colour_stats(full)[1], ref[1], rtol=0.02)
    half = dream.match_colour_stats(saturated, ref, 0.5)
    assert ref[1].mean() < dream.colour_stats(half)[1].mean() < dream.colour_stats(saturated)[1].mean()
    assert np.array_equal(dream.match_colour_stats(saturated, ref, 0.0), saturated)


def test_the_old_alpha_spelling_of_the_width_still_works_and_says_so(tmp_path):
    from click.testing import CliRunner

    from offline.cli import main

    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    args = ["dream", str(image), "-o", str(tmp_path / "out.png"), "--model", "mobilenet", "--alpha", "0.25",
            "--weights", "none", "--steps", "1", "--octaves", "1"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "--alpha is deprecated; use --backbone-width" in r.output
    assert "--model is deprecated; use --backbone" in r.output  # the old spellings still work, and say so
