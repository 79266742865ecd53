"""mean_squared_error against torch.nn.functional.mse_loss (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_mean_squared_error_matches_torch(adapter, rng, reduction, shape):
    pred = rng.normal(size=shape).astype(np.float32)
    target = rng.normal(size=shape).astype(np.float32)
    x = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    per_example = F.mse_loss(x, torch.tensor(target, dtype=torch.float64), reduction="none").mean(-1)
    want = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    value, (pred_grad, target_grad) = adapter.value_and_grad(
        "mean_squared_error", pred, target, wrt=(0, 1), reduction=reduction
    )
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(pred_grad, want_grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(target_grad, -want_grad.numpy(), rtol=1e-5, atol=1e-7)


def test_mean_squared_error_mean_is_torch_mean(adapter, rng):
    pred, target = rng.normal(size=(2, 4, 3)).astype(np.float32)
    want = F.mse_loss(torch.tensor(pred, dtype=torch.float64), torch.tensor(target, dtype=torch.float64))
    np.testing.assert_allclose(adapter.call("mean_squared_error", pred, target, reduction="mean"), want.item(), rtol=1e-5)


def test_mean_squared_error_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(4, 2\)"):
        adapter.call("mean_squared_error", np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32))
