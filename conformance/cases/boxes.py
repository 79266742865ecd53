"""iou_loss, giou_loss, diou_loss, ciou_loss: torchvision's box-loss formulas in float64 torch.

torchvision (0.28) cannot be a generation-time dependency here (its C extension must
match the installed torch exactly), so its formulas are written out below, op for op
with the same torch ops (``torch.maximum``/``torch.minimum``, whose gradient a tie
splits in halves; the intersection counted only where positive in both directions;
``eps`` where torchvision adds it; CIoU's α under ``no_grad`` and its IoU and distance
terms at torchvision's default eps), from

* ``torchvision/ops/_utils.py::_loss_inter_union`` (intersection and union),
* ``torchvision/ops/giou_loss.py::generalized_box_iou_loss``,
* ``torchvision/ops/diou_loss.py::distance_box_iou_loss`` / ``_diou_iou_loss``,
* ``torchvision/ops/ciou_loss.py::complete_box_iou_loss``,
* ``torchvision/ops/_box_convert.py`` (``xywh``/``cxcywh`` to ``xyxy``),

https://github.com/pytorch/vision/tree/v0.28.0/torchvision/ops. When ``torchvision.ops``
imports cleanly, every case is cross-checked against it (values and gradients).

One departure, for CIoU at a box of zero height, where torchvision's
``atan(w / h)`` has a NaN gradient (and a NaN value at ``w = h = 0``): the reference
takes the angle as ``atan2(s·w, s·h)`` with ``s`` the sign of ``h`` (1 at 0) — equal to
``atan(w / h)`` for every ``h != 0`` (checked against it on each case without a
zero height), ±π/2 at ``h = 0`` with the gradient's limit — and 0 without gradient for
``w = h = 0``. Cases that use it say so in their note.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.cases import builds, case, check_agree, torch_reference

TORCHVISION_EPS = 1e-7
SOURCE = "torchvision.ops.{} formulas (v0.28.0), float64 torch autograd"
PEER = {
    "iou_loss": "_utils._loss_inter_union: 1 - inter / (union + eps)",
    "giou_loss": "generalized_box_iou_loss",
    "diou_loss": "distance_box_iou_loss",
    "ciou_loss": "complete_box_iou_loss",
}


def _to_xyxy(boxes, box_format: str):
    """torchvision's ``box_convert(boxes, box_format, "xyxy")``."""
    import torch

    a, b, c, d = boxes.unbind(-1)
    if box_format == "xyxy":
        return boxes
    if box_format == "xywh":
        return torch.stack([a, b, a + c, b + d], dim=-1)
    return torch.stack([a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d], dim=-1)


def _inter_union(pred, true):
    """``_loss_inter_union``: the intersection only where both of its sides are positive."""
    import torch

    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = true.unbind(-1)
    left, top = torch.maximum(x1, x1g), torch.maximum(y1, y1g)
    right, bottom = torch.minimum(x2, x2g), torch.minimum(y2, y2g)
    inter = torch.zeros_like(x1)
    inside = (bottom > top) & (right > left)
    inter[inside] = (right[inside] - left[inside]) * (bottom[inside] - top[inside])
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing(pred, true):
    import torch

    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = true.unbind(-1)
    return (
        torch.maximum(x2, x2g) - torch.minimum(x1, x1g),
        torch.maximum(y2, y2g) - torch.minimum(y1, y1g),
    )


def _iou(pred, true, eps):
    inter, union = _inter_union(pred, true)
    return 1 - inter / (union + eps)


def _giou(pred, true, eps):
    inter, union = _inter_union(pred, true)
    iou = inter / (union + eps)
    width, height = _enclosing(pred, true)
    area = width * height
    return 1 - (iou - (area - union) / (area + eps))


def _diou_and_iou(pred, true, eps):
    inter, union = _inter_union(pred, true)
    iou = inter / (union + eps)
    width, height = _enclosing(pred, true)
    diagonal = width**2 + height**2 + eps
    x1, y1, x2, y2 = pred.unbind(-1)
    x1g, y1g, x2g, y2g = true.unbind(-1)
    centres = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + centres / diagonal, iou


def _diou(pred, true, eps):
    return _diou_and_iou(pred, true, eps)[0]


def _angle_atan(w, h):
    """torchvision's aspect angle."""
    import torch

    return torch.atan(w / h)


def _angle_limit(w, h):
    """``atan(w / h)`` for ``h != 0``, its limit ±π/2 (and the gradient's) at ``h = 0``,
    0 at ``w = h = 0`` (module docstring)."""
    import torch

    sign = torch.where(h < 0, -torch.ones_like(h), torch.ones_like(h))
    point = (w == 0) & (h == 0)
    run = torch.where(point, torch.ones_like(h), sign * h)
    return torch.where(point, torch.zeros_like(h), torch.atan2(sign * w, run))


