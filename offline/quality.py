"""How good a Fashion-MNIST generator is, measured with our own classifier (``trained/fashion_mnist``).

- **Frechet distance on classifier features**: the Frechet distance between Gaussians fitted to the
  256 penultimate-layer activations of real and of generated images. The formula is FID's
  (Heusel et al. 2017), the features are not Inception's, so the numbers compare our models with
  each other, never with published FIDs. Lower is better; real test images against real training
  images give the floor.
- **Class coverage**: the share of samples the classifier puts in each class (a collapsed GAN
  draws a few classes) and its mean confidence (blurry, in-between samples get low confidence).
- **Precision and recall** (Kynkaanniemi et al. 2019) on the same features: the share of samples
  that fall inside the real images' manifold, and of real images inside the samples'. One number
  for realism, one for variety, where the Frechet distance mixes the two.
"""

import numpy as np


def frechet_distance(a, b):
    """Frechet distance between Gaussians fitted to feature rows ``a`` and ``b`` (N, D):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2). The trace of the matrix square root is the
    sum of the square roots of the eigenvalues of S_a^1/2 S_b S_a^1/2 (symmetric: numpy only)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * cross)


def feature_model(classifier):
    """The classifier cut before its last dense layer: the penultimate features (after the
    256-unit ReLU; dropout is a no-op at inference)."""
    import keras

    dense = [layer for layer in classifier.layers if isinstance(layer, keras.layers.Dense)]
    if len(dense) < 2:
        raise ValueError("the classifier needs a dense layer before its output")
    return keras.Model(classifier.inputs, dense[-2].output)


def features_and_probabilities(classifier, images, batch=1000):
    """uint8 (N, 28, 28) -> (features (N, 256), class probabilities (N, 10))."""
    import keras

    both = keras.Model(classifier.inputs, [feature_model(classifier).outputs[0], classifier.outputs[0]])
    f, p = both.predict(np.asarray(images, np.float32)[..., None], batch_size=batch, verbose=0)
    return np.asarray(f, np.float64), np.asarray(p, np.float64)


def class_coverage(probabilities, classes=10):
    """(share of samples per predicted class, mean top-class confidence)."""
    p = np.asarray(probabilities)
    share = np.bincount(p.argmax(1), minlength=classes) / len(p)
    return share, float(p.max(1).mean())


def _kth_neighbour_radius(x, k, chunk=2048):
    """Distance from each row of ``x`` to its k-th nearest other row."""
    sq = np.sum(x * x, 1)
    radii = np.empty(len(x))
    for i in range(0, len(x), chunk):
        d = sq[i:i + chunk, None] + sq[None] - 2 * x[i:i + chunk] @ x.T
        radii[i:i + chunk] = np.sqrt(np.maximum(np.partition(d, k, axis=1)[:, k], 0))  # column 0: itself
    return radii


def _inside(points, manifold, radii, chunk=2048):
    """Share of ``points`` within some manifold point's radius (inside the union of its balls)."""
    sq_m = np.sum(manifold * manifold, 1)
    hits = 0
    for i in range(0, len(points), chunk):
        p = points[i:i + chunk]
        d = np.sqrt(np.maximum(np.sum(p * p, 1)[:, None] + sq_m[None] - 2 * p @ manifold.T, 0))
        hits += int(np.sum(np.any(d <= radii[None], axis=1)))
    return hits / len(points)


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkaanniemi et al. 2019) on feature rows: each set's manifold
    is the union of balls around its points reaching their k-th nearest neighbour. Precision: the
    share of ``fake`` inside the real manifold (are the samples realistic?); recall: the share of
    ``real`` inside the fake one (do the samples cover the real variety?)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    return (_inside(fake, real, _kth_neighbour_radius(real, k)),
            _inside(real, fake, _kth_neighbour_radius(fake, k)))
