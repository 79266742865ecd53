"""cross_entropy and binary_cross_entropy against torch.nn.functional (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

SEED_LOGITS = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
SEED_LABELS = np.array([1, 2])


def torch_value_and_grad(fn, logits, *args, **kwargs):
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    out = fn(x, *args, **kwargs)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach().numpy(), g.numpy()


def test_seed_row(adapter):
    value = adapter.call("cross_entropy", SEED_LOGITS, SEED_LABELS, reduction="none")
    np.testing.assert_allclose(value, [1.9643688, 0.17425454], atol=1e-6)


CE_CASES = [
    dict(),
    dict(label_smoothing=0.1),
    dict(class_weight=[0.2, 1.0, 3.0, 0.5, 1.5]),
    dict(class_weight=[0.2, 1.0, 3.0, 0.5, 1.5], label_smoothing=0.2),
    dict(ignore_index=2),
    dict(ignore_index=2, class_weight=[0.2, 1.0, 3.0, 0.5, 1.5], label_smoothing=0.3),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", CE_CASES, ids=lambda p: ",".join(p) or "plain")
def test_cross_entropy_integer_labels_match_torch(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(7, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=7)
    labels[:2] = 2
    torch_kwargs = {
        "weight": None if "class_weight" not in params else torch.tensor(params["class_weight"], dtype=torch.float64),
        "ignore_index": params.get("ignore_index", -100),
        "label_smoothing": params.get("label_smoothing", 0.0),
        "reduction": reduction,
    }
    want, want_grad = torch_value_and_grad(F.cross_entropy, logits, torch.tensor(labels), **torch_kwargs)
    value, (grad,) = adapter.value_and_grad("cross_entropy", logits, labels, reduction=reduction, **params)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", [dict(), dict(label_smoothing=0.25), dict(class_weight=[1.0, 2.0, 0.5, 0.1])])
def test_cross_entropy_probability_targets_match_torch(adapter, rng, params):
    logits = rng.normal(scale=2.0, size=(6, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    weight = None if "class_weight" not in params else torch.tensor(params["class_weight"], dtype=torch.float64)
    want, want_grad = torch_value_and_grad(
        F.cross_entropy, logits, torch.tensor(target, dtype=torch.float64),
        weight=weight, label_smoothing=params.get("label_smoothing", 0.0),
    )
    value, (grad,) = adapter.value_and_grad("cross_entropy", logits, target, reduction="mean", **params)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_cross_entropy_class_axis(adapter, rng):
    logits = rng.normal(size=(3, 4, 5)).astype(np.float32)  # classes on axis 1
    labels = rng.integers(0, 4, size=(3, 5))
    want = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(labels), reduction="none")
    value = adapter.call("cross_entropy", logits, labels, axis=1, reduction="none")
    np.testing.assert_allclose(value, want.numpy(), rtol=1e-5)


def test_cross_entropy_from_probabilities(adapter, rng):
    probs = rng.dirichlet(np.ones(4), size=5).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    want = -np.log(probs.astype(np.float64)[np.arange(5), labels])
    value = adapter.call("cross_entropy", probs, labels, from_logits=False, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5)


def test_all_ignored_mean_is_zero_with_zero_gradient(adapter):
    logits = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    labels = np.array([-100, -100])
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, labels, ignore_index=-100, class_weight=[1.0, 2.0], reduction="mean"
    )
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(logits))


BCE_CASES = [dict(), dict(label_smoothing=0.2), dict(alpha=0.25), dict(alpha=0.9, label_smoothing=0.1)]


def bce_reference(x, y, alpha=None, label_smoothing=0.0):
    """float64 formula: -a y log s(x) - (1-a)(1-y) log(1 - s(x)), smoothed toward 0.5."""
    x = x.astype(np.float64)
    y = y.astype(np.float64) * (1 - label_smoothing) + 0.5 * label_smoothing
    log_p = -np.logaddexp(0.0, -x)
    log_q = -np.logaddexp(0.0, x)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1 - alpha)
    return -a_pos * y * log_p - a_neg * (1 - y) * log_q


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", BCE_CASES, ids=lambda p: ",".join(p) or "plain")
def test_binary_cross_entropy_matches_torch(adapter, rng, params, reduction):
    logits = rng.normal(scale=4.0, size=(5, 3)).astype(np.float32)
    target = (rng.random((5, 3)) > 0.5).astype(np.float32)
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(target, dtype=torch.float64)
    ls = params.get("label_smoothing", 0.0)
    y = y * (1 - ls) + 0.5 * ls
    alpha = params.get("alpha")
    weight = None if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    if alpha is None:
        want = F.binary_cross_entropy_with_logits(x, y, reduction=reduction)
    else:  # balanced CE: alpha on the positive term, 1 - alpha on the negative one
        want = torch.as_tensor(bce_reference(logits, target, alpha, ls))
        want = {"none": want, "mean": want.mean(), "sum": want.sum()}[reduction]
        del weight
    if want.requires_grad:
        (want_grad,) = torch.autograd.grad(want.sum(), x)
        want_grad = want_grad.numpy()
    else:
        want_grad = None
    value, (grad,) = adapter.value_and_grad("binary_cross_entropy", logits, target, reduction=reduction, **params)
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-5, atol=1e-7)
    if want_grad is not None:
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_balanced_binary_cross_entropy_gradient(adapter, rng):
    logits = rng.normal(scale=4.0, size=(4, 3)).astype(np.float32)
    target = (rng.random((4, 3)) > 0.5).astype(np.float64)
    _, (grad,) = adapter.value_and_grad("binary_cross_entropy", logits, target, alpha=0.3, reduction="sum")
    sig = 1 / (1 + np.exp(-logits.astype(np.float64)))
    want = -0.3 * target * (1 - sig) + 0.7 * (1 - target) * sig  # d/dx of the float64 formula
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)


def test_binary_cross_entropy_from_probabilities_matches_torch(adapter, rng):
    probs = rng.random((4, 3)).astype(np.float32)
    probs[0, 0], probs[1, 1] = 0.0, 1.0
    target = (rng.random((4, 3)) > 0.5).astype(np.float32)
    want = F.binary_cross_entropy(torch.tensor(probs, dtype=torch.float64), torch.tensor(target, dtype=torch.float64), reduction="none")
    value = adapter.call("binary_cross_entropy", probs, target, from_logits=False, reduction="none")
    np.testing.assert_allclose(value, want.numpy(), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_binary_cross_entropy_exact_and_finite_at_extreme_logits(adapter, dtype):
    logits = np.array([[-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]], np.float32)
    if dtype != "float32":
        logits = np.clip(logits, -6e4, 6e4)
    target = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]], np.float32)
    value, (grad,) = adapter.value_and_grad(
        "binary_cross_entropy", logits, target, reduction="none", dtype=dtype
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    if dtype == "float32":
        want = bce_reference(logits, target)
        np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-40)  # exact: no cancellation at |x| = 30


def test_nan_in_gives_nan_out(adapter):
    logits = np.array([[np.nan, 1.0, 0.0]], np.float32)
    assert np.isnan(adapter.call("cross_entropy", logits, np.array([1]), reduction="none")).all()
    assert np.isnan(adapter.call("binary_cross_entropy", logits, np.ones((1, 3), np.float32), reduction="none")[0, 0])
