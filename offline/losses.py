"""The maths shared by Gatys, texture synthesis, feature inversion and AdaIN, as pure functions.

Feature tensors are NHWC. Statistics are computed in float32 whatever the compute dtype, because
Gram matrices and variances overflow float16.
"""

import numpy as np
from keras import ops

EPSILON = 1e-5


def gram_matrix(features):
    """(N, H, W, C) -> (N, C, C): channel correlations averaged over positions (Gatys' G / (H*W))."""
    f = ops.cast(features, "float32")
    shape = ops.shape(f)
    flat = ops.reshape(f, (shape[0], -1, shape[3]))
    return ops.einsum("npc,npd->ncd", flat, flat) / ops.cast(shape[1] * shape[2], "float32")


def mean_std(features, epsilon=EPSILON):
    """Per-sample, per-channel mean and standard deviation over H and W, each (N, 1, 1, C), float32.

    ``epsilon`` inside the square root keeps the gradient finite on flat regions (std = 0)."""
    f = ops.cast(features, "float32")
    mean = ops.mean(f, axis=(1, 2), keepdims=True)
    var = ops.mean(ops.square(f - mean), axis=(1, 2), keepdims=True)
    return mean, ops.sqrt(var + epsilon)


def mse(a, b):
    return ops.mean(ops.square(ops.cast(a, "float32") - ops.cast(b, "float32")))


def content_loss(features, target):
    """Mean squared difference of feature maps."""
    return mse(features, target)


def style_loss_gram(features, target_gram):
    """Mean squared difference between the Gram matrix of ``features`` and a target Gram matrix."""
    return mse(gram_matrix(features), target_gram)


def style_loss_mean_std(features, target_mean, target_std):
    """AdaIN's style loss: match channel means and standard deviations (summed MSEs)."""
    mean, std = mean_std(features)
    return mse(mean, target_mean) + mse(std, target_std)


def total_variation(images):
    """Mean absolute difference between neighbouring pixels (anisotropic TV), per batch.

    Our own rather than tf.image.total_variation: backend-neutral and independent of image size."""
    x = ops.cast(images, "float32")
    dy = ops.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
    dx = ops.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
    return ops.mean(dy) + ops.mean(dx)


def feature_reconstruction_loss(features, target, epsilon=EPSILON):
    """Mahendran & Vedaldi's inversion loss: ||f - t||^2 / ||t||^2, so that layers of any scale
    (and any depth) give comparable numbers; 0 means a perfect reconstruction."""
    f = ops.cast(features, "float32")
    t = ops.cast(target, "float32")
    return ops.sum(ops.square(f - t)) / (ops.sum(ops.square(t)) + epsilon)


def alpha_norm(images, alpha=6.0):
    """Mean of |x|^alpha: a natural-image prior that keeps pixels in range (Mahendran & Vedaldi).

    Pass images already centred and scaled to about [-1, 1], so that the value is size-independent
    and comparable across alphas."""
    x = ops.cast(images, "float32")
    return ops.mean(ops.power(ops.abs(x), alpha))


