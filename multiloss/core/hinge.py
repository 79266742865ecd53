"""Hinge family: the classification hinge loss and the pairwise (ranking) hinge loss."""

from __future__ import annotations

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


@register(kind="per_example", integer_args=())
def hinge_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Hinge loss, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} \max(0,\ 1 - y_d\, \hat y_d),
        \qquad y_d \in \{-1, 1\}

    Labels in {0, 1} are mapped to {−1, 1}: a label of exactly 0 is read as −1
    (element-wise, so no data-dependent branch; Keras converts only when every label
    is 0 or 1, which agrees on every {0, 1} or {−1, 1} label set).

    Reference: Cortes and Vapnik, *Support-Vector Networks* (1995); Rosasco et al.,
    *Are Loss Functions All the Same?* (2004).

    Args:
        y_pred: raw scores (decision values), shape ``[..., D]``.
        y_true: labels in {−1, 1} or {0, 1}, same shape as ``y_pred``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    Reference: Cortes & Vapnik, *Support-Vector Networks*, Machine Learning 20 (1995),
    https://doi.org/10.1007/BF00994018.

    Same numbers as ``keras.losses.hinge(y_true, y_pred)``.
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(
        ops, where, sample_weight, pred_shape[:-1], dtype, "y_pred without its last axis"
    )
    scores = as_float(ops, chosen.hide(y_pred), dtype)
    labels = as_float(ops, chosen.hide(y_true), dtype)
    labels = ops.where(ops.equal(labels, 0.0), -ops.ones_like(labels), labels)
    loss = ops.mean(ops.relu(1.0 - labels * scores), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_row", integer_args=())
def pairwise_hinge_loss(
    ops, pos_score, neg_score, *, margin=1.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Pairwise (margin ranking) hinge loss: a positive should outscore its negative.

    .. math::

        \ell = \max(0,\ m + s^- - s^+)

    Reference: Herbrich et al., *Large Margin Rank Boundaries for Ordinal Regression*
    (2000); Weston et al., *WSABIE* (2011).

    Args:
        pos_score: scores of the positive items, shape ``[B]`` (or any shape).
        neg_score: scores of the paired negative items, same shape as ``pos_score``.
        margin: the margin :math:`m` the positive must win by.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per pair, shape of ``pos_score``), ``"mean"``
            or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``pos_score`` for ``reduction="none"``, else a scalar; in the dtype
        of ``pos_score``.

    Reference: Herbrich, Graepel & Obermayer, *Large Margin Rank Boundaries for Ordinal
    Regression* (1999), and Joachims, *Optimizing Search Engines using Clickthrough Data*,
    KDD 2002, https://doi.org/10.1145/775047.775067.

    Same numbers as ``torch.nn.functional.margin_ranking_loss(pos_score, neg_score,
    torch.ones_like(pos_score), margin=margin)``.
    """
    check_reduction(reduction)
    check_scalar("margin", margin)
    check_same_shape("neg_score", static_shape(neg_score), "pos_score", static_shape(pos_score))
    dtype, out_dtype = compute_dtype(ops, pos_score)
    chosen = entries(ops, where, sample_weight, static_shape(pos_score), dtype, "pos_score")
    pos = as_float(ops, chosen.hide(pos_score), dtype)
    neg = as_float(ops, chosen.hide(neg_score), dtype)
    margin = margin if is_python_scalar(margin) else param_tensor(ops, margin, dtype)
    return reduce(ops, ops.relu(margin + neg - pos), reduction, out_dtype, entries=chosen)
