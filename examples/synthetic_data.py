"""The synthetic two-task data set the examples train on (NumPy, framework-free)."""

import numpy as np


def make_data(n=256, seed=0):
    """x [n, 4] float32; a noisy linear regression target [n, 1] float32; class
    labels [n] in {0, 1, 2} from a random linear map of x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y_reg = x @ np.float32([[1.0], [-2.0], [0.5], [0.0]]) + 0.3 * rng.normal(size=(n, 1))
    labels = np.argmax(x @ rng.normal(size=(4, 3)), axis=1)
    return x, y_reg.astype(np.float32), labels
