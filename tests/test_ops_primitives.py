"""The fused primitives of the ops layer (not keras.ops) against float64 NumPy
formulas: values and gradients, in every framework, for the framework's own
implementation and for the base class' (what torch.compile and XLA run)."""

from __future__ import annotations

import numpy as np
import pytest

from multiloss.core.ops import Ops, get_ops
from multiloss.verify import frameworks

LOGITS = np.array(
    [[3.0, 0.5, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [40.0, 0.0, -3.0, 1.0],
     [1e4, 0.0, -1e4, 5.0], [-2.0, 30.0, 29.0, 0.0],
     # p_t underflows (subnormal, then 0) while log p_t = -100, -2e4 stays exact
     [0.0, -100.0, 5.0, 1.0], [1e4, 0.0, -1e4, 5.0]],
    np.float32,
)
LABELS = np.array([0, 2, 0, 0, 2, 1, 2])
X = np.array([-1e4, -90.0, -30.0, -2.0, 0.0, 0.5, 3.0, 30.0, 90.0, 1e4], np.float32)
Y = np.array([1.0, 0.0, 1.0, 0.3, 1.0, 0.0, 0.5, 0.0, 1.0, 0.0], np.float32)


def _softmax_terms_reference(logits, labels):
    """float64 (−log p_t, 1 − p_t) and their gradients w.r.t. the logits."""
    x = logits.astype(np.float64)
    z = x - x.max(-1, keepdims=True)
    e = np.exp(z)
    rows = np.arange(len(labels))
    rest = np.array([np.delete(e[i], labels[i]).sum() for i in rows])
    total = e.sum(-1)
    log_total = np.log1p(rest + np.expm1(z[rows, labels]))  # exact also where S - 1 < eps
    ce = log_total - z[rows, labels]
    one_minus = rest / total
    # softmax algebra: d(−log p_t) = p − δ, d(1 − p_t) = −p_t (δ − p)
    p = e / total[:, None]
    onehot = np.eye(x.shape[1])[labels]
    p_t = p[rows, labels][:, None]
    return (ce, one_minus), (p - onehot, -p_t * (onehot - p))


def _implementations(framework):
    ops = get_ops(framework)
    yield f"{framework}", ops, type(ops).softmax_target_terms
    if type(ops).softmax_target_terms is not Ops.softmax_target_terms:
        yield f"{framework}-base", ops, Ops.softmax_target_terms


CASES = [
    pytest.param(f, id=f, marks=pytest.mark.cross_framework) for f in ("torch", "jax", "tensorflow")
]


@pytest.mark.parametrize("framework", CASES)
def test_softmax_target_terms(framework):
    (want_ce, want_rest), want_grads = _softmax_terms_reference(LOGITS, LABELS)
    for _, ops, method in _implementations(framework):
        def fn(x, t, ops=ops, method=method):
            return ops.stack(list(method(ops, x, t)), axis=0)

        value, _ = frameworks.value_and_grad(framework, fn, [LOGITS, LABELS], wrt=[0])
        assert np.all(np.isfinite(value))
        # relative: −log p_t ≈ 1 − p_t is exact near p_t = 1 (row 3: ~1e-17; a p_t that
        # underflows, rows 5 and 6: −log p_t = 105, 2e4)
        np.testing.assert_allclose(value[0], want_ce, rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose(value[1], want_rest, rtol=1e-5, atol=1e-30)
        for k, want in enumerate(want_grads):
            _, (grad,) = frameworks.value_and_grad(
                framework, lambda x, t, k=k, ops=ops, method=method: ops.sum(method(ops, x, t)[k]),
                [LOGITS, LABELS], wrt=[0],
            )
            assert np.all(np.isfinite(grad))
            np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6, err_msg=f"output {k}")


@pytest.mark.parametrize(
    "shape, underflow",
    [((3, 5), False), ((300, 200), False), ((300, 200), True)],
    ids=["few-calls", "few-passes", "few-passes-p_t-underflows"],
)
def test_torch_eager_terms_both_forms(shape, underflow):
    """The torch eager primitive picks its form by size: both against float64; the
    few-passes form on the CPU takes log p_t from p_t unless some p_t underflows."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=shape) * 8).astype(np.float32)
    logits[0, :] = [30.0] + [-30.0] * (shape[1] - 1)  # p_t -> 1
    labels = rng.integers(0, shape[1], size=shape[0])
    labels[0] = 0
    if underflow:  # p_t = e^-200 rounds to 0 in float32; −log p_t = 200 exactly
        logits[1, :] = 0.0
        logits[1, 3] = -200.0
        labels[1] = 3
    (want_ce, want_rest), want_grads = _softmax_terms_reference(logits, labels)
    ops = get_ops("torch")
    value, _ = frameworks.value_and_grad(
        "torch", lambda x, t: ops.stack(list(ops.softmax_target_terms(x, t)), axis=0),
        [logits, labels], wrt=[0],
    )
    np.testing.assert_allclose(value[0], want_ce, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(value[1], want_rest, rtol=1e-5, atol=1e-30)
    def weighted(x, t):  # both upstream gradients at once
        ce, rest = ops.softmax_target_terms(x, t)
        return ops.sum(ce) - 2.5 * ops.sum(rest)

    _, (grad,) = frameworks.value_and_grad("torch", weighted, [logits, labels], wrt=[0])
    want = want_grads[0] - 2.5 * want_grads[1]
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-5)


@pytest.mark.cross_framework  # torch only: once, not in every backend's session
@pytest.mark.parametrize("shape", [(7, 4), (300, 200)], ids=["table", "random"])
def test_torch_compiled_terms(shape):
    """Under torch.compile the primitive is a traced autograd.Function: values, both
    gradients and a weighted sum of them against float64, with p_t -> 1, p_t
    underflowing, logits of 1e4 and tied maxima."""
    import torch

    if shape == LOGITS.shape:
        logits, labels = LOGITS, LABELS
    else:
        rng = np.random.default_rng(1)
        logits = (rng.normal(size=shape) * 8).astype(np.float32)
        labels = rng.integers(0, shape[1], size=shape[0])
        logits[: len(LOGITS), : LOGITS.shape[1]] = LOGITS
        logits[: len(LOGITS), LOGITS.shape[1]:] = -1e4
        labels[: len(LOGITS)] = LABELS
    (want_ce, want_rest), want_grads = _softmax_terms_reference(logits, labels)
    ops = get_ops("torch")

    @torch.compile(fullgraph=True, dynamic=False)
    def terms(x, t, w):
        ce, rest = ops.softmax_target_terms(x, t)
        return ce, rest, (ce * w[0] + rest * w[1]).sum()

    for w in ([1.0, 0.0], [0.0, 1.0], [1.0, -2.5]):
        x = torch.tensor(logits, requires_grad=True)
        ce, rest, total = terms(x, torch.tensor(labels), torch.tensor(w))
        (grad,) = torch.autograd.grad(total, x)
        np.testing.assert_allclose(ce.detach().numpy(), want_ce, rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose(rest.detach().numpy(), want_rest, rtol=1e-5, atol=1e-30)
        want = w[0] * want_grads[0] + w[1] * want_grads[1]
        np.testing.assert_allclose(grad.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=str(w))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("framework", CASES)
def test_sigmoid_pair_and_binary_crossentropy(framework):
    ops = get_ops(framework)
    x64, y64 = X.astype(np.float64), Y.astype(np.float64)
    with np.errstate(over="ignore"):
        want_p, want_q = _sigmoid(x64), _sigmoid(-x64)
    want_bce = np.maximum(x64, 0) - x64 * y64 + np.log1p(np.exp(-np.abs(x64)))
    for method_owner in {type(ops), Ops}:
        pair = method_owner.sigmoid_pair
        bce = method_owner.binary_crossentropy
        value, (grad,) = frameworks.value_and_grad(
            framework, lambda x, pair=pair: ops.stack(list(pair(ops, x)), axis=0), [X], wrt=[0]
        )
        np.testing.assert_allclose(value[0], want_p, rtol=1e-6, atol=1e-37)  # denormals may flush
        np.testing.assert_allclose(value[1], want_q, rtol=1e-6, atol=1e-37)
        # d/dx (σ(x) + σ(−x)) = 0; d/dx σ(x) at 0 is 1/4 (not 0 as |x|' would give)
        np.testing.assert_allclose(grad, 0.0, atol=1e-6)
        _, (grad_p,) = frameworks.value_and_grad(
            framework, lambda x, pair=pair: pair(ops, x)[0], [X], wrt=[0]
        )
        np.testing.assert_allclose(grad_p, want_p * want_q, rtol=1e-5, atol=1e-12)  # torch.sigmoid: 0 past ~17
        value, (grad,) = frameworks.value_and_grad(
            framework, lambda x, y, bce=bce: bce(ops, y, x, from_logits=True), [X, Y], wrt=[0]
        )
        np.testing.assert_allclose(value, want_bce, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(grad, want_p - y64, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("framework", CASES)
def test_lerp_is_exact_at_the_ends(framework):
    ops = get_ops(framework)
    a = np.array([1.0, 1e-30, 0.25, 3.0], np.float32)
    b = np.array([1e-30, 1.0, 0.75, -1.0], np.float32)
    w = np.array([1.0, 0.0, 0.5, 0.25], np.float32)
    value, _ = frameworks.value_and_grad(framework, ops.lerp, [a, b, w], wrt=[])
    assert value[0] == np.float32(1e-30) and value[1] == np.float32(1e-30)
    np.testing.assert_allclose(value[2:], [0.5, 2.0], rtol=1e-7)


def test_torch_eager_pair_under_torch_func_and_second_derivatives():
    """The eager torch pair is one autograd node with a written-out gradient: under
    ``torch.func`` the op-by-op form runs instead (same numbers), and a second
    derivative raises a clear error rather than a wrong value."""
    import torch

    import multiloss.torch as ml

    x = torch.tensor(LOGITS[:3] / 10)
    t = torch.tensor(LABELS[:3])
    x_req = x.clone().requires_grad_()
    (eager,) = torch.autograd.grad(ml.softmax_focal_loss(x_req, t), [x_req])
    functional = torch.func.grad(lambda v: ml.softmax_focal_loss(v, t))(x)
    torch.testing.assert_close(functional, eager, rtol=1e-5, atol=1e-7)
    x_req = x.clone().requires_grad_()
    (first,) = torch.autograd.grad(ml.softmax_focal_loss(x_req, t), [x_req], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate"):
        torch.autograd.grad(first.sum(), [x_req])


def test_torch_eager_nodes_on_many_elements():
    """Past ``_FEW_ELEMENTS`` the torch eager sigmoid pair, lerp and binary cross entropy
    run as autograd nodes with written-out gradients: the float64 formulas' numbers
    (each output of the pair alone too; the lerp's weight and the targets also get
    theirs), the few-call forms' numbers under ``torch.func`` (which runs those), and
    second derivatives as the plain formulas give them."""
    import torch
    import torch.nn.functional as F

    from multiloss.core.ops import torch_ops

    ops = get_ops("torch")
    reps = torch_ops._FEW_ELEMENTS // X.size + 1
    x, y = np.tile(X, reps), np.tile(Y, reps)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    with np.errstate(over="ignore"):
        p, q = _sigmoid(x64), _sigmoid(-x64)
    for a, b in ((1.0, 0.0), (0.0, 1.0), (1.5, -0.5)):
        def pair(v, a=a, b=b):  # one output alone: the other's gradient is None
            first, second = ops.sigmoid_pair(v)
            if b == 0:
                return a * first
            return b * second if a == 0 else a * first + b * second

        value, (grad,) = frameworks.value_and_grad("torch", pair, [x], wrt=[0])
        np.testing.assert_allclose(value, a * p + b * q, rtol=1e-6, atol=1e-37)
        # σ(x)·σ(−x) in both tails (σ(x)·(1 − σ(x)) would be 0 past x ≈ 17)
        np.testing.assert_allclose(grad, (a - b) * p * q, rtol=1e-5, atol=1e-37)

    start = np.tile(np.float32([1.0, 1e-30, 0.25, 3.0]), reps * 3)
    end = np.tile(np.float32([1e-30, 1.0, 0.75, -1.0]), reps * 3)
    weight = np.tile(np.float32([1.0, 0.0, 0.5, 0.25]), reps * 3)
    value, grads = frameworks.value_and_grad("torch", ops.lerp, [start, end, weight], wrt=[0, 1, 2])
    assert value[0] == np.float32(1e-30) and value[1] == np.float32(1e-30)
    for got, want in zip(grads, (1 - weight, weight, end.astype(np.float64) - start), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)

    value, (grad_x, grad_y) = frameworks.value_and_grad(
        "torch", lambda v, t: ops.binary_crossentropy(t, v, from_logits=True), [x, y], wrt=[0, 1]
    )
    e = np.exp(-np.abs(x64))
    want_value = np.maximum(x64, 0) - x64 * y64 + np.log1p(e)
    np.testing.assert_allclose(value, want_value, rtol=1e-6, atol=1e-37)
    want_grad = np.where(x64 >= 0, (1 - y64) - q, p - y64)
    np.testing.assert_allclose(grad_x, want_grad, rtol=1e-5, atol=1e-37)
    np.testing.assert_allclose(grad_y, -x64, rtol=1e-6)

    import multiloss.torch as ml

    logits = torch.tensor(x).reshape(-1, 10)
    targets = torch.tensor(y).reshape(-1, 10)
    wanted = logits.clone().requires_grad_()
    (eager,) = torch.autograd.grad(ml.sigmoid_focal_loss(wanted, targets), [wanted])
    functional = torch.func.grad(lambda v: ml.sigmoid_focal_loss(v, targets))(logits)
    torch.testing.assert_close(functional, eager, rtol=1e-5, atol=1e-12)
    # second derivatives, both forms (the nodes' backward is differentiable), against
    # float64 autograd of the plain formulas (torchvision's focal, F's BCE)
    def focal_reference(v, t):
        p = torch.sigmoid(v)
        ce = F.binary_cross_entropy_with_logits(v, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        return (ce * (1 - p_t) ** 2 * (0.25 * t + 0.75 * (1 - t))).mean()

    for rows in (logits, logits[:3]):
        for loss_fn, reference in (
            (lambda v, t: ml.sigmoid_focal_loss(v, t), focal_reference),
            (lambda v, t: ml.binary_cross_entropy(v, t),
             lambda v, t: F.binary_cross_entropy_with_logits(v, t)),
        ):
            small = rows.clamp(-8, 8)  # where the plain float64 formulas are exact
            wanted = small.clone().requires_grad_()
            (first,) = torch.autograd.grad(loss_fn(wanted, targets[: len(rows)]), [wanted],
                                           create_graph=True)
            (second,) = torch.autograd.grad((first * first).sum(), [wanted])
            ref = small.double().requires_grad_()
            (ref_first,) = torch.autograd.grad(reference(ref, targets[: len(rows)].double()),
                                               [ref], create_graph=True)
            (ref_second,) = torch.autograd.grad((ref_first * ref_first).sum(), [ref])
            torch.testing.assert_close(second.double(), ref_second, rtol=1e-3, atol=1e-12)
