"""ArcFace and CosFace against float64 torch ports of InsightFace's margin heads
(``recognition/arcface_torch/losses.py`` of github.com/deepinsight/insightface; the
``easy_margin`` rule of ``ArcMarginProduct``, github.com/ronghuaiyang/arcface-pytorch)
followed by ``torch.nn.functional.cross_entropy``, and against pytorch-metric-learning's
``ArcFaceLoss`` / ``CosFaceLoss``; plus the ends of the cosine range, half precision,
the exactness as p_t → 1 and the argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import Adapter
from loss_cases import ADAPTERS_ONCE

from conformance.cases import round_to
from conformance.cases.angular import (
    arcface_logits,
    cosface_logits,
    embedding_cosines,
    pml_per_example,
)


@pytest.fixture(params=ADAPTERS_ONCE)
def adapter(request) -> Adapter:
    """The Keras adapter in every per-backend session; torch, jax and tensorflow once,
    in the cross_framework session."""
    return Adapter(request.param)


TOL = dict(rtol=1e-5, atol=1e-6)


def reference(loss, cosines, labels, reduction="none", scale=64.0, margin=None, easy_margin=False):
    """float64 value and gradient (of the sum) of the InsightFace heads + F.cross_entropy."""
    x = torch.tensor(np.asarray(cosines), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(np.asarray(labels))
    if loss == "arcface_loss":
        logits = arcface_logits(x, y, scale, 0.5 if margin is None else margin, easy_margin)
    else:
        logits = cosface_logits(x, y, scale, 0.35 if margin is None else margin)
    out = F.cross_entropy(logits, y, reduction=reduction)
    (grad,) = torch.autograd.grad(out.sum(), [x])
    return out.detach().numpy(), grad.numpy()


def random_cosines(rng, rows=6, classes=7, low=-0.98, high=0.98):
    return rng.uniform(low, high, size=(rows, classes)).astype(np.float32), rng.integers(0, classes, size=rows)


# --- the references ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("easy_margin", [False, True])
def test_arcface_matches_insightface(adapter, rng, reduction, easy_margin):
    cosines, labels = random_cosines(rng)
    cosines[0, labels[0]] = -0.95  # θ_t + m > π: the threshold rule
    want, want_grad = reference("arcface_loss", cosines, labels, reduction, easy_margin=easy_margin)
    got, (grad,) = adapter.value_and_grad(
        "arcface_loss", cosines, labels, easy_margin=easy_margin, reduction=reduction
    )
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("scale, margin", [(64.0, 0.35), (30.0, 0.2)])
def test_cosface_matches_insightface(adapter, rng, reduction, scale, margin):
    cosines, labels = random_cosines(rng, low=-1.0, high=1.0)
    want, want_grad = reference("cosface_loss", cosines, labels, reduction, scale, margin)
    got, (grad,) = adapter.value_and_grad(
        "cosface_loss", cosines, labels, scale=scale, margin=margin, reduction=reduction
    )
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["arcface_loss", "cosface_loss"])
def test_equals_pytorch_metric_learning(adapter, loss):
    """The peer library on embeddings and class weights; multiloss on their cosines."""
    from pytorch_metric_learning.losses import ArcFaceLoss, CosFaceLoss

    cos64, labels, embeddings, weights = embedding_cosines(np.random.default_rng(3))
    if loss == "arcface_loss":  # margin in degrees there
        peer = pml_per_example(ArcFaceLoss, embeddings, weights, labels, margin=math.degrees(0.4), scale=32)
        params = dict(margin=0.4, scale=32.0)
    else:
        peer = pml_per_example(CosFaceLoss, embeddings, weights, labels, margin=0.25, scale=32)
        params = dict(margin=0.25, scale=32.0)
    got = adapter.call(loss, cos64.astype(np.float32), labels, reduction="none", **params)
    np.testing.assert_allclose(got, peer, rtol=2e-5, atol=1e-5)  # cosines rounded to float32


def test_arcface_margin_zero_and_cosface_margin_zero_are_the_scaled_softmax(adapter, rng):
    cosines, labels = random_cosines(rng)
    want = F.cross_entropy(16.0 * torch.tensor(cosines, dtype=torch.float64), torch.tensor(labels), reduction="none")
    for loss in ("arcface_loss", "cosface_loss"):
        got = adapter.call(loss, cosines, labels, scale=16.0, margin=0.0, reduction="none")
        np.testing.assert_allclose(got, want.numpy(), **TOL)


# --- the ends of the cosine range ---------------------------------------------------------


def safe_arcface_reference(cosines, labels, scale=64.0, margin=0.5):
    """The documented numbers at cos θ_t = ±1 (float64 NumPy): the value of the
    references; the gradient with the sine's slope taken as 0 where sin θ_t = 0, so
    ∂φ/∂cos θ_t = cos m at +1 and 1 on the threshold branch at −1."""
    x = cosines.astype(np.float64)
    rows = np.arange(len(labels))
    c = x[rows, labels]
    sine = np.sqrt(np.clip((1 - c) * (1 + c), 0, None))
    threshold = math.cos(math.pi - margin)
    inside = c > threshold
    phi = np.where(inside, c * math.cos(margin) - sine * math.sin(margin), c - math.sin(math.pi - margin) * margin)
    slope_sine = np.where(sine > 0, -c / np.where(sine > 0, sine, 1), 0.0)
    dphi = np.where(inside, math.cos(margin) - slope_sine * math.sin(margin), 1.0)
    logits = scale * x
    logits[rows, labels] = scale * phi
    top = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(-1)) + top[:, 0]
    p = np.exp(logits - lse[:, None])
    value = lse - logits[rows, labels]
    grad = scale * p
    grad[rows, labels] = scale * (p[rows, labels] - 1) * dphi
    return value, grad


def test_arcface_finite_at_cosines_of_plus_and_minus_one(adapter, rng):
    cosines, _ = random_cosines(rng, rows=4, classes=5)
    labels = np.array([0, 1, 2, 3])
    cosines[0, 0], cosines[1, 1], cosines[2, 2], cosines[3, 3] = 1.0, -1.0, 1.0, -1.0
    cosines[2, 4] = 1.0  # a non-target tied with the target at 1
    want, want_grad = safe_arcface_reference(cosines, labels)
    torch_value, _ = reference("arcface_loss", cosines, labels)  # its gradient is inf/NaN here
    np.testing.assert_allclose(want, torch_value, rtol=1e-12, atol=1e-12)
    got, (grad,) = adapter.value_and_grad("arcface_loss", cosines, labels, reduction="none")
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("easy_margin", [False, True])
def test_arcface_cosines_a_rounding_outside_are_clamped_straight_through(adapter, easy_margin):
    """1 + 2^-23 (a product of normalised float32 vectors) gives the value and gradient
    of 1; inputs far outside give finite numbers."""
    inside = np.array([[1.0, 0.2, -1.0], [0.3, -1.0, 1.0]], np.float32)
    labels = np.array([0, 1])
    outside = inside.copy()
    outside[inside == 1.0] = np.nextafter(np.float32(1), np.float32(2))
    outside[inside == -1.0] = np.nextafter(np.float32(-1), np.float32(-2))
    params = dict(easy_margin=easy_margin, reduction="none")
    want, (want_grad,) = adapter.value_and_grad("arcface_loss", inside, labels, **params)
    got, (grad,) = adapter.value_and_grad("arcface_loss", outside, labels, **params)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)
    huge = np.array([[3e38, -3e38, 5.0], [-1e30, 1e30, 0.0]], np.float32)
    for loss in ("arcface_loss", "cosface_loss"):
        extra = {"easy_margin": easy_margin} if loss == "arcface_loss" else {}
        value, (g,) = adapter.value_and_grad(loss, huge, labels, reduction="none", **extra)
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(g)), (loss, value, g)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("loss", ["arcface_loss", "cosface_loss"])
def test_half_precision_at_scale_64(adapter, rng, loss, dtype):
    """Computed in float32: finite at the ends and for confident rows, and within the
    dtype's rounding of the float64 reference."""
    cosines, labels = random_cosines(rng, rows=6, classes=5)
    rows = np.arange(6)
    cosines[rows, labels] = [1.0, -1.0, 0.99, 0.0, -0.5, 0.9]
    cosines[2] = np.where(np.arange(5) == labels[2], 0.99, -1.0)  # p_t rounds to 1
    x = round_to(cosines, dtype)  # float32 holding the dtype's values
    value, (grad,) = adapter.value_and_grad(loss, x, labels, wrt=(0,), dtype=dtype, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    want = safe_arcface_reference(x, labels)[0] if loss == "arcface_loss" else reference(loss, x, labels)[0]
    rtol = {"float16": 2e-3, "bfloat16": 1.6e-2}[dtype]
    np.testing.assert_allclose(value, want, rtol=rtol, atol=10 * rtol)


# --- exact as p_t → 1 -------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["arcface_loss", "cosface_loss"])
def test_confident_rows_keep_their_digits(adapter, loss):
    """Loss ~1e-5…1e-20 and the target's gradient s·(p_t − 1)·∂φ: both to float32's
    relative precision (no 1 − p_t cancellation)."""
    cosines = np.full((4, 6), -0.2, np.float32)
    labels = np.array([0, 1, 2, 3])
    cosines[np.arange(4), labels] = [0.9, 0.95, 0.99, 0.999]
    # float64 F.cross_entropy itself rounds log(1 + 1e-14): the exact form log1p(Σ_{j≠t} e^{z_j − z_t})
    x = torch.tensor(cosines, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(labels)
    heads = {"arcface_loss": lambda: arcface_logits(x, y, 32.0, 0.5), "cosface_loss": lambda: cosface_logits(x, y, 32.0, 0.35)}
    z = heads[loss]()
    others = torch.nn.functional.one_hot(y, 6) == 0
    gaps = (z - z.gather(1, y[:, None]))[others].reshape(4, 5)
    exact = torch.log1p(gaps.exp().sum(-1))
    (exact_grad,) = torch.autograd.grad(exact.sum(), [x])
    want, want_grad = exact.detach().numpy(), exact_grad.numpy()
    got, (grad,) = adapter.value_and_grad(loss, cosines, labels, scale=32.0, reduction="none")
    assert np.all(want > 0) and np.all(want < 1e-4)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=0)


# --- options and forms --------------------------------------------------------------------------


def test_traced_scale_and_cosface_margin_under_jax_jit():
    import jax

    import multiloss.jax as mj

    cosines, labels = random_cosines(np.random.default_rng(1))
    eager = np.asarray(mj.cosface_loss(cosines, labels, scale=30.0, margin=0.2))
    jitted = jax.jit(lambda s, m: mj.cosface_loss(cosines, labels, scale=s, margin=m))(np.float32(30.0), np.float32(0.2))
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-6)
    eager = np.asarray(mj.arcface_loss(cosines, labels, scale=30.0))
    jitted = jax.jit(lambda s: mj.arcface_loss(cosines, labels, scale=s))(np.float32(30.0))
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-6)


