"""Regressions found by fuzzing the ops layer, each held in every adapter against float64
NumPy formulas written here.

* Bug 7: torch's binary cross entropy from logits was not exact at saturation
  (``F.binary_cross_entropy_with_logits`` rounds ``log(1 + e^{-20})`` next to a logit of
  -20 to 0, and its gradient ``σ(20) − 1`` to 0); the sigmoid focal loss inherited it.
  (The focal test also caught JAX: autodiff summed the base form's gradient terms in an
  order that rounded ``σ(x) − y``, a third of the gradient lost at ``x = 20, y = 1``.)
* Bug 8: gradients at ties (``minimum(s, 1)`` at ``s = 1``, ``relu`` at 0, ``clip`` at a
  bound) differed between frameworks. The ops layer now has one convention (see
  :mod:`multiloss.core.ops.base`): at a tie the first argument of ``maximum``/``minimum``
  takes the whole gradient, ``clip`` passes it on the closed interval, ``relu(x) =
  maximum(0, x)`` has slope 0 at 0 and ``abs`` slope ``sign(x)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from multiloss.core.ops import Ops, get_ops
from multiloss.verify import frameworks

# ---------------------------------------------------------------- float64 formulas


def _tail(x):
    """``(σ(x), σ(−x))`` in float64, each accurate in its tail."""
    e = np.exp(-np.abs(x))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    return np.where(x >= 0, big, small), np.where(x >= 0, small, big)


def _softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def bce_reference(x, y):
    """``max(x, 0) − x·y + log1p(e^{−|x|})`` and its gradient ``σ(x) − y``, exact: as
    ``(1 − y) − σ(−x)`` for ``x >= 0``, ``σ(x) − y`` below."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    value = np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x)))
    p, q = _tail(x)
    grad = np.where(x >= 0, (1.0 - y) - q, p - y)
    return value, grad


