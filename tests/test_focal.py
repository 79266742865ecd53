"""sigmoid_focal_loss and softmax_focal_loss against optax, Keras and float64 formulas.

References: the torchvision formula written out in float64 torch (autograd gives the
reference gradient; torchvision itself is not installable here),
``optax.losses.sigmoid_focal_loss`` and ``keras.losses.categorical_focal_crossentropy``.
"""

from __future__ import annotations

import jax
import keras
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F

from multiloss.verify.frameworks import to_numpy

GAMMAS_SMALL = (0.25, 0.5, 2.0)


def torch_value_and_grad(fn, x, *args, **kwargs):
    xt = torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True)
    out = fn(xt, *args, **kwargs)
    (g,) = torch.autograd.grad(out.sum(), xt)
    return out.detach().numpy(), g.numpy()


def torchvision_focal(x, y, alpha=0.25, gamma=2.0):
    """``torchvision.ops.sigmoid_focal_loss`` (reduction="none"), written out."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha is not None:
        alpha = torch.as_tensor(np.asarray(alpha), dtype=torch.float64)
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def sigmoid_focal_log_space(x, y, alpha=0.25, gamma=2.0):
    """float64 NumPy, log space: exact at any logit (reference at saturation)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    log_p, log_q = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    ce = -(y * log_p + (1 - y) * log_q)
    with np.errstate(divide="ignore"):
        log_one_minus_pt = np.logaddexp(np.log(y) + log_q, np.log1p(-y) + log_p)
    loss = ce * np.exp(gamma * log_one_minus_pt)
    if alpha is not None:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


# --- sigmoid focal ------------------------------------------------------------------

SIGMOID_CASES = [
    dict(),
    dict(alpha=None),
    dict(alpha=0.7, gamma=0.5),
    dict(alpha=None, gamma=0.0),
    dict(gamma=3.0),
    dict(alpha=[0.1, 0.5, 0.9], gamma=1.5),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", SIGMOID_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_sigmoid_focal_matches_torchvision_formula(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(4, 3)).astype(np.float32)
    target = (rng.random((4, 3)) > 0.5).astype(np.float32)
    ref = dict(alpha=params.get("alpha", 0.25), gamma=params.get("gamma", 2.0))
    want, want_grad = torch_value_and_grad(
        lambda x: reduce_ref(torchvision_focal(x, target, **ref), reduction), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "sigmoid_focal_loss", logits, target, reduction=reduction, **params
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def reduce_ref(values, reduction):
    return {"none": values, "mean": values.mean(), "sum": values.sum()}[reduction]


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_matches_optax_with_soft_labels(adapter, rng, alpha, gamma):
    logits = rng.normal(scale=3.0, size=(3, 4)).astype(np.float32)
    target = rng.random((3, 4)).astype(np.float32)  # soft targets in [0, 1]
    target[0, :2] = [0.0, 1.0]

    def ref(x):
        return optax.losses.sigmoid_focal_loss(x, target, alpha=alpha, gamma=gamma)

    want = np.asarray(ref(logits), np.float64)
    want_grad = np.asarray(jax.grad(lambda x: ref(x).sum())(logits), np.float64)
    value, (grad,) = adapter.value_and_grad(
        "sigmoid_focal_loss", logits, target, alpha=alpha, gamma=gamma, reduction="none"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_sigmoid_focal_from_probabilities(adapter, rng):
    probs = rng.random((3, 4)).astype(np.float32)
    probs[0, 0], probs[1, 1] = 0.0, 1.0
    target = (rng.random((3, 4)) > 0.5).astype(np.float32)
    p = torch.tensor(probs, dtype=torch.float64)
    y = torch.tensor(target, dtype=torch.float64)
    ce = F.binary_cross_entropy(p, y, reduction="none")  # logs clamped at -100
    p_t = p * y + (1 - p) * (1 - y)
    want = ((0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2).numpy()
    value = adapter.call("sigmoid_focal_loss", probs, target, from_logits=False, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("gamma", GAMMAS_SMALL)
def test_sigmoid_focal_exact_and_finite_at_extreme_logits(adapter, dtype, gamma):
    logits = np.array([[-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]], np.float32)
    target = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]], np.float32)
    value, (grad,) = adapter.value_and_grad(
        "sigmoid_focal_loss", logits, target, gamma=gamma, reduction="none", dtype=dtype
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    if dtype == "float32":
        want = sigmoid_focal_log_space(logits, target, gamma=gamma)
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-38)


def test_sigmoid_focal_normalizer_scalar_and_tensor(adapter, rng):
    logits = rng.normal(scale=2.0, size=(2, 3)).astype(np.float32)
    target = (rng.random((2, 3)) > 0.5).astype(np.float32)
    base = torchvision_focal(torch.tensor(logits, dtype=torch.float64), target).numpy()
    fn = adapter.fn("sigmoid_focal_loss")
    x, y = adapter.tensor(logits), adapter.tensor(target)
    cases = [
        (4.0, base / 4.0),
        (0, base),  # clamped to >= 1 (no foreground: never a division by 0)
        (np.float32(0.5), base),
        (adapter.tensor(np.array([5.0], np.float32)), base / 5.0),
        (adapter.tensor(np.array(3, np.int32)), base / 3.0),
        (adapter.tensor(np.array([[2.0], [0.0]], np.float32)), base / [[2.0], [1.0]]),
    ]
    for normalizer, want in cases:
        value = fn(x, y, normalizer=normalizer, reduction="none")
        np.testing.assert_allclose(to_numpy(value), want, rtol=1e-5, atol=1e-7)
    total = fn(x, y, normalizer=adapter.tensor(np.array([5.0], np.float32)), reduction="sum")
    np.testing.assert_allclose(float(to_numpy(total)), base.sum() / 5.0, rtol=1e-5)


def test_sigmoid_focal_normalizer_gradient(adapter, rng):
    logits = rng.normal(size=(2, 3)).astype(np.float32)
    target = (rng.random((2, 3)) > 0.5).astype(np.float32)
    want, want_grad = torch_value_and_grad(lambda x: torchvision_focal(x, target) / 4.0, logits)
    for normalizer in (4.0, adapter.tensor(np.array([4.0], np.float32))):
        value, (grad,) = adapter.value_and_grad(
            "sigmoid_focal_loss", logits, target, reduction="none", normalizer=normalizer
        )
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(alpha=-0.1), "alpha"),
        (dict(alpha=1.5), "alpha"),
        (dict(gamma=-1.0), "gamma"),
        (dict(alpha=[0.2, 0.3]), "alpha"),
        (dict(alpha=[0.2, 0.3, 1.2]), "alpha"),
        (dict(normalizer=-1.0), "normalizer"),
        (dict(normalizer=np.ones((4,), np.float32)), "normalizer"),
    ],
)
def test_sigmoid_focal_rejects_bad_arguments(adapter, params, match):
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        adapter.call("sigmoid_focal_loss", logits, logits, reduction="none", **params)


