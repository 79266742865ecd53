"""The regression losses against their peers: torch.nn.functional (mse_loss, l1_loss,
huber_loss, smooth_l1_loss, poisson_nll_loss, gaussian_nll_loss, float64 autograd),
keras.losses (mean_absolute_error, huber, log_cosh, cosine_similarity), optax
(cosine_distance), and float64 NumPy formulas (log-cosh, pinball, cosine distance) where
exactness or extreme values are the point."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import Adapter
from loss_cases import ADAPTERS_ONCE
from loss_cases import assert_value_and_grads as check_value_and_grads


@pytest.fixture(params=ADAPTERS_ONCE)
def adapter(request) -> Adapter:
    """The Keras adapter in every per-backend session; torch, jax and tensorflow (the
    same in every session) once, in the cross_framework session."""
    return Adapter(request.param)


TOL = dict(rtol=1e-5, atol=1e-7)


def t64(array, grad=False):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=grad)


def reduce_torch(per_example, reduction):
    return {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]


def torch_reference(elementwise, arrays, reduction, wrt):
    """``elementwise`` of float64 tensors averaged over the last axis, reduced; value and
    gradients (of the sum) for the arguments at ``wrt``."""
    tensors = [t64(a, grad=i in wrt) for i, a in enumerate(arrays)]
    out = reduce_torch(elementwise(*tensors).mean(-1), reduction)
    grads = torch.autograd.grad(out.sum(), [tensors[i] for i in wrt])
    return out.detach().numpy(), [g.numpy() for g in grads]


def assert_value_and_grads(adapter, loss, arrays, want, want_grads, wrt, tol=TOL, **params):
    check_value_and_grads(adapter, loss, arrays, want, want_grads, wrt, tol, **params)


def keras_numbers(fn, y_true, y_pred, **kwargs):
    return keras.ops.convert_to_numpy(fn(y_true, y_pred, **kwargs)).astype(np.float64)


# --- mean squared error --------------------------------------------------------------------


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


# --- mean absolute error, Huber, smooth L1 -------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_mean_absolute_error_matches_torch_and_keras(adapter, rng, reduction, shape):
    pred, target = rng.normal(size=(2,) + shape).astype(np.float32)
    want, grads = torch_reference(lambda p, t: F.l1_loss(p, t, reduction="none"), (pred, target), reduction, (0, 1))
    if reduction == "none":
        np.testing.assert_allclose(keras_numbers(keras.losses.mean_absolute_error, target, pred), want, **TOL)
    assert_value_and_grads(adapter, "mean_absolute_error", (pred, target), want, grads, (0, 1), reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("delta", [0.4, 1.0, 2.5])
def test_huber_loss_matches_torch_and_keras(adapter, rng, reduction, delta):
    pred, target = (rng.normal(size=(2, 6, 4)) * 2.0).astype(np.float32)
    want, grads = torch_reference(
        lambda p, t: F.huber_loss(p, t, reduction="none", delta=delta), (pred, target), reduction, (0, 1)
    )
    if reduction == "none":
        np.testing.assert_allclose(keras_numbers(keras.losses.huber, target, pred, delta=delta), want, **TOL)
    assert_value_and_grads(
        adapter, "huber_loss", (pred, target), want, grads, (0, 1), delta=delta, reduction=reduction
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 4.0])
def test_smooth_l1_loss_matches_torch(adapter, rng, reduction, beta):
    pred, target = (rng.normal(size=(2, 6, 4)) * 2.0).astype(np.float32)
    want, grads = torch_reference(
        lambda p, t: F.smooth_l1_loss(p, t, reduction="none", beta=beta), (pred, target), reduction, (0, 1)
    )
    assert_value_and_grads(
        adapter, "smooth_l1_loss", (pred, target), want, grads, (0, 1), beta=beta, reduction=reduction
    )


def test_smooth_l1_loss_is_huber_over_beta_and_l1_at_zero(adapter, rng):
    pred, target = (rng.normal(size=(2, 5, 3)) * 3.0).astype(np.float32)
    huber = adapter.call("huber_loss", pred, target, delta=0.7, reduction="none")
    smooth = adapter.call("smooth_l1_loss", pred, target, beta=0.7, reduction="none")
    np.testing.assert_allclose(smooth, huber / 0.7, rtol=1e-5)
    l1 = adapter.call("mean_absolute_error", pred, target, reduction="none")
    np.testing.assert_allclose(adapter.call("smooth_l1_loss", pred, target, beta=0.0, reduction="none"), l1, rtol=1e-6)


def test_huber_and_smooth_l1_slopes_at_the_threshold(adapter):
    """|e| = δ takes the linear branch's slope δ·sign(e) (as torch: quadratic for |e| < δ)."""
    pred = np.array([[1.0, -1.0, 0.5, 0.0]], np.float32)
    target = np.zeros_like(pred)
    _, (grad,) = adapter.value_and_grad("huber_loss", pred, target, delta=1.0, reduction="sum")
    np.testing.assert_allclose(grad, [[0.25, -0.25, 0.125, 0.0]], atol=1e-7)
    _, (grad,) = adapter.value_and_grad("smooth_l1_loss", pred, target, beta=0.5, reduction="sum")
    np.testing.assert_allclose(grad, [[0.25, -0.25, 0.25, 0.0]], atol=1e-7)


