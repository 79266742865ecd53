"""Bounding-box family: IoU, GIoU, DIoU and CIoU losses, one value per box.

Boxes are ``[..., 4]`` tensors in one of three formats (``box_format``): ``"xyxy"``
(corners ``x1, y1, x2, y2``), ``"xywh"`` (corner ``x, y`` and size ``w, h``) or
``"cxcywh"`` (centre ``cx, cy`` and size ``w, h``); the sizes turn into corners as
``torchvision.ops.box_convert`` does. The formulas are torchvision's
(``torchvision/ops/_utils.py::_loss_inter_union``, ``giou_loss.py``, ``diou_loss.py``,
``ciou_loss.py``), ``eps`` where torchvision puts it, corners not sorted (a box with
``x2 < x1`` has a negative width, as there). Where torchvision divides by zero, the
result here is its limit, finite:

* the IoU of boxes that do not overlap is 0 with a zero gradient, whatever the union
  (torchvision gives ``0 / (union + eps)``: NaN when that denominator is 0);
* a ratio whose denominator is exactly 0 (only possible with ``eps=0`` or with
  inverted boxes) is 0;
* CIoU's aspect angle :math:`\\arctan(w/h)` is taken as ``atan2`` (same value for
  every ``h != 0``, :math:`\\pm\\pi/2` at ``h = 0`` as torchvision), so its gradient
  at ``h = 0`` is the limit :math:`-1/w` (torchvision: NaN); a box of zero width and
  height has angle 0 and no angle gradient (torchvision: NaN).

Gradients of ``max``/``min`` at a tie (identical coordinates) are split in halves
between the two arguments in every framework, as ``torch.maximum`` does (the ops
layer's rule, the whole gradient to the first argument, would differ from
torchvision at identical boxes). The geometry is computed relative to the target's
first corner (a translation, held constant: no value or gradient changes), so boxes
far from the origin (coordinates ~1e4) keep the precision of their sizes, and
``1 − IoU`` is taken as ``(area + area_gt − 2·intersection + eps) / (union + eps)``,
without the cancellation of ``1 − intersection / (union + eps)`` near identical boxes.
Half-precision inputs are computed in float32; their gradients saturate at
float16's largest value instead of overflowing (GIoU's gradient is ~1/eps for two
zero-width boxes on one line).
"""

from __future__ import annotations

import math
from typing import Any

