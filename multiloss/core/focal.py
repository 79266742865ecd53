"""Focal family: sigmoid (element-wise) and softmax (multi-class) focal loss.

Lin et al., *Focal Loss for Dense Object Detection*, https://arxiv.org/abs/1708.02002.

:math:`1 - p_t` is never computed as ``1 - p`` near 1: the sigmoid form takes
:math:`y\\,\\sigma(-x) + (1 - y)\\,\\sigma(x)` (two accurate sigmoid tails, floored at
the smallest normal float), the softmax form :math:`\\log(1 - p_c)` as ``log1p(-p)``
where ``p <= 1/2`` and, above, as the log of the summed other probabilities. So
:math:`1 - p_t` does not round to 0 at saturated logits, and ``gamma < 1`` (0.5, 0.25,
...) keeps finite gradients there (the NaN of optax #1267 and kornia #918).

The helpers are shared with the poly-1 losses (:mod:`multiloss.core.poly`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multiloss.core.checks import (
    check_reduction,
    check_scalar,
    check_vector,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, param_tensor, reduce, safe_where
from multiloss.core.crossentropy import (
    CategoricalTargets,
    categorical_targets,
    sigmoid_log_probs,
    sigmoid_targets,
)
from multiloss.core.registry import register

_LN2 = 0.6931471805599453


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


def modulate(ops: Any, loss: Any, log_one_minus_p: Any, gamma: Any) -> Any:
    """``loss · (1 − p)^γ`` as ``loss · exp(γ · log(1 − p))``, finite for any γ >= 0."""
    return loss * ops.exp(gamma * log_one_minus_p)


# --- sigmoid form -----------------------------------------------------------------


def sigmoid_one_minus_pt(ops: Any, y_pred: Any, targets: Any, from_logits: bool = True) -> Any:
    """``1 − p_t = y·σ(−x) + (1 − y)·σ(x)`` for targets in [0, 1], any logit.

    A sum of two non-negative terms, each an accurate sigmoid tail: no cancellation
    when ``p_t`` is close to 1. Floored at the smallest normal float (reached only past
    |x| ≈ 87 in float32, where every loss term underflows anyway), so powers of it have
    finite gradients for every exponent >= 0.
    """
    if from_logits:
        p, q = ops.sigmoid(y_pred), ops.sigmoid(-y_pred)
    else:
        p, q = y_pred, 1.0 - y_pred
    one_minus_pt = targets * q + (1.0 - targets) * p
    return ops.maximum(one_minus_pt, float(np.finfo(ops.dtype(one_minus_pt)).tiny))


def sigmoid_alpha_weights(ops: Any, alpha: Any, targets: Any, dtype: str) -> Any:
    """``α_t = α·y + (1 − α)·(1 − y)`` for a scalar ``alpha`` or one per class (last axis).

    ``None`` when ``alpha`` is ``None`` (no balancing).
    """
    if alpha is None:
        return None
    alpha = alpha_tensor(ops, alpha, dtype)
    return (1.0 - alpha) + (2.0 * alpha - 1.0) * targets


def sigmoid_focal_terms(
    ops: Any, y_pred: Any, y_true: Any, alpha: Any, gamma: Any, from_logits: bool
) -> tuple[Any, Any, str]:
    """Element-wise sigmoid focal loss, ``1 − p_t`` (see :func:`sigmoid_one_minus_pt`) and
    the output dtype."""
    check_focal_params(alpha, gamma, _class_count(y_pred, -1), "size of the last axis of y_pred")
    logits, targets, dtype, out_dtype = sigmoid_targets(ops, y_pred, y_true)
    weights = sigmoid_alpha_weights(ops, alpha, targets, dtype)
    if from_logits:  # the backend's fused BCE-with-logits kernel, exact at any size
        ce = ops.binary_crossentropy(targets, logits, from_logits=True)
    else:
        log_p, log_q = sigmoid_log_probs(ops, logits, from_logits)
        ce = -(targets * log_p + (1.0 - targets) * log_q)
    one_minus_pt = sigmoid_one_minus_pt(ops, logits, targets, from_logits)
    loss = ce * ops.power(one_minus_pt, gamma) if focuses(gamma) else ce
    if weights is not None:
        loss = weights * loss
    return loss, one_minus_pt, out_dtype


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
    trailing = pred_shape[len(pred_shape) - len(shape):] if shape else ()
    if len(shape) > len(pred_shape) or not all(
        n in (1, None) or p in (None, n) for n, p in zip(shape, trailing, strict=True)
    ):
        raise ValueError(
            f"normalizer must broadcast to y_pred: got normalizer shape {tuple(shape)} "
            f"and y_pred {pred_shape}"
        )


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

    Paper: https://arxiv.org/abs/1708.02002

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
        reduction: ``"none"`` (element-wise, shape of ``y_pred``), ``"mean"`` or ``"sum"``.

    Returns:
        Shape of ``y_pred`` for ``reduction="none"``, else a scalar; dtype of ``y_pred``
        (half precision is computed in float32).

    Element-wise (``reduction="none"``) the same numbers as
    ``torchvision.ops.sigmoid_focal_loss(y_pred, y_true, alpha, gamma, reduction="none")``
    and ``optax.losses.sigmoid_focal_loss(y_pred, y_true, alpha=alpha, gamma=gamma)``
    (optax: pass ``alpha=None`` here for its default); with ``normalizer`` and
    ``reduction="sum"``, Paddle's ``F.sigmoid_focal_loss(y_pred, y_true, normalizer)``.
    Keras' ``binary_focal_crossentropy`` additionally averages over the last axis.

    Example:
        >>> from multiloss.core.ops import get_ops
        >>> import numpy as np
        >>> x = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
        >>> y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> loss = sigmoid_focal_loss(get_ops("jax"), x, y, reduction="none")
        >>> np.asarray(loss, np.float64).round(6).tolist()
        [[0.000451, 0.016994], [0.283059, 2.7e-05]]
    """
    check_reduction(reduction)
    loss, _, out_dtype = sigmoid_focal_terms(ops, y_pred, y_true, alpha, gamma, from_logits)
    loss = normalize(ops, loss, normalizer, static_shape(y_pred))
    return reduce(ops, loss, reduction, out_dtype)