def sigmoid_focal_reference(x, y, alpha, gamma):
    """Element-wise sigmoid focal loss of hard labels and its gradient:
    ``α_t·softplus(∓x)·σ(∓x)^γ``, the upper sign for ``y = 1`` (``σ(∓x) = 1 − p_t``)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    p, q = _tail(x)
    wrong, right = np.where(y == 1, q, p), np.where(y == 1, p, q)  # 1 − p_t, p_t
    ce = np.where(y == 1, _softplus(-x), _softplus(x))
    weight = np.where(y == 1, alpha, 1.0 - alpha)
    value = weight * ce * wrong**gamma
    # d ce/dx = ±(1 − p_t), d(1 − p_t)/dx = ±p_t·(1 − p_t): + for y = 0, − for y = 1
    sign = np.where(y == 1, -1.0, 1.0)
    grad = sign * weight * wrong**gamma * (wrong + gamma * ce * right)
    return value, grad


FLOATS = {"float32": np.float32, "float64": np.float64}


def _skip_without_float64(adapter, dtype):
    if adapter.framework == "jax" and dtype == "float64":
        pytest.skip("float64 in JAX needs jax_enable_x64")


def _tiny(dtype):
    """Below this, a framework may flush subnormals to 0 (XLA on CPU does)."""
    return float(np.finfo(dtype).tiny)


# ------------------------------------------------------------ bug 7: exact BCE


def test_binary_cross_entropy_exact_at_saturation_reproducer(adapter):
    x = np.array([-20.0, 20.0, -30.0], np.float32)
    y = np.array([0.0, 1.0, 0.0], np.float32)
    value, (grad,) = adapter.value_and_grad("binary_cross_entropy", x, y, reduction="none")
    want_value, want_grad = bce_reference(x, y)
    np.testing.assert_allclose(want_value, [2.0611537e-9, 2.0611537e-9, 9.3576230e-14], rtol=1e-7)
    np.testing.assert_allclose(want_grad, [2.0611537e-9, -2.0611537e-9, 9.3576230e-14], rtol=1e-7)
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)


LOGITS = np.array(
    [-1e4, -90.0, -30.0, -20.0, -17.0, -2.0, -0.0, 0.0, 0.5, 3.0, 17.0, 20.0, 30.0, 90.0, 1e4]
)


@pytest.mark.parametrize("size", [1, 3000], ids=["few", "many"])  # many: torch's autograd node
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label", [0.0, 1.0, 0.3], ids=["y0", "y1", "soft"])
def test_binary_cross_entropy_exact_for_logits_of_any_size(adapter, dtype, label, size):
    _skip_without_float64(adapter, dtype)
    x = np.tile(LOGITS, size).astype(FLOATS[dtype])
    y = np.full_like(x, label)
    value, (grad,) = adapter.value_and_grad(
        "binary_cross_entropy", x, y, reduction="none", dtype=dtype
    )
    want_value, want_grad = bce_reference(x, y)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    rtol = 2e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(value, want_value, rtol=rtol, atol=_tiny(dtype))
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=_tiny(dtype))


@pytest.mark.parametrize("size", [1, 20000], ids=["few", "many"])
def test_binary_cross_entropy_nan_in_nan_out(adapter, size):
    x = np.tile(np.array([np.nan, 1.0, -1.0], np.float32), size)
    y = np.tile(np.array([1.0, 0.0, 1.0], np.float32), size)
    value, (grad,) = adapter.value_and_grad("binary_cross_entropy", x, y, reduction="none")
    assert np.all(np.isnan(value[::3])) and np.all(np.isnan(grad[::3]))
    want_value, want_grad = bce_reference(x[1:3], y[1:3])
    np.testing.assert_allclose(value[1:3], want_value, rtol=1e-6)
    np.testing.assert_allclose(grad[1:3], want_grad, rtol=1e-6)


FOCAL_LOGITS = np.array(
    [-20.0, -15.0, -10.0, -3.0, 0.0, 2.0, 10.0, 15.0, 20.0, 1e4, -1e4], np.float32
)
FOCAL_LABELS = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0], np.float32)  # saturated: easy examples


@pytest.mark.parametrize("size", [1, 4000], ids=["few", "many"])
@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_sigmoid_focal_loss_exact_on_saturated_logits(adapter, gamma, size):
    """Easy negatives (``x = −20, y = 0``): loss ``0.75·2e-9·σ(−20)^γ`` and its gradient,
    which the rounded BCE made 0 (loss) and a third of the truth (gradient, γ = 2)."""
    x, y = np.tile(FOCAL_LOGITS, size), np.tile(FOCAL_LABELS, size)
    value, (grad,) = adapter.value_and_grad(
        "sigmoid_focal_loss", x, y, alpha=0.25, gamma=gamma, reduction="none"
    )
    want_value, want_grad = sigmoid_focal_reference(x, y, 0.25, gamma)
    assert want_value[0] > 0 and want_grad[0] > 0
    np.testing.assert_allclose(value, want_value, rtol=1e-5, atol=_tiny("float32"))
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=_tiny("float32"))


# -------------------------------------------------------------- bug 8: ties


def batch_circle_reference(emb, labels, margin, gamma):
    """float64 ``batch_circle_loss(reduction="sum")`` and its gradient with the tie rule:
    ``min(e_i·e_j, 1)`` passes the gradient of ``s_ij`` where ``s_ij <= 1`` (at 1 too)."""
    e = np.asarray(emb, np.float64)
    s_raw = e @ e.T
    s = np.minimum(s_raw, 1.0)
    same = labels[:, None] == labels[None, :]
    pos = same & ~np.eye(len(labels), dtype=bool)
    neg = ~same
    alpha_p, alpha_n = np.maximum(1 + margin - s, 0.0), np.maximum(s + margin, 0.0)
    logit_p = np.where(pos, -gamma * alpha_p * (s - 1 + margin), -np.inf)
    logit_n = np.where(neg, gamma * alpha_n * (s - margin), -np.inf)
    total, grad_s = 0.0, np.zeros_like(s)
    for i in np.flatnonzero(pos.any(1) & neg.any(1)):
        lse_p, lse_n = np.logaddexp.reduce(logit_p[i]), np.logaddexp.reduce(logit_n[i])
        z = lse_p + lse_n
        total += _softplus(z)
        outer = _tail(z)[0]
        grad_s[i] = outer * np.where(
            pos[i], np.exp(logit_p[i] - lse_p) * -gamma * alpha_p[i],
            np.where(neg[i], np.exp(logit_n[i] - lse_n) * gamma * alpha_n[i], 0.0),
        )
    grad_s = np.where(s_raw <= 1.0, grad_s, 0.0)
    return total, (grad_s + grad_s.T) @ e


CIRCLE_TIES = {
    # the fuzzer's case: two identical embeddings of one class (a positive pair at s = 1)
    "positive": (np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], np.float32), np.array([0, 0, 1])),
    # identical embeddings of two classes: a negative pair at s = 1 must be pushed apart
    "negative": (
        np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32),
        np.array([0, 1, 0, 1]),
    ),
}


@pytest.mark.parametrize("case", list(CIRCLE_TIES))
def test_batch_circle_loss_gradient_at_a_tie(adapter, case):
    emb, labels = CIRCLE_TIES[case]
    value, (grad,) = adapter.value_and_grad("batch_circle_loss", emb, labels, reduction="sum")
    want_value, want_grad = batch_circle_reference(emb, labels, 0.4, 80.0)
    if case == "positive":  # what TensorFlow gave before; torch and JAX gave +15.37
        np.testing.assert_allclose(want_grad[0], [-15.3733, 61.4934], rtol=1e-5)
    else:
        assert np.all(np.abs(want_grad[:, 0]) > 1.0)  # the tie carries a gradient
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-4)


def test_hinge_loss_gradient_at_the_margin(adapter):
    """``max(0, 1 − y·ŷ)`` at ``y·ŷ = 1``: slope 0 (``relu'(0) = 0``)."""
    scores = np.array([[1.0, -1.0, 0.5, 2.0]], np.float32)
    labels = np.array([[1.0, 0.0, 1.0, -1.0]], np.float32)  # 0 is read as -1
    value, (grad,) = adapter.value_and_grad("hinge_loss", scores, labels, reduction="sum")
    np.testing.assert_allclose(value, (0.0 + 0.0 + 0.5 + 3.0) / 4, rtol=1e-6)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, -0.25, 0.25]])


