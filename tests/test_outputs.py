"""One output policy for every command that writes a file: checked while parsing, before any model
loads (exit 2, one line, no traceback, in well under 5 s)."""

import os
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from offline.cli import main as offline_main
from realtime.cli import main as realtime_main

# command -> (cli, argv with {in}, {in2}, {video} and {out}, the output's kind)
COMMANDS = {
    "gatys": (offline_main, ["gatys", "{in}", "{in2}", "-o", "{out}"], "image"),
    "texture": (offline_main, ["texture", "{in}", "-o", "{out}"], "image"),
    "invert": (offline_main, ["invert", "{in}", "--layer", "block1_conv1", "-o", "{out}"], "image"),
    "viz filters": (offline_main, ["viz", "filters", "-o", "{out}"], "image"),
    "viz maps": (offline_main, ["viz", "maps", "{in}", "--layers", "block1_conv1", "-o", "{out}"], "image"),
    "viz saliency": (offline_main, ["viz", "saliency", "{in}", "-o", "{out}"], "image"),
    "dream": (offline_main, ["dream", "{in}", "-o", "{out}"], "image"),
    "zoom": (offline_main, ["zoom", "{in}", "-o", "{out}", "--frames", "2"], "video"),
    "dream-video": (offline_main, ["dream-video", "{video}", "-o", "{out}"], "video"),
    "adain stylize": (offline_main, ["adain", "stylize", "{in}", "--style", "{in2}", "-o", "{out}"], "image"),
    "adain sheet": (offline_main, ["adain", "sheet", "{in}", "--style", "{in2}", "-o", "{out}"], "image"),
    "gan sample": (offline_main, ["gan", "sample", "-o", "{out}"], "image"),
    "render": (offline_main, ["render", "{video}", "--effect", "none", "-o", "{out}"], "video"),
    "realtime run": (realtime_main, ["run", "--source", "{video}", "--no-display", "--out", "{out}"], "video"),
}
SCENARIOS = ("unwritable folder", "file as parent", "unknown extension", "output is an input")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("io")
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(d / name), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    writer = cv2.VideoWriter(str(d / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (48, 40))
    for _ in range(3):
        writer.write(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    writer.release()
    (d / "plain.txt").write_text("a file, not a folder")
    return d


def _output(files, kind, scenario, argv):
    ext = ".png" if kind == "image" else ".mp4"
    if scenario == "unwritable folder":
        return "/proc/no-such-folder/out" + ext  # /proc takes no new files, also for root
    if scenario == "file as parent":
        return str(files / "plain.txt" / ("out" + ext))
    if scenario == "unknown extension":
        return str(files / "out.xyz")
    return str(files / ("a.png" if "{in}" in argv else "clip.mp4"))  # the command's own input


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_outputs_fail_at_once_with_one_line(command, scenario, files):
    cli, argv, kind = COMMANDS[command]
    if scenario == "output is an input" and "{in}" not in argv and "{video}" not in argv:
        pytest.skip("the command reads no file")
    out = _output(files, kind, scenario, argv)
    args = [a.format(**{"in": files / "a.png", "in2": files / "b.jpg", "video": files / "clip.mp4", "out": out})
            for a in argv]
    before = {p: os.path.getmtime(p) for p in files.iterdir()}
    t = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    seconds = time.perf_counter() - t
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    assert seconds < 5, f"{seconds:.1f} s: a model was loaded before the check"
    assert {p: os.path.getmtime(p) for p in files.iterdir()} == before  # no input touched


def test_batch_outputs_never_collide():
    from offline.commands.adain import batch_names

    assert batch_names(["x/a.jpg", "y/a.png", "b.png"]) == ["a_jpg_stylized.png", "a_png_stylized.png",
                                                            "b_stylized.png"]


def test_models_presets_and_checkpoints_need_force(tmp_path):
    from offline.commands.outputs import check_replaceable
    from offline.errors import UserError

    (tmp_path / "model").mkdir()
    check_replaceable(tmp_path / "model")  # an empty folder holds nothing to lose
    (tmp_path / "model" / "manifest.json").write_text("{}")
    with pytest.raises(UserError, match="--force"):
        check_replaceable(tmp_path / "model")
    check_replaceable(tmp_path / "model", force=True)
    (tmp_path / "p.npz").write_bytes(b"x")
    with pytest.raises(UserError, match="preset"):
        check_replaceable(tmp_path / "p.npz", what="preset", marker=None)