from multiloss.core.checks import (
    check_rank,
    check_reduction,
    check_same_shape,
    check_scalar,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register

#: The box formats ``box_format`` accepts.
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
#: torchvision's default ``eps``; ``complete_box_iou_loss`` uses it for its IoU and
#: distance terms whatever ``eps`` it is given.
TORCHVISION_EPS = 1e-7
_FLOAT16_MAX = 65504.0


# --- checks and preparation -----------------------------------------------------------


def _check_boxes(y_pred: Any, y_true: Any, box_format: Any, eps: Any, reduction: Any) -> tuple:
    check_reduction(reduction)
    if not isinstance(box_format, str) or box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got box_format={box_format!r}")
    check_scalar("eps", eps, low=0.0)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    if pred_shape[-1] not in (4, None):
        raise ValueError(
            f"y_pred must hold boxes of 4 coordinates on its last axis, got y_pred of "
            f"shape {pred_shape}"
        )
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    return pred_shape


def _saturating_gradient(ops: Any, x: Any) -> Any:
    """``x``, with its gradient clipped to float16's range (for float16 inputs computed
    in float32: a gradient beyond 65504 would round to infinity)."""

    def forward(t: Any) -> tuple[Any, tuple]:
        return t * 1.0, ()

    def backward(residuals: tuple, grad: Any) -> tuple:
        return (ops.clip(grad, -_FLOAT16_MAX, _FLOAT16_MAX),)

    return ops.custom_vjp(forward, backward)(x)


def _corners(ops: Any, boxes: Any, box_format: str, origin: tuple) -> tuple:
    """``(x1, y1, x2, y2)`` of ``boxes`` in ``box_format``, relative to ``origin``."""
    a, b, c, d = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    ox, oy = origin
    if box_format == "xyxy":
        return a - ox, b - oy, c - ox, d - oy
    if box_format == "xywh":  # torchvision: x2 = x + w
        x, y = a - ox, b - oy
        return x, y, x + c, y + d
    cx, cy = a - ox, b - oy  # torchvision: x1 = cx − 0.5·w, x2 = cx + 0.5·w
    return cx - 0.5 * c, cy - 0.5 * d, cx + 0.5 * c, cy + 0.5 * d


class _Boxes:
    """A call's predicted and target boxes as corners in the compute dtype, with the
    pieces every loss of the family shares."""

    def __init__(self, ops: Any, y_pred: Any, y_true: Any, box_format: str, where: Any,
                 sample_weight: Any, eps: Any, pred_shape: tuple):
        self.ops = ops
        dtype, self.out_dtype = compute_dtype(ops, y_pred)
        self.chosen = entries(
            ops, where, sample_weight, pred_shape[:-1], dtype, "y_pred without its last axis"
        )
        pred = as_float(ops, self.chosen.hide(y_pred), dtype)
        true = as_float(ops, self.chosen.hide(y_true), dtype)
        if self.out_dtype == "float16":
            pred, true = _saturating_gradient(ops, pred), _saturating_gradient(ops, true)
        # A translation of both boxes changes nothing; taken from the target, held
        # constant, it keeps the differences of far-away coordinates exact.
        origin = ops.stop_gradient(true[..., 0]), ops.stop_gradient(true[..., 1])
        self.pred = _corners(ops, pred, box_format, origin)
        self.true = _corners(ops, true, box_format, origin)
        self.eps = eps if is_python_scalar(eps) else param_tensor(ops, eps, dtype)

    def reduce(self, loss: Any, reduction: str) -> Any:
        return reduce(self.ops, loss, reduction, self.out_dtype, entries=self.chosen)

    def maximum(self, a: Any, b: Any) -> Any:
        """``maximum`` with a tie's gradient split in halves (``torch.maximum``)."""
        ops = self.ops
        tie = 0.5 * a + 0.5 * b
        return ops.where(ops.greater(a, b), a, ops.where(ops.greater(b, a), b, tie))

    def minimum(self, a: Any, b: Any) -> Any:
        """``minimum`` with a tie's gradient split in halves (``torch.minimum``)."""
        ops = self.ops
        tie = 0.5 * a + 0.5 * b
        return ops.where(ops.less(a, b), a, ops.where(ops.less(b, a), b, tie))

    def ratio(self, numerator: Any, denominator: Any) -> Any:
        """``numerator / denominator``, 0 (zero gradient) where the denominator is 0."""
        ops = self.ops
        nonzero = ops.not_equal(denominator, 0.0)
        safe = ops.where(nonzero, denominator, ops.ones_like(denominator))
        return ops.where(nonzero, numerator / safe, ops.zeros_like(numerator))

    def iou_gap(self, eps: Any) -> tuple[Any, Any]:
        """``(1 − IoU, union)`` with IoU = intersection / (union + eps), torchvision's
        ``_loss_inter_union``: the intersection counts only where it is positive in both
        directions. ``1 − IoU`` is taken as ``(area + area_gt − 2·inter + eps) / (union +
        eps)``, without the cancellation of ``1 − IoU`` near identical boxes (where it
        is ~eps/area, below float32's resolution of 1 − IoU)."""
        ops = self.ops
        x1, y1, x2, y2 = self.pred
        x1g, y1g, x2g, y2g = self.true
        width = self.minimum(x2, x2g) - self.maximum(x1, x1g)
        height = self.minimum(y2, y2g) - self.maximum(y1, y1g)
        overlap = ops.logical_and(ops.greater(width, 0.0), ops.greater(height, 0.0))
        intersection = ops.where(overlap, width * height, ops.zeros_like(width))
        areas = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g)
        union = areas - intersection
        # Overlapping boxes have union >= intersection > 0; elsewhere the IoU is 0
        # (1 + 0·union: NaN when a coordinate is NaN, as torchvision's 0 / (union + eps)).
        denominator = ops.where(overlap, union + eps, ops.ones_like(union))
        gap = (areas - 2.0 * intersection + eps) / denominator
        return ops.where(overlap, gap, 1.0 + 0.0 * union), union

    def enclosing(self) -> tuple[Any, Any]:
        """Width and height of the smallest box enclosing both boxes."""
        x1, y1, x2, y2 = self.pred
        x1g, y1g, x2g, y2g = self.true
        width = self.maximum(x2, x2g) - self.minimum(x1, x1g)
        height = self.maximum(y2, y2g) - self.minimum(y1, y1g)
        return width, height

    def distance_term(self, eps: Any) -> Any:
        """Squared distance of the centres over the squared diagonal of the enclosing
        box plus ``eps`` (DIoU's penalty). The centres' offset is taken as a sum of
        corner differences, exact for nearby boxes far from the origin."""
        ops = self.ops
        x1, y1, x2, y2 = self.pred
        x1g, y1g, x2g, y2g = self.true
        dx = 0.5 * ((x1 - x1g) + (x2 - x2g))
        dy = 0.5 * ((y1 - y1g) + (y2 - y2g))
        width, height = self.enclosing()
        diagonal = ops.square(width) + ops.square(height) + eps
        return self.ratio(ops.square(dx) + ops.square(dy), diagonal)

    def aspect_term(self) -> Any:
        """CIoU's :math:`v = 4/\\pi^2\\,(\\arctan(w_g/h_g) - \\arctan(w/h))^2`."""
        x1, y1, x2, y2 = self.pred
        x1g, y1g, x2g, y2g = self.true
        angle = self._angle(x2g - x1g, y2g - y1g) - self._angle(x2 - x1, y2 - y1)
        return (4.0 / math.pi**2) * self.ops.square(angle)

    def _angle(self, w: Any, h: Any) -> Any:
        """:math:`\\arctan(w/h)` as ``atan2(s·w, s·h)``, ``s`` the sign of ``h`` (1 at 0):
        the same value for ``h != 0``, ±π/2 at ``h = 0`` with the gradient's limit, 0
        (no gradient) when ``w = h = 0``. Both arguments are divided by their larger
        magnitude (held constant: ``atan2`` is scale-free), so the gradient's
        denominator neither underflows nor overflows."""
        ops = self.ops
        sign = ops.where(ops.less(h, 0.0), -ops.ones_like(h), ops.ones_like(h))
        point = ops.logical_and(ops.equal(w, 0.0), ops.equal(h, 0.0))
        scale = ops.stop_gradient(ops.maximum(ops.abs(w), ops.abs(h)))
        scale = ops.where(point, ops.ones_like(scale), scale)
        rise = sign * w / scale
        run = ops.where(point, ops.ones_like(h), sign * h / scale)
        return ops.where(point, ops.zeros_like(h), ops.arctan2(rise, run))


