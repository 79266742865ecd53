"""The data the metric-learning examples train on: scikit-learn's digits (8×8 grey
images of 0–9, shipped with scikit-learn, no download), split into training and
held-out images (NumPy, framework-free)."""

import numpy as np
from sklearn.datasets import load_digits

CLASSES = 10
EMBEDDING_DIM = 16


def load_split(held_out=0.25, seed=0):
    """``(x_train, y_train, x_test, y_test)``: pixels scaled to [0, 1], float32
    ``[n, 64]``, and integer labels ``[n]`` (int64); a shuffled split with
    ``held_out`` of the images kept for testing."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(len(x) * held_out)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def normalize(v, axis=-1):
    """``v / ‖v‖`` along ``axis`` (NumPy)."""
    return v / np.maximum(np.linalg.norm(v, axis=axis, keepdims=True), 1e-12)


def centre_accuracy(train_embeddings, y_train, test_embeddings, y_test):
    """Nearest class centre by cosine: each held-out embedding takes the label of the
    closest mean training embedding (all normalised). NumPy arrays in, a float out."""
    train_embeddings, test_embeddings = normalize(train_embeddings), normalize(test_embeddings)
    centres = normalize(np.stack([train_embeddings[y_train == c].mean(0) for c in range(CLASSES)]))
    predicted = np.argmax(test_embeddings @ centres.T, axis=-1)
    return float(np.mean(predicted == y_test))