# --- softmax focal ------------------------------------------------------------------


def softmax_focal_torch(x, labels, alpha=None, gamma=2.0):
    """-alpha_t (1 - p_t)^gamma log p_t, float64 torch (integer labels)."""
    labels = torch.as_tensor(np.asarray(labels))
    log_pt = F.log_softmax(x, dim=-1).gather(-1, labels[..., None])[..., 0]
    loss = -((1 - log_pt.exp()) ** gamma) * log_pt
    if alpha is None:
        return loss
    alpha = torch.as_tensor(np.asarray(alpha), dtype=torch.float64)
    return (alpha[labels] if alpha.ndim else alpha) * loss


def softmax_focal_soft_torch(x, target, alpha=None, gamma=2.0):
    """-sum_c alpha_c y_c (1 - p_c)^gamma log p_c, float64 torch (probability targets)."""
    y = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    log_p = F.log_softmax(x, dim=-1)
    per_class = -y * (1 - log_p.exp()) ** gamma * log_p
    if alpha is not None:
        per_class = torch.as_tensor(np.asarray(alpha), dtype=torch.float64) * per_class
    return per_class.sum(-1)


SOFTMAX_CASES = [
    dict(),
    dict(alpha=0.25),
    dict(alpha=[0.25, 0.75, 0.5, 1.0], gamma=0.5),
    dict(gamma=0.0),
    dict(alpha=[0.1, 0.2, 0.3, 0.4], gamma=3.0),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("params", SOFTMAX_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_softmax_focal_integer_labels(adapter, rng, params, reduction):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    want, want_grad = torch_value_and_grad(
        lambda x: reduce_ref(softmax_focal_torch(x, labels, **params), reduction), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "softmax_focal_loss", logits, labels, reduction=reduction, **params
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("params", SOFTMAX_CASES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_softmax_focal_probability_targets(adapter, rng, params):
    logits = rng.normal(scale=3.0, size=(4, 4)).astype(np.float32)
    target = rng.dirichlet(np.ones(4), size=4).astype(np.float32)
    target[0] = [0.0, 1.0, 0.0, 0.0]
    want, want_grad = torch_value_and_grad(
        lambda x: softmax_focal_soft_torch(x, target, **params), logits
    )
    value, (grad,) = adapter.value_and_grad(
        "softmax_focal_loss", logits, target, reduction="none", **params
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.25, 1.0])
def test_softmax_focal_matches_keras_categorical_focal(adapter, rng, alpha):
    logits = rng.normal(scale=2.0, size=(5, 4)).astype(np.float32)  # moderate: Keras clips p
    labels = rng.integers(0, 4, size=5)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    want = keras.ops.convert_to_numpy(
        keras.losses.categorical_focal_crossentropy(
            one_hot, logits, alpha=alpha, gamma=2.0, from_logits=True
        )
    ).astype(np.float64)
    for target in (labels, one_hot):
        value = adapter.call("softmax_focal_loss", logits, target, alpha=alpha, reduction="none")
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)


def test_softmax_focal_gamma_zero_is_cross_entropy(adapter, rng):
    logits = rng.normal(scale=3.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    want, want_grad = torch_value_and_grad(
        F.cross_entropy, logits, torch.tensor(labels), reduction="none"
    )
    value, (grad,) = adapter.value_and_grad(
        "softmax_focal_loss", logits, labels, gamma=0.0, alpha=None, reduction="none"
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)


def test_softmax_focal_ignore_index_and_axis(adapter, rng):
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)  # classes on axis 1
    labels = rng.integers(0, 4, size=(2, 3))
    labels[0, 0] = labels[1, 2] = -1
    keep = labels != -1
    moved = np.moveaxis(logits, 1, -1)
    per = np.zeros(labels.shape)
    per[keep] = softmax_focal_torch(
        torch.tensor(moved[keep], dtype=torch.float64), labels[keep], alpha=[0.1, 0.2, 0.3, 0.4]
    ).numpy()
    params = dict(axis=1, ignore_index=-1, alpha=[0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(
        adapter.call("softmax_focal_loss", logits, labels, reduction="none", **params), per, rtol=1e-5
    )
    np.testing.assert_allclose(
        adapter.call("softmax_focal_loss", logits, labels, reduction="mean", **params),
        per[keep].mean(), rtol=1e-5,
    )
    value, (grad,) = adapter.value_and_grad(
        "softmax_focal_loss", logits, np.full((2, 3), -1), reduction="mean", **params
    )
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(logits))


def test_softmax_focal_from_probabilities(adapter, rng):
    probs = rng.dirichlet(np.ones(4), size=5).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    p_t = probs.astype(np.float64)[np.arange(5), labels]
    want = -((1 - p_t) ** 2) * np.log(p_t)
    value = adapter.call("softmax_focal_loss", probs, labels, from_logits=False, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5)


def log_space_softmax_focal(x, labels, gamma):
    """float64 NumPy: -log p_t = log1p(sum_{k != t} e^(x_k - x_t)), exact near p_t = 1."""
    x = np.asarray(x, np.float64)
    is_true = np.eye(x.shape[-1], dtype=bool)[labels]
    shifted = x - x[np.arange(len(labels)), labels][:, None]  # x_k - x_t
    others = np.exp(np.where(is_true, -np.inf, shifted)).sum(-1)
    neg_log_pt = np.log1p(others)  # no cancellation when p_t is close to 1
    with np.errstate(divide="ignore"):  # 1 - p_t underflows to 0 at |x| = 1e4: exact 0
        log_one_minus_pt = np.log(others) - neg_log_pt
    return np.exp(gamma * log_one_minus_pt) * neg_log_pt


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("gamma", GAMMAS_SMALL)
def test_softmax_focal_exact_and_finite_at_extreme_logits(adapter, dtype, gamma):
    logits = np.array(
        [[1e4, 0.0, -1e4], [0.0, -1e4, 1e4], [30.0, 0.0, 1.0], [3.0, 2.0, 1.0]], np.float32
    )
    labels = np.array([0, 2, 0, 1])
    for target in (labels, np.eye(3, dtype=np.float32)[labels]):
        value, (grad,) = adapter.value_and_grad(
            "softmax_focal_loss", logits, target, gamma=gamma, reduction="none", dtype=dtype
        )
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
        if dtype == "float32":  # exact where 1 - p_t would round to 0: no cancellation
            want = log_space_softmax_focal(logits, labels, gamma)
            np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-38)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(alpha=-0.5), "alpha"),
        (dict(alpha=2.0), "alpha"),
        (dict(alpha=[0.25, 0.75]), "alpha"),
        (dict(alpha=[0.25, 0.75, 1.5]), "alpha"),
        (dict(gamma=-0.5), "gamma"),
    ],
)
def test_softmax_focal_rejects_bad_arguments(adapter, params, match):
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        adapter.call("softmax_focal_loss", logits, np.array([0, 1]), reduction="none", **params)


