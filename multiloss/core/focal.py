"""Focal family: sigmoid (element-wise) and softmax (multi-class) focal loss.

Lin et al., *Focal Loss for Dense Object Detection*, https://arxiv.org/abs/1708.02002.

Every :math:`1 - p_t` is taken without cancellation (see :mod:`multiloss.core.logspace`),
so ``gamma < 1`` keeps finite gradients at saturated logits.

The focal terms (:mod:`multiloss.core.focal_terms`) and the log-space helpers
(:mod:`multiloss.core.logspace`) are shared with the poly-1 losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multiloss.core.checks import (
    check_broadcastable,
    check_reduction,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float
from multiloss.core.focal_terms import (
    check_softmax_focal_params,
    sigmoid_focal_terms,
    softmax_focal_terms,
)
from multiloss.core.reduction import reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets

# --- sigmoid form -----------------------------------------------------------------


def _check_normalizer(normalizer: Any, pred_shape: tuple) -> None:
    if is_python_scalar(normalizer) or isinstance(normalizer, (np.ndarray, np.generic)):
        values = np.asarray(normalizer, dtype=np.float64)
        if np.isnan(values).any() or (values < 0).any():
            raise ValueError(
                f"normalizer must be >= 0 (a count, e.g. of foreground anchors), "
                f"got normalizer={values.tolist()}"
            )
    elif not hasattr(normalizer, "shape"):
        raise TypeError(
            f"normalizer must be a number or a tensor, got {type(normalizer).__name__}"
        )
    shape = static_shape(normalizer) if hasattr(normalizer, "shape") else np.shape(normalizer)
    check_broadcastable("normalizer", tuple(shape), pred_shape, "y_pred")


def normalize(ops: Any, loss: Any, normalizer: Any, pred_shape: tuple) -> Any:
    """``loss / max(normalizer, 1)``, the normalizer held constant (no gradient)."""
    if normalizer is None:
        return loss
    _check_normalizer(normalizer, pred_shape)
    if is_python_scalar(normalizer):
        return loss / max(float(normalizer), 1.0)
    dtype = ops.dtype(loss)
    count = ops.stop_gradient(as_float(ops, normalizer, dtype))
    return loss / ops.maximum(count, 1.0)


@register(kind="elementwise")
def sigmoid_focal_loss(
    ops,
    y_pred,
    y_true,
    *,
    alpha=0.25,
    gamma=2.0,
    from_logits=True,
    normalizer=None,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Sigmoid focal loss (element-wise, multi-label), Lin et al. 2017.

    .. math::

        \ell = \alpha_t\, (1 - p_t)^\gamma\, \mathrm{BCE}(x, y) / \max(n, 1),
        \quad p_t = y\,\sigma(x) + (1 - y)(1 - \sigma(x)),
        \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    :math:`1 - p_t` is computed as :math:`y\,\sigma(-x) + (1 - y)\,\sigma(x)` (no
    cancellation) and floored at the smallest normal float, so the loss is exact and
    its value and gradient finite for every finite logit and every ``gamma >= 0``
    (0.25 and 0.5 included).

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), any shape ``[...]``.
        y_true: targets in [0, 1] (hard 0/1 or soft), same shape as ``y_pred``.
        alpha: balancing weight of the positives in [0, 1] (negatives get 1 − α); a
            scalar, or one value per class of the last axis (list, NumPy array or
            tensor). ``None`` disables balancing (optax' default).
        gamma: focusing exponent, >= 0 (``0`` gives the α-balanced BCE).
        from_logits: ``y_pred`` holds logits (default); probabilities otherwise (their
            logs clamped at -100 as ``torch.nn.functional.binary_cross_entropy``).
        normalizer: divides the element-wise loss, e.g. the number of foreground
            anchors (Paddle's ``fg_num``): a number or a tensor broadcastable to
            ``y_pred`` (scalar, ``[1]``, or per image ``[B, 1, ...]``). It is clamped to
            >= 1, as Paddle's legacy ``sigmoid_focal_loss`` clamps ``fg_num`` (a batch
            without foreground never divides by 0), and held constant (no gradient
            flows into it). Paddle 2.x ``F.sigmoid_focal_loss`` does not clamp: the
            numbers agree for normalizers >= 1. ``None``: no normalisation.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (element-wise, shape of ``y_pred``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` for ``reduction="none"``, else a scalar; dtype of ``y_pred``
        (half precision is computed in float32).

    References:
        Lin, Goyal, Girshick, He & Dollár, *Focal Loss for Dense Object Detection*, ICCV 2017,
        https://arxiv.org/abs/1708.02002.

        Element-wise (``reduction="none"``) the same numbers as
        ``torchvision.ops.sigmoid_focal_loss(y_pred, y_true, alpha, gamma, reduction="none")``
        and ``optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=alpha, gamma=gamma)``
        (optax: pass ``alpha=None`` here for its default); with ``normalizer`` and
        ``reduction="sum"``, Paddle's ``F.sigmoid_focal_loss(y_pred, y_true, normalizer)``.
        Keras' ``binary_focal_crossentropy`` additionally averages over the last axis.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> loss = sigmoid_focal_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [[0.0005, 0.017], [0.2831, 0.0]]
    """
    check_reduction(reduction)
    loss, _, out_dtype, chosen = sigmoid_focal_terms(
        ops, y_pred, y_true, alpha, gamma, from_logits, where, sample_weight
    )
    loss = normalize(ops, loss, normalizer, static_shape(y_pred))
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


