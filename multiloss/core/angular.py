"""Angular-margin softmax losses on cosine logits: ArcFace and CosFace.

Both take the cosines ``y_pred`` ``[B, C]`` between L2-normalised embeddings and
L2-normalised class weights (the rows of a normalised classifier) and integer labels
``[B]``, put a margin on the target class' cosine, scale every cosine by ``s`` and
take the softmax cross entropy of the result, per example.

Numerics. Cosines are clamped to ``[−1, 1]`` (normalised products round to
``1 + ulp``); the clamp is straight-through: the value is clamped, the gradient passes
as if the cosine were in range, so an input of ``1 + 1e-7`` gives the references'
numbers to rounding, and any finite input a finite loss and gradient. ArcFace's
``sin θ_t = sqrt((1 − cos θ_t)(1 + cos θ_t))`` has an infinite slope at
``cos θ_t = ±1``; where the product is 0 the sine is taken as 0 with a zero gradient
(the references clamp ``1 − cos²`` into ``[0, 1]`` the same way but keep the infinite
slope), so the gradient is finite at the ends too. Half precision is computed in
float32, and the cross entropy is taken in log space (max-shifted, exact as
``p_t → 1``), finite at ``s = 64`` in every dtype.
"""

from __future__ import annotations

import math
from typing import Any

from multiloss.core.checks import (
    check_flag,
    check_reduction,
    check_scalar,
    check_static_scalar,
    static_shape,
)
from multiloss.core.paired import check_positive, scalar_param
from multiloss.core.reduction import reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets

#: The largest ArcFace margin: θ_t + m stays within [0, π] for every θ_t the easy
#: margin penalises (θ_t < π/2), and cos(θ_t + m) keeps decreasing in θ_t.
MAX_ARC_MARGIN = math.pi / 2


def _check_shapes(y_pred: Any, y_true: Any) -> None:
    """``y_pred`` ``[B, C]`` cosines and ``y_true`` ``[B]`` (or ``[B, 1]``) class ids."""
    pred_shape, true_shape = static_shape(y_pred), static_shape(y_true)
    if len(pred_shape) != 2:
        raise ValueError(
            f"y_pred must be cosine logits of shape [B, C], got y_pred of shape {pred_shape}"
        )
    if len(true_shape) == 2 and true_shape[1] == 1 and pred_shape[1] != 1:
        true_shape = true_shape[:1]
    if len(true_shape) != 1 or (
        None not in (true_shape[0], pred_shape[0]) and true_shape[0] != pred_shape[0]
    ):
        raise ValueError(
            f"y_true must hold one integer class id per row of y_pred, shape "
            f"[{pred_shape[0]}], got y_true {static_shape(y_true)} for y_pred {pred_shape}"
        )


def _clamp_cosines(ops: Any, cosines: Any) -> Any:
    """``clip(cosines, −1, 1)`` in value, the identity in gradient (straight-through):
    finite for any finite input, and the references' gradient for cosines a rounding
    outside ``[−1, 1]``. NaN stays NaN."""
    inside = ops.less_equal(ops.abs(cosines), 1.0)
    bound = ops.stop_gradient(ops.sign(cosines))
    return ops.where(inside, cosines, bound + (cosines - ops.stop_gradient(cosines)))


def _safe_sine(ops: Any, cosines: Any) -> Any:
    """``sqrt((1 − c)(1 + c))`` for ``c`` in ``[−1, 1]``; 0 with a zero gradient where
    the product is 0 (``c = ±1``, where the slope of the square root is infinite).
    ``(1 − c)(1 + c)`` rather than ``1 − c²``: exact differences near ``c = ±1``."""
    squared = (1.0 - cosines) * (1.0 + cosines)
    positive = ops.greater(squared, 0.0)
    root = ops.sqrt(ops.where(positive, squared, ops.ones_like(squared)))
    return ops.where(positive, root, ops.zeros_like(root))


