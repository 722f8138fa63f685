"""What a command does when the world misbehaves: a full disk, a signal mid-training."""

import errno

import click
import pytest

from offline.commands.entry import console


def _run(command, capsys):
    with pytest.raises(SystemExit) as e:
        console(command)
    return e.value.code, capsys.readouterr().err


def test_a_full_disk_or_a_read_only_folder_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["offline"])
    for error in (OSError(errno.ENOSPC, "No space left on device", "/data/out/model.keras"),
                  PermissionError(errno.EACCES, "Permission denied", "/ro/w")):
        @click.command()
        def command():
            raise error

        code, err = _run(command, capsys)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert error.strerror in err and error.filename in err


def test_a_signal_during_training_saves_then_exits_as_interrupted():
    from offline.adain_train import _graceful_stop

    class Trainer:
        stop_training = False

    stop = _graceful_stop(Trainer(), log=lambda *_: None)
    stop.raise_if_signalled()  # nothing happened: nothing raised
    stop._handler(15, None)
    assert stop.trainer.stop_training  # fit stops after this step; the artifact is written, then:
    with pytest.raises(KeyboardInterrupt):  # the console turns this into exit 130
        stop.raise_if_signalled()


def test_one_rule_for_every_training_folder(tmp_path):
    from offline.commands.outputs import training_folder
    from offline.errors import UserError

    out = tmp_path / "model"
    options = {"model": "cnn", "epochs": 8, "batch_size": 128}
    training_folder(out, options, resume=False, force=False)  # new: trains
    (out / "checkpoints").mkdir()
    with pytest.raises(UserError, match="unfinished run: --resume to continue it, --force"):
        training_folder(out, options, resume=False, force=False)
    (out / "manifest.json").write_text("{}")
    with pytest.raises(UserError, match=r"finished model trained with other options \(--model 'mlp' \(was 'cnn'\)\)"):
        training_folder(out, {**options, "model": "mlp", "epochs": 1}, resume=False, force=False)
    assert training_folder(out, {**options, "epochs": 12}, resume=True, force=False) == ""  # more epochs: fine
    with pytest.raises(UserError, match="one of them"):
        training_folder(out, options, resume=True, force=True)
    training_folder(out, {**options, "model": "mlp"}, resume=False, force=True)
    assert not (out / "checkpoints").exists()  # started over
    with pytest.raises(UserError, match="nothing to continue"):
        training_folder(tmp_path / "empty", options, resume=True, force=False)


def test_progress_in_a_log_is_plain_periodic_lines_with_the_recent_rate():
    import io

    from offline.progress import Progress

    t = [0.0]
    log = io.StringIO()  # not a terminal
    bar = Progress(1000, unit="frame", stream=log, clock=lambda: t[0])
    bar.update(1)  # the first frame after a 30 s warm-up ...
    t[0] = 30.0
    for n in range(2, 1001):  # ... then 20 frames a second
        t[0] += 0.05
        bar.update(n)
    lines = log.getvalue().splitlines()
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()
    assert 8 <= len(lines) <= 14  # one every 5 s of 50 s, and the last
    assert lines[-1] == "1000/1000  100%  20 frame/s"
    assert "ETA 0:" in lines[-3]


def test_numbers_that_are_not_numbers_are_refused_at_the_door():
    from click.testing import CliRunner

    from realtime.cli import main

    for flag, value in (("--fps", "nan"), ("--fps", "inf"), ("--alpha", "nan"), ("--smooth", "nan")):
        r = CliRunner().invoke(main, ["run", "--source", "demo", "--effect", "none", "--no-display", flag, value])
        assert r.exit_code == 2 and "not a finite number" in r.output, (flag, value, r.output)


def test_offline_stylize_is_the_model_neutral_spelling_of_adain_stylize(tmp_path):
    import cv2
    import numpy as np
    from click.testing import CliRunner

    from offline.cli import main

    cv2.imwrite(str(tmp_path / "c.png"), np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    r = CliRunner().invoke(main, ["stylize", str(tmp_path / "c.png"), "--style", str(tmp_path / "c.png"),
                                  "--model", "random:fast", "--weights", "none", "-o", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "o.png")).shape == (40, 48, 3)


def test_a_trained_folder_in_the_working_folder_does_not_shadow_the_shipped_models(tmp_path, monkeypatch):
    import sys

    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "__init__.py").write_text("")  # what --out trained/mine leaves, importable
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # python -m puts the working folder first
    monkeypatch.delitem(sys.modules, "trained", raising=False)
    from offline.artifacts import TRAINED
    from offline.gan import resolve

    assert resolve("dcgan") == TRAINED / "dcgan" and (TRAINED / "dcgan" / "manifest.json").is_file()