def test_pairwise_hinge_loss_gradient_at_the_margin(adapter):
    pos = np.array([2.0, 0.5, 3.0], np.float32)
    neg = np.array([1.0, 0.0, 0.0], np.float32)  # margin + neg − pos: 0 (tie), 0.5, −2
    value, (grad_pos, grad_neg) = adapter.value_and_grad(
        "pairwise_hinge_loss", pos, neg, wrt=(0, 1), margin=1.0, reduction="none"
    )
    np.testing.assert_allclose(value, [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(grad_pos, [0.0, -1.0, 0.0])
    np.testing.assert_array_equal(grad_neg, [0.0, 1.0, 0.0])


def test_mean_squared_error_has_no_tie(adapter):
    """The square has a derivative everywhere: 0 at zero error in every framework."""
    pred = np.array([[0.5, 1.0, -2.0]], np.float32)
    target = np.array([[0.5, 0.0, -2.0]], np.float32)
    _, (grad,) = adapter.value_and_grad("mean_squared_error", pred, target, reduction="sum")
    np.testing.assert_allclose(grad, [[0.0, 2.0 / 3, 0.0]], rtol=1e-6)


def test_task_priority_weights_gradient_at_the_kpi_bounds(adapter):
    """KPIs clipped into ``[1e-7, 1 − 1e-7]`` keep their gradient at a bound
    (JAX's ``clip`` halved it)."""
    kpis = np.array([1e-7, 0.5, 1.0 - 1e-7], np.float32)
    kappa = kpis.astype(np.float64)
    gamma = 2.0
    want_value = -((1 - kappa) ** gamma) * np.log(kappa)
    want_grad = gamma * (1 - kappa) ** (gamma - 1) * np.log(kappa) - (1 - kappa) ** gamma / kappa
    value, (grad,) = adapter.value_and_grad("task_priority_weights", kpis, gamma=gamma)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4)


# The tie rule op by op: (op, inputs, gradients w.r.t. each tensor input). Python numbers
# stay numbers; the first input of every case is a tensor unless noted.
TIE_CASES = {
    "maximum_bound_second": ("maximum", ([0.5, 1.0, 0.0], 0.5), ([1.0, 1.0, 0.0],)),
    "maximum_bound_first": ("maximum", (0.5, [0.5, 1.0, 0.0]), ([0.0, 1.0, 0.0],)),
    "minimum_bound_second": ("minimum", ([0.5, 1.0, 0.0], 0.5), ([1.0, 0.0, 1.0],)),
    "minimum_bound_first": ("minimum", (0.5, [0.5, 1.0, 0.0]), ([0.0, 0.0, 1.0],)),
    "maximum_tensors": (
        "maximum", ([0.5, 1.0, 0.0], [0.5, 0.5, 0.5]), ([1.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    ),
    "minimum_tensors": (
        "minimum", ([0.5, 1.0, 0.0], [0.5, 0.5, 0.5]), ([1.0, 0.0, 1.0], [0.0, 1.0, 0.0])
    ),
    "clip": ("clip", ([0.0, 1.0, 0.5, -1.0, 2.0], 0.0, 1.0), ([1.0, 1.0, 1.0, 0.0, 0.0],)),
    "relu": ("relu", ([0.0, 1.0, -1.0],), ([0.0, 1.0, 0.0],)),
    "abs": ("abs", ([0.0, 2.0, -2.0],), ([0.0, 1.0, -1.0],)),
}
NUMPY = {
    "maximum": np.maximum, "minimum": np.minimum, "clip": np.clip, "abs": np.abs,
    "relu": lambda x: np.maximum(x, 0.0),
}
FRAMEWORKS = [pytest.param(f, id=f) for f in ("torch", "jax", "tensorflow")]


def _implementations(framework):
    """The framework's own methods and the base class' (what ``torch.compile`` runs)."""
    ops = get_ops(framework)
    return [("own", ops, type(ops)), ("base", ops, Ops)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", list(TIE_CASES))
def test_tie_rule_op_by_op(framework, case):
    name, inputs, want_grads = TIE_CASES[case]
    tensor_at = [i for i, a in enumerate(inputs) if isinstance(a, list)]
    arrays = [np.asarray(inputs[i], np.float32) for i in tensor_at]
    for _, ops, owner in _implementations(framework):
        method = getattr(owner, name)

        def fn(*tensors, method=method, ops=ops):
            args = list(inputs)
            for i, t in zip(tensor_at, tensors, strict=True):
                args[i] = t
            return method(ops, *args)

        value, grads = frameworks.value_and_grad(framework, fn, arrays, wrt=range(len(arrays)))
        want_value = NUMPY[name](*[np.asarray(a, np.float32) for a in inputs])
        np.testing.assert_array_equal(value, want_value, err_msg=f"{owner.__name__}.{name}")
        for got, want in zip(grads, want_grads, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"{owner.__name__}.{name}")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tie_rule_keeps_nan(framework):
    nan = np.array([np.nan, 0.5], np.float32)
    other = np.array([0.5, np.nan], np.float32)
    for _, ops, owner in _implementations(framework):
        results = {
            "maximum": owner.maximum(ops, *_tensors(framework, nan, other)),
            "minimum": owner.minimum(ops, *_tensors(framework, nan, other)),
            "maximum_bound": owner.maximum(ops, *_tensors(framework, nan), 0.0),
            "maximum_first_bound": owner.maximum(ops, 0.0, *_tensors(framework, nan)),
            "minimum_bound": owner.minimum(ops, *_tensors(framework, nan), 1.0),
            "clip": owner.clip(ops, *_tensors(framework, nan), 0.0, 1.0),
            "relu": owner.relu(ops, *_tensors(framework, nan)),
            "abs": owner.abs(ops, *_tensors(framework, nan)),
        }
        for key, result in results.items():
            out = frameworks.to_numpy(result)
            assert np.isnan(out[0]), f"{owner.__name__}.{key}: {out}"
            if key in ("maximum", "minimum"):
                assert np.isnan(out[1]), f"{owner.__name__}.{key}: {out}"


def _tensors(framework, *arrays):
    return [frameworks.to_tensor(framework, a) for a in arrays]


@pytest.mark.parametrize("size", [4, 40000], ids=["few-calls", "node"])
@pytest.mark.parametrize(
    "x, y", [(-20.0, 1e-9), (-30.0, 1e-12), (20.0, 0.9999), (20.0, 1.0), (3.0, 0.3)]
)
def test_torch_bce_soft_labels_near_0_and_1_both_forms(size, x, y):
    """Review finding: the node's −x·y must not vanish next to x·(1 − y) for small y."""
    import torch

    import multiloss.torch as ml

    xs, ys = torch.full((size,), x), torch.full((size,), y)
    got = ml.binary_cross_entropy(xs, ys, reduction="none")[0].item()
    x64, y64 = np.float64(np.float32(x)), np.float64(np.float32(y))
    want = (1 - y64) * np.logaddexp(0, x64) + y64 * np.logaddexp(0, -x64)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_torch_softmax_terms_with_one_output_unused():
    """Review finding: a backward where neither output reached the loss returns None."""
    import torch

    ops = get_ops("torch")
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 0, 4])
    assert torch.autograd.gradcheck(lambda v: ops.softmax_target_terms(v, labels)[1], (x,))
    assert torch.autograd.gradcheck(lambda v: ops.softmax_target_terms(v, labels)[0], (x,))
