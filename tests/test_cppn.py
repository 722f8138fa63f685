"""offline cppn: (row, col) -> RGB, the course's painting network, on tiny real image files."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from offline import cppn, media
from offline.cli import main


def run(*args):
    return CliRunner().invoke(main, ["cppn", *[str(a) for a in args]])


@pytest.fixture
def pictures(tmp_path):
    y, x = np.mgrid[0:12, 0:16]
    a = np.stack([x * 16, y * 20, np.full_like(x, 80)], -1).astype(np.uint8)  # smooth gradients: learnable fast
    b = a[::-1, ::-1].copy()
    (tmp_path / "set").mkdir()
    media.write_image(tmp_path / "set" / "a.png", a)
    media.write_image(tmp_path / "set" / "b.png", b)
    return tmp_path


def test_coordinates_are_resolution_free():
    small, big = cppn.coordinates(2, 2), cppn.coordinates(4, 4)
    assert small.shape == (4, 2) and np.allclose(small[0], [-0.5, -0.5])
    assert big.min() > -1 and big.max() < 1  # pixel centres inside [-1, 1] at any size


@pytest.mark.slow
def test_painter_learns_and_renders_at_four_times_the_size(pictures):
    out, gif = pictures / "p.png", pictures / "p.gif"
    res = run(pictures / "set" / "a.png", "-o", out, "--gif", gif, "--size", 16, "--epochs", 30, "--every", 10,
              "--scale", 4)
    assert res.exit_code == 0, res.output
    painted = media.read_image(out)
    assert painted.shape == (48, 64, 3)
    loss = [l for l in res.output.splitlines() if l.startswith("wrote ")][0].split("loss ")[1].split()
    assert float(loss[2].rstrip(")")) < 0.5 * float(loss[0])  # it learned
    small = media.resize(painted, (16, 12)).astype(int)
    assert np.abs(small - media.read_image(pictures / "set" / "a.png").astype(int)).mean() < 40
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (16, 12)  # epochs 1, 10, 20, 30


@pytest.mark.slow
def test_one_network_for_several_images_morphs_between_them(pictures):
    out, morph = pictures / "m.png", pictures / "m.gif"
    res = run("--images", pictures / "set", "-o", out, "--morph", morph, "--size", 16, "--epochs", 20)
    assert res.exit_code == 0, res.output
    with Image.open(morph) as im:
        assert im.n_frames == 24  # 12 steps from a to b, 12 back


@pytest.mark.parametrize("args, message", [
    (["-o", "{d}/x.png"], "IMAGE or --images"),
    (["{d}/set/a.png", "-o", "{d}/x.png", "--morph", "{d}/m.gif"], "--morph needs --images"),
    (["{d}/set/a.png", "-o", "{d}/set/a.png"], "is also an input"),
    (["{d}/nope.png", "-o", "{d}/x.png"], "not found"),
])
def test_bad_arguments_exit_2(pictures, args, message):
    res = run(*[a.format(d=pictures) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output
