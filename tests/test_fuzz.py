"""Property-based: every command, given bad and edge arguments (missing paths, folders, unicode
names, output = input, corrupt, truncated and empty files, sizes from 0x0 to huge and extreme
aspect ratios, wrong numbers), ends with exit 0 or 2 and no traceback, and leaves its inputs and
the shipped models in trained/ as they were. Hypothesis draws the cases (derandomized, so CI
sees the same ones each run); the fast cases are in the fast tier, the ones that load a network
under ``slow``. BENCHMARKS.md ("Reliability") records how many cases run and what they found."""

import hashlib
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from offline.cli import main as offline_main  # noqa: E402
from realtime.cli import main as realtime_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCALE = float(os.environ.get("FUZZ_SCALE", 1))  # more cases for a long hunt: FUZZ_SCALE=20
FAST = settings(max_examples=int(25 * SCALE), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much])
SLOW = settings(FAST, max_examples=int(12 * SCALE))


def _digest(paths):
    """{path: sha256} of every file under ``paths``."""
    out = {}
    for root in paths:
        root = Path(root)
        for p in sorted([root] if root.is_file() else root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Good, bad and strange inputs, made once (the commands must not change them)."""
    d = tmp_path_factory.mktemp("fuzz_inputs")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(d / "ok.png"), img)
    cv2.imwrite(str(d / "ünï cødé ☃.png"), img)
    cv2.imwrite(str(d / "wide.png"), rng.integers(0, 255, (2, 3000, 3), dtype=np.uint8))
    png = (d / "ok.png").read_bytes()
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    (d / "corrupt.jpg").write_bytes(rng.integers(0, 255, 300, dtype=np.uint8).tobytes())
    (d / "empty.png").write_bytes(b"")
    (d / "text.mp4").write_text("not a video")
    (d / "folder").mkdir()
    cv2.imwrite(str(d / "folder" / "a.png"), img)
    from offline.video import VideoWriter

    with VideoWriter(d / "clip.mp4", 10) as w:
        for i in range(6):
            w.write(np.full((48, 64, 3), i * 40, np.uint8))
    clip = (d / "clip.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(clip[: len(clip) // 3])
    return d


PATHS = ["ok.png", "ünï cødé ☃.png", "wide.png", "truncated.png", "corrupt.jpg", "empty.png", "text.mp4",
         "folder", "missing.png", "clip.mp4", "truncated.mp4"]
SIZES = st.one_of(
    st.sampled_from(["0x0", "1x1", "2x2", "7x5", "8x8", "0", "-8x8", "x", "abc", "64x", "1.5x2", "100000x8",
                     "8x100000", "99999x99999", "64x48", "65x49"]),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(-2, 5000), st.integers(-2, 5000)))
NUMBERS = st.sampled_from(["0", "-1", "1", "nan", "inf", "1e9", "abc", "0.5", ""])
OUTPUTS = st.sampled_from(["out.png", "out.mp4", "sub/dir/out.png", "ok.png", "clip.mp4", "folder", "out.txt",
                           "ünï/out.png"])


def _check(result, args, before, inputs):
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-2000:], result.exception)
    assert "Traceback" not in result.output, (args, result.output[-2000:])
    after = _digest([inputs, ROOT / "trained"])
    changed = [k for k in before if before[k] != after.get(k)]
    assert not changed, (args, changed)


def _invoke(main, args, inputs, monkeypatch):
    before = _digest([inputs, ROOT / "trained"])
    work = inputs.parent / "fuzz_work"  # relative outputs land here (emptied after each case), never in the checkout
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    _check(result, args, before, inputs)
    return result


def _output(out, inputs, used=()):
    """An output name: one of this command's inputs by its full path (output = input, which must be
    refused); any other name in the work folder (replacing an existing render there is the policy)."""
    return str(inputs / out) if out in used else out


# --- the fast tier: argument and input checks that fail (or finish) before a network loads --------

@FAST
@given(source=st.sampled_from(PATHS + ["demo", "99", "latent:nope"]), size=SIZES,
       process=st.one_of(st.none(), SIZES), fps=st.one_of(st.none(), NUMBERS))
def test_realtime_run_and_bench_never_trace_back(inputs, monkeypatch, source, size, process, fps):
    src = source if source in ("demo", "99", "latent:nope") else str(inputs / source)
    args = ["run", "--source", src, "--effect", "none", "--no-display", "--max-frames", "2", "--size", size]
    args += ["--process-size", process] if process else []
    args += ["--fps", fps] if fps else []
    _invoke(realtime_main, args, inputs, monkeypatch)
    _invoke(realtime_main, ["bench", "--source", src, "--effect", "none", "--frames", "2", "--size", size],
            inputs, monkeypatch)


@FAST
@given(source=st.sampled_from(PATHS), output=OUTPUTS, size=st.one_of(st.none(), SIZES),
       start=st.one_of(st.none(), NUMBERS))
def test_offline_render_never_traces_back(inputs, monkeypatch, source, output, size, start):
    args = ["render", str(inputs / source), "-o", _output(output, inputs, [source]), "--effect", "none"]
    args += ["--size", size] if size else []
    args += ["--start", start] if start else []
    _invoke(offline_main, args, inputs, monkeypatch)


BAD_PATHS = {"truncated.png", "corrupt.jpg", "empty.png", "text.mp4", "folder", "missing.png", "truncated.mp4",
             "clip.mp4", "wide.png"}
BAD_NUMBERS = {"0", "-1", "nan", "inf", "1e9", "abc", "", "0.5"}
BAD_OUTPUTS = {"out.txt", "out.mp4"}  # a wrong kind for an image (an input as output: see _bad)
# (command, takes --weights): slots {a}, {b} paths, {out} an output, {n} a number, {size} WxH
COMMANDS = [
    (["gatys", "{a}", "{b}", "-o", "{out}", "--max-side", "{n}", "--steps", "{n}"], True),
    (["texture", "{a}", "-o", "{out}", "--size", "{size}"], True),
    (["invert", "{a}", "-o", "{out}", "--max-side", "{n}"], True),
    (["dream", "{a}", "-o", "{out}", "--size", "{size}", "--octaves", "{n}"], True),
    (["adain", "stylize", "{a}", "--style", "{b}", "-o", "{out}", "--max-side", "{n}"], True),
    (["adain", "sheet", "{a}", "--style", "{b}", "-o", "{out}", "--size", "{n}"], True),
    (["stylize", "{a}", "--style", "{b}", "-o", "{out}", "--size", "{n}"], True),
    (["fashion", "predict", "{a}", "--model", "{b}"], False),
    (["gan", "sample", "--model", "{b}", "-n", "{n}", "-o", "{out}"], False),
    (["cppn", "-o", "{out}", "--size", "{n}"], False),
    (["zoom", "{a}", "-o", "{out}", "--frames", "{n}"], True),
    (["fast", "refine-photos", "{b}", "{a}", "--size", "{n}"], False),
]


def _bad(command, a, b, out, n, size):
    """Does this case hold at least one bad value among the slots its command uses?"""
    from offline.errors import UserError
    from offline.media import parse_size

    used = " ".join(command)
    try:
        parse_size(size)
        bad_size = False
    except UserError:
        bad_size = True
    return (("{a}" in used and a in BAD_PATHS) or ("{b}" in used and b in BAD_PATHS)
            or ("{n}" in used and n in BAD_NUMBERS) or ("{size}" in used and bad_size)
            or ("{out}" in used and (out in BAD_OUTPUTS or out in (a, b))))


@FAST
@given(case=st.sampled_from(COMMANDS), a=st.sampled_from(PATHS), b=st.sampled_from(PATHS), out=OUTPUTS, n=NUMBERS,
       size=SIZES)
def test_offline_commands_refuse_bad_arguments_in_one_line(inputs, monkeypatch, case, a, b, out, n, size):
    """Each case holds at least one bad argument (``_bad``), so it ends before a network loads; an
    all-good case would load one and is the slow tier's."""
    command, weights = case
    hypothesis.assume(_bad(command, a, b, out, n, size))
    used = [p for slot, p in (("a", a), ("b", b)) if "{" + slot + "}" in " ".join(command)]
    values = {"a": str(inputs / a), "b": str(inputs / b), "out": _output(out, inputs, used), "n": n, "size": size}
    args = [part.format(**values) for part in command] + (["--weights", "none"] if weights else [])
    result = _invoke(offline_main, args, inputs, monkeypatch)
    assert result.exit_code == 2, (args, result.output[-500:])