# --- softmax form -----------------------------------------------------------------


def _log_rest_mass(ops: Any, probs: Any) -> tuple[Any, Any]:
    """``(p > 1/2, log Σ_{p_k <= 1/2} p_k)`` for ``probs`` ``[..., C]``.

    At most one class per row has ``p > 1/2``; for it, ``1 − p = Σ_{k≠c} p_k`` is this
    sum of the small probabilities, exact however close ``p`` is to 1 (no ``1 − p``
    cancellation). A sum that underflows to 0 gives the most negative float.
    """
    is_top = ops.greater(probs, 0.5)
    rest = ops.sum(ops.where(is_top, 0.0, probs), axis=-1, keepdims=True)
    positive = ops.greater(rest, 0.0)
    log_rest = ops.log(ops.where(positive, rest, 1.0))
    return is_top, ops.where(positive, log_rest, np.finfo(ops.dtype(probs)).min)


def _log_one_minus(ops: Any, probs: Any, is_top: Any, log_rest: Any) -> Any:
    """``log(1 − p)``: ``log1p(−p)`` for ``p <= 1/2`` (exact there), else ``log_rest``."""
    small = ops.log1p(-ops.where(is_top, 0.0, probs))
    return ops.where(is_top, log_rest, small)


def log_one_minus_softmax(ops: Any, log_probs: Any) -> Any:
    """``log(1 − p_c)`` for every class ``c`` of ``log_probs`` ``[..., C]``, exact.

    ``log1p(−p_c)`` where ``p_c <= 1/2``; for the (at most one) class above 1/2, the log
    of the summed other probabilities, so ``1 − p_c`` never rounds to 0 while the
    others are representable: finite gradients at saturated logits.
    """
    probs = ops.exp(log_probs)
    is_top, log_rest = _log_rest_mass(ops, probs)
    return _log_one_minus(ops, probs, is_top, log_rest)


