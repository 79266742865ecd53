"""The reference values of API.md (seed 002, the PolyLoss authors' TensorFlow code),
reproduced to 1e-6 by every adapter."""

from __future__ import annotations

import numpy as np
import pytest

SEED_LOGITS = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
SEED_LABELS = np.array([1, 2])
SEED_ALPHA = [0.25, 0.75, 0.75]

SEED_ROWS = [
    ("cross_entropy", dict(), [1.9643688, 0.17425454]),
    ("poly1_cross_entropy", dict(epsilon=1.0), [2.8241243, 0.33417147]),
    ("softmax_focal_loss", dict(alpha=SEED_ALPHA, gamma=2.0), [1.0890163, 0.00334221]),
    (
        "poly1_focal_loss",
        dict(epsilon=1.0, alpha=SEED_ALPHA, gamma=2.0, focal="softmax"),
        [1.4649665, 0.1818437],
    ),
]


@pytest.mark.parametrize("loss, params, want", SEED_ROWS, ids=[row[0] for row in SEED_ROWS])
def test_seed_002_reference_values(adapter, loss, params, want):
    for labels in (SEED_LABELS, np.eye(3, dtype=np.float32)[SEED_LABELS]):
        value = adapter.call(loss, SEED_LOGITS, labels, reduction="none", **params)
        np.testing.assert_allclose(value, want, rtol=0, atol=1e-6)