@pytest.mark.parametrize("loss, params", [
    ("huber_loss", {"delta": 10.0}), ("smooth_l1_loss", {"beta": 0.5}), ("mean_absolute_error", {}),
])
def test_robust_losses_are_finite_for_huge_errors(adapter, loss, params):
    """Errors of 1e30: their squares overflow float32, the losses (linear there) do not."""
    pred = np.array([[1e30, -3e30, 2.0]], np.float32)
    target = np.array([[-1e30, 1e30, 2.0]], np.float32)
    value, grads = adapter.value_and_grad(loss, pred, target, wrt=(0, 1), reduction="none", **params)
    error = pred.astype(np.float64) - target
    slope = params.get("delta", 1.0)
    linear = slope * (np.abs(error) - 0.5 * params.get("delta", params.get("beta", 0.0)))
    np.testing.assert_allclose(value, linear.mean(-1), rtol=1e-6)
    for grad in grads:
        assert np.all(np.isfinite(grad)), grad


# --- log-cosh ---------------------------------------------------------------------------------


def log_cosh_reference(pred, target):
    """log cosh in float64 (exact for any e) and its gradient tanh(e)/D for y_pred."""
    e = pred.astype(np.float64) - target
    a = np.abs(e)
    value = a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)
    return value.mean(-1), np.tanh(e) / e.shape[-1]


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 1.0, 30.0, 1e30])
def test_log_cosh_loss_is_exact_at_every_scale(adapter, rng, scale):
    """Differences from 1e-4 (value ~5e-9: the |e| + softplus(−2|e|) − log 2 form would
    lose it all to cancellation in float32) to 1e30 (cosh overflows)."""
    target = (rng.normal(size=(4, 3)) * scale).astype(np.float32)
    pred = (target + rng.normal(size=(4, 3)) * scale).astype(np.float32)
    want, want_grad = log_cosh_reference(pred, target)
    value, (grad, target_grad) = adapter.value_and_grad("log_cosh_loss", pred, target, wrt=(0, 1), reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=0)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(target_grad, -want_grad, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_log_cosh_loss_matches_keras(adapter, rng, reduction):
    pred, target = rng.normal(size=(2, 5, 4)).astype(np.float32)
    per_example = keras_numbers(keras.losses.log_cosh, target.astype(np.float64), pred.astype(np.float64))
    want = {"mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    np.testing.assert_allclose(adapter.call("log_cosh_loss", pred, target, reduction=reduction), want, rtol=1e-5)


def test_log_cosh_loss_at_zero_difference(adapter):
    pred = np.array([[0.0, 2.0]], np.float32)
    value, (grad,) = adapter.value_and_grad("log_cosh_loss", pred, pred.copy(), reduction="sum")
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(pred))


# --- quantile ---------------------------------------------------------------------------------


def pinball_reference(pred, target, q):
    e = target.astype(np.float64) - pred
    q = np.asarray(q, np.float64)
    value = np.maximum(q * e, (q - 1.0) * e)
    grad = np.where(e > 0, -q, np.where(e < 0, 1.0 - q, 0.0)) / e.shape[-1]
    return value.mean(-1), grad


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9, "vector", "array"])
def test_quantile_loss_matches_pinball(adapter, rng, reduction, quantile):
    pred, target = (rng.normal(size=(2, 6, 4)) * 2.0).astype(np.float32)
    q = {"vector": [0.05, 0.3, 0.7, 0.95], "array": np.array([0.2, 0.4, 0.6, 0.8], np.float32)}.get(quantile, quantile)
    per_example, grad = pinball_reference(pred, target, q)
    want = {"none": per_example, "mean": per_example.mean(), "sum": per_example.sum()}[reduction]
    grad = {"none": grad, "mean": grad / per_example.size, "sum": grad}[reduction]
    value, (pred_grad,) = adapter.value_and_grad("quantile_loss", pred, target, quantile=q, reduction=reduction)
    np.testing.assert_allclose(value, want, **TOL)
    np.testing.assert_allclose(pred_grad, grad, **TOL)