@register(kind="per_example", class_name="IoULoss", integer_args=())
def iou_loss(
    ops, y_pred, y_true, *, box_format="xyxy", eps=1e-7, where=None, sample_weight=None,
    reduction="mean",
):
    r"""IoU loss: one minus the intersection over union of each predicted box and its target.

    .. math::

        \ell = 1 - \frac{|B \cap B^{gt}|}{|B \cup B^{gt}| + \epsilon}

    The intersection counts only where it is positive in both directions (disjoint
    boxes give ℓ = 1 and no gradient); ``eps`` sits where torchvision puts it.

    Args:
        y_pred: predicted boxes, shape ``[..., 4]`` in ``box_format``.
        y_true: target boxes, same shape as ``y_pred``.
        box_format: ``"xyxy"`` (corners ``x1, y1, x2, y2``), ``"xywh"`` (corner ``x, y``
            and size ``w, h``) or ``"cxcywh"`` (centre ``cx, cy`` and size ``w, h``).
        eps: added to the denominators where torchvision adds it (>= 0).
        where: boolean mask broadcastable to the unreduced loss (one entry per box):
            ``False`` boxes contribute 0, get a zero gradient and are not counted by
            the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per box, shape ``[...]``), ``"mean"`` or
            ``"sum"``. ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Yu et al., *UnitBox: An Advanced Object Detection Network*, ACM MM 2016,
        https://arxiv.org/abs/1608.01471.

        Same numbers as ``1 - intersection / (union + eps)`` with torchvision's
        ``torchvision.ops._utils._loss_inter_union(y_pred, y_true)`` on ``"xyxy"`` boxes
        (the IoU term of ``torchvision.ops.generalized_box_iou_loss``).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], np.float32)
        >>> y_true = np.array([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]], np.float32)
        >>> loss = iou_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.8571, 0.3333]
    """
    pred_shape = _check_boxes(y_pred, y_true, box_format, eps, reduction)
    boxes = _Boxes(ops, y_pred, y_true, box_format, where, sample_weight, eps, pred_shape)
    gap, _ = boxes.iou_gap(boxes.eps)
    return boxes.reduce(gap, reduction)


