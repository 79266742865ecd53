"""iou_loss, giou_loss, diou_loss, ciou_loss against torchvision's formulas in float64.

torchvision's C extension must match the installed torch build exactly, so the
reference is its formulas written out below with the same torch ops
(``torchvision/ops/_utils.py::_loss_inter_union``, ``giou_loss.py``, ``diou_loss.py``,
``ciou_loss.py``, ``_box_convert.py``, v0.28.0): ``torch.maximum``/``torch.minimum``
(a tie's gradient split in halves), the intersection only where positive in both
directions, ``eps`` where torchvision adds it, CIoU's α under ``no_grad`` and its IoU
and distance terms at eps = 1e-7.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from loss_cases import ADAPTERS_ONCE

import multiloss.torch as mt
from multiloss.verify import frameworks

LOSSES = ("iou_loss", "giou_loss", "diou_loss", "ciou_loss")
FORMATS = ("xyxy", "xywh", "cxcywh")
cross_framework = pytest.mark.cross_framework
#: The Keras adapter in every per-backend session, torch/jax/tensorflow once.
ONCE = pytest.mark.parametrize("adapter", ADAPTERS_ONCE, indirect=True)


# --- the float64 reference -----------------------------------------------------------


def _xyxy(boxes: torch.Tensor, box_format: str) -> torch.Tensor:
    a, b, c, d = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack([a, b, a + c, b + d], -1)
    if box_format == "cxcywh":
        return torch.stack([a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d], -1)
    return boxes


def _torchvision_formula(loss: str, pred: torch.Tensor, true: torch.Tensor, eps: float, atan=None):
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = true.unbind(-1)

    def iou_and_union(e):
        width = torch.minimum(x2, x2g) - torch.maximum(x1, x1g)
        height = torch.minimum(y2, y2g) - torch.maximum(y1, y1g)
        overlap = (width > 0) & (height > 0)
        inter = torch.where(overlap, width * height, torch.zeros_like(width))
        union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
        return inter / (union + e), union

    enclosing_w = torch.maximum(x2, x2g) - torch.minimum(x1, x1g)
    enclosing_h = torch.maximum(y2, y2g) - torch.minimum(y1, y1g)

    def diou(e):
        iou, _ = iou_and_union(e)
        centres = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
        return 1 - iou + centres / (enclosing_w**2 + enclosing_h**2 + e), iou

    if loss == "iou_loss":
        return 1 - iou_and_union(eps)[0]
    if loss == "giou_loss":
        iou, union = iou_and_union(eps)
        area = enclosing_w * enclosing_h
        return 1 - (iou - (area - union) / (area + eps))
    if loss == "diou_loss":
        return diou(eps)[0]
    atan = atan or (lambda w, h: torch.atan(w / h))
    value, iou = diou(1e-7)
    v = 4 / math.pi**2 * (atan(x2g - x1g, y2g - y1g) - atan(x2 - x1, y2 - y1)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return value + alpha * v


def reference(loss, pred, true, *, box_format="xyxy", eps=1e-7, reduction="none", atan=None):
    """Value and gradients (of the sum) w.r.t. both boxes, float64."""
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(true, dtype=torch.float64, requires_grad=True)
    out = _torchvision_formula(loss, _xyxy(p, box_format), _xyxy(t, box_format), eps, atan)
    out = {"none": out, "mean": out.mean(), "sum": out.sum()}[reduction]
    grads = torch.autograd.grad(out.sum(), [p, t])
    return out.detach().numpy(), [g.numpy() for g in grads]


# --- inputs --------------------------------------------------------------------------


def _boxes(rng, n, scale=5.0, size=(0.5, 3.0)):
    corner = rng.uniform(0.0, scale, size=(n, 2))
    return np.concatenate([corner, corner + rng.uniform(*size, size=(n, 2))], -1).astype(np.float32)


def _in_format(xyxy: np.ndarray, box_format: str) -> np.ndarray:
    b = xyxy.astype(np.float64)
    if box_format == "xywh":
        b = np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], -1)
    elif box_format == "cxcywh":
        b = np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], -1)
    return b.astype(np.float32)


#: (name, predicted box, target box) in xyxy: the awkward cases.
SPECIAL = [
    ("identical", [1, 1, 3, 4], [1, 1, 3, 4]),
    ("nested", [0, 0, 4, 4], [1, 1.5, 2, 3]),
    ("touching", [0, 0, 1, 1], [1, 0, 2, 1]),
    ("disjoint", [0, 0, 1, 1], [3, 4, 5, 7]),
    ("far_apart", [-1e4, -1e4, -9990, -9995], [9980, 9990, 1e4, 1e4]),
    ("near_1e4", [9990, -1e4, 9995.5, -9993], [9991, -9998, 9997, -9990.5]),
    ("zero_width", [1, 1, 1, 3], [0, 0, 2, 2]),
    ("zero_height", [0, 2, 3, 2], [0.5, 1, 2.5, 3.5]),
    ("zero_height_target", [0.5, 1, 2.5, 3.5], [0, 2, 3, 2]),
    ("point", [2, 2, 2, 2], [0, 1, 3, 3]),
    ("zero_width_on_one_line", [1, 0, 1, 2], [1, 1, 1, 3]),
    ("same_point", [2, 3, 2, 3], [2, 3, 2, 3]),
    ("inverted_x", [3, 3, 1, 4], [0, 0, 2, 5]),
    ("inverted_both", [0, 4, 2, 1], [3, 2, 1, 0]),
]
SPECIAL_PRED = np.array([p for _, p, _ in SPECIAL], np.float32)
SPECIAL_TRUE = np.array([t for _, _, t in SPECIAL], np.float32)


# --- values and gradients ------------------------------------------------------------


@ONCE
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_torchvision(adapter, rng, loss, box_format, reduction):
    pred, true = _boxes(rng, 6), _boxes(rng, 6)
    true[0] = pred[0]  # identical boxes: ties in every max/min
    true[1] = pred[1] + 8.0  # disjoint
    pred, true = _in_format(pred, box_format), _in_format(true, box_format)
    want, want_grads = reference(loss, pred, true, box_format=box_format, reduction=reduction)
    value, grads = adapter.value_and_grad(
        loss, pred, true, wrt=(0, 1), box_format=box_format, reduction=reduction
    )
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    for grad, want_grad in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


@ONCE
@pytest.mark.parametrize("eps", [0.0, 1e-3])
@pytest.mark.parametrize("loss", LOSSES)
def test_eps_where_torchvision_puts_it(adapter, rng, loss, eps):
    pred, true = _boxes(rng, 5, size=(0.01, 0.2)), _boxes(rng, 5, size=(0.01, 0.2))
    true[0] = pred[0]
    want, want_grads = reference(loss, pred, true, eps=eps)
    value, grads = adapter.value_and_grad(loss, pred, true, wrt=(0, 1), eps=eps, reduction="none")
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    # At identical boxes the gradient, eps·w/(2·area²) ~ 3e-3 here, is what is left of
    # two chain-rule terms ~w/area ~ 50 that cancel: float32 keeps it to ~1.5e-6.
    for grad, want_grad in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=5e-6)


@ONCE
@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("loss", LOSSES)
def test_special_boxes_match_torchvision_and_stay_finite(adapter, loss, box_format):
    """Identical, touching, disjoint, far-apart, degenerate and inverted boxes, and
    coordinates ~1e4: torchvision's numbers wherever they are finite, finite elsewhere."""
    pred, true = _in_format(SPECIAL_PRED, box_format), _in_format(SPECIAL_TRUE, box_format)
    value, grads = adapter.value_and_grad(
        loss, pred, true, wrt=(0, 1), box_format=box_format, reduction="none"
    )
    assert np.all(np.isfinite(value)), value
    assert all(np.all(np.isfinite(g)) for g in grads), grads
    with np.errstate(invalid="ignore"):
        want, want_grads = reference(loss, pred, true, box_format=box_format)
    rows = np.isfinite(want) & np.isfinite(want_grads[0]).all(-1) & np.isfinite(want_grads[1]).all(-1)
    if loss != "ciou_loss":
        assert rows.all()  # torchvision is finite on all of them: only CIoU's atan(w/0) is not
    np.testing.assert_allclose(value[rows], want[rows], rtol=1e-5, atol=1e-6)
    for grad, want_grad in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(grad[rows], want_grad[rows], rtol=1e-5, atol=1e-6)


