"""Backbone: named-layer outputs, preprocessing round trip, checked weight loading."""

import h5py
import keras
import numpy as np
import pytest

from offline import backbone
from offline.backbone import deprocess, load_backbone, preprocess
from offline.errors import UserError


@pytest.mark.parametrize("mode", ["caffe", "tf"])
def test_preprocess_round_trip_within_one_level(mode):
    x = np.random.default_rng(0).integers(0, 256, (2, 9, 7, 3)).astype("float32")
    back = keras.ops.convert_to_numpy(deprocess(preprocess(keras.ops.convert_to_tensor(x), mode), mode))
    assert np.abs(np.rint(back) - x).max() <= 1


@pytest.mark.parametrize("name,fn", [("vgg19", keras.applications.vgg19.preprocess_input),
                                     ("inception_v3", keras.applications.inception_v3.preprocess_input),
                                     ("mobilenet", keras.applications.mobilenet.preprocess_input)])
def test_preprocess_matches_keras_applications(name, fn):
    x = np.random.default_rng(1).uniform(0, 255, (1, 5, 5, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(preprocess(keras.ops.convert_to_tensor(x), backbone.MODELS[name].mode))
    np.testing.assert_allclose(ours, fn(x.copy()), atol=1e-4)


def test_named_layers_are_returned_with_expected_shapes():
    bb = load_backbone("vgg19", ["relu1_1", "block2_conv1", "block3_conv1"], weights=None)
    feats = bb(bb.preprocess(np.zeros((1, 32, 24, 3), "float32")))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "block1_conv1": (1, 32, 24, 64), "block2_conv1": (1, 16, 12, 128), "block3_conv1": (1, 8, 6, 256)}
    # truncated: nothing past the deepest requested layer
    assert "block3_conv2" not in [l.name for l in bb.model.layers]
    assert not bb.model.trainable


def test_average_pooling_replaces_max_pooling():
    bb = load_backbone("vgg19", ["block2_conv1"], weights=None, pool="avg")
    kinds = {type(l).__name__ for l in bb.model.layers}
    assert "AveragePooling2D" in kinds and "MaxPooling2D" not in kinds


def test_bfloat16_backbone_computes_in_bfloat16_and_leaves_the_global_policy_alone():
    before = keras.config.dtype_policy().name
    bb = load_backbone("vgg19", ["block1_conv1"], weights=None, precision="bfloat16")
    assert keras.config.dtype_policy().name == before
    feats = bb(bb.preprocess(np.full((1, 8, 8, 3), 100.0, "float32")))
    assert keras.backend.standardize_dtype(feats["block1_conv1"].dtype) == "bfloat16"
    assert bb.model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    with pytest.raises(UserError, match="bad precision 'half'"):
        load_backbone("vgg19", ["block1_conv1"], weights=None, precision="half")
    assert keras.config.dtype_policy().name == before


def test_unknown_layer_lists_valid_names():
    with pytest.raises(UserError, match="valid layers: .*block1_conv1"):
        load_backbone("vgg19", ["block9_conv9"], weights=None)


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown model 'resnet'"):
        load_backbone("resnet", weights=None)


def _write_legacy_h5(path, model, skip=()):
    """A Keras-2 style weights file (layer_names / weight_names), as the official files are."""
    with h5py.File(path, "w") as f:
        names = [l.name for l in model.layers if l.weights and l.name not in skip]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for n in names:
            layer = model.get_layer(n)
            g = f.create_group(n)
            wnames = [f"{n}/{w.name}:0".encode() for w in layer.weights]
            g.attrs["weight_names"] = wnames
            for wn, w in zip(wnames, layer.get_weights()):
                g.create_dataset(wn.decode(), data=w)


def test_partial_legacy_file_loads_exactly_the_layers_needed(tmp_path):
    source = load_backbone("vgg19", ["block2_conv1"], weights=None)
    path = tmp_path / "vgg19_partial_notop.h5"
    _write_legacy_h5(path, source.model)
    loaded = load_backbone("vgg19", ["block1_conv2"], weights=str(path))  # needs fewer layers: fine
    for name in ("block1_conv1", "block1_conv2"):
        for a, b in zip(loaded.model.get_layer(name).get_weights(), source.model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert loaded.weights_sha256 and len(loaded.weights_sha256) == 64


def test_file_missing_a_needed_layer_is_refused_with_its_name(tmp_path):
    source = load_backbone("vgg19", ["block2_conv1"], weights=None)
    path = tmp_path / "partial.h5"
    _write_legacy_h5(path, source.model, skip=("block2_conv1",))
    with pytest.raises(UserError, match="lacks layer block2_conv1"):
        load_backbone("vgg19", ["block2_conv1"], weights=str(path))


def test_keras3_weights_file_loads_by_structure(tmp_path):
    full = load_backbone("vgg19", ["block2_conv1"], weights=None)
    path = tmp_path / "enc.weights.h5"
    full.model.save_weights(path)
    loaded = load_backbone("vgg19", ["block1_conv2"], weights=str(path))
    np.testing.assert_array_equal(loaded.model.get_layer("block1_conv2").get_weights()[0],
                                  full.model.get_layer("block1_conv2").get_weights()[0])


def test_weights_folder_and_env_variable_are_searched(tmp_path, monkeypatch):
    source = load_backbone("vgg19", ["block1_conv2"], weights=None)
    _write_legacy_h5(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", source.model)
    assert "vgg19_weights" in load_backbone("vgg19", ["block1_conv2"], weights=str(tmp_path)).weights_source
    monkeypatch.setenv(backbone.WEIGHTS_DIR_ENV, str(tmp_path))
    assert str(tmp_path) in load_backbone("vgg19", ["block1_conv2"], weights="imagenet").weights_source


def test_folder_without_the_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no weights file for vgg19"):
        load_backbone("vgg19", ["block1_conv1"], weights=str(tmp_path))


def test_not_an_hdf5_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(UserError, match="not a Keras weights file"):
        load_backbone("vgg19", ["block1_conv1"], weights=str(bad))


@pytest.mark.shared_data
def test_shared_vgg19_file_loads_to_block3_and_refuses_block4(shared):
    path = shared / "weights" / "vgg19_imagenet_block1-3_notop.h5"
    bb = load_backbone("vgg19", ["block3_conv1"], weights=str(path))
    kernel = bb.model.get_layer("block1_conv1").get_weights()[0]
    assert kernel.shape == (3, 3, 3, 64) and abs(float(kernel.std()) - 0.2) < 0.2  # trained, not glorot
    with pytest.raises(UserError, match="block4_conv1"):
        load_backbone("vgg19", ["block4_conv1"], weights=str(path))


@pytest.mark.shared_data
def test_shared_mobilenet_classifies_a_squirrel(shared):
    from offline.media import read_image

    bb = load_backbone("mobilenet", ["predictions"], alpha=0.75, include_top=True, weights=str(shared / "weights"))
    image = read_image(shared / "images" / "content" / "ocv_squirrel_cls.jpg", size=(224, 224))
    probs = keras.ops.convert_to_numpy(bb(bb.preprocess(image[None]))["predictions"])[0]
    assert probs.argmax() == 335  # fox squirrel
