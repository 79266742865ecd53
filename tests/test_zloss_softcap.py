"""cross_entropy(z_loss=..., logit_softcap=...): PaLM's z-loss and Gemma 2's logit
soft-capping against float64 NumPy formulas (values and gradients), against
``F.cross_entropy`` on ``c·tanh(x/c)``, under jax.jit and tf.function(jit_compile=True),
finite at huge logits, bad values refused, and the defaults bit-identical to the plain call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loss_cases import ADAPTERS_ONCE

N, C = 7, 5
CLASS_WEIGHT = [0.2, 1.0, 3.0, 0.5, 1.5]


def _lse(x):
    """Max-shifted logsumexp over the last axis (float64)."""
    peak = x.max(axis=-1, keepdims=True)
    return np.log(np.exp(x - peak).sum(axis=-1)) + peak[..., 0]


def reference(x, y, *, reduction, z_loss=0.0, logit_softcap=None, class_weight=None,
              ignore_index=None, label_smoothing=0.0, sample_weight=None, where=None):
    """``(value, d value / d x)`` of the total loss, in float64 NumPy.

    Per example: ``(1 − ε)·w_t·(−log p_t) + ε·Σ_c w_c (−log p_c) / C + z·lse²`` on the
    capped logits ``s = c·tanh(x/c)``; masked (ignored, ``where``-False) examples give 0;
    ``"mean"`` divides by ``Σ sample_weight·w_t`` over the kept examples (``w_t`` = 1
    without ``class_weight``). The gradient is the analytic one:
    ``∂ℓ/∂s_k = (1 − ε)·w_t·(p_k − δ_kt) + ε/C·(W·p_k − w_k) + 2z·lse·p_k`` (``W = Σ w``),
    times ``1 − (s/c)²`` through the cap.
    """
    x = np.asarray(x, np.float64)
    n, classes = x.shape
    s = x if logit_softcap is None else logit_softcap * np.tanh(x / logit_softcap)
    lse = _lse(s)
    log_p = s - lse[:, None]
    p = np.exp(log_p)
    w = np.ones(classes) if class_weight is None else np.asarray(class_weight, np.float64)
    keep = np.ones(n, bool) if ignore_index is None else y != ignore_index
    if where is not None:
        keep &= where
    t = np.where(y == ignore_index, 0, y) if ignore_index is not None else y
    w_t = w[t]
    eps = label_smoothing
    loss = (1 - eps) * w_t * -log_p[np.arange(n), t] + eps * (-log_p * w).mean(-1) + z_loss * lse**2
    one_hot = np.eye(classes)[t]
    d_s = ((1 - eps) * w_t[:, None] * (p - one_hot) + eps / classes * (w.sum() * p - w)
           + 2 * z_loss * lse[:, None] * p)
    if logit_softcap is not None:
        d_s = d_s * (1 - (s / logit_softcap) ** 2)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    coef = np.where(keep, sw, 0.0)
    values = np.where(keep, loss * sw, 0.0)
    if reduction == "none":
        return values, d_s * coef[:, None]
    if reduction == "sum":
        return values.sum(), d_s * coef[:, None]
    denominator = (coef * (w_t if class_weight is not None else 1.0)).sum()
    if denominator == 0:
        return 0.0, np.zeros_like(x)
    return values.sum() / denominator, d_s * (coef / denominator)[:, None]


def _data(rng):
    logits = rng.normal(scale=3.0, size=(N, C)).astype(np.float32)
    labels = rng.integers(0, C, size=N)
    labels[:2] = 2
    return logits, labels


CASES = [
    dict(z_loss=0.05),
    dict(logit_softcap=2.5),
    dict(z_loss=0.05, logit_softcap=2.5),
    dict(z_loss=0.1, class_weight=CLASS_WEIGHT),
    dict(z_loss=0.1, ignore_index=2),
    dict(z_loss=0.1, logit_softcap=4.0, class_weight=CLASS_WEIGHT, ignore_index=2),
    dict(z_loss=0.03, logit_softcap=3.0, label_smoothing=0.2),
    dict(z_loss=0.03, logit_softcap=3.0, label_smoothing=0.2, class_weight=CLASS_WEIGHT, ignore_index=2),
    dict(z_loss=0.07, logit_softcap=2.0, class_weight=CLASS_WEIGHT, ignore_index=2,
         sample_weight=np.array([0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 0.25], np.float32),
         where=np.array([True, True, False, True, True, True, True])),
    dict(z_loss=0.2, where=np.array([True, False, True, True, False, True, True])),
]


def _case_id(params):
    return ",".join(params)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", CASES, ids=_case_id)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_values_and_gradients_match_numpy(adapter, rng, params, reduction):
    logits, labels = _data(rng)
    want, want_grad = reference(logits, labels, reduction=reduction, **params)
    value, (grad,) = adapter.value_and_grad("cross_entropy", logits, labels, reduction=reduction, **params)
    np.testing.assert_allclose(value, want, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_ignored_examples_give_exactly_zero(adapter, rng):
    logits, labels = _data(rng)  # labels[:2] == 2
    params = dict(z_loss=0.5, logit_softcap=3.0, ignore_index=2)
    value, (grad,) = adapter.value_and_grad("cross_entropy", logits, labels, reduction="none", **params)
    ignored = labels == 2
    assert np.all(value[ignored] == 0.0) and np.all(value[~ignored] > 0.0)
    assert np.all(grad[ignored] == 0.0)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_all_ignored_mean_is_zero_with_zero_gradient(adapter, rng):
    logits, _ = _data(rng)
    labels = np.full(N, -100)
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, labels, ignore_index=-100, z_loss=0.1, logit_softcap=2.0,
        class_weight=CLASS_WEIGHT, reduction="mean",
    )
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(logits))


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_probability_targets(adapter, rng):
    logits = rng.normal(scale=3.0, size=(6, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    weight = np.array([1.0, 2.0, 0.5, 0.1])
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, target, z_loss=0.05, logit_softcap=2.0, class_weight=weight,
        label_smoothing=0.1, reduction="none",
    )
    s = 2.0 * np.tanh(logits.astype(np.float64) / 2.0)
    lse = _lse(s)
    q = 0.9 * target.astype(np.float64) + 0.1 / 4
    want = -(q * weight * (s - lse[:, None])).sum(-1) + 0.05 * lse**2
    np.testing.assert_allclose(value, want, rtol=2e-5, atol=1e-6)
    p = np.exp(s - lse[:, None])
    d_s = (q * weight).sum(-1, keepdims=True) * p - q * weight + 2 * 0.05 * lse[:, None] * p
    np.testing.assert_allclose(grad, d_s * (1 - (s / 2.0) ** 2), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_class_axis(adapter, rng):
    logits = rng.normal(scale=3.0, size=(3, 4, 5)).astype(np.float32)  # classes on axis 1
    labels = rng.integers(0, 4, size=(3, 5))
    value = adapter.call("cross_entropy", logits, labels, axis=1, z_loss=0.1, logit_softcap=2.0, reduction="none")
    flat = np.moveaxis(logits, 1, -1).reshape(-1, 4)
    want, _ = reference(flat, labels.reshape(-1), z_loss=0.1, logit_softcap=2.0, reduction="none")
    np.testing.assert_allclose(value, want.reshape(3, 5), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "params",
    [dict(), dict(class_weight=CLASS_WEIGHT, ignore_index=2), dict(label_smoothing=0.3, ignore_index=2)],
    ids=lambda p: ",".join(p) or "plain",
)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_softcap_matches_torch_on_capped_logits(adapter, rng, params, reduction):
    cap = 2.5
    logits, labels = _data(rng)
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    weight = params.get("class_weight")
    want = F.cross_entropy(
        cap * torch.tanh(x / cap), torch.tensor(labels), reduction=reduction,
        weight=None if weight is None else torch.tensor(weight, dtype=torch.float64),
        ignore_index=params.get("ignore_index", -100), label_smoothing=params.get("label_smoothing", 0.0),
    )
    (want_grad,) = torch.autograd.grad(want.sum(), x)
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, labels, logit_softcap=cap, reduction=reduction, **params
    )
    np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("params", [dict(z_loss=1e-4), dict(z_loss=1e-4, logit_softcap=30.0)], ids=_case_id)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_huge_logits_are_finite(adapter, params, dtype):
    logits = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -3.0, 1e-3]], np.float32)
    labels = np.array([1, 2, 0])
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, labels, reduction="none", dtype=dtype, **params
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    if dtype == "float32":
        want, want_grad = reference(logits, labels, reduction="none", **params)
        np.testing.assert_allclose(value, want, rtol=1e-5)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_softcap_gradient_at_zero_logits(adapter):
    """The cap's derivative is 1 at 0 (no kink from the sign handling)."""
    logits = np.zeros((2, 3), np.float32)
    labels = np.array([0, 2])
    _, (grad,) = adapter.value_and_grad("cross_entropy", logits, labels, logit_softcap=5.0, reduction="sum")
    _, want_grad = reference(logits, labels, logit_softcap=5.0, reduction="sum")
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)


