"""Divergence family: the Kullback-Leibler divergence between class distributions."""

from __future__ import annotations

from multiloss.core.checks import check_rank, check_reduction, check_same_shape, static_shape
from multiloss.core.reduction import reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets


@register(kind="per_example")
def kl_divergence(
    ops, y_pred, y_true, *, from_logits=True, axis=-1,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Kullback-Leibler divergence KL(y_true ‖ softmax(y_pred)) per example.

    .. math::

        \ell = \sum_c y_c \left(\log y_c - \log \operatorname{softmax}(x)_c\right),
        \qquad 0 \log 0 = 0

    Computed from ``log_softmax`` (no probability is formed and logged); the
    :math:`y \log y` term is taken as ``y * log(where(y > 0, y, 1))``, so zero
    targets contribute 0 with finite gradients.

    Reference: Kullback and Leibler, *On Information and Sufficiency* (1951); as a
    distillation loss, Hinton et al. 2015, https://arxiv.org/abs/1503.02531.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape
            ``[..., C, ...]`` with the classes on ``axis``.
        y_true: target class probabilities, same shape as ``y_pred``.
        from_logits: ``y_pred`` holds logits (default). With ``False`` it holds
            probabilities, normalised over ``axis`` and logged at >= the smallest
            normal float32.
        axis: the class axis.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` (over examples) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    Same numbers as ``torch.nn.functional.kl_div(log_softmax(y_pred), y_true,
    reduction="none").sum(-1)``; for 2-D inputs ``"mean"`` equals torch's
    ``reduction="batchmean"`` (torch's default ``"mean"`` divides by the element count
    and is not the KL) and ``keras.losses.kl_divergence(y_true, softmax(y_pred))``
    (which clips probabilities to [1e-7, 1]).
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, where=where,
        sample_weight=sample_weight,
    )
    target = t.target_probs
    positive = ops.greater(target, 0.0)
    target_log_target = target * ops.log(ops.where(positive, target, ops.ones_like(target)))
    loss = ops.sum(target_log_target - target * t.log_probs, axis=-1)
    return reduce(ops, loss, reduction, t.out_dtype, entries=t.entries)
