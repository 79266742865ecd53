"""hinge_loss and squared_hinge_loss against keras.losses; categorical_hinge_loss
against optax.losses.multiclass_hinge_loss (and keras.losses.categorical_hinge where
they agree); multi_margin_loss and pairwise_hinge_loss against
torch.nn.functional.multi_margin_loss / margin_ranking_loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import Adapter
from loss_cases import ADAPTERS_ONCE


@pytest.fixture(params=ADAPTERS_ONCE)
def adapter(request) -> Adapter:
    """The Keras adapter in every per-backend session; torch, jax and tensorflow (the
    same in every session) once, in the cross_framework session."""
    return Adapter(request.param)


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


# --- squared hinge ---------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("labels", ["zero_one", "plus_minus_one"])
def test_squared_hinge_loss_matches_keras(adapter, rng, reduction, labels):
    scores = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)
    zero_one = (rng.random((5, 4)) > 0.5).astype(np.float32)
    target = zero_one if labels == "zero_one" else 2.0 * zero_one - 1.0
    keras_value = keras.ops.convert_to_numpy(keras.losses.squared_hinge(target, scores)).astype(np.float64)
    signs = 2.0 * zero_one.astype(np.float64) - 1.0
    margin = np.maximum(1.0 - signs * scores, 0.0)
    grad_per_example = -2.0 * margin * signs / scores.shape[-1]  # d/dscores of the float64 formula
    want_grad = {"none": grad_per_example, "mean": grad_per_example / 5, "sum": grad_per_example}[reduction]
    value, (grad,) = adapter.value_and_grad("squared_hinge_loss", scores, target, reduction=reduction)
    np.testing.assert_allclose(value, reduce_np(keras_value, reduction), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


# --- categorical (Crammer–Singer) hinge ---------------------------------------------------------


def crammer_singer_reference(scores, ids):
    """max(0, 1 + max_{k≠t} x_k − x_t) in float64 and its gradient for the scores."""
    x = scores.astype(np.float64)
    rows = np.arange(x.shape[0])
    others = x.copy()
    others[rows, ids] = -np.inf
    runner_up = others.argmax(-1)
    margin = 1.0 + others.max(-1) - x[rows, ids]
    value = np.maximum(margin, 0.0)
    grad = np.zeros_like(x)
    active = margin > 0
    grad[rows[active], runner_up[active]] += 1.0
    grad[rows[active], ids[active]] -= 1.0
    return value, grad


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("targets", ["ids", "one_hot"])
def test_categorical_hinge_loss_matches_optax(adapter, rng, reduction, targets):
    import optax

    scores = rng.normal(scale=1.5, size=(7, 5)).astype(np.float32)
    ids = rng.integers(0, 5, size=7)
    scores[0, ids[0]] += 5.0  # margin met: loss 0
    value, grad = crammer_singer_reference(scores, ids)
    np.testing.assert_allclose(np.asarray(optax.losses.multiclass_hinge_loss(scores, ids)), value, rtol=1e-5, atol=1e-6)
    y = ids if targets == "ids" else np.eye(5, dtype=np.float32)[ids]
    want = reduce_np(value, reduction)
    grad = grad / 7 if reduction == "mean" else grad
    got, (got_grad,) = adapter.value_and_grad("categorical_hinge_loss", scores, y, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_grad, grad, rtol=1e-5, atol=1e-7)


def test_categorical_hinge_loss_and_keras(adapter, rng):
    """Keras' max over (1 − y)·ŷ counts the target slot as a score 0: equal whenever some
    non-target score is >= 0, larger otherwise."""
    scores = rng.normal(size=(8, 4)).astype(np.float32)
    ids = rng.integers(0, 4, size=8)
    scores[0] = [-1.0, -2.0, -0.5, -3.0]  # every score negative
    ids[0] = 2
    one_hot = np.eye(4, dtype=np.float32)[ids]
    ours = adapter.call("categorical_hinge_loss", scores, one_hot, reduction="none")
    theirs = keras.ops.convert_to_numpy(keras.losses.categorical_hinge(one_hot, scores)).astype(np.float64)
    agree = np.where(one_hot > 0, -np.inf, scores).max(-1) >= 0
    np.testing.assert_allclose(ours[agree], theirs[agree], rtol=1e-5, atol=1e-7)
    assert not agree[0] and theirs[0] > ours[0]


def test_categorical_hinge_loss_one_class_and_rank3(adapter, rng):
    value, (grad,) = adapter.value_and_grad(
        "categorical_hinge_loss", rng.normal(size=(3, 1)).astype(np.float32), np.zeros(3, np.int64), reduction="none"
    )
    np.testing.assert_array_equal(value, np.zeros(3))
    np.testing.assert_array_equal(grad, np.zeros((3, 1)))
    scores = rng.normal(size=(2, 3, 4)).astype(np.float32)
    ids = rng.integers(0, 4, size=(2, 3))
    want, _ = crammer_singer_reference(scores.reshape(6, 4), ids.reshape(6))
    got = adapter.call("categorical_hinge_loss", scores, ids, reduction="none")
    np.testing.assert_allclose(got, want.reshape(2, 3), rtol=1e-5, atol=1e-7)


# --- multi-margin (Weston–Watkins) ------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 1.0), (1, 0.3), (2, 2.5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_matches_torch(adapter, rng, reduction, p, margin, weighted):
    scores = rng.normal(scale=1.5, size=(6, 5)).astype(np.float32)
    ids = rng.integers(0, 5, size=6)
    weight = [0.5, 2.0, 1.0, 0.25, 1.5] if weighted else None
    x = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    want = F.multi_margin_loss(x, torch.tensor(ids), p=p, margin=margin, weight=w, reduction=reduction)
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    value, (grad,) = adapter.value_and_grad(
        "multi_margin_loss", scores, ids, p=p, margin=margin, class_weight=weight, reduction=reduction
    )
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad.numpy(), rtol=1e-5, atol=1e-7)


def test_multi_margin_loss_one_hot_and_rank3_equal_torch(adapter, rng):
    scores = rng.normal(size=(2, 3, 4)).astype(np.float32)
    ids = rng.integers(0, 4, size=(2, 3))
    weight = np.array([1.0, 0.5, 2.0, 1.5], np.float32)
    want = F.multi_margin_loss(
        torch.tensor(scores.reshape(6, 4), dtype=torch.float64), torch.tensor(ids.reshape(6)), p=2,
        weight=torch.tensor(weight, dtype=torch.float64), reduction="none",
    ).numpy().reshape(2, 3)
    for y in (ids, np.eye(4, dtype=np.float32)[ids]):
        got = adapter.call("multi_margin_loss", scores, y, p=2, class_weight=weight, reduction="none")
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


# --- extremes and bad arguments -------------------------------------------------------------------


@pytest.mark.parametrize("loss, params", [
    ("squared_hinge_loss", {}), ("categorical_hinge_loss", {}), ("multi_margin_loss", {"p": 2}),
])
def test_hinge_losses_finite_for_large_scores(adapter, loss, params):
    scores = np.array([[1e18, -1e18, 3.0], [0.0, 0.0, 0.0]], np.float32)
    target = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], np.float32) if loss == "squared_hinge_loss" else np.array([1, 0])
    value, (grad,) = adapter.value_and_grad(loss, scores, target, reduction="none", **params)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (value, grad)


@pytest.mark.parametrize("params, error, words", [
    ({"p": 3}, ValueError, ["p must be 1 or 2", "p=3"]),
    ({"p": True}, TypeError, ["p must be 1 or 2"]),
    ({"margin": float("nan")}, ValueError, ["margin", "finite"]),
    ({"class_weight": [1.0, 2.0]}, ValueError, ["class_weight", "length 3"]),
    ({"class_weight": [1.0, -2.0, 1.0]}, ValueError, ["class_weight", ">= 0"]),
])
def test_multi_margin_loss_refuses_bad_parameters(adapter, params, error, words):
    with pytest.raises(error) as info:
        adapter.call("multi_margin_loss", np.zeros((2, 3), np.float32), np.array([0, 2]), **params)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("loss", ["categorical_hinge_loss", "multi_margin_loss"])
def test_multiclass_hinge_shapes_and_ids_checked(adapter, loss):
    scores = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"y_true .*\(3,\).*\(4,\)"):
        adapter.call(loss, scores, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"class id 3, outside \[0, 3\)"):
        adapter.call(loss, scores, np.array([0, 1, 2, 3]))
