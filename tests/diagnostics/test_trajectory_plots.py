"""The trajectory pictures' density: the boxed mixture equals the mixture over the whole grid."""

import numpy as np

from kerasseq.diagnostics.trajectory_plots import gaussian_density, mixture_density_on_grid


def test_boxed_mixture_matches_the_whole_grid():
    rng = np.random.default_rng(0)
    xs, ys = np.linspace(-2, 14, 120), np.linspace(-3, 12, 100)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    for spread in (0.05, 0.5, 3.0):  # narrow components (a small box) to ones wider than the scene
        g = np.concatenate([rng.uniform(2, 10, (50, 2)), rng.uniform(0.5, 1.5, (50, 2)) * spread,
                            rng.uniform(-0.9, 0.9, (50, 1))], axis=1)
        whole = gaussian_density(grid, g).mean(axis=-1)
        boxed = mixture_density_on_grid(xs, ys, g)
        assert boxed.shape == (100, 120)
        np.testing.assert_allclose(boxed, whole, atol=1e-6 * whole.max(), rtol=1e-5)
    # every component far off the grid: zero, not an error
    off = np.array([[100.0, 100.0, 0.1, 0.1, 0.0]])
    assert not mixture_density_on_grid(xs, ys, off).any()
