"""Shared image/video I/O: real OpenCV encode/decode, atomic writes, playable videos."""

import cv2
import numpy as np
import pytest

from offline import media
from offline.errors import UserError


def test_image_round_trip_keeps_rgb_order(tmp_path):
    image = np.zeros((8, 10, 3), np.uint8)
    image[..., 0] = 255  # pure red
    path = media.write_image(tmp_path / "red.png", image)
    assert media.read_image(path)[0, 0].tolist() == [255, 0, 0]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_unreadable_and_missing_images_are_user_errors(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image"):
        media.read_image(tmp_path / "junk.jpg")
    with pytest.raises(UserError, match="not found"):
        media.read_image(tmp_path / "missing.jpg")


def test_parse_size():
    assert media.parse_size("640x360") == (640, 360)
    assert media.parse_size("256") == (256, 256)
    with pytest.raises(UserError):
        media.parse_size("big")


def test_video_writer_is_playable_even_after_an_exception(tmp_path):
    from offline import video

    path = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with video.VideoWriter(path, 10, (32, 24)) as writer:
            for i in range(5):
                writer.write(np.full((24, 32, 3), i * 40, np.uint8))
            raise KeyboardInterrupt
    info = video.probe(path)
    assert (info.frames, info.width, info.height, info.codec) == (5, 32, 24, "h264")
    assert len(list(video.decode(path))) == 5


def test_grid_and_gif(tmp_path):
    tiles = [np.full((6, 6, 3), v, np.uint8) for v in (0, 100, 200)]
    sheet = media.grid(tiles, cols=3, pad=1)
    assert sheet.shape == (8, 22, 3)
    gif = media.write_gif(tmp_path / "a.gif", tiles, fps=5)
    cap = cv2.VideoCapture(str(gif))
    assert cap.isOpened()


def test_a_size_no_machine_can_hold_is_refused_before_opencv_asks_for_the_memory():
    from offline.errors import UserError
    from offline.media import fit_max_side

    with pytest.raises(UserError, match="megapixels"):
        fit_max_side(np.zeros((30, 40, 3), np.uint8), 1_000_000)


def test_a_recording_into_a_folder_that_does_not_exist_makes_it(tmp_path):
    from offline.video import VideoWriter

    target = tmp_path / "new" / "sub" / "r.mp4"
    writer = VideoWriter(target, 10)
    writer.write(np.zeros((32, 48, 3), np.uint8))
    assert writer.close() == target and target.stat().st_size > 0


def test_a_style_image_too_narrow_to_read_is_one_line(tmp_path):
    import cv2

    from offline.adain import Stylizer
    from offline.errors import UserError

    cv2.imwrite(str(tmp_path / "wide.png"), np.zeros((20, 20000, 3), np.uint8))
    with pytest.raises(UserError, match="too narrow"):
        Stylizer.random("relu3_1").style(str(tmp_path / "wide.png"))