def _ciou(angle):
    import torch

    def loss(pred, true, eps):
        diou, iou = _diou_and_iou(pred, true, TORCHVISION_EPS)  # torchvision: default eps
        x1, y1, x2, y2 = pred.unbind(-1)
        x1g, y1g, x2g, y2g = true.unbind(-1)
        v = (4 / math.pi**2) * (angle(x2g - x1g, y2g - y1g) - angle(x2 - x1, y2 - y1)) ** 2
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
        return diou + alpha * v

    return loss


FORMULAS = {
    "iou_loss": _iou,
    "giou_loss": _giou,
    "diou_loss": _diou,
    "ciou_loss": _ciou(_angle_limit),
}


def _reference(loss: str, box_format: str, eps: float, reduction: str, formula=None):
    formula = formula or FORMULAS[loss]

    def fn(y_pred, y_true):
        return formula(_to_xyxy(y_pred, box_format), _to_xyxy(y_true, box_format), eps)

    return torch_reference(fn, reduction)


def _torchvision(loss: str):
    """The installed torchvision's loss (``None`` when ``torchvision.ops`` does not import)."""
    try:
        import torchvision.ops as tv_ops
        from torchvision.ops._utils import _loss_inter_union
    except Exception:  # not installed, or its C extension does not match this torch
        return None
    if loss == "iou_loss":
        def iou(pred, true, eps):
            inter, union = _loss_inter_union(pred, true)
            return 1 - inter / (union + eps)

        return iou
    fn = getattr(tv_ops, PEER[loss])
    return lambda pred, true, eps: fn(pred, true, reduction="none", eps=eps)


def _has_zero_height(inputs: dict, box_format: str) -> bool:
    import torch

    for boxes in inputs.values():
        xyxy = _to_xyxy(torch.tensor(np.asarray(boxes, np.float64)), box_format)
        if bool((xyxy[..., 3] == xyxy[..., 1]).any()):
            return True
    return False


def _cross_check(loss: str, name: str, inputs: dict, box_format: str, eps: float) -> None:
    """The written-out formula against torchvision's own code where it imports (on the
    boxes where torchvision's value and gradient are finite), and CIoU's ``atan2`` angle
    against torchvision's ``atan(w / h)`` on cases without a zero height."""
    wrt = ["y_pred", "y_true"]
    value, grads = _reference(loss, box_format, eps, "none")(inputs, wrt)
    others = []
    if loss == "ciou_loss" and not _has_zero_height(inputs, box_format):
        others.append(("atan(w / h)", _ciou(_angle_atan)))
    peer = _torchvision(loss)
    if peer is not None:
        others.append(("torchvision", peer))
    for label, formula in others:
        other_value, other_grads = _reference(loss, box_format, eps, "none", formula)(inputs, wrt)
        # Boxes where torchvision's CIoU is NaN (zero heights) are compared nowhere.
        rows = np.isfinite(other_value)
        for k in wrt:
            rows &= np.isfinite(other_grads[k]).all(axis=-1)
        check_agree(f"{loss}/{name} vs {label}", value[rows], other_value[rows])
        for k in wrt:
            check_agree(f"{loss}/{name} grad {k} vs {label}", grads[k][rows], other_grads[k][rows])


def _corner_boxes(rng, n: int, scale: float = 5.0, size=(0.5, 3.0)) -> np.ndarray:
    corner = rng.uniform(0.0, scale, size=(n, 2))
    extent = rng.uniform(*size, size=(n, 2))
    return np.concatenate([corner, corner + extent], axis=-1).astype(np.float32)


def _from_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """xyxy boxes in ``box_format`` (float64 arithmetic, float32 result)."""
    b = boxes.astype(np.float64)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    if box_format == "xyxy":
        out = b
    elif box_format == "xywh":
        out = np.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)
    else:
        out = np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)
    return out.astype(np.float32)


def _special_boxes() -> tuple[np.ndarray, np.ndarray, str]:
    """Identical, nested, touching, disjoint and degenerate pairs (xyxy), one per row."""
    rows = [
        ([1.0, 1.0, 3.0, 4.0], [1.0, 1.0, 3.0, 4.0]),  # identical
        ([0.0, 0.0, 4.0, 4.0], [1.0, 1.5, 2.0, 3.0]),  # nested
        ([0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]),  # touching edges
        ([0.0, 0.0, 1.0, 1.0], [3.0, 4.0, 5.0, 7.0]),  # disjoint
        ([1.0, 1.0, 1.0, 3.0], [0.0, 0.0, 2.0, 2.0]),  # zero width
        ([0.0, 2.0, 3.0, 2.0], [0.5, 1.0, 2.5, 3.5]),  # zero height
        ([2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 3.0, 3.0]),  # a point
        ([1.0, 0.0, 1.0, 2.0], [1.0, 1.0, 1.0, 3.0]),  # zero width, both on one line
        ([2.0, 3.0, 2.0, 3.0], [2.0, 3.0, 2.0, 3.0]),  # the same point
        ([3.0, 3.0, 1.0, 4.0], [0.0, 0.0, 2.0, 5.0]),  # x2 < x1 (not sorted)
        ([0.0, 4.0, 2.0, 1.0], [3.0, 2.0, 1.0, 0.0]),  # inverted, both
    ]
    pred = np.array([p for p, _ in rows], np.float32)
    true = np.array([t for _, t in rows], np.float32)
    return pred, true, "identical, nested, touching, disjoint, zero width/height, points, inverted corners"