PARAMS_UNDER_JIT = dict(
    z_loss=0.05, logit_softcap=2.5, class_weight=CLASS_WEIGHT, ignore_index=2, label_smoothing=0.1
)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_jax_jit_gives_the_eager_numbers(rng, reduction):
    import jax
    import jax.numpy as jnp

    import multiloss.jax as mj

    logits, labels = _data(rng)
    x, y = jnp.asarray(logits), jnp.asarray(labels)

    def total(x):
        return mj.cross_entropy(x, y, reduction=reduction, **PARAMS_UNDER_JIT).sum()

    eager_value, eager_grad = jax.value_and_grad(total)(x)
    with jax.disable_jit():
        unjitted_value = total(x)
    jit_value, jit_grad = jax.jit(jax.value_and_grad(total))(x)
    np.testing.assert_allclose(np.asarray(jit_value), np.asarray(eager_value), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(unjitted_value), np.asarray(eager_value), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jit_grad), np.asarray(eager_grad), rtol=1e-5, atol=1e-7)
    want, _ = reference(logits, labels, reduction=reduction, **PARAMS_UNDER_JIT)
    np.testing.assert_allclose(np.asarray(jit_value), np.sum(want), rtol=2e-5)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_tf_function_jit_compile_gives_the_eager_numbers(rng, reduction):
    import tensorflow as tf

    import multiloss.tensorflow as mt

    logits, labels = _data(rng)
    x, y = tf.constant(logits), tf.constant(labels)

    def value_and_grad(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(mt.cross_entropy(x, y, reduction=reduction, **PARAMS_UNDER_JIT))
        return total, tape.gradient(total, x)

    eager_value, eager_grad = value_and_grad(x, y)
    jit_value, jit_grad = tf.function(value_and_grad, jit_compile=True)(x, y)
    np.testing.assert_allclose(jit_value.numpy(), eager_value.numpy(), rtol=1e-6)
    np.testing.assert_allclose(jit_grad.numpy(), eager_grad.numpy(), rtol=1e-5, atol=1e-7)
    want, _ = reference(logits, labels, reduction=reduction, **PARAMS_UNDER_JIT)
    np.testing.assert_allclose(eager_value.numpy(), np.sum(want), rtol=2e-5)


BAD = [
    ("z_negative", dict(z_loss=-1e-4), ValueError, ["z_loss", "-0.0001"]),
    ("z_nan", dict(z_loss=float("nan")), ValueError, ["z_loss", "nan"]),
    ("z_inf", dict(z_loss=np.float32("inf")), ValueError, ["z_loss", "inf"]),
    ("z_probabilities", dict(z_loss=1e-4, from_logits=False), ValueError, ["z_loss", "from_logits"]),
    ("z_bool", dict(z_loss=True), TypeError, ["z_loss"]),
    ("z_array", dict(z_loss=np.array([0.1, 0.2])), TypeError, ["z_loss"]),
    ("cap_zero", dict(logit_softcap=0.0), ValueError, ["logit_softcap", "> 0"]),
    ("cap_negative", dict(logit_softcap=-30), ValueError, ["logit_softcap", "-30"]),
    ("cap_inf", dict(logit_softcap=float("inf")), ValueError, ["logit_softcap", "inf"]),
    ("cap_probabilities", dict(logit_softcap=30.0, from_logits=False), ValueError, ["logit_softcap", "from_logits"]),
    ("cap_string", dict(logit_softcap="30"), TypeError, ["logit_softcap"]),
]


@pytest.mark.parametrize(
    "params, exception, fragments", [pytest.param(*case[1:], id=case[0]) for case in BAD]
)
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_bad_values_name_the_parameter(adapter, params, exception, fragments):
    import re

    probs = np.full((2, 3), 1 / 3, np.float32)
    pattern = "(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)
    with pytest.raises(exception, match=pattern):
        adapter.call("cross_entropy", probs, np.array([0, 2]), reduction="none", **params)


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_tensor_z_loss_is_refused(adapter):
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="z_loss"):
        adapter.call("cross_entropy", logits, np.array([0, 2]), z_loss=adapter.tensor(np.float32(0.1)))
    with pytest.raises(TypeError, match="logit_softcap"):
        adapter.call("cross_entropy", logits, np.array([0, 2]), logit_softcap=adapter.tensor(np.float32(3.0)))


@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_zero_z_loss_is_allowed_with_probabilities(adapter):
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], np.float32)
    value = adapter.call("cross_entropy", probs, np.array([2, 0]), from_logits=False, z_loss=0, reduction="none")
    np.testing.assert_allclose(value, -np.log([0.5, 0.6]), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "params",
    [dict(), dict(class_weight=CLASS_WEIGHT, ignore_index=2, label_smoothing=0.1),
     dict(where=np.array([True, False, True, True, True, True, False]))],
    ids=lambda p: ",".join(p) or "plain",
)
@pytest.mark.parametrize("off", [dict(z_loss=0, logit_softcap=None), dict(z_loss=np.float64(0.0))], ids=["int0", "np0"])
@pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)
def test_disabled_terms_are_bit_identical_to_the_default(adapter, rng, params, reduction, off):
    logits, labels = _data(rng)
    base, (base_grad,) = adapter.value_and_grad("cross_entropy", logits, labels, reduction=reduction, **params)
    value, (grad,) = adapter.value_and_grad(
        "cross_entropy", logits, labels, reduction=reduction, **params, **off
    )
    np.testing.assert_array_equal(value, base)
    np.testing.assert_array_equal(grad, base_grad)