# --- the slow tier: the same with good arguments mixed in, networks loaded (random weights) ------

@pytest.mark.slow
@SLOW
@given(source=st.sampled_from(["demo", "clip.mp4", "folder"]), size=SIZES, process=st.one_of(st.none(), SIZES),
       effect=st.sampled_from(["stylize", "features"]))
def test_realtime_with_a_network_never_traces_back(inputs, monkeypatch, source, size, process, effect):
    src = source if source == "demo" else str(inputs / source)
    args = ["run", "--source", src, "--effect", effect, "--no-display", "--max-frames", "2", "--size", size,
            "--weights", "none", "--model", "random:fast", "--target-fps", "0"]
    args += ["--process-size", process] if process else []
    _invoke(realtime_main, args, inputs, monkeypatch)


@pytest.mark.slow
@SLOW
@given(content=st.sampled_from(["ok.png", "ünï cødé ☃.png", "wide.png"]),
       style=st.sampled_from(["ok.png", "wide.png", "ünï cødé ☃.png", "la_muse"]),
       size=st.sampled_from(["16", "17", "64", "1000000", "8"]), out=OUTPUTS)
def test_stylize_with_a_network_never_traces_back(inputs, monkeypatch, content, style, size, out):
    args = ["adain", "stylize", str(inputs / content), "--style", style if style == "la_muse" else str(inputs / style),
            "-o", _output(out, inputs, [content, style]), "--size", size, "--model", "random:fast", "--weights", "none"]
    _invoke(offline_main, args, inputs, monkeypatch)