def test_focal_alpha_accepts_a_tensor(adapter, rng):
    logits = rng.normal(size=(3, 3)).astype(np.float32)
    labels = np.array([0, 2, 1])
    alpha = [0.2, 0.5, 0.8]
    want = softmax_focal_torch(torch.tensor(logits, dtype=torch.float64), labels, alpha=alpha).numpy()
    fn = adapter.fn("softmax_focal_loss")
    value = fn(adapter.tensor(logits), adapter.tensor(labels), alpha=adapter.tensor(np.array(alpha, np.float32)), reduction="none")
    np.testing.assert_allclose(to_numpy(value), want, rtol=1e-5)
    value = fn(adapter.tensor(logits), adapter.tensor(labels), alpha=np.array(alpha), reduction="none")
    np.testing.assert_allclose(to_numpy(value), want, rtol=1e-5)


def test_nan_in_gives_nan_out(adapter):
    logits = np.array([[np.nan, 1.0, 0.0]], np.float32)
    assert np.isnan(adapter.call("softmax_focal_loss", logits, np.array([1]), reduction="none")).all()
    value = adapter.call("sigmoid_focal_loss", logits, np.ones((1, 3), np.float32), reduction="none")
    assert np.isnan(value[0, 0]) and np.isfinite(value[0, 1:]).all()