def test_keras_classes_reproduce_the_functions():
    import keras

    import multiloss.keras as mk

    cosines, labels = random_cosines(np.random.default_rng(2))
    for cls, fn, params in (
        (mk.ArcFaceLoss, mk.arcface_loss, dict(scale=30.0, margin=0.3, easy_margin=True)),
        (mk.CosFaceLoss, mk.cosface_loss, dict(scale=30.0, margin=0.2)),
    ):
        value = keras.ops.convert_to_numpy(cls(**params)(labels, cosines))
        per_example = keras.ops.convert_to_numpy(fn(labels, cosines, **params))
        np.testing.assert_allclose(value, per_example.mean(), rtol=1e-6)
        assert cls(**params).get_config()["margin"] == params["margin"]


def test_torch_modules():
    import multiloss.torch as mt

    cosines, labels = random_cosines(np.random.default_rng(4))
    x, y = torch.tensor(cosines), torch.tensor(labels)
    want, _ = reference("arcface_loss", cosines, labels, "mean", scale=30.0)
    np.testing.assert_allclose(mt.ArcFaceLoss(scale=30.0)(x, y).item(), want, rtol=1e-5)
    want, _ = reference("cosface_loss", cosines, labels, "sum")
    np.testing.assert_allclose(mt.CosFaceLoss(reduction="sum")(x, y).item(), want, rtol=1e-5)


