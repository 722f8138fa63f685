"""One shared size check: too small for the network, or more than this machine's memory."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from offline import media
from offline.cli import main
from offline.errors import UserError


def test_check_size_bounds():
    media.check_size(640, 360)
    with pytest.raises(UserError, match="at least 32x32"):
        media.check_size(31, 400, minimum=32)
    with pytest.raises(UserError, match="megapixels"):
        media.check_size(50000, 50000)
    assert media.max_pixels() > 4e6  # 4K frames fit on any machine that runs the tests


@pytest.mark.parametrize("args", [["texture", "{tiny}", "-o", "{out}"],
                                  ["gatys", "{tiny}", "{tiny}", "-o", "{out}"],
                                  ["viz", "maps", "{tiny}", "--layers", "block1_conv1", "-o", "{out}"],
                                  ["zoom", "--noise", "--size", "50000x50000", "-o", "{out}.mp4"]])
def test_degenerate_and_huge_sizes_are_one_line(args, tmp_path):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    r = CliRunner().invoke(main, [a.format(tiny=tiny, out=tmp_path / "out.png") for a in args] + ["--weights", "none"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1].startswith("Error:") and "Traceback" not in r.output


def test_tiny_and_thin_images_stylize(tmp_path):
    from offline.stylizers import load_stylizer

    st = load_stylizer("random")
    for shape in ((1, 1, 3), (2, 300, 3)):
        assert st.stylize_image(np.zeros(shape, np.uint8), st.style(np.full((16, 16, 3), 90, np.uint8))).shape == shape
