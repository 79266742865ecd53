"""smooth_labels against optax.losses.smooth_labels."""

from __future__ import annotations

import numpy as np
import optax
import pytest


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0])
def test_smooth_labels_matches_optax(adapter, rng, epsilon):
    labels = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=(2, 3))]
    want = np.asarray(optax.losses.smooth_labels(labels, epsilon), np.float64)
    # Python number epsilon, and epsilon as a 0-d tensor of the adapter's framework.
    from_number = adapter.fn("smooth_labels")(adapter.tensor(labels), epsilon)
    value, (grad,) = adapter.value_and_grad("smooth_labels", labels, np.float32(epsilon))
    np.testing.assert_allclose(np.asarray(from_number, np.float64), want, rtol=1e-6)
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(grad, np.full(labels.shape, 1.0 - epsilon), rtol=1e-6)


def test_smooth_labels_soft_and_integer_labels(adapter, rng):
    soft = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    want = np.asarray(optax.losses.smooth_labels(soft, 0.2), np.float64)
    np.testing.assert_allclose(adapter.call("smooth_labels", soft, np.float32(0.2)), want, rtol=1e-6)
    one_hot = np.eye(3, dtype=np.int32)
    value = adapter.fn("smooth_labels")(adapter.tensor(one_hot), 0.3)
    np.testing.assert_allclose(np.asarray(value, np.float64), 0.7 * np.eye(3) + 0.1, rtol=1e-6)


@pytest.mark.parametrize("epsilon", [-0.1, 1.5])
def test_smooth_labels_epsilon_out_of_range(adapter, epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        adapter.fn("smooth_labels")(adapter.tensor(np.eye(2, dtype=np.float32)), epsilon)


def test_smooth_labels_epsilon_must_be_scalar(adapter):
    with pytest.raises(ValueError, match="epsilon must be a scalar"):
        adapter.call("smooth_labels", np.eye(2, dtype=np.float32), np.array([0.1, 0.2], np.float32))
