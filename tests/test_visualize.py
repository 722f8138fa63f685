"""CNN visualisation: filters, feature maps, saliency (vanilla and guided) and maximisation."""

import numpy as np
import pytest
from click.testing import CliRunner
from keras import ops

from offline import backend, media, visualize
from offline.backbone import load_backbone
from offline.cli import main


def test_filter_images_are_normalised_and_flipped_to_rgb():
    k = np.zeros((3, 3, 3, 2), np.float32)
    k[..., 0, 0] = 1.0  # model's channel 0: blue for a BGR (caffe) model
    k[1, 1, :, 1] = [-1.0, 0.5, 2.0]
    pics = visualize.filter_images(k, bgr_input=True, cell=6)
    assert len(pics) == 2 and pics[0].shape == (6, 6, 3)
    assert pics[0][..., 2].max() == pytest.approx(255) and pics[0][..., 0].max() == 0  # shown as blue
    assert pics[1].min() == 0 and pics[1].max() == pytest.approx(255)


def test_guided_relu_passes_only_positive_gradients_at_positive_inputs():
    w = ops.convert_to_tensor(np.array([1.0, 1.0, -1.0, 1.0], np.float32))

    def loss(x):
        return ops.sum(visualize.guided_relu(x) * w), {}

    x = np.array([-1.0, 2.0, 3.0, 0.5], np.float32)
    value, _, grad = backend.value_and_grad(loss)(ops.convert_to_tensor(x))
    assert float(value) == pytest.approx(2.0 - 3.0 + 0.5)
    np.testing.assert_allclose(ops.convert_to_numpy(grad), [0.0, 1.0, 0.0, 1.0])  # plain ReLU: [0, 1, -1, 1]


def test_guided_model_keeps_the_forward_pass_and_names():
    bb = load_backbone("vgg19", layers=["block1_conv2", "block2_conv1"], weights=None)
    clone = visualize.guided_model(bb.model)
    x = bb.preprocess(np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)))
    a, b = bb.model(x), clone(x)
    for k in a:
        np.testing.assert_allclose(ops.convert_to_numpy(a[k]), ops.convert_to_numpy(b[k]), rtol=1e-5, atol=1e-4)


def test_guided_saliency_differs_from_vanilla_and_is_nonnegative_through_relus():
    from offline import ascent

    bb = load_backbone("vgg19", layers=["block2_conv1"], weights=None)
    image = np.random.default_rng(1).uniform(0, 255, (24, 24, 3)).astype(np.float32)
    # With random weights a channel can be dead everywhere (zero gradient, whatever the method);
    # which one depends on the backend's RNG, so take the first live channel.
    for channel in range(16):
        obj = ascent.channel_objective("block2_conv1", channel)
        g = visualize.saliency_gradient(bb, obj, image, "gradient")
        if np.abs(g).sum() > 0:
            break
    gg = visualize.saliency_gradient(bb, obj, image, "guided")
    assert g.shape == gg.shape == (24, 24, 3)
    assert np.abs(g).sum() > 0 and np.abs(gg).sum() > 0 and not np.allclose(g, gg)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    d = tmp_path_factory.mktemp("viz")
    rng = np.random.default_rng(0)
    media.write_image(d / "photo.png", rng.uniform(0, 255, (32, 40, 3)))
    return d


def _run(*args):
    return CliRunner().invoke(main, ["viz", *[str(a) for a in args]], catch_exceptions=False)


def test_filters_command(photo):
    out = photo / "filters.png"
    r = _run("filters", "--layer", "block1_conv1", "--cell", "8", "-o", out, "--weights", "none")
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (8 * (8 + 2) + 2, 8 * (8 + 2) + 2, 3)  # 64 filters, 8x8 grid, 2 px gaps


def test_maps_command(photo):
    out = photo / "maps.png"
    r = _run("maps", photo / "photo.png", "--layers", "block1_conv1,block2_conv1", "--channels", "3", "--cell", "32",
             "-o", out, "--weights", "none")
    assert r.exit_code == 0, r.output
    im = media.read_image(out)
    assert im.shape[0] > 2 * 26 and im.std() > 10  # two rows of pictures, not a blank sheet


@pytest.mark.parametrize("method", ["gradient", "guided"])
def test_saliency_command_layer_channel(photo, method):
    out, grad = photo / f"sal_{method}.png", photo / f"grad_{method}.png"
    r = _run("saliency", photo / "photo.png", "--layer", "block2_conv1", "--channel", "5", "--method", method,
             "-o", out, "--gradient-image", grad, "--weights", "none")
    assert r.exit_code == 0, r.output
    assert media.read_image(out).shape == (32, 40, 3)
    assert media.read_image(grad).std() > 1


def test_saliency_command_class_through_the_top(photo):
    out = photo / "sal_class.png"
    r = _run("saliency", photo / "photo.png", "--class", "3", "--backbone", "mobilenet", "--backbone-width", "0.25",
             "-o", out, "--weights", "none")
    assert r.exit_code == 0, r.output
    assert "class 3" in r.output and media.read_image(out).shape == (32, 40, 3)


def test_maximize_command(photo):
    out = photo / "max.png"
    r = _run("maximize", "--layer", "block1_conv2", "--channel", "4", "--size", "32", "--steps", "3",
             "--octaves", "1", "-o", out, "--weights", "none")
    assert r.exit_code == 0, r.output
    im = media.read_image(out)
    assert im.shape == (32, 32, 3) and im.std() > 1


@pytest.mark.parametrize("args,message", [
    (["maps", "missing.png", "--layers", "block1_conv1"], "not found"),
    (["maps", "{d}/photo.png", "--layers", "block1_conv1,nope"], "valid layers"),
    (["filters", "--layer", "block1_pool"], "no convolution kernel"),
    (["saliency", "{d}/photo.png", "--layer", "nope"], "valid layers"),
    (["maximize", "--layer", "block1_conv1", "--channel", "999", "--size", "32"], "out of range"),
])
def test_bad_inputs_exit_2(photo, args, message):
    args = [a.format(d=photo) for a in args] + ["-o", str(photo / "x.png"), "--weights", "none"]
    r = CliRunner().invoke(main, ["viz", *args])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