@register(kind="per_example", class_name="GIoULoss", integer_args=())
def giou_loss(
    ops, y_pred, y_true, *, box_format="xyxy", eps=1e-7, where=None, sample_weight=None,
    reduction="mean",
):
    r"""Generalized IoU loss: the IoU loss plus the share of the smallest enclosing box
    that neither box covers.

    .. math::

        \ell = 1 - \mathrm{IoU} + \frac{|C| - |B \cup B^{gt}|}{|C| + \epsilon}

    with :math:`C` the smallest box enclosing both boxes; non-zero (with a gradient)
    also when the boxes do not overlap.

    Args:
        y_pred: predicted boxes, shape ``[..., 4]`` in ``box_format``.
        y_true: target boxes, same shape as ``y_pred``.
        box_format: ``"xyxy"`` (corners ``x1, y1, x2, y2``), ``"xywh"`` (corner ``x, y``
            and size ``w, h``) or ``"cxcywh"`` (centre ``cx, cy`` and size ``w, h``).
        eps: added to the denominators where torchvision adds it (>= 0).
        where: boolean mask broadcastable to the unreduced loss (one entry per box):
            ``False`` boxes contribute 0, get a zero gradient and are not counted by
            the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per box, shape ``[...]``), ``"mean"`` or
            ``"sum"``. ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Rezatofighi et al., *Generalized Intersection over Union: A Metric and
        A Loss for Bounding Box Regression*, CVPR 2019, https://arxiv.org/abs/1902.09630.

        Same numbers as ``torchvision.ops.generalized_box_iou_loss(y_pred, y_true,
        reduction="none", eps=eps)`` on ``"xyxy"`` boxes (after
        ``torchvision.ops.box_convert(boxes, box_format, "xyxy")`` for the other formats);
        the loss is symmetric in its two arguments.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], np.float32)
        >>> y_true = np.array([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]], np.float32)
        >>> loss = giou_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.0794, 0.3333]
    """
    pred_shape = _check_boxes(y_pred, y_true, box_format, eps, reduction)
    boxes = _Boxes(ops, y_pred, y_true, box_format, where, sample_weight, eps, pred_shape)
    gap, union = boxes.iou_gap(boxes.eps)
    width, height = boxes.enclosing()
    enclosing = width * height
    loss = gap + boxes.ratio(enclosing - union, enclosing + boxes.eps)
    return boxes.reduce(loss, reduction)