def _box_cases(loss: str, rng):
    """The cases every box loss shares."""
    src = SOURCE.format(PEER[loss])
    wrt = ["y_pred", "y_true"]

    def make(name, inputs, params, *, dtype="float32", note="", tol=None):
        box_format = params.get("box_format", "xyxy")
        eps = params.get("eps", TORCHVISION_EPS)
        reduction = params.get("reduction", "mean")
        if dtype == "float32":
            _cross_check(loss, name, inputs, box_format, eps)
        return case(
            name, inputs, params, _reference(loss, box_format, eps, reduction), source=src,
            dtype=dtype, wrt=wrt, note=note, tol=tol,
        )

    pred = _corner_boxes(rng, 6)
    true = _corner_boxes(rng, 6)
    true[0] = pred[0]  # one identical pair
    typical = {"y_pred": pred, "y_true": true}
    for reduction in ("none", "mean", "sum"):
        yield make(f"typical_{reduction}", typical, {"reduction": reduction})
    for box_format in ("xywh", "cxcywh"):
        converted = {k: _from_xyxy(v, box_format) for k, v in typical.items()}
        yield make(f"{box_format}_none", converted, {"box_format": box_format, "reduction": "none"})
        yield make(f"{box_format}_mean", converted, {"box_format": box_format, "reduction": "mean"})
    rank3 = {"y_pred": _corner_boxes(rng, 6).reshape(2, 3, 4), "y_true": _corner_boxes(rng, 6).reshape(2, 3, 4)}
    yield make("rank3_none", rank3, {"reduction": "none"})
    yield make("eps_1e-3_none", typical, {"eps": 1e-3, "reduction": "none"})
    yield make("eps_0_none", typical, {"eps": 0.0, "reduction": "none"}, note="valid boxes: no zero denominators")
    special_pred, special_true, what = _special_boxes()
    special = {"y_pred": special_pred, "y_true": special_true}
    note = what
    if loss == "ciou_loss":
        note += "; zero heights: the atan2 limit of atan(w/h) (module docstring)"
    yield make("special_none", special, {"reduction": "none"}, note=note)
    yield make("special_cxcywh_none", {k: _from_xyxy(v, "cxcywh") for k, v in special.items()},
               {"box_format": "cxcywh", "reduction": "none"}, note=note)
    # Far from the origin (~1e4) and far apart.
    far = {"y_pred": _corner_boxes(rng, 6, 10.0, (1.0, 50.0)) - 1e4, "y_true": _corner_boxes(rng, 6, 10.0, (1.0, 50.0)) - 1e4}
    far["y_true"][1] += 2e4  # ~2e4 apart
    yield make("coordinates_1e4_none", far, {"reduction": "none"}, note="coordinates ~ -1e4, one pair 2e4 apart")
    yield make(
        "coordinates_1e4_cxcywh_none", {k: _from_xyxy(v, "cxcywh") for k, v in far.items()},
        {"box_format": "cxcywh", "reduction": "none"}, note="centres ~ -1e4, one pair 2e4 apart",
    )
    large = {"y_pred": _corner_boxes(rng, 6, 1e4, (1e2, 1e4)), "y_true": _corner_boxes(rng, 6, 1e4, (1e2, 1e4))}
    yield make("large_boxes_mean", large, {"reduction": "mean"}, note="coordinates and sizes up to 1e4")
    for dtype in ("float16", "bfloat16"):
        yield make(f"{dtype}_none", typical, {"reduction": "none"}, dtype=dtype)
        yield make(f"{dtype}_cxcywh_mean", {k: _from_xyxy(v, "cxcywh") for k, v in typical.items()},
                   {"box_format": "cxcywh", "reduction": "mean"}, dtype=dtype)
        yield make(f"{dtype}_large_none", large, {"reduction": "none"}, dtype=dtype, note="coordinates up to 1e4")


@builds("iou_loss")
def iou_loss_cases(rng):
    yield from _box_cases("iou_loss", rng)


@builds("giou_loss")
def giou_loss_cases(rng):
    yield from _box_cases("giou_loss", rng)


@builds("diou_loss")
def diou_loss_cases(rng):
    yield from _box_cases("diou_loss", rng)


@builds("ciou_loss")
def ciou_loss_cases(rng):
    yield from _box_cases("ciou_loss", rng)