def _target_neg_log_prob(ops: Any, logits: Any, is_target: Any) -> Any:
    """``−log softmax(logits)_t`` ``[B]`` of the ``is_target`` class, value and gradient
    exact also as ``p_t → 1``.

    Where the target logit is the largest, the rows are shifted by it (with its
    gradient): ``log1p(Σ_{j≠t} exp(z_j − z_t))``, whose slope in ``z_t`` is the exact
    ``−(1 − p_t)``; ``log Σ exp − z_t`` would give it as ``p_t − 1``, a cancellation
    that at ``s = 64`` and a steep ``∂φ/∂cos θ_t`` costs float32 its digits. Elsewhere
    (``p_t <= 1/2``) they are shifted by the row maximum, held constant."""
    peak = ops.stop_gradient(ops.max(logits, axis=-1))
    target = ops.sum(ops.where(is_target, logits, ops.zeros_like(logits)), axis=-1)
    shift = ops.where(ops.greater_equal(target, peak), target, peak)
    shifted_target = target - shift  # exactly 0 (slope 0) where the target is the largest
    others = ops.where(is_target, ops.zeros_like(logits), ops.exp(logits - ops.expand_dims(shift, -1)))
    rest = ops.sum(others, axis=-1)
    return ops.log1p(rest + (ops.exp(shifted_target) - 1.0)) - shifted_target


def _margin_cross_entropy(
    ops: Any, y_pred: Any, y_true: Any, target_fn: Any, scale: Any,
    where: Any, sample_weight: Any, reduction: str,
) -> Any:
    """Softmax cross entropy of ``s · cos`` with the target cosine replaced by
    ``target_fn(cos_t)``, per example, reduced."""
    _check_shapes(y_pred, y_true)
    t = categorical_targets(ops, y_pred, y_true, where=where, sample_weight=sample_weight)
    if t.labels is None:  # [B, 1] targets with a single class (ids are [B] then)
        raise ValueError(
            f"y_true must hold integer class ids of shape [B], got class probabilities "
            f"of shape {static_shape(y_true)} (same as y_pred)"
        )
    cosines = _clamp_cosines(ops, t.scores)
    num_classes = t.num_classes
    if num_classes is None:  # a class axis known only at run time (tf.function)
        num_classes = ops.shape(cosines)[-1]
    labels = ops.expand_dims(t.labels, -1)
    is_target = ops.equal(labels, ops.arange(num_classes, dtype=ops.dtype(t.labels)))
    target = ops.squeeze(ops.take_along_axis(cosines, labels, axis=-1), -1)
    margined = ops.where(is_target, ops.expand_dims(target_fn(target), -1), cosines)
    scale = scalar_param(ops, scale, t.dtype)
    neg_log_pt = _target_neg_log_prob(ops, margined * scale, is_target)
    return reduce(ops, neg_log_pt, reduction, t.out_dtype, entries=t.entries)


