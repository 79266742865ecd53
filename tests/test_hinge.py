"""hinge_loss against keras.losses.hinge; pairwise_hinge_loss against
torch.nn.functional.margin_ranking_loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F


def reduce_np(values, reduction):
    return {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("labels", ["zero_one", "plus_minus_one"])
def test_hinge_loss_matches_keras(adapter, rng, reduction, labels):
    scores = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    zero_one = (rng.random((5, 4)) > 0.5).astype(np.float32)
    target = zero_one if labels == "zero_one" else 2.0 * zero_one - 1.0
    keras_value = keras.ops.convert_to_numpy(keras.losses.hinge(target, scores)).astype(np.float64)
    signs = 2.0 * zero_one.astype(np.float64) - 1.0
    active = 1.0 - signs * scores > 0
    grad_per_example = np.where(active, -signs, 0.0) / scores.shape[-1]  # d/dscores of the float64 formula
    want_grad = {"none": grad_per_example, "mean": grad_per_example / 5, "sum": grad_per_example}[reduction]
    value, (grad,) = adapter.value_and_grad("hinge_loss", scores, target, reduction=reduction)
    np.testing.assert_allclose(value, reduce_np(keras_value, reduction), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_hinge_loss_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(3, 2\)"):
        adapter.call("hinge_loss", np.zeros((3, 2), np.float32), np.zeros((3,), np.float32))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [1.0, 0.3, 0.0])
def test_pairwise_hinge_loss_matches_torch(adapter, rng, reduction, margin):
    pos = rng.normal(size=7).astype(np.float32)
    neg = rng.normal(size=7).astype(np.float32)
    p = torch.tensor(pos, dtype=torch.float64, requires_grad=True)
    n = torch.tensor(neg, dtype=torch.float64, requires_grad=True)
    want = F.margin_ranking_loss(p, n, torch.ones_like(p), margin=margin, reduction=reduction)
    want_grads = torch.autograd.grad(want.sum(), [p, n])
    value, grads = adapter.value_and_grad(
        "pairwise_hinge_loss", pos, neg, wrt=(0, 1), margin=margin, reduction=reduction
    )
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-5, atol=1e-7)
    for grad, want_grad in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(grad, want_grad.numpy(), rtol=1e-5, atol=1e-7)


def test_pairwise_hinge_loss_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"neg_score .* pos_score .*\(4,\)"):
        adapter.call("pairwise_hinge_loss", np.zeros(4, np.float32), np.zeros(3, np.float32))
