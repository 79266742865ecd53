"""poly1_cross_entropy and poly1_focal_loss against optax and float64 formulas.

References: ``optax.losses.poly_loss_cross_entropy`` (jax, float32), and the paper's /
seed 002's formulas written out in float64 torch (autograd gives the gradients).
"""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F
from test_focal import (
    reduce_ref,
    softmax_focal_soft_torch,
    torch_value_and_grad,
    torchvision_focal,
)


def smoothed(one_hot, label_smoothing):
    return one_hot * (1 - label_smoothing) + label_smoothing / one_hot.shape[-1]


def poly1_ce_torch(x, target, epsilon=1.0):
    """CE + epsilon * sum_c q_c (1 - p_c) for class-probability targets q, float64."""
    q = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    log_p = F.log_softmax(x, dim=-1)
    return -(q * log_p).sum(-1) + epsilon * (q * (1 - log_p.exp())).sum(-1)


POLY_CE_CASES = [
    dict(),
    dict(epsilon=2.0),
    dict(epsilon=-1.0),
    dict(epsilon=1.0, label_smoothing=0.1),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", POLY_CE_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_poly1_cross_entropy_matches_optax(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    q = smoothed(np.eye(4, dtype=np.float32)[labels], params.get("label_smoothing", 0.0))
    epsilon = params.get("epsilon", 1.0)

    def ref(x):
        return optax.losses.poly_loss_cross_entropy(x, q, epsilon=epsilon)

    want = np.asarray(reduce_ref(ref(logits), reduction), np.float64)
    want_grad = np.asarray(jax.grad(lambda x: reduce_ref(ref(x), reduction).sum())(logits), np.float64)
    for target in (labels, np.eye(4, dtype=np.float32)[labels]):
        value, (grad,) = adapter.value_and_grad(
            "poly1_cross_entropy", logits, target, reduction=reduction, **params
        )
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_poly1_cross_entropy_probability_targets_float64(adapter, rng, label_smoothing):
    logits = rng.normal(scale=3.0, size=(4, 5)).astype(np.float32)
    target = rng.dirichlet(np.ones(5), size=4).astype(np.float32)
    want, want_grad = torch_value_and_grad(
        lambda x: poly1_ce_torch(x, smoothed(target.astype(np.float64), label_smoothing), 2.0), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "poly1_cross_entropy", logits, target, epsilon=2.0, label_smoothing=label_smoothing,
        reduction="none",
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_poly1_cross_entropy_class_axis(adapter, rng):
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)  # classes on axis 1
    labels = rng.integers(0, 4, size=(2, 3))
    one_hot = np.eye(4)[labels]
    want = poly1_ce_torch(torch.tensor(np.moveaxis(logits, 1, -1), dtype=torch.float64), one_hot)
    value = adapter.call("poly1_cross_entropy", logits, labels, axis=1, reduction="none")
    np.testing.assert_allclose(value, want.numpy(), rtol=1e-5)


def test_poly1_cross_entropy_exact_at_saturation(adapter):
    # p_t rounds to 1 in float32: CE and 1 - p_t are both ~3.5e-13, kept exact.
    logits = np.array([[30.0, 0.0, 1.0], [1e4, 0.0, -1e4]], np.float32)
    labels = np.array([0, 0])
    others = np.exp(-30.0) + np.exp(-29.0)
    want = [np.log1p(others) + others / (1 + others), 0.0]
    for dtype in ("float32", "float16", "bfloat16"):
        value, (grad,) = adapter.value_and_grad(
            "poly1_cross_entropy", logits, labels, reduction="none", dtype=dtype
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    value = adapter.call("poly1_cross_entropy", logits, labels, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-38)


def poly1_sigmoid_focal_torch(x, y, epsilon=1.0, alpha=0.25, gamma=2.0):
    """The paper's element-wise poly-1 focal: FL + epsilon (1 - p_t)^(gamma + 1)."""
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    p = torch.sigmoid(x)
    p_t = yt * p + (1 - yt) * (1 - p)
    return torchvision_focal(x, y, alpha, gamma) + epsilon * (1 - p_t) ** (gamma + 1)


POLY_FOCAL_CASES = [
    dict(),
    dict(epsilon=2.0, alpha=None, gamma=0.5),
    dict(epsilon=-1.0, alpha=0.75, gamma=0.0),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", POLY_FOCAL_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_poly1_focal_sigmoid(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(4, 3)).astype(np.float32)
    target = (rng.random((4, 3)) > 0.5).astype(np.float32)
    target[0] = [0.3, 0.9, 0.5]  # soft targets too
    want, want_grad = torch_value_and_grad(
        lambda x: reduce_ref(poly1_sigmoid_focal_torch(x, target, **params), reduction), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "poly1_focal_loss", logits, target, reduction=reduction, **params
    )
    assert value.shape == want.shape  # "none": element-wise, shape of y_pred
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def poly1_softmax_focal_torch(x, one_hot, epsilon=1.0, alpha=0.25, gamma=2.0):
    """Seed 002's poly1_focal_loss_torch, generalised: softmax focal + eps mean_c (1 - p_t,c)^(g+1)."""
    y = torch.as_tensor(np.asarray(one_hot), dtype=torch.float64)
    p = torch.sigmoid(x)
    poly1 = y * p + (1 - y) * (1 - p)
    focal = softmax_focal_soft_torch(x, one_hot, alpha=alpha, gamma=gamma)
    return focal + torch.mean(epsilon * (1 - poly1) ** (gamma + 1), dim=-1)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "params",
    [dict(), dict(alpha=[0.25, 0.75, 0.75, 0.5]), dict(epsilon=2.0, alpha=None, gamma=0.5)],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default",
)
def test_poly1_focal_softmax(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    want, want_grad = torch_value_and_grad(
        lambda x: reduce_ref(poly1_softmax_focal_torch(x, one_hot, **params), reduction), logits
    )
    for target in (labels, one_hot):
        value, (grad,) = adapter.value_and_grad(
            "poly1_focal_loss", logits, target, focal="softmax", reduction=reduction, **params
        )
        assert value.shape == want.shape  # "none": per example
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_poly1_focal_softmax_soft_targets(adapter, rng):
    logits = rng.normal(scale=2.0, size=(3, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    want, want_grad = torch_value_and_grad(
        lambda x: poly1_softmax_focal_torch(x, target, gamma=1.0), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "poly1_focal_loss", logits, target, focal="softmax", gamma=1.0, reduction="none"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("gamma", [0.25, 0.5, 2.0])
def test_poly1_focal_finite_at_extreme_logits(adapter, dtype, gamma):
    sig_logits = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], np.float32)
    sig_target = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]], np.float32)
    soft_logits = np.array([[1e4, 0.0, -1e4], [0.0, -1e4, 1e4]], np.float32)
    labels = np.array([0, 0])
    for logits, target, focal in [
        (sig_logits, sig_target, "sigmoid"),
        (soft_logits, labels, "softmax"),
        (soft_logits, np.eye(3, dtype=np.float32)[labels], "softmax"),
    ]:
        value, (grad,) = adapter.value_and_grad(
            "poly1_focal_loss", logits, target, focal=focal, gamma=gamma, reduction="none",
            dtype=dtype,
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), focal


@pytest.mark.parametrize(
    "loss, params, match",
    [
        ("poly1_focal_loss", dict(focal="softplus"), "focal"),
        ("poly1_focal_loss", dict(epsilon=-2.0), "epsilon"),
        ("poly1_focal_loss", dict(gamma=-1.0), "gamma"),
        ("poly1_focal_loss", dict(alpha=1.5, focal="softmax"), "alpha"),
        ("poly1_focal_loss", dict(alpha=[0.5, 0.5], focal="softmax"), "alpha"),
        ("poly1_cross_entropy", dict(epsilon=-1.5), "epsilon"),
        ("poly1_cross_entropy", dict(label_smoothing=1.5), "label_smoothing"),
    ],
)
def test_poly_rejects_bad_arguments(adapter, loss, params, match):
    logits = np.zeros((2, 3), np.float32)
    target = np.array([0, 1]) if loss == "poly1_cross_entropy" or params.get("focal") == "softmax" else logits
    with pytest.raises(ValueError, match=match):
        adapter.call(loss, logits, target, reduction="none", **params)
