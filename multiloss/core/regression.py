"""Regression family: the square loss."""

from __future__ import annotations

from multiloss.core.checks import check_rank, check_reduction, check_same_shape, static_shape
from multiloss.core.common import as_float, compute_dtype
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register


@register(kind="per_example", integer_args=())
def mean_squared_error(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Mean squared error, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} (\hat y_d - y_d)^2

    Reference: Gauss, *Theoria motus corporum coelestium* (1809), least squares.

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    Reference: the least-squares criterion (Legendre 1805, Gauss 1809); see Hastie,
    Tibshirani & Friedman, *The Elements of Statistical Learning*, section 2.4,
    https://hastie.su.domains/ElemStatLearn/.

    Same numbers as ``torch.nn.functional.mse_loss(y_pred, y_true,
    reduction="none").mean(-1)`` and ``keras.losses.mean_squared_error(y_true, y_pred)``;
    ``"mean"`` equals ``mse_loss(..., reduction="mean")``.
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(
        ops, where, sample_weight, pred_shape[:-1], dtype, "y_pred without its last axis"
    )
    error = as_float(ops, chosen.hide(y_pred), dtype) - as_float(ops, chosen.hide(y_true), dtype)
    loss = ops.mean(ops.square(error), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