@register(kind="per_example", class_name="DIoULoss", integer_args=())
def diou_loss(
    ops, y_pred, y_true, *, box_format="xyxy", eps=1e-7, where=None, sample_weight=None,
    reduction="mean",
):
    r"""Distance IoU loss: the IoU loss plus the squared distance of the box centres over
    the squared diagonal of the smallest enclosing box.

    .. math::

        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(b, b^{gt})}{c^2 + \epsilon}

    with :math:`\rho` the distance of the centres and :math:`c` the diagonal of the
    smallest box enclosing both boxes.

    Args:
        y_pred: predicted boxes, shape ``[..., 4]`` in ``box_format``.
        y_true: target boxes, same shape as ``y_pred``.
        box_format: ``"xyxy"`` (corners ``x1, y1, x2, y2``), ``"xywh"`` (corner ``x, y``
            and size ``w, h``) or ``"cxcywh"`` (centre ``cx, cy`` and size ``w, h``).
        eps: added to the denominators where torchvision adds it (>= 0).
        where: boolean mask broadcastable to the unreduced loss (one entry per box):
            ``False`` boxes contribute 0, get a zero gradient and are not counted by
            the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per box, shape ``[...]``), ``"mean"`` or
            ``"sum"``. ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Zheng et al., *Distance-IoU Loss: Faster and Better Learning for
        Bounding Box Regression*, AAAI 2020, https://arxiv.org/abs/1911.08287.

        Same numbers as ``torchvision.ops.distance_box_iou_loss(y_pred, y_true,
        reduction="none", eps=eps)`` on ``"xyxy"`` boxes (after
        ``torchvision.ops.box_convert`` for the other formats).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], np.float32)
        >>> y_true = np.array([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]], np.float32)
        >>> loss = diou_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.9683, 0.3526]
    """
    pred_shape = _check_boxes(y_pred, y_true, box_format, eps, reduction)
    boxes = _Boxes(ops, y_pred, y_true, box_format, where, sample_weight, eps, pred_shape)
    gap, _ = boxes.iou_gap(boxes.eps)
    loss = gap + boxes.distance_term(boxes.eps)
    return boxes.reduce(loss, reduction)


@register(kind="per_example", class_name="CIoULoss", integer_args=())
def ciou_loss(
    ops, y_pred, y_true, *, box_format="xyxy", eps=1e-7, where=None, sample_weight=None,
    reduction="mean",
):
    r"""Complete IoU loss: the DIoU loss plus a penalty on the difference of the boxes'
    aspect ratios.

    .. math::

        \ell = 1 - \mathrm{IoU} + \frac{\rho^2(b, b^{gt})}{c^2 + \epsilon_0} + \alpha v,
        \qquad v = \frac{4}{\pi^2}\Big(\arctan\frac{w^{gt}}{h^{gt}}
        - \arctan\frac{w}{h}\Big)^2,
        \qquad \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    with :math:`\alpha` held constant (no gradient flows through it, as torchvision
    computes it under ``no_grad``) and :math:`\epsilon_0 = 10^{-7}` (also in the IoU).
    :math:`\arctan(w/h)` is ±π/2 for a box of zero height (gradient: the limit
    :math:`-1/w` in ``h``) and 0 for a box of zero width and height.

    Args:
        y_pred: predicted boxes, shape ``[..., 4]`` in ``box_format``.
        y_true: target boxes, same shape as ``y_pred``.
        box_format: ``"xyxy"`` (corners ``x1, y1, x2, y2``), ``"xywh"`` (corner ``x, y``
            and size ``w, h``) or ``"cxcywh"`` (centre ``cx, cy`` and size ``w, h``).
        eps: added to the denominators where torchvision adds it (>= 0).
            As torchvision's ``complete_box_iou_loss``, ``eps`` enters only the
            denominator of α; the IoU and distance terms use 1e-7.
        where: boolean mask broadcastable to the unreduced loss (one entry per box):
            ``False`` boxes contribute 0, get a zero gradient and are not counted by
            the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per box, shape ``[...]``), ``"mean"`` or
            ``"sum"``. ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Zheng et al., *Distance-IoU Loss: Faster and Better Learning for
        Bounding Box Regression*, AAAI 2020, https://arxiv.org/abs/1911.08287.

        Same numbers as ``torchvision.ops.complete_box_iou_loss(y_pred, y_true,
        reduction="none", eps=eps)`` on ``"xyxy"`` boxes (after
        ``torchvision.ops.box_convert`` for the other formats), values and gradients,
        wherever torchvision's are finite.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], np.float32)
        >>> y_true = np.array([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]], np.float32)
        >>> loss = ciou_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.9683, 0.3533]
    """
    pred_shape = _check_boxes(y_pred, y_true, box_format, eps, reduction)
    boxes = _Boxes(ops, y_pred, y_true, box_format, where, sample_weight, eps, pred_shape)
    gap, _ = boxes.iou_gap(TORCHVISION_EPS)
    distance = boxes.distance_term(TORCHVISION_EPS)
    v = boxes.aspect_term()
    alpha = ops.stop_gradient(boxes.ratio(v, gap + v + boxes.eps))
    loss = gap + distance + alpha * v
    return boxes.reduce(loss, reduction)
