"""What a zoomed-in look at a stylized frame finds, as numbers (numpy; evaluations and tests):

- ``lattice_figure``: a fixed-period pixel grid. Down- and up-sampling by 2, 4 or 8 can leave a
  pattern whose power sits at exact spatial frequencies k/8 cycles per pixel, on the axes and on
  the diagonals, where a photo's spectrum has no peak. The figure is the worst log10 of (power at
  such a frequency) / (median power on the ring of the same radius): a photo scores ~1.3, a
  visible grid 3 and more.
- ``edge_figure``: a band along the frame's edges (zero padding darkens or lightens the outer
  pixels). Per side, the mean absolute difference in grey levels between the outer ``outer``
  pixels and the band ``outer``..``inner`` pixels in, minus the same for the input frame; the
  worst side.
"""

import numpy as np

PERIODS = (2, 4, 8)


def _grey(image):
    g = np.asarray(image, np.float64)
    return g.mean(axis=2) if g.ndim == 3 else g


def lattice_frequencies(periods=PERIODS):
    """Unique (fy, fx) in cycles per pixel: k/p for each period p and harmonic k (up to 1/2), on
    the two axes and the two diagonals."""
    out = set()
    for p in periods:
        for k in range(1, p // 2 + 1):
            f = k / p
            out |= {(0.0, f), (f, 0.0), (f, f), (f, -f)}
    return sorted(out)


def lattice_figure(image, periods=PERIODS):
    """The worst log10 (peak power / ring median) over ``lattice_frequencies`` of the Hann-windowed
    grey image (see the module's docstring)."""
    g = _grey(image)
    whole = max(periods)
    h, w = g.shape[0] // whole * whole, g.shape[1] // whole * whole
    g = g[:h, :w]
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(g)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx)
    step = 1.0 / min(h, w)  # one bin
    freqs = lattice_frequencies(periods)
    near_lattice = np.zeros((h, w), bool)
    for ly, lx in freqs:
        for sy in (1, -1):
            near_lattice |= (np.abs(fy - sy * ly) <= 3.0 / h) & (np.abs(fx - sy * lx) <= 3.0 / w)
    worst = -np.inf
    for ly, lx in freqs:
        iy, ix = int(round(ly * h)) % h, int(round(lx * w)) % w
        ys, xs = np.arange(iy - 1, iy + 2) % h, np.arange(ix - 1, ix + 2) % w
        peak = power[np.ix_(ys, xs)].max()  # the window spreads a line over the bins beside it
        ring = power[(np.abs(radius - np.hypot(ly, lx)) <= 1.5 * step) & ~near_lattice]
        if ring.size:
            worst = max(worst, float(np.log10(peak / max(np.median(ring), 1e-12))))
    return worst


def _side_bands(g, outer, inner):
    """[(outer strip, band)] for top, bottom, left, right, each as (positions along the edge, depth)."""
    return [(g[:outer].T, g[outer:inner].T), (g[-outer:].T, g[-inner:-outer].T),
            (g[:, :outer], g[:, outer:inner]), (g[:, -outer:], g[:, -inner:-outer])]


def edge_band(image, outer=3, inner=12):
    """Per side (top, bottom, left, right): mean over the edge of |outer strip mean - band mean|."""
    g = _grey(image)
    return np.array([np.abs(o.mean(axis=1) - b.mean(axis=1)).mean() for o, b in _side_bands(g, outer, inner)])


def edge_figure(output, source, outer=3, inner=12):
    """Grey levels by which the output's edge band exceeds the source frame's own, worst side."""
    return float(np.max(edge_band(output, outer, inner) - edge_band(source, outer, inner)))
