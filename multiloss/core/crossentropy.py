"""Cross-entropy family: softmax cross entropy and sigmoid (binary) cross entropy.

Also home of :func:`categorical_targets`, the target handling (integer ids or class
probabilities, ``ignore_index``, class axis) shared by every softmax-type loss.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from multiloss.core.checks import (
    check_axis,
    check_labels_in_range,
    check_rank,
    check_reduction,
    check_same_shape,
    check_scalar,
    check_vector,
    is_integer_dtype,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor, reduce, safe_where
from multiloss.core.registry import register

#: Smallest positive normal float32; log() of probabilities is taken at >= this.
TINY = 1.1754944e-38


@dataclasses.dataclass
class CategoricalTargets:
    """Predictions and targets of a softmax-type loss with the class axis moved last."""

    log_probs: Any  # [..., C] log-probabilities in the compute dtype
    num_classes: int | None
    labels: Any | None  # [...] integer ids, ignored entries replaced by 0
    target_probs: Any | None  # [..., C] class probabilities (probability targets)
    mask: Any | None  # [...] bool, False where y_true == ignore_index
    dtype: str  # compute dtype
    out_dtype: str  # dtype of the returned loss

    def true_log_prob(self, ops: Any) -> Any:
        """log p of the target class, shape [...] (expected value for soft targets)."""
        if self.labels is not None:
            picked = ops.take_along_axis(self.log_probs, ops.expand_dims(self.labels, -1), -1)
            return ops.squeeze(picked, -1)
        return ops.sum(self.target_probs * self.log_probs, axis=-1)

    def one_hot(self, ops: Any) -> Any:
        """Targets as a [..., C] float tensor (one-hot ids or the given probabilities)."""
        if self.labels is not None:
            return ops.one_hot(self.labels, self.num_classes, dtype=self.dtype)
        return self.target_probs

    def class_vector(self, ops: Any, name: str, value: Any) -> Any:
        """A per-class hyper-parameter vector, checked against the number of classes."""
        check_vector(name, value, self.num_classes, low=0.0)
        return param_tensor(ops, value, self.dtype)


def categorical_targets(
    ops: Any,
    y_pred: Any,
    y_true: Any,
    *,
    axis: int = -1,
    from_logits: bool = True,
    ignore_index: int | None = None,
) -> CategoricalTargets:
    """Check and prepare the inputs of a softmax-type loss.

    ``y_true`` holds integer class ids (``y_pred``'s shape without ``axis``, or with a
    size-1 class axis) or class probabilities (``y_pred``'s shape).
    """
    pred_shape = static_shape(y_pred)
    true_shape = static_shape(y_true)
    check_rank("y_pred", pred_shape, 1)
    axis = check_axis(axis, len(pred_shape))
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"ignore_index must be an int or None, got ignore_index={ignore_index!r}")
    num_classes = pred_shape[axis]
    ids_shape = pred_shape[:axis] + pred_shape[axis + 1 :]
    y_true = ops.convert_to_tensor(y_true)
    true_dtype = ops.dtype(y_true)
    integer = is_integer_dtype(true_dtype)
    if integer and len(true_shape) == len(pred_shape) and true_shape[axis] == 1 and num_classes != 1:
        y_true = ops.squeeze(y_true, axis)
        true_shape = true_shape[:axis] + true_shape[axis + 1 :]
    dtype, out_dtype = compute_dtype(ops, y_pred)
    logits = as_float(ops, y_pred, dtype)
    if axis != len(pred_shape) - 1:
        logits = ops.moveaxis(logits, axis, -1)
    if from_logits:
        log_probs = ops.log_softmax(logits, axis=-1)
    else:
        probs = logits / ops.sum(logits, axis=-1, keepdims=True)
        log_probs = ops.log(ops.maximum(probs, TINY))

    if len(true_shape) == len(pred_shape) - 1:
        check_same_shape("y_true", true_shape, "y_pred without the class axis", ids_shape)
        labels = y_true if integer else ops.cast(y_true, "int32")
        check_labels_in_range(ops, "y_true", labels, num_classes, ignore_index)
        mask = None
        if ignore_index is not None:
            mask = ops.not_equal(labels, ignore_index)
            labels = ops.where(mask, labels, ops.zeros_like(labels))
        return CategoricalTargets(log_probs, num_classes, labels, None, mask, dtype, out_dtype)

    check_same_shape("y_true", true_shape, "y_pred", pred_shape)
    if ignore_index is not None:
        raise ValueError(
            "ignore_index applies to integer class ids; y_true holds class "
            f"probabilities of shape {true_shape} (same as y_pred)"
        )
    target = as_float(ops, y_true, dtype)
    if axis != len(pred_shape) - 1:
        target = ops.moveaxis(target, axis, -1)
    return CategoricalTargets(log_probs, num_classes, None, target, None, dtype, out_dtype)


@register(kind="per_example")
def cross_entropy(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    class_weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    axis=-1,
    reduction="mean",
):
    r"""Softmax cross entropy.

    .. math::

        \ell = -\sum_c w_c\, q_c \log \operatorname{softmax}(x)_c,
        \qquad q = (1 - \varepsilon)\, y + \varepsilon / C

    For integer targets the class weight enters as in PyTorch:
    :math:`\ell = (1-\varepsilon)\, w_t (-\log p_t) + \varepsilon \sum_c w_c (-\log p_c) / C`.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape ``[..., C, ...]``
            with the classes on ``axis``.
        y_true: integer class ids, shape of ``y_pred`` without ``axis``; or class
            probabilities, shape of ``y_pred``.
        from_logits: ``y_pred`` holds logits (default). With ``False`` it holds
            probabilities, normalised over ``axis`` and logged at >= the smallest
            normal float32 (finite, never clipped to 1e-7 as Keras does).
        class_weight: per-class weights ``[C]`` (list, NumPy array or tensor).
        ignore_index: class id whose targets contribute nothing (integer targets).
        label_smoothing: ε in [0, 1]; mixes the target with the uniform distribution.
        axis: the class axis of ``y_pred``.
        reduction: ``"none"`` (per example), ``"mean"`` or ``"sum"``. With
            ``class_weight`` and integer targets ``"mean"`` divides by the summed
            weights of the non-ignored targets; all targets ignored gives 0.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    References: Goodfellow, Bengio & Courville, *Deep Learning*, section 6.2.2.3
    (softmax units), https://www.deeplearningbook.org/contents/mlp.html; label
    smoothing: Szegedy et al. 2016, https://arxiv.org/abs/1512.00567.

    Same numbers as ``torch.nn.functional.cross_entropy(y_pred, y_true, weight=class_weight,
    ignore_index=..., label_smoothing=...)`` (classes on axis 1 there) and
    ``optax.losses.softmax_cross_entropy_with_integer_labels``.

    Example:
        >>> from multiloss.core.ops import get_ops
        >>> import numpy as np
        >>> x = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> loss = cross_entropy(get_ops("jax"), x, np.array([1, 2]), reduction="none")
        >>> np.round(np.asarray(loss, np.float64), 6).tolist()
        [1.964369, 0.174255]
    """
    check_reduction(reduction)
    check_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, ignore_index=ignore_index
    )
    weights = None if class_weight is None else t.class_vector(ops, "class_weight", class_weight)
    log_probs = t.log_probs
    weighted_log_probs = log_probs if weights is None else log_probs * weights
    weight_sum = None
    if t.labels is not None:
        loss = -t.true_log_prob(ops)
        if weights is not None:
            true_weight = ops.take(weights, t.labels)
            loss = loss * true_weight
            if t.mask is not None:
                true_weight = safe_where(ops, t.mask, true_weight)
            weight_sum = ops.sum(true_weight)
        if label_smoothing:
            smooth = -ops.mean(weighted_log_probs, axis=-1)
            loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    else:
        target = t.target_probs
        if label_smoothing:
            target = (1.0 - label_smoothing) * target + label_smoothing / t.num_classes
        loss = -ops.sum(target * weighted_log_probs, axis=-1)
    if t.mask is not None:
        loss = safe_where(ops, t.mask, loss)
    return reduce(ops, loss, reduction, t.out_dtype, mask=t.mask, weight_sum=weight_sum)


def sigmoid_targets(ops: Any, y_pred: Any, y_true: Any, label_smoothing: float = 0.0):
    """Check and prepare the inputs of a sigmoid-type (element-wise) loss.

    Returns ``(logits, targets, compute dtype, output dtype)``; the targets are smoothed
    toward 0.5: ``y (1 - ε) + 0.5 ε``.
    """
    check_same_shape("y_true", static_shape(y_true), "y_pred", static_shape(y_pred))
    check_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    logits = as_float(ops, y_pred, dtype)
    targets = as_float(ops, y_true, dtype)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return logits, targets, dtype, out_dtype


def sigmoid_log_probs(ops: Any, y_pred: Any, from_logits: bool) -> tuple[Any, Any]:
    """``(log p, log(1 - p))`` of the positive class, exact for logits of any size.

    From probabilities (``from_logits=False``) the logs are clamped at -100, as
    ``torch.nn.functional.binary_cross_entropy`` does.
    """
    if from_logits:
        return ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
    positive = ops.greater(y_pred, 0.0)
    below_one = ops.less(y_pred, 1.0)
    log_p = ops.where(positive, ops.log(ops.where(positive, y_pred, 1.0)), -100.0)
    log_q = ops.where(below_one, ops.log1p(-ops.where(below_one, y_pred, 0.0)), -100.0)
    return ops.maximum(log_p, -100.0), ops.maximum(log_q, -100.0)


@register(kind="elementwise")
def binary_cross_entropy(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    alpha=None,
    label_smoothing=0.0,
    reduction="mean",
):
    r"""Sigmoid (binary, multi-label) cross entropy, element-wise.

    .. math::

        \ell = -\alpha\, y \log \sigma(x) - (1 - \alpha)(1 - y) \log(1 - \sigma(x))

    computed without cancellation for logits of any size: the backend's fused
    ``max(x, 0) − x·y + log1p(exp(−|x|))`` when unweighted, and
    ``α·y·softplus(−x) + (1 − α)(1 − y)·softplus(x)`` through ``log_sigmoid`` with ``alpha``.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), any shape.
        y_true: targets in [0, 1], same shape as ``y_pred``.
        from_logits: ``y_pred`` holds logits (default); probabilities otherwise (their
            logs clamped at -100 as ``torch.nn.functional.binary_cross_entropy``).
        alpha: balanced cross entropy: weight α on positives and 1 − α on negatives
            (``None``: no weighting, the plain BCE).
        label_smoothing: ε in [0, 1]; targets become ``y (1 − ε) + 0.5 ε`` (Keras).
        reduction: ``"none"`` (element-wise, shape of ``y_pred``), ``"mean"`` or ``"sum"``.

    Returns:
        Shape of ``y_pred`` for ``reduction="none"``, else a scalar; dtype of ``y_pred``.

    References: Goodfellow, Bengio & Courville, *Deep Learning*, section 6.2.2.2
    (sigmoid units), https://www.deeplearningbook.org/contents/mlp.html; balanced
    cross entropy: Xie & Tu, *Holistically-Nested Edge Detection*, 2015,
    https://arxiv.org/abs/1504.06375.

    Same numbers as ``torch.nn.functional.binary_cross_entropy_with_logits`` (element-wise)
    and ``optax.losses.sigmoid_binary_cross_entropy``; Keras' ``binary_crossentropy``
    additionally averages over the last axis.
    """
    check_reduction(reduction)
    check_scalar("alpha", alpha, low=0.0, high=1.0, allow_none=True)
    logits, targets, dtype, out_dtype = sigmoid_targets(ops, y_pred, y_true, label_smoothing)
    if from_logits and alpha is None:
        # The backend's fused kernel (torch: binary_cross_entropy_with_logits, tf:
        # sigmoid_cross_entropy_with_logits): max(x, 0) - x y + log1p(exp(-|x|)),
        # exact for hard labels at any logit size.
        loss = ops.binary_crossentropy(targets, logits, from_logits=True)
        return reduce(ops, loss, reduction, out_dtype)
    log_p, log_q = sigmoid_log_probs(ops, logits, from_logits)
    positive_term = -targets * log_p
    negative_term = -(1.0 - targets) * log_q
    if alpha is not None:
        alpha = param_tensor(ops, alpha, dtype)
        positive_term = alpha * positive_term
        negative_term = (1.0 - alpha) * negative_term
    return reduce(ops, positive_term + negative_term, reduction, out_dtype)