@ONCE
def test_ciou_zero_height_is_torchvision_limit(adapter):
    """At h = 0 torchvision's CIoU gradient is NaN (atan(w/0)); the value here is
    torchvision's (atan(±∞) = ±π/2) and the gradient of the aspect term α·v is the limit
    of torchvision's as h → 0⁺, the side whose value it takes. (The DIoU part is
    torchvision's own at h = 0, finite: ``test_special_boxes_match_torchvision...``.)"""
    pred = np.array([[0.0, 2.0, 3.0, 2.0], [1.0, 1.0, 2.5, 1.0]], np.float32)
    true = np.array([[0.5, 1.0, 2.5, 3.5], [0.0, 0.0, 2.0, 3.0]], np.float32)
    value, (grad, _) = adapter.value_and_grad("ciou_loss", pred, true, wrt=(0, 1), reduction="none")
    _, (diou_grad, _) = adapter.value_and_grad("diou_loss", pred, true, wrt=(0, 1), reduction="none")
    want, _ = reference("ciou_loss", pred, true)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)
    nearby = pred.astype(np.float64)
    nearby[:, 3] += 1e-9
    p = torch.tensor(nearby, requires_grad=True)
    t = torch.tensor(true, dtype=torch.float64)
    aspect = _torchvision_formula("ciou_loss", p, t, 1e-7) - _torchvision_formula("diou_loss", p, t, 1e-7)
    (want_grad,) = torch.autograd.grad(aspect.sum(), p)
    np.testing.assert_allclose(grad - diou_grad, want_grad.numpy(), rtol=1e-5, atol=1e-5)