def neg_log_prob(ops: Any, log_prob: Any, log_one_minus_p: Any) -> Any:
    """``−log p``, exact also where ``log_softmax`` rounds ``log p`` to 0.

    For ``p > 1/2`` it is ``−log1p(−(1 − p))`` from the exact ``log(1 − p)``; else the
    log-probability itself. The unused branch gets a safe input (no NaN gradient).
    """
    near_one = ops.less(log_one_minus_p, -_LN2)
    safe = ops.where(near_one, log_one_minus_p, -1.0)
    return ops.where(near_one, -ops.log1p(-ops.exp(safe)), -log_prob)


def log_one_minus_true_prob(ops: Any, t: CategoricalTargets) -> Any:
    """``log(1 − p_t)`` of the target class of integer labels, shape ``[...]``, exact.

    As :func:`log_one_minus_softmax`, with no one-hot mask: when ``p_t > 1/2`` the
    target is the class above 1/2, so the sum of the others is the sum of the small
    probabilities.
    """
    _, log_rest = _log_rest_mass(ops, ops.exp(t.log_probs))
    p_t = ops.exp(t.true_log_prob(ops))
    return _log_one_minus(ops, p_t, ops.greater(p_t, 0.5), ops.squeeze(log_rest, -1))


def softmax_focal_terms(ops: Any, t: CategoricalTargets, alpha: Any, gamma: Any) -> Any:
    """Per-example softmax focal loss ``[...]`` (ignored entries not yet zeroed).

    ``alpha`` and ``gamma`` are checked already (:func:`check_softmax_focal_params`).
    """
    if t.labels is not None:
        if focuses(gamma):
            log_one_minus_pt = log_one_minus_true_prob(ops, t)
            loss = neg_log_prob(ops, t.true_log_prob(ops), log_one_minus_pt)
            loss = modulate(ops, loss, log_one_minus_pt, gamma)
        else:
            loss = -t.true_log_prob(ops)
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


def check_softmax_focal_params(alpha: Any, gamma: Any, y_pred: Any, axis: int) -> None:
    check_focal_params(alpha, gamma, _class_count(y_pred, axis), "number of classes")


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

    Paper: https://arxiv.org/abs/1708.02002

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
        reduction: ``"none"`` (per example), ``"mean"`` (over the non-ignored examples;
            0 when all are ignored) or ``"sum"``.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar; in
        the dtype of ``y_pred``.

    Same numbers as ``keras.losses.categorical_focal_crossentropy(one_hot(y_true), y_pred,
    alpha=alpha, gamma=gamma, from_logits=True)`` for a scalar ``alpha`` (Keras clips
    probabilities to [1e-7, 1 − 1e-7], so only away from saturation) and as the focal
    loss of seed 002 (PolyLoss reference code) with the per-class ``alpha`` vector.

    Example:
        >>> from multiloss.core.ops import get_ops
        >>> import numpy as np
        >>> x = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> loss = softmax_focal_loss(get_ops("jax"), x, np.array([1, 2]),
        ...                           alpha=[0.25, 0.75, 0.75], reduction="none")
        >>> np.asarray(loss, np.float64).round(6).tolist()
        [1.089016, 0.003342]
    """
    check_reduction(reduction)
    check_softmax_focal_params(alpha, gamma, y_pred, axis)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, ignore_index=ignore_index
    )
    loss = softmax_focal_terms(ops, t, alpha, gamma)
    if t.mask is not None:
        loss = safe_where(ops, t.mask, loss)
    return reduce(ops, loss, reduction, t.out_dtype, mask=t.mask)