# --- argument checks ----------------------------------------------------------------------------

COS = np.random.default_rng(0).uniform(-1, 1, size=(4, 5)).astype(np.float32)
IDS = np.array([1, 0, 4, 2])
BAD = [
    ("rank_1", "arcface_loss", COS[0], IDS, {}, ValueError, ["y_pred", "[B, C]", "(5,)"]),
    ("rank_3", "cosface_loss", COS[None], IDS, {}, ValueError, ["y_pred", "[B, C]", "(1, 4, 5)"]),
    ("rows", "arcface_loss", COS, IDS[:3], {}, ValueError, ["y_true", "(3,)", "(4, 5)"]),
    ("probabilities", "cosface_loss", COS, np.eye(5, dtype=np.float32)[IDS], {}, ValueError, ["y_true", "(4, 5)"]),
    ("label_range", "arcface_loss", COS, np.array([1, 5, 0, 2]), {}, ValueError, ["y_true", "5", "[0, 5)"]),
    ("label_negative", "cosface_loss", COS, np.array([1, -1, 0, 2]), {}, ValueError, ["y_true", "-1"]),
    ("scale_zero", "arcface_loss", COS, IDS, {"scale": 0.0}, ValueError, ["scale", "> 0"]),
    ("scale_negative", "cosface_loss", COS, IDS, {"scale": -2.0}, ValueError, ["scale", "-2"]),
    ("margin_negative", "cosface_loss", COS, IDS, {"margin": -0.1}, ValueError, ["margin", "-0.1"]),
    ("arc_margin_high", "arcface_loss", COS, IDS, {"margin": 2.0}, ValueError, ["margin", "2.0", "1.57"]),
    ("arc_margin_low", "arcface_loss", COS, IDS, {"margin": -0.5}, ValueError, ["margin", "-0.5"]),
    ("easy_margin_int", "arcface_loss", COS, IDS, {"easy_margin": 1}, TypeError, ["easy_margin", "1"]),
    ("reduction", "cosface_loss", COS, IDS, {"reduction": "avg"}, ValueError, ["reduction", "'avg'"]),
    ("where_shape", "arcface_loss", COS, IDS, {"where": np.ones(3, bool)}, ValueError, ["where", "(3,)", "(4,)"]),
]


@pytest.mark.parametrize(
    "loss, y_pred, y_true, params, exception, fragments", [pytest.param(*b[1:], id=b[0]) for b in BAD]
)
def test_bad_arguments_name_themselves(adapter, loss, y_pred, y_true, params, exception, fragments):
    import re

    pattern = "(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)
    with pytest.raises(exception, match=pattern):
        adapter.call(loss, y_pred, y_true, **params)


def test_arcface_margin_must_be_a_python_number():
    import multiloss.torch as mt

    with pytest.raises(TypeError, match="margin"):
        mt.arcface_loss(torch.tensor(COS), torch.tensor(IDS), margin=torch.tensor(0.5))