def test_quantile_loss_takes_a_tensor_of_quantiles(adapter, rng):
    pred, target = rng.normal(size=(2, 3, 4)).astype(np.float32)
    q = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    want = adapter.call("quantile_loss", pred, target, quantile=q.tolist(), reduction="none")
    got = adapter.call("quantile_loss", pred, target, quantile=adapter.tensor(q), reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_quantile_half_is_half_the_absolute_error(adapter, rng):
    pred, target = rng.normal(size=(2, 4, 3)).astype(np.float32)
    target[0, 0] = pred[0, 0]  # a tie: subgradient 0 in both
    value, (grad,) = adapter.value_and_grad("quantile_loss", pred, target, reduction="sum")
    mae, (mae_grad,) = adapter.value_and_grad("mean_absolute_error", pred, target, reduction="sum")
    np.testing.assert_allclose(value, 0.5 * mae, rtol=1e-6)
    np.testing.assert_allclose(grad, 0.5 * mae_grad, rtol=1e-6)


# --- Poisson and Gaussian negative log-likelihood -------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("log_input, full", [(True, False), (True, True), (False, False), (False, True)])
def test_poisson_nll_loss_matches_torch(adapter, rng, reduction, log_input, full):
    log_rate = rng.normal(scale=1.5, size=(6, 4)).astype(np.float32)
    pred = log_rate if log_input else np.exp(log_rate).astype(np.float32)
    counts = rng.poisson(3.0, size=(6, 4)).astype(np.float32)
    counts[0, :2] = [0.0, 1.0]
    want, grads = torch_reference(
        lambda p, t: F.poisson_nll_loss(p, t, log_input=log_input, full=full, reduction="none"),
        (pred, counts), reduction, (0,),
    )
    assert_value_and_grads(
        adapter, "poisson_nll_loss", (pred, counts), want, grads, (0,), log_input=log_input,
        full=full, reduction=reduction,
    )


def test_poisson_nll_loss_eps_and_count_gradient(adapter, rng):
    rate = rng.uniform(0.0, 3.0, size=(3, 4)).astype(np.float32)
    rate[0, 0] = 0.0
    counts = rng.poisson(2.0, size=(3, 4)).astype(np.float32)
    want, grads = torch_reference(
        lambda p, t: F.poisson_nll_loss(p, t, log_input=False, eps=0.1, reduction="none"),
        (rate, counts), "none", (0, 1),
    )
    assert_value_and_grads(
        adapter, "poisson_nll_loss", (rate, counts), want, grads, (0, 1), log_input=False, eps=0.1,
        reduction="none",
    )
    # full=True: the Stirling term's gradient for counts <= 1 is 0 (torch's is NaN at 0)
    counts[1, :2] = [0.0, 1.0]
    _, (_, count_grad) = adapter.value_and_grad(
        "poisson_nll_loss", rate, counts, wrt=(0, 1), log_input=False, full=True, reduction="sum"
    )
    assert np.all(np.isfinite(count_grad)), count_grad


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("var_shape", ["per_entry", "last_axis_1", "without_last_axis", "broadcast"])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss_matches_torch(adapter, rng, reduction, var_shape, full):
    mean, target = rng.normal(size=(2, 2, 3, 4)).astype(np.float32)
    var = rng.uniform(0.2, 2.0, size={
        "per_entry": (2, 3, 4), "last_axis_1": (2, 3, 1), "without_last_axis": (2, 3), "broadcast": (2, 1, 4),
    }[var_shape]).astype(np.float32)
    want, grads = torch_reference(
        lambda m, t, v: F.gaussian_nll_loss(m, t, v, full=full, reduction="none"),
        (mean, target, var), reduction, (0, 1, 2),
    )
    assert_value_and_grads(
        adapter, "gaussian_nll_loss", (mean, target, var), want, grads, (0, 1, 2), full=full,
        reduction=reduction,
    )


def test_gaussian_nll_loss_clamps_var_straight_through(adapter, rng):
    """Variances below eps: torch's value at eps, and the gradient at eps passed to var."""
    mean, target = rng.normal(size=(2, 3, 4)).astype(np.float32)
    var = rng.uniform(0.5, 1.5, size=(3, 4)).astype(np.float32)
    var[0, :3] = [0.0, 0.01, 0.05]
    want, grads = torch_reference(
        lambda m, t, v: F.gaussian_nll_loss(m, t, v, eps=0.1, reduction="none"),
        (mean, target, var), "none", (0, 2),
    )
    assert np.all(grads[1][0, :3] != 0)  # torch passes the gradient through its clamp
    assert_value_and_grads(
        adapter, "gaussian_nll_loss", (mean, target, var), want, grads, (0, 2), eps=0.1, reduction="none",
    )


def test_gaussian_nll_loss_refuses_negative_and_misshaped_var(adapter):
    mean = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"var must be >= 0.*-0\.5"):
        adapter.call("gaussian_nll_loss", mean, mean, np.full((3, 4), -0.5, np.float32))
    with pytest.raises(ValueError, match=r"var .*\(3, 4\).*\(3, 2\)"):
        adapter.call("gaussian_nll_loss", mean, mean, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"var .*\(3, 4\).*\(4,\)"):
        adapter.call("gaussian_nll_loss", mean, mean, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="eps must be > 0"):
        adapter.call("gaussian_nll_loss", mean, mean, np.ones((3, 4), np.float32), eps=0.0)