# --- softmax form -----------------------------------------------------------------


@register(kind="per_example")
def softmax_focal_loss(
    ops,
    y_pred,
    y_true,
    *,
    alpha=None,
    gamma=2.0,
    from_logits=True,
    ignore_index=None,
    axis=-1,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Multi-class (softmax) focal loss, Lin et al. 2017.

    .. math::

        \ell = -\sum_c \alpha_c\, y_c\, (1 - p_c)^\gamma \log p_c,
        \qquad p = \operatorname{softmax}(x)

    which for an integer label ``t`` is :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`.
    :math:`(1 - p_c)^\gamma = \exp(\gamma \log(1 - p_c))` with
    :math:`\log(1 - p_c) = \log \sum_{k \ne c} p_k` where :math:`p_c > 1/2`: exact near
    :math:`p_c = 1` (as is :math:`-\log p_c = -\operatorname{log1p}(-(1 - p_c))` there),
    and finite gradients for every finite logit and ``gamma >= 0``. ``gamma=0, alpha=None`` is
    :func:`cross_entropy`.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape ``[..., C, ...]``
            with the classes on ``axis``.
        y_true: integer class ids, shape of ``y_pred`` without ``axis``; or one-hot /
            class probabilities, shape of ``y_pred``.
        alpha: ``None`` (no weighting); a scalar in [0, 1] multiplying every class (as
            ``keras.losses.categorical_focal_crossentropy``); or a per-class vector
            ``[C]`` in [0, 1] (list, NumPy array or tensor): the α of the true class.
        gamma: focusing exponent, >= 0.
        from_logits: ``y_pred`` holds logits (default); probabilities otherwise
            (normalised over ``axis``, logged at >= the smallest normal float32).
        ignore_index: class id whose targets contribute nothing (integer targets).
        axis: the class axis of ``y_pred``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` (over the non-ignored examples;
            0 when all are ignored) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar; in
        the dtype of ``y_pred``.

    References:
        Lin, Goyal, Girshick, He & Dollár, *Focal Loss for Dense Object Detection*, ICCV 2017,
        https://arxiv.org/abs/1708.02002.

        Same numbers as ``keras.losses.categorical_focal_crossentropy(one_hot(y_true), y_pred,
        alpha=alpha, gamma=gamma, from_logits=True)`` for a scalar ``alpha`` (Keras clips
        probabilities to [1e-7, 1 − 1e-7], so only away from saturation) and as the focal
        loss of the PolyLoss authors' reference code with the per-class ``alpha`` vector.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = softmax_focal_loss(get_ops("jax"), y_pred, y_true, alpha=[0.25, 0.75, 0.75], reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.089, 0.0033]
    """
    check_reduction(reduction)
    check_softmax_focal_params(alpha, gamma, y_pred, axis)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, ignore_index=ignore_index,
        where=where, sample_weight=sample_weight,
    )
    loss = softmax_focal_terms(ops, t, alpha, gamma)
    return reduce(ops, loss, reduction, t.out_dtype, mask=t.mask, entries=t.entries)