def lattice_excess(images, periods=(2, 4), around=8):
    """How much a fixed-period pixel grid stands out, per batch: the mean over x/y and ``periods``
    of max(0, log(power at 1/period / geometric-mean power of the ``around`` bins either side)).

    A decoder that upsamples by nearest neighbour can leave a faint lattice at the upsampling
    periods (2 and 4 pixels for two 2x stages) that shows on flat areas like sky. Its power sits
    at exact spatial frequencies, where photos have no peak, so this is ~0 for natural images and
    grows with the grid; it does not penalise edges or brush strokes at other frequencies.
    Computed on the Hann-windowed grey image with a DFT at the few bins it needs (a matmul), so it
    is differentiable under every backend. Sides are cropped to multiples of the largest period.
    A period may be a fraction (8/3: the third harmonic of an 8-pixel grid)."""
    x = ops.mean(ops.cast(images, "float32"), axis=-1)  # (N, H, W) grey
    whole = int(round(max(periods)))
    h, w = int(x.shape[1]) // whole * whole, int(x.shape[2]) // whole * whole
    x = x[:, :h, :w]
    x = x - ops.mean(x, axis=(1, 2), keepdims=True)
    x = x * ops.convert_to_tensor(np.outer(np.hanning(h), np.hanning(w)).astype("float32"))
    excess = []
    for axis, n in ((2, w), (1, h)):
        rows = x if axis == 2 else ops.transpose(x, (0, 2, 1))  # DFT along the last axis
        for period in periods:
            k = int(round(n / period))
            peak_bins = [b for b in (k - 1, k, k + 1) if b <= n // 2]
            side_bins = [b for b in list(range(k - around, k - 1)) + list(range(k + 2, k + around + 1)) if 0 < b <= n // 2]
            bins = np.array(peak_bins + side_bins)
            phase = 2 * np.pi * np.outer(np.arange(n), bins) / n
            re = ops.matmul(rows, ops.convert_to_tensor(np.cos(phase).astype("float32")))
            im = ops.matmul(rows, ops.convert_to_tensor(np.sin(phase).astype("float32")))
            power = ops.mean(ops.square(re) + ops.square(im), axis=1)  # (N, bins): averaged over rows
            peak = ops.max(power[:, :len(peak_bins)], axis=1)
            # geometric mean: follows a falling 1/f^2 spectrum across the bins, where a mean would be
            # pulled up by the lower ones
            log_side = ops.mean(ops.log(power[:, len(peak_bins):] + 1e-6), axis=1)
            excess.append(ops.relu(ops.log(peak + 1e-6) - log_side))
    return ops.mean(ops.stack(excess))


# --- the style networks' training terms (AdaIN decoder, fast model, its refinement) ---

def adain_losses(features, target, style_stats, layer_names):
    """The paper's two terms for an output image's encoder ``features`` ({layer: NHWC}): content =
    MSE at the last layer against the AdaIN ``target``; style = sum over ``layer_names`` of the MSEs
    of channel means and stds against ``style_stats`` [(mean, std), ...]. Returns (content, style)."""
    loss_c = mse(features[layer_names[-1]], target)
    loss_s = 0.0
    for name, (s_mean, s_std) in zip(layer_names, style_stats):
        g_mean, g_std = mean_std(features[name])
        loss_s = loss_s + mse(g_mean, ops.stop_gradient(s_mean)) + mse(g_std, ops.stop_gradient(s_std))
    return loss_c, loss_s


def coarse_style_loss(encode, image, style, layer_names, factors=(2, 4)):
    """The style term (channel means and stds at ``layer_names``) on ``image`` and ``style`` both
    average-pooled k x k, summed over ``factors``: relu3_1 sees ~24 px, so strokes wider than that
    only show in its statistics at a coarser scale. ``encode``: RGB 0..255 -> {layer: features}."""
    total = 0.0
    for k in factors:
        s_feats = encode(ops.average_pool(style, k, strides=k))
        _, term = adain_losses(encode(ops.average_pool(image, k, strides=k)), 0.0,
                               [mean_std(s_feats[n]) for n in layer_names], layer_names)
        total = total + term
    return total


def temporal_loss(moved_output, output, warps, border=8):
    """The output for a moved frame against the moved output (Wang et al. 2020), away from the
    ``border`` the move invents."""
    target = ops.stop_gradient(ops.image.affine_transform(output, warps, fill_mode="reflect"))
    b = border
    return mse(ops.cast(moved_output, "float32")[:, b:-b, b:-b, :], target[:, b:-b, b:-b, :])


def random_warps(n, rng, shift=2.0, degrees=1.0, zoom=0.01, size=None):
    """``n`` small random projective transforms (Keras' 8-number form, output -> input): a shift of
    up to ``shift`` px, a rotation of up to ``degrees`` and a zoom of up to ``zoom`` around the
    crop's centre: what a hand-held camera does between two frames."""
    out = np.zeros((n, 8), np.float32)
    c = (size or 0) / 2.0
    for i in range(n):
        a = np.deg2rad(rng.uniform(-degrees, degrees))
        s = 1.0 + rng.uniform(-zoom, zoom)
        cos, sin = s * np.cos(a), s * np.sin(a)
        tx, ty = rng.uniform(-shift, shift, 2)
        # x_in = cos*x - sin*y + (c - cos*c + sin*c + tx), about the centre
        out[i] = [cos, -sin, c - cos * c + sin * c + tx, sin, cos, c - sin * c - cos * c + ty, 0, 0]
    return out
