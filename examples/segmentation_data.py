"""The synthetic segmentation data set the segmentation examples train on (NumPy,
framework-free)."""

import numpy as np

#: Mean brightness of the background, the rectangles and the discs.
BRIGHTNESS = np.array([0.0, 1.0, -1.0])


def make_masks(n=64, size=16, seed=0):
    """Grey images x [n, size, size, 1] float32 (channel-last) and masks [n, size, size]
    int64 of 3 classes: 0 background, 1 a rectangle, 2 a disc (drawn over the
    rectangle). Each class has its own mean brightness, plus Gaussian noise, so a
    small convolutional network can recover the masks."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), np.int64)
    for mask in masks:
        top, left = rng.integers(0, size - 6, size=2)
        height, width = rng.integers(4, 8, size=2)
        mask[top : top + height, left : left + width] = 1
        centre = rng.uniform(3.0, size - 3.0, size=2)
        radius = rng.uniform(2.0, 3.5)
        mask[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2] = 2
    x = BRIGHTNESS[masks] + 0.6 * rng.normal(size=masks.shape)
    return x[..., None].astype(np.float32), masks
