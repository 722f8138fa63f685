"""The shared loss maths against values worked out by hand on tiny arrays."""

import numpy as np
import pytest
from keras import ops

from offline import losses

# one image, 2 positions (1x2), 2 channels: position vectors (1, 2) and (3, 4)
F = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)


def test_gram_matrix_is_channel_correlation_over_positions():
    # G = ((1,2)(1,2)^T + (3,4)(3,4)^T) / 2 = [[1+9, 2+12], [2+12, 4+16]] / 2
    np.testing.assert_allclose(ops.convert_to_numpy(losses.gram_matrix(F)), [[[5.0, 7.0], [7.0, 10.0]]])


def test_style_loss_is_mse_of_grams():
    # against a zero target: mean(25, 49, 49, 100)
    assert float(losses.style_loss_gram(F, np.zeros((1, 2, 2), np.float32))) == pytest.approx(55.75)
    assert float(losses.style_loss_gram(F, losses.gram_matrix(F))) == pytest.approx(0.0)


def test_content_loss_is_mse():
    assert float(losses.content_loss(F, np.zeros_like(F))) == pytest.approx((1 + 4 + 9 + 16) / 4)


def test_total_variation_is_mean_abs_neighbour_difference():
    x = np.array([[0.0, 1.0], [3.0, 5.0]], np.float32)[None, :, :, None]
    # vertical |3-0|, |5-1| -> 3.5; horizontal |1-0|, |5-3| -> 1.5
    assert float(losses.total_variation(x)) == pytest.approx(5.0)
    assert float(losses.total_variation(np.full((1, 4, 4, 3), 7.0, np.float32))) == 0.0


def test_feature_reconstruction_loss_is_relative():
    f = np.array([1.0, 2.0], np.float32)
    t = np.array([1.0, 0.0], np.float32)
    assert float(losses.feature_reconstruction_loss(f, t)) == pytest.approx(4.0, rel=1e-4)
    assert float(losses.feature_reconstruction_loss(10 * f, 10 * t)) == pytest.approx(4.0, rel=1e-4)


def test_alpha_norm():
    assert float(losses.alpha_norm(np.array([0.5, -1.0], np.float32), 2.0)) == pytest.approx(0.625)
    assert float(losses.alpha_norm(np.array([0.5, -1.0], np.float32), 6.0)) == pytest.approx((0.5**6 + 1) / 2)


def _smooth_noise(size, seed=0):
    """A photo-like 1/f image: white noise, low-passed, RGB."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.normal(size=(size, size)))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size)))
    img = np.real(np.fft.ifft2(spectrum / np.maximum(f, 1.0 / size)))
    img = 128 + 40 * img / img.std()
    return np.repeat(img[None, :, :, None], 3, axis=3).astype(np.float32)


def test_lattice_excess_sees_a_faint_grid_and_not_a_photo():
    photo = _smooth_noise(128)
    yy, xx = np.mgrid[:128, :128]
    assert float(losses.lattice_excess(photo)) < 0.1
    for period in (2, 4):  # 1-px lines, a tenth of the image's contrast
        grid = 10.0 * ((xx % period == 0) | (yy % period == 0))[None, :, :, None]
        assert float(losses.lattice_excess(photo + grid)) > 0.5
    # it ignores stripes at other periods (a brush texture, say)
    stripes = 6.0 * np.sin(2 * np.pi * xx / 6.0)[None, :, :, None]
    assert float(losses.lattice_excess(photo + stripes)) < 0.1
    # odd sizes are cropped to whole periods rather than refused
    assert np.isfinite(float(losses.lattice_excess(photo[:, :63, :61])))
