"""Circle loss family (Sun et al. 2020): the pair form and the class-level batch form.

Sun et al., *Circle Loss: A Unified Perspective of Pair Similarity Optimization*,
https://arxiv.org/abs/2002.10857.

Both forms compute, per row,
``softplus(logsumexp(γ·αn·(sn − Δn)) + logsumexp(−γ·αp·(sp − Δp)))`` in log space (never
``exp`` of a scaled similarity), so γ = 256 or 512 stays finite in float32. The weights
αp = relu(1 + m − sp) and αn = relu(sn + m) are held constant (stop-gradient), as in the
paper and pytorch-metric-learning.
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import (
    check_rank,
    check_reduction,
    check_scalar,
    is_integer_dtype,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, masked_logsumexp, param_tensor
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register


def _circle_params(ops: Any, margin: Any, gamma: Any, dtype: str) -> tuple[Any, Any]:
    check_scalar("margin", margin)
    check_scalar("gamma", gamma, low=0.0)
    margin = margin if is_python_scalar(margin) else param_tensor(ops, margin, dtype)
    gamma = gamma if is_python_scalar(gamma) else param_tensor(ops, gamma, dtype)
    return margin, gamma


def circle_rows(
    ops: Any, sp: Any, sn: Any, margin: Any, gamma: Any, pos_mask: Any = None, neg_mask: Any = None
) -> Any:
    """Per-row Circle loss of similarities ``sp [..., m]`` and ``sn [..., n]``.

    ``pos_mask``/``neg_mask`` (bool, shapes of ``sp``/``sn``) select the pairs that count.
    """
    alpha_p = ops.stop_gradient(ops.relu(1.0 + margin - sp))
    alpha_n = ops.stop_gradient(ops.relu(sn + margin))
    logit_p = -gamma * alpha_p * (sp - (1.0 - margin))
    logit_n = gamma * alpha_n * (sn - margin)
    total = masked_logsumexp(ops, logit_n, neg_mask) + masked_logsumexp(ops, logit_p, pos_mask)
    return ops.softplus(total)


@register(kind="per_row", integer_args=())
def circle_loss(
    ops, sp, sn, *, margin=0.4, gamma=80.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Circle loss, pair form (Sun et al. 2020, eq. 6).

    .. math::

        \ell = \log\Big(1 + \sum_{j} e^{\gamma \alpha_n^j (s_n^j - \Delta_n)}
               \sum_{i} e^{-\gamma \alpha_p^i (s_p^i - \Delta_p)}\Big)
             = \operatorname{softplus}\big(\operatorname{LSE}_j(\gamma \alpha_n^j (s_n^j - m))
               + \operatorname{LSE}_i(-\gamma \alpha_p^i (s_p^i - 1 + m))\big)

    with :math:`\Delta_p = 1 - m`, :math:`\Delta_n = m`,
    :math:`\alpha_p = [1 + m - s_p]_+` and :math:`\alpha_n = [s_n + m]_+` held
    constant (no gradient flows through them), computed in log space: finite for any
    γ (γ = 512 in float32 included).

    Args:
        sp: within-class (positive) similarities, shape ``[B, m]`` (or ``[..., m]``).
        sn: between-class (negative) similarities, shape ``[B, n]`` (same leading
            shape as ``sp``).
        margin: relaxation factor :math:`m`.
        gamma: scale factor :math:`\gamma` >= 0.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (one value per row, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``sp``.

    References:
        Sun et al., *Circle Loss: A Unified Perspective of Pair Similarity Optimization*,
        CVPR 2020, https://arxiv.org/abs/2002.10857.

        Same numbers as ``simnet_circle_loss(sp, sn, margin, scale=gamma)`` of Baidu's
        PaddleNLP SimNet (which exponentiates in float64 and overflows for large γ) with
        ``reduction="mean"``, and as pytorch-metric-learning's ``CircleLoss`` per anchor.
        In Keras the class form is called ``CircleLoss()(sp, sn)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> sp = np.array([[0.9, 0.7], [0.6, 0.8]], np.float32)
        >>> sn = np.array([[0.3, 0.5, 0.1], [0.4, 0.2, 0.7]], np.float32)
        >>> loss = circle_loss(get_ops("jax"), sp, sn, gamma=16.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.0763, 5.427]
    """
    check_reduction(reduction)
    sp_shape, sn_shape = static_shape(sp), static_shape(sn)
    check_rank("sp", sp_shape, 1)
    check_rank("sn", sn_shape, 1)
    if len(sp_shape) != len(sn_shape) or any(
        a is not None and b is not None and a != b for a, b in zip(sp_shape[:-1], sn_shape[:-1], strict=True)
    ):
        raise ValueError(
            "sp and sn must have the same shape but for their last axis, got sp "
            f"{sp_shape} and sn {sn_shape}"
        )
    dtype, out_dtype = compute_dtype(ops, sp)
    margin, gamma = _circle_params(ops, margin, gamma, dtype)
    chosen = entries(ops, where, sample_weight, sp_shape[:-1], dtype, "sp without its last axis")
    sp, sn = as_float(ops, chosen.hide(sp), dtype), as_float(ops, chosen.hide(sn), dtype)
    loss = circle_rows(ops, sp, sn, margin, gamma)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_example")