@ONCE
def test_ciou_alpha_carries_no_gradient(adapter, rng):
    """α under ``no_grad`` (torchvision): the gradient differs from α's full derivative."""
    pred, true = _boxes(rng, 4), _boxes(rng, 4)
    _, (grad, _) = adapter.value_and_grad("ciou_loss", pred, true, wrt=(0, 1), reduction="sum")
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(true, dtype=torch.float64)
    iou_term = _torchvision_formula("iou_loss", p, t, 1e-7)
    diou = _torchvision_formula("diou_loss", p, t, 1e-7)
    alpha_v = _torchvision_formula("ciou_loss", p, t, 1e-7) - diou  # α held constant
    x1, y1, x2, y2 = p.unbind(-1)
    x1g, y1g, x2g, y2g = t.unbind(-1)
    v_full = 4 / math.pi**2 * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    alpha_full = v_full / (iou_term + v_full + 1e-7)
    (with_alpha_grad,) = torch.autograd.grad((diou + alpha_full * v_full).sum(), p, retain_graph=True)
    (want,) = torch.autograd.grad((diou + alpha_v).sum(), p)
    np.testing.assert_allclose(grad, want.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(grad, with_alpha_grad.numpy(), rtol=1e-3, atol=1e-5)


@ONCE
def test_losses_are_symmetric(adapter, rng):
    """Swapping prediction and target changes no value (torchvision's docstrings)."""
    pred, true = _boxes(rng, 6), _boxes(rng, 6)
    for loss in LOSSES:
        forward = adapter.call(loss, pred, true, reduction="none")
        np.testing.assert_allclose(forward, adapter.call(loss, true, pred, reduction="none"), rtol=1e-5, atol=1e-6)


# --- half precision and degenerate boxes ---------------------------------------------


@ONCE
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("loss", LOSSES)
def test_degenerate_boxes_finite_in_every_dtype(adapter, loss, dtype):
    pred = SPECIAL_PRED.copy()
    true = SPECIAL_TRUE.copy()
    value, grads = adapter.value_and_grad(
        loss, pred, true, wrt=(0, 1), dtype=dtype, reduction="none"
    )
    assert value.shape == (len(SPECIAL),)
    assert np.all(np.isfinite(value)), value
    for grad in grads:
        assert np.all(np.isfinite(grad)), grad


@ONCE
def test_float16_gradient_saturates_instead_of_overflowing(adapter):
    """GIoU of two zero-width boxes on one line: the enclosing box has area 0, the
    gradient is ~height/eps = 2e7 in float32; in float16 it is clipped to 65504."""
    pred = np.array([[1.0, 0.0, 1.0, 2.0]], np.float32)
    true = np.array([[1.0, 1.0, 1.0, 3.0]], np.float32)
    _, (want, _) = reference("giou_loss", pred, true)
    _, (grad32, _) = adapter.value_and_grad("giou_loss", pred, true, wrt=(0, 1), reduction="sum")
    np.testing.assert_allclose(grad32, want, rtol=1e-5)
    assert np.abs(grad32).max() > 1e6
    _, (grad16, _) = adapter.value_and_grad(
        "giou_loss", pred, true, wrt=(0, 1), dtype="float16", reduction="sum"
    )
    assert np.all(np.isfinite(grad16))
    np.testing.assert_array_equal(np.sign(grad16), np.sign(want))
    np.testing.assert_allclose(grad16, np.clip(want, -65504, 65504), rtol=1e-3)


@ONCE
@pytest.mark.parametrize("loss", LOSSES)
def test_nan_coordinate_gives_nan(adapter, loss):
    pred = SPECIAL_PRED[:3].copy()
    pred[1, 2] = np.nan
    value = adapter.call(loss, pred, SPECIAL_TRUE[:3], reduction="none")
    assert np.isnan(value[1]) and np.all(np.isfinite(value[[0, 2]]))


# --- errors --------------------------------------------------------------------------


@ONCE
@pytest.mark.parametrize("loss", LOSSES)
def test_bad_arguments_raise(adapter, loss):
    boxes = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"box_format must be one of .*box_format='xyz'"):
        adapter.call(loss, boxes, boxes, box_format="xyz")
    with pytest.raises(ValueError, match=r"4 coordinates .*\(3, 5\)"):
        adapter.call(loss, np.zeros((3, 5), np.float32), np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"y_true .* y_pred .*\(3, 4\)"):
        adapter.call(loss, boxes, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"eps must be >= 0"):
        adapter.call(loss, boxes, boxes, eps=-1e-7)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        adapter.call(loss, boxes, boxes, reduction="avg")