# --- cosine distance ----------------------------------------------------------------------------


def cosine_reference(pred, target, axis=-1):
    """1 − cosine similarity with norms floored at 1e-12, and its gradient for y_pred
    (float64; the squares cannot overflow there for the inputs used)."""
    x, y = np.moveaxis(pred.astype(np.float64), axis, -1), np.moveaxis(target.astype(np.float64), axis, -1)
    nx = np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    ny = np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
    ux, uy = x / nx, y / ny
    cos = (ux * uy).sum(-1, keepdims=True)
    above = np.linalg.norm(x, axis=-1, keepdims=True) > 1e-12
    grad = np.where(above, -(uy - cos * ux) / nx, -uy / 1e-12)
    return 1.0 - cos[..., 0], np.moveaxis(grad, -1, axis)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_cosine_distance_matches_optax(adapter, rng, reduction, axis):
    import optax

    pred, target = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    per_vector, grad = cosine_reference(pred, target, axis)
    optax_value = np.asarray(optax.losses.cosine_distance(pred, target, epsilon=1e-24, axis=axis), np.float64)
    np.testing.assert_allclose(per_vector, optax_value, rtol=1e-5, atol=1e-6)
    want = {"none": per_vector, "mean": per_vector.mean(), "sum": per_vector.sum()}[reduction]
    grad = grad / per_vector.size if reduction == "mean" else grad
    value, (pred_grad,) = adapter.value_and_grad("cosine_distance", pred, target, axis=axis, reduction=reduction)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred_grad, grad, rtol=1e-5, atol=1e-6)