@register(kind="per_example", class_name="ArcFaceLoss")
def arcface_loss(
    ops,
    y_pred,
    y_true,
    *,
    scale=64.0,
    margin=0.5,
    easy_margin=False,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""ArcFace: additive angular margin loss, Deng et al. 2019.

    With the cosines :math:`\cos\theta_j` of ``y_pred`` and the target class :math:`t`:

    .. math::

        \ell = -\log \frac{e^{s\,\phi(\theta_t)}}
            {e^{s\,\phi(\theta_t)} + \sum_{j \ne t} e^{s \cos\theta_j}},
        \qquad
        \phi(\theta) = \begin{cases}
            \cos(\theta + m) & \text{if } \theta + m \le \pi \;
                (\cos\theta > \cos(\pi - m)) \\
            \cos\theta - m \sin m & \text{otherwise (InsightFace's threshold rule)}
        \end{cases}

    :math:`\cos(\theta + m) = \cos\theta \cos m - \sin\theta \sin m` with
    :math:`\sin\theta = \sqrt{(1 - \cos\theta)(1 + \cos\theta)}`. With
    ``easy_margin=True`` (``ArcMarginProduct``'s option) the margin applies only where
    :math:`\cos\theta_t > 0` and :math:`\phi(\theta) = \cos\theta` elsewhere (no
    threshold rule).

    Numerics: cosines are clamped to [−1, 1] straight-through (value clamped, gradient
    passed; products of normalised vectors round to 1 + ulp); at
    :math:`\cos\theta_t = \pm 1`, where the slope of :math:`\sin\theta_t` is infinite,
    its gradient is taken as 0 (so :math:`\partial\phi/\partial\cos\theta_t = \cos m` at
    1): value and gradient are finite for every finite input. The cross entropy is
    taken in log space, in float32 for half-precision inputs.

    Args:
        y_pred: cosine logits ``[B, C]``: normalised embeddings times the normalised
            class-weight matrix, in [−1, 1] (not normalised here).
        y_true: integer class ids ``[B]`` (or ``[B, 1]``) in ``[0, C)``.
        scale: s > 0, the feature scale (a Python number or a scalar tensor).
        margin: m in [0, π/2], the additive angular margin in radians (a Python
            number: it sets the threshold).
        easy_margin: apply the margin only where :math:`\cos\theta_t > 0`.
        where: boolean mask broadcastable to the unreduced loss ``[B]``: ``False``
            entries contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; they multiply the loss,
            and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Deng, Guo, Xue & Zafeiriou, *ArcFace: Additive Angular Margin Loss for Deep
        Face Recognition*, CVPR 2019, https://arxiv.org/abs/1801.07698.

        Same numbers as ``torch.nn.functional.cross_entropy(logits, y_true,
        reduction="none")`` of the logits of InsightFace's ``ArcFace`` head
        (``recognition/arcface_torch/losses.py`` of github.com/deepinsight/insightface,
        commit eca1d9a, ``ArcFace(s=scale, margin=margin)``; with ``easy_margin=True`` the
        ``ArcMarginProduct`` rule of github.com/ronghuaiyang/arcface-pytorch), away from
        :math:`\cos\theta_t = \pm 1` where theirs has an infinite gradient.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.8, 0.1, -0.3], [0.2, -0.9, 0.5]], np.float32)
        >>> y_true = np.array([0, 1])
        >>> loss = arcface_loss(get_ops("jax"), y_pred, y_true, scale=8.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.0808, 13.2045]
    """
    check_reduction(reduction)
    check_positive("scale", scale)
    check_static_scalar("margin", margin, low=0.0, high=MAX_ARC_MARGIN)
    check_flag("easy_margin", easy_margin)
    margin = float(margin)
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    threshold = math.cos(math.pi - margin)  # θ + m = π
    linear_shift = math.sin(math.pi - margin) * margin  # InsightFace's `sinmm`

    def target_fn(cos_t):
        cos_t_plus_m = cos_t * cos_m - _safe_sine(ops, cos_t) * sin_m
        if easy_margin:
            return ops.where(ops.greater(cos_t, 0.0), cos_t_plus_m, cos_t)
        return ops.where(ops.greater(cos_t, threshold), cos_t_plus_m, cos_t - linear_shift)

    return _margin_cross_entropy(
        ops, y_pred, y_true, target_fn, scale, where, sample_weight, reduction
    )


@register(kind="per_example", class_name="CosFaceLoss")
def cosface_loss(
    ops,
    y_pred,
    y_true,
    *,
    scale=64.0,
    margin=0.35,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""CosFace: large margin cosine loss (LMCL), Wang et al. 2018.

    With the cosines :math:`\cos\theta_j` of ``y_pred`` and the target class :math:`t`:

    .. math::

        \ell = -\log \frac{e^{s(\cos\theta_t - m)}}
            {e^{s(\cos\theta_t - m)} + \sum_{j \ne t} e^{s \cos\theta_j}}

    Numerics: cosines are clamped to [−1, 1] straight-through (value clamped, gradient
    passed), so every finite input gives a finite value and gradient; the cross
    entropy is taken in log space, in float32 for half-precision inputs.

    Args:
        y_pred: cosine logits ``[B, C]``: normalised embeddings times the normalised
            class-weight matrix, in [−1, 1] (not normalised here).
        y_true: integer class ids ``[B]`` (or ``[B, 1]``) in ``[0, C)``.
        scale: s > 0, the feature scale (a Python number or a scalar tensor).
        margin: m >= 0, the cosine margin (a Python number or a scalar tensor).
        where: boolean mask broadcastable to the unreduced loss ``[B]``: ``False``
            entries contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; they multiply the loss,
            and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Wang et al., *CosFace: Large Margin Cosine Loss for Deep Face Recognition*,
        CVPR 2018, https://arxiv.org/abs/1801.09414.

        Same numbers as ``torch.nn.functional.cross_entropy(scale * (y_pred - margin *
        one_hot(y_true)), y_true, reduction="none")``: the logits of InsightFace's
        ``CosFace`` head (``recognition/arcface_torch/losses.py`` of
        github.com/deepinsight/insightface) with their cross entropy.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.8, 0.1, -0.3], [0.2, -0.9, 0.5]], np.float32)
        >>> y_true = np.array([0, 1])
        >>> loss = cosface_loss(get_ops("jax"), y_pred, y_true, scale=8.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.0614, 14.0868]
    """
    check_reduction(reduction)
    check_positive("scale", scale)
    check_scalar("margin", margin, low=0.0)

    def target_fn(cos_t):
        return cos_t - scalar_param(ops, margin, ops.dtype(cos_t))

    return _margin_cross_entropy(
        ops, y_pred, y_true, target_fn, scale, where, sample_weight, reduction
    )
