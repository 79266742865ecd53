"""The synthetic box-regression data set the box examples train on (NumPy, framework-free)."""

import numpy as np


def make_boxes(n=256, seed=0):
    """Features x [n, 8] float32 and target boxes [n, 4] float32 in ``"cxcywh"`` format
    (centre in [2, 8]², width and height in [1, 3]); x is a fixed random linear map of
    the boxes plus noise, so the boxes can be read back from it."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(2.0, 8.0, size=(n, 2))
    sizes = rng.uniform(1.0, 3.0, size=(n, 2))
    boxes = np.concatenate([centres, sizes], axis=1)
    mixing = rng.normal(size=(4, 8)) / 4.0
    x = (boxes - 3.0) @ mixing + 0.05 * rng.normal(size=(n, 8))
    return x.astype(np.float32), boxes.astype(np.float32)