def test_cosine_distance_is_keras_cosine_similarity_plus_one(adapter, rng):
    pred, target = rng.normal(size=(2, 4, 6)).astype(np.float32)
    keras_similarity = keras_numbers(keras.losses.cosine_similarity, target, pred)
    np.testing.assert_allclose(
        adapter.call("cosine_distance", pred, target, reduction="none"), keras_similarity + 1.0, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("scale", [1e-30, 1e-11, 1e25, 1e35])
def test_cosine_distance_at_extreme_scales(adapter, rng, scale):
    """Zero vectors give 1; tiny, huge and sub-floor vectors stay exact and finite (the
    norms are taken of the vectors divided by their largest entry)."""
    pred, target = rng.normal(size=(2, 3, 4)).astype(np.float64)
    pred, target = (pred * scale).astype(np.float32), target.astype(np.float32)
    pred[1] = 0.0
    want, grad = cosine_reference(pred, target)
    value, (pred_grad,) = adapter.value_and_grad("cosine_distance", pred, target, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    assert value[1] == 1.0
    assert np.all(np.isfinite(pred_grad))
    np.testing.assert_allclose(pred_grad, grad, rtol=1e-5, atol=1e-6 * np.abs(grad).max())


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, params, error, words", [
    ("huber_loss", {"delta": 0.0}, ValueError, ["delta", "> 0"]),
    ("huber_loss", {"delta": -1.0}, ValueError, ["delta", ">= 0"]),
    ("smooth_l1_loss", {"beta": -0.5}, ValueError, ["beta", ">= 0"]),
    ("quantile_loss", {"quantile": 1.0}, ValueError, ["quantile", "(0, 1)"]),
    ("quantile_loss", {"quantile": [0.5, 0.5]}, ValueError, ["quantile", "length 3"]),
    ("quantile_loss", {"quantile": [0.5, 0.0, 0.5]}, ValueError, ["quantile", "(0, 1)"]),
    ("poisson_nll_loss", {"log_input": 1}, TypeError, ["log_input", "True or False"]),
    ("poisson_nll_loss", {"eps": -1e-8}, ValueError, ["eps", ">= 0"]),
    ("cosine_distance", {"axis": 2}, ValueError, ["axis=2", "rank 2"]),
    ("mean_absolute_error", {"reduction": "batchmean"}, ValueError, ["reduction", "batchmean"]),
])
def test_bad_arguments_are_refused(adapter, loss, params, error, words):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(error) as info:
        adapter.call(loss, x, x, **params)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("loss", [
    "mean_absolute_error", "huber_loss", "smooth_l1_loss", "log_cosh_loss", "quantile_loss",
    "poisson_nll_loss", "cosine_distance",
])
def test_shape_mismatch_names_both_shapes(adapter, loss):
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(4, 3\)"):
        adapter.call(loss, np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))


# --- traced hyper-parameters ---------------------------------------------------------------------


def test_tensor_hyper_parameters_trace_under_jax_jit(rng):
    import jax

    import multiloss.jax as mj

    pred, target = rng.normal(size=(2, 4, 3)).astype(np.float32)
    q = np.array([0.2, 0.5, 0.8], np.float32)
    for loss, name, value in (("huber_loss", "delta", np.float32(0.7)), ("smooth_l1_loss", "beta", np.float32(0.7)),
                              ("quantile_loss", "quantile", q)):
        fn = getattr(mj, loss)
        eager = np.asarray(fn(pred, target, **{name: value.tolist() if value.ndim else float(value)}))
        jitted = jax.jit(lambda v, fn=fn, name=name: fn(pred, target, **{name: v}))(value)
        np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-6)
