"""kl_divergence against torch.nn.functional.kl_div (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F


def torch_kl(logits, target, reduction, from_logits=True, axis=-1):
    """KL(target || softmax(logits)) per example with torch, value and input gradient."""
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(target, dtype=torch.float64)
    if from_logits:
        log_q = F.log_softmax(x, dim=axis)
    else:
        log_q = torch.log(x / x.sum(dim=axis, keepdim=True))
    per_example = F.kl_div(log_q, y, reduction="none").sum(axis)
    out = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_kl_divergence_matches_torch(adapter, rng, reduction):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=5).astype(np.float32)
    want, want_grad = torch_kl(logits, target, reduction)
    value, (grad,) = adapter.value_and_grad("kl_divergence", logits, target, reduction=reduction)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_kl_divergence_mean_is_torch_batchmean(adapter, rng):
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    target = rng.dirichlet(np.ones(3), size=6).astype(np.float32)
    want = F.kl_div(
        F.log_softmax(torch.tensor(logits, dtype=torch.float64), -1),
        torch.tensor(target, dtype=torch.float64),
        reduction="batchmean",
    )
    value = adapter.call("kl_divergence", logits, target, reduction="mean")
    np.testing.assert_allclose(value, want.item(), rtol=1e-5)


def test_kl_divergence_zero_targets_are_finite(adapter, rng):
    logits = np.array([[50.0, -50.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    target = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]], np.float32)
    want, want_grad = torch_kl(logits, target, "none")
    value, (pred_grad, target_grad) = adapter.value_and_grad(
        "kl_divergence", logits, target, wrt=(0, 1), reduction="none"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(pred_grad, want_grad, rtol=1e-5, atol=1e-7)
    assert np.all(np.isfinite(target_grad))


def test_kl_divergence_from_probabilities(adapter, rng):
    probs = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    want, want_grad = torch_kl(probs, target, "sum", from_logits=False)
    value, (grad,) = adapter.value_and_grad(
        "kl_divergence", probs, target, from_logits=False, reduction="sum"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_kl_divergence_class_axis(adapter, rng):
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)  # classes on axis 1
    target = np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3)), -1, 1).astype(np.float32)
    want, want_grad = torch_kl(logits, target, "none", axis=1)
    value, (grad,) = adapter.value_and_grad("kl_divergence", logits, target, axis=1, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_kl_divergence_shape_mismatch(adapter):
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(2, 3\)"):
        adapter.call("kl_divergence", np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))


def test_kl_divergence_nan_in_gives_nan_out(adapter):
    logits = np.array([[np.nan, 0.0], [0.0, 1.0]], np.float32)
    target = np.array([[0.5, 0.5], [np.nan, 0.5]], np.float32)
    assert np.isnan(adapter.call("kl_divergence", logits, target, reduction="none")).all()
