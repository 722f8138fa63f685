"""Our own artifacts, damaged, give one line naming the file and what to do; never a traceback."""

import json

import numpy as np
import pytest

from offline.errors import UserError


def test_a_truncated_decoder_and_a_broken_manifest(tmp_path):
    from offline.adain import Stylizer, build_decoder

    folder = tmp_path / "model"
    folder.mkdir()
    build_decoder("relu3_1").save_weights(folder / "decoder.weights.h5")
    data = (folder / "decoder.weights.h5").read_bytes()
    (folder / "decoder.weights.h5").write_bytes(data[: len(data) // 3])
    (folder / "manifest.json").write_text(json.dumps({"depth": "relu3_1"}))
    with pytest.raises(UserError, match="decoder.weights.h5.*damaged"):
        Stylizer.load(folder, weights="none")
    (folder / "manifest.json").write_text('{"depth": "relu3_1", ')
    with pytest.raises(UserError, match="corrupt manifest"):
        Stylizer.load(folder, weights="none")


def test_a_damaged_adain_training_state(tmp_path):
    from offline.adain_train import load_checkpoint, make_trainer

    trainer = make_trainer("relu3_1", weights=None)
    (tmp_path / "state.json").write_text("{")
    with pytest.raises(UserError, match="state.json"):
        load_checkpoint(trainer, tmp_path)
    (tmp_path / "state.json").write_text('{"step": 3}')
    trainer.decoder.save_weights(tmp_path / "decoder.weights.h5")
    (tmp_path / "optimizer.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError, match="optimizer.npz"):
        load_checkpoint(trainer, tmp_path)


def test_a_damaged_zoom_render_json(tmp_path):
    from offline.dream import FrameStore
    from offline.media import write_image

    write_image(tmp_path / "frame_00000.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "render.json").write_text("[1, 2")
    with pytest.raises(UserError, match="render.json is damaged.*--fresh"):
        FrameStore(tmp_path, {"kind": "zoom"}, resume=True)


def test_a_fashion_checkpoint_of_another_model(tmp_path):
    from offline import fashion

    backup = tmp_path / "run" / "checkpoints"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 1}))
    (backup / "run.json").write_text(json.dumps({"model": "mlp"}))
    with pytest.raises(UserError, match="checkpoint of the mlp model, not cnn"):
        fashion.train("cnn", epochs=1, out_dir=tmp_path / "run", data_dir=_tiny(tmp_path), verbose=0)


def write_idx(path, array):
    import gzip

    array = np.asarray(array, np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def _tiny(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)).astype(np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    return folder


def test_a_checkpoint_is_verified_and_a_full_disk_mid_save_keeps_the_last_good_one(tmp_path, monkeypatch):
    import errno
    import json

    from offline import adain_train
    from offline.adain_train import load_checkpoint, make_trainer, save_checkpoint

    trainer = make_trainer("relu3_1", weights=None)
    trainer.optimizer.build(trainer.trainable_variables)
    good = save_checkpoint(trainer, tmp_path, {"note": "good"})
    trainer.optimizer.iterations.assign(7)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(adain_train.np, "savez", full_disk)
    with pytest.raises(OSError):
        save_checkpoint(trainer, tmp_path, {"note": "never"})
    monkeypatch.undo()
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["note"] == "good" and state["files"] == good["files"]
    assert load_checkpoint(make_trainer("relu3_1", weights=None), tmp_path)["step"] == 0
    weights = tmp_path / good["files"]["weights"]
    weights.write_bytes(weights.read_bytes()[:-100])  # torn
    with pytest.raises(UserError, match="not what the checkpoint wrote"):
        load_checkpoint(make_trainer("relu3_1", weights=None), tmp_path)
