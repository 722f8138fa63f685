"""TensorFlow's start-up chatter is filtered from the console scripts; real errors are not."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from offline.quiet import is_chatter

pytestmark = pytest.mark.slow  # subprocesses


def test_known_chatter_lines_match_and_our_errors_do_not():
    assert is_chatter("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert is_chatter("I0000 00:00:1796134303.401847    7952 cudart_stub.cc:31] Could not find cuda drivers on "
                      "your machine, GPU will not be used.")
    assert is_chatter("E0000 00:00:1796133723.376079    6080 cuda_platform.cc:52] failed call to cuInit: INTERNAL")
    assert is_chatter("To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
                      "with the appropriate compiler flags.")
    assert not is_chatter("Error: image not found: x.png")
    assert not is_chatter("Traceback (most recent call last):")
    assert not is_chatter("E0000 00:00:1.0 1 some_kernel.cc:1] a real failure")


def test_a_command_prints_its_result_and_its_error_without_chatter(tmp_path):
    image = tmp_path / "c.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    ok = subprocess.run([sys.executable, "-m", "offline", "adain", "stylize", str(image), "--style", str(image),
                         "--model", "random", "-o", str(tmp_path / "o.png")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr.strip() == "", ok.stderr
    bad = subprocess.run([sys.executable, "-m", "offline", "adain", "stylize", str(tmp_path / "missing.png"),
                          "--style", str(image), "--model", "random", "-o", str(tmp_path / "o.png")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == f"Error: image not found: {tmp_path / 'missing.png'}"


def test_sigterm_saves_the_render_so_far_and_exits_130(tmp_path):
    import select
    import signal
    import time

    image = tmp_path / "c.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    out = tmp_path / "out.png"
    proc = subprocess.Popen([sys.executable, "-m", "offline", "texture", str(image), "-o", str(out), "--weights", "none",
                             "--steps", "100000", "--style-layers", "block1_conv1", "--optimizer", "adam"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stderr], [], [], 180)  # the progress line (stderr): the render has begun
    assert ready, "no progress within 180 s"
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out.is_file() and "Traceback" not in err


def test_every_package_is_installed_by_pyproject():
    # `pip install .` installs only the packages listed: a missing subpackage breaks the console scripts
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    listed = text.split("packages = [", 1)[1].split("]", 1)[0]
    for init in list((root / "offline").rglob("__init__.py")) + list((root / "realtime").rglob("__init__.py")):
        name = ".".join(init.parent.relative_to(root).parts)
        assert f'"{name}"' in listed, f"{name} is not in pyproject's packages"


def test_no_camera_is_our_one_line_not_opencvs_backend_probing():
    r = subprocess.run([sys.executable, "-m", "realtime", "run", "--source", "7", "--effect", "none", "--no-display"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("Error: no camera at index 7")
    assert len(r.stderr.strip().splitlines()) <= 3, r.stderr  # "loading none", "waiting for camera", the error
