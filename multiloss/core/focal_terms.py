"""The focal terms shared by the focal and poly-1 losses: parameter checks, α
weights and the element-wise (sigmoid) and per-example (softmax) focal loss.

Lin et al., *Focal Loss for Dense Object Detection*, https://arxiv.org/abs/1708.02002.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multiloss.core.checks import check_scalar, check_vector, is_python_scalar, static_shape
from multiloss.core.common import param_tensor
from multiloss.core.logspace import (
    log_one_minus_softmax,
    modulate,
    modulating_factor,
    neg_log_prob,
    sigmoid_one_minus_pt,
)
from multiloss.core.reduction import Entries
from multiloss.core.targets import CategoricalTargets, sigmoid_log_probs, sigmoid_targets


def is_scalar_param(value: Any) -> bool:
    """A hyper-parameter given as one number (Python, 0-d NumPy or 0-d tensor)."""
    if is_python_scalar(value):
        return True
    shape = static_shape(value) if hasattr(value, "shape") else np.shape(value)
    return len(shape) == 0


def check_focal_params(alpha: Any, gamma: Any, num_classes: int | None, what: str) -> None:
    """``gamma >= 0``; ``alpha`` ``None``, a scalar in [0, 1] or ``num_classes`` of them."""
    check_scalar("gamma", gamma, low=0.0)
    if alpha is None:
        return
    if is_scalar_param(alpha):
        check_scalar("alpha", alpha, low=0.0, high=1.0)
    else:
        check_vector("alpha", alpha, num_classes, low=0.0, high=1.0, what=what)


def alpha_tensor(ops: Any, alpha: Any, dtype: str) -> Any:
    """A checked ``alpha``: Python numbers stay numbers, anything else a tensor."""
    return alpha if is_python_scalar(alpha) else param_tensor(ops, alpha, dtype)


def _class_count(y_pred: Any, axis: int) -> int | None:
    shape = static_shape(y_pred)
    return shape[axis] if -len(shape) <= axis < len(shape) else None


def focuses(gamma: Any) -> bool:
    """Whether the modulating factor is needed (``False`` only for a Python ``γ = 0``)."""
    return not (is_python_scalar(gamma) and gamma == 0)


def sigmoid_alpha_weights(ops: Any, alpha: Any, targets: Any, dtype: str) -> Any:
    """``α_t = α·y + (1 − α)·(1 − y)`` for a scalar ``alpha`` or one per class (last axis).

    ``None`` when ``alpha`` is ``None`` (no balancing).
    """
    if alpha is None:
        return None
    alpha = alpha_tensor(ops, alpha, dtype)
    return (1.0 - alpha) + (2.0 * alpha - 1.0) * targets


def sigmoid_focal_terms(
    ops: Any,
    y_pred: Any,
    y_true: Any,
    alpha: Any,
    gamma: Any,
    from_logits: bool,
    where: Any = None,
    sample_weight: Any = None,
) -> tuple[Any, Any, str, Entries]:
    """Element-wise sigmoid focal loss, ``1 − p_t`` (see :func:`sigmoid_one_minus_pt`),
    the output dtype and the call's ``where``/``sample_weight`` entries."""
    check_focal_params(alpha, gamma, _class_count(y_pred, -1), "size of the last axis of y_pred")
    logits, targets, dtype, out_dtype, chosen = sigmoid_targets(
        ops, y_pred, y_true, where=where, sample_weight=sample_weight
    )
    weights = sigmoid_alpha_weights(ops, alpha, targets, dtype)
    if from_logits:  # the backend's fused BCE-with-logits kernel, exact at any size
        ce = ops.binary_crossentropy(targets, logits, from_logits=True)
    else:
        log_p, log_q = sigmoid_log_probs(ops, logits, from_logits)
        ce = -(targets * log_p + (1.0 - targets) * log_q)
    one_minus_pt = sigmoid_one_minus_pt(ops, logits, targets, from_logits)
    loss = ce * modulating_factor(ops, one_minus_pt, gamma) if focuses(gamma) else ce
    if weights is not None:
        loss = weights * loss
    return loss, one_minus_pt, out_dtype, chosen


def check_softmax_focal_params(alpha: Any, gamma: Any, y_pred: Any, axis: int) -> None:
    check_focal_params(alpha, gamma, _class_count(y_pred, axis), "number of classes")


def softmax_focal_terms(ops: Any, t: CategoricalTargets, alpha: Any, gamma: Any) -> Any:
    """Per-example softmax focal loss ``[...]`` (ignored entries not yet zeroed).

    ``alpha`` and ``gamma`` are checked already (:func:`check_softmax_focal_params`).
    """
    if t.labels is not None:
        if focuses(gamma):
            ce, one_minus_pt = t.true_terms()
            loss = ce * modulating_factor(ops, one_minus_pt, gamma)
        else:
            loss = t.true_neg_log_prob()
        if alpha is None:
            return loss
        alpha = alpha_tensor(ops, alpha, t.dtype)
        return (alpha if is_scalar_param(alpha) else ops.take(alpha, t.labels)) * loss
    target = t.one_hot(ops)  # the class probabilities
    if focuses(gamma):
        log_one_minus_p = log_one_minus_softmax(ops, t.log_probs)
        per_class = target * neg_log_prob(ops, t.log_probs, log_one_minus_p)
        per_class = modulate(ops, per_class, log_one_minus_p, gamma)
    else:
        per_class = -target * t.log_probs
    if alpha is not None:
        per_class = alpha_tensor(ops, alpha, t.dtype) * per_class
    return ops.sum(per_class, axis=-1)