def test_class_forms_are_named_like_peers():
    import multiloss.keras as mk

    for name in ("IoULoss", "GIoULoss", "DIoULoss", "CIoULoss"):
        assert hasattr(mt, name) and hasattr(mk, name)
    pred, true = _boxes(np.random.default_rng(1), 3), _boxes(np.random.default_rng(2), 3)
    module = mt.GIoULoss(box_format="xyxy")
    want = mt.giou_loss(torch.tensor(pred), torch.tensor(true))
    torch.testing.assert_close(module(torch.tensor(pred), torch.tensor(true)), want)


# --- compiled tracing ----------------------------------------------------------------


def _eager_torch(loss, pred, true, params):
    return frameworks.value_and_grad(
        "torch", lambda *t: getattr(mt, loss)(*t, **params), (pred, true), (0, 1)
    )


@cross_framework
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("loss", LOSSES)
def test_compiled_tracing(rng, loss, box_format, dtype):
    """torch.compile(fullgraph=True), jax.jit(grad) and tf.function(jit_compile=True)
    in every format, float16 too (its saturating gradient node), equal to eager torch."""
    import jax
    import jax.numpy as jnp
    import tensorflow as tf

    import multiloss.jax as mj
    import multiloss.tensorflow as mtf

    pred = _in_format(np.concatenate([_boxes(rng, 5), SPECIAL_PRED[:4]]), box_format)
    true = _in_format(np.concatenate([_boxes(rng, 5), SPECIAL_TRUE[:4]]), box_format)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 2e-3, "atol": 1e-3}
    params = {"box_format": box_format, "reduction": "none"}
    torch_fn, jax_fn, tf_fn = getattr(mt, loss), getattr(mj, loss), getattr(mtf, loss)
    want, want_grads = frameworks.value_and_grad(
        "torch", lambda *t: torch_fn(*t, **params), (pred, true), (0, 1), dtype=dtype
    )

    compiled = torch.compile(lambda p, t: torch_fn(p, t, **params), fullgraph=True, backend="aot_eager")
    try:
        p = torch.tensor(pred).to(getattr(torch, dtype)).requires_grad_(True)
        t = torch.tensor(true).to(getattr(torch, dtype)).requires_grad_(True)
        out = compiled(p, t)
        grads = torch.autograd.grad(out.float().sum(), [p, t])
    finally:
        torch._dynamo.reset()
    np.testing.assert_allclose(out.detach().float().numpy(), want, **tol)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(g.float().numpy(), w, **tol)

    def total(p, t):
        out = jax_fn(p, t, **params)
        return out.astype("float32").sum(), out

    jp, jt = jnp.asarray(pred, dtype), jnp.asarray(true, dtype)
    (gp, gt), out = jax.jit(jax.grad(total, argnums=(0, 1), has_aux=True))(jp, jt)
    np.testing.assert_allclose(np.asarray(out, np.float32), want, **tol)
    for g, w in zip((gp, gt), want_grads, strict=True):
        np.testing.assert_allclose(np.asarray(g, np.float32), w, **tol)

    @tf.function(jit_compile=True)
    def step(p, t):
        with tf.GradientTape() as tape:
            tape.watch([p, t])
            out = tf_fn(p, t, **params)
            total = tf.reduce_sum(tf.cast(out, tf.float32))
        return out, tape.gradient(total, [p, t])

    out, grads = step(tf.constant(pred, dtype), tf.constant(true, dtype))
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), want, **tol)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(tf.cast(g, tf.float32).numpy(), w, **tol)