def batch_circle_loss(
    ops, y_pred, y_true, *, margin=0.4, gamma=80.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Circle loss, class-level form on a batch of embeddings.

    Every sample is an anchor; the other samples with its label are its positives
    and the samples with another label its negatives. With the cosine similarities
    :math:`s_{ij} = \min(e_i \cdot e_j, 1)` the loss of anchor :math:`i` is
    :func:`circle_loss` of its row:

    .. math::

        \ell_i = \operatorname{softplus}\big(
            \operatorname{LSE}_{j: y_j \ne y_i}(\gamma \alpha_n^{ij} (s_{ij} - m))
          + \operatorname{LSE}_{j \ne i: y_j = y_i}(-\gamma \alpha_p^{ij} (s_{ij} - 1 + m))\big)

    An anchor with no positive (or no negative) in the batch gives 0.

    Args:
        y_pred: L2-normalised embeddings, shape ``[B, D]`` (not normalised here).
        y_true: integer labels, shape ``[B]`` (or ``[B, 1]``).
        margin: relaxation factor :math:`m`.
        gamma: scale factor :math:`\gamma` >= 0.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per anchor, shape ``[B]``), ``"mean"`` (over the anchors
            with at least one positive and one negative; 0 when there are none) or
            ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Sun et al., *Circle Loss: A Unified Perspective of Pair Similarity Optimization*,
        CVPR 2020, https://arxiv.org/abs/2002.10857.

        Per-anchor values equal ``keras.losses.circle(y_true, y_pred)``. Gradients differ
        from Keras' on purpose: Keras differentiates through the α weights, here they are
        held constant as in the paper, pytorch-metric-learning and :func:`circle_loss`.
        Keras' ``CircleLoss`` averages over the anchors whose loss is > 0, which differs
        from ``"mean"`` here only when a valid anchor's loss underflows to 0.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]], np.float32)
        >>> y_true = np.array([0, 0, 1, 1])
        >>> loss = batch_circle_loss(get_ops("jax"), y_pred, y_true, gamma=16.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.1466, 1.5278, 1.5278, 0.1466]
    """
    check_reduction(reduction)
    pred_shape, true_shape = static_shape(y_pred), static_shape(y_true)
    if len(pred_shape) != 2:
        raise ValueError(f"y_pred must be embeddings of shape [B, D], got shape {pred_shape}")
    if len(true_shape) == 2 and true_shape[1] == 1:
        y_true = ops.squeeze(y_true, -1)
        true_shape = true_shape[:1]
    if len(true_shape) != 1 or (
        None not in (true_shape[0], pred_shape[0]) and true_shape[0] != pred_shape[0]
    ):
        raise ValueError(
            f"y_true must hold one label per embedding, shape [{pred_shape[0]}], got "
            f"y_true {true_shape} for y_pred {pred_shape}"
        )
    dtype, out_dtype = compute_dtype(ops, y_pred)
    margin, gamma = _circle_params(ops, margin, gamma, dtype)
    # ``where`` and weights are per anchor; a masked-out sample is still every other
    # anchor's positive or negative (its embedding is not hidden).
    chosen = entries(ops, where, sample_weight, true_shape, dtype, "y_true (one value per anchor)")
    labels = ops.convert_to_tensor(y_true)
    if not is_integer_dtype(ops.dtype(labels)):
        labels = ops.cast(labels, "int32")
    embeddings = as_float(ops, y_pred, dtype)
    similarity = ops.minimum(ops.matmul(embeddings, ops.transpose(embeddings)), 1.0)
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    # Row indices from the labels' own (possibly dynamic) length, for the diagonal.
    index = ops.cumsum(ops.ones_like(labels, dtype="int32")) - 1
    diagonal = ops.equal(ops.expand_dims(index, 1), ops.expand_dims(index, 0))
    pos_mask = ops.logical_and(same, ops.logical_not(diagonal))
    neg_mask = ops.logical_not(same)
    loss = circle_rows(ops, similarity, similarity, margin, gamma, pos_mask, neg_mask)
    valid = ops.logical_and(ops.any(pos_mask, axis=-1), ops.any(neg_mask, axis=-1))
    return reduce(ops, loss, reduction, out_dtype, mask=valid, entries=chosen)
