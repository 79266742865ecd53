"""Learning-to-rank losses: the softmax (listwise cross entropy), pairwise logistic and
ListMLE losses of scores ``y_pred`` and relevance labels ``y_true``, both ``[B, L]``
(``B`` lists of ``L`` items; any leading axes are lists too), one value per list.

Conventions shared by the three losses:

- **Padding.** ``where`` of ``y_pred``'s shape (``[B, L]``, or broadcastable to it with
  the same rank) marks the items: ``False`` items are padding, they neither score nor
  count (no pair is formed with them, they leave every normaliser, their gradient is 0
  and NaN/Inf in them never reaches the result). A ``where`` of lower rank
  (``[B]``, or a scalar) masks whole lists, as for every other loss. The pairwise and
  ListMLE losses also treat an item whose label is negative as padding (keras-rs' and
  TF-Ranking's convention: label ``-1`` pads a list); the softmax loss uses its labels as
  given (as optax).
- **Lists that carry no signal** give 0 with a zero gradient and are not counted by
  ``"mean"``: a list that is entirely padding, or whose kept items have no relevant
  item (softmax: every label 0, the value optax gives; pairwise and ListMLE: no label
  above 0). Keras' reductions of the ``Loss`` classes count the same lists.
- ``sample_weight`` weighs lists (broadcastable to ``[B]``).
- Half precision is computed in float32; every term is formed in log space (softplus,
  masked log-softmax, an exact suffix log-sum-exp), so any finite scores give a finite
  value and gradient, whatever their spread. NaN in a kept score or label gives NaN.
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import check_rank, check_reduction, check_same_shape, static_shape
from multiloss.core.common import as_float, compute_dtype, safe_divide
from multiloss.core.reduction import Entries, entries, reduce
from multiloss.core.registry import register

_INF = float("inf")
_NAN = float("nan")


# --- inputs -------------------------------------------------------------------------------


def _ranking_inputs(
    ops: Any, y_pred: Any, y_true: Any, where: Any, sample_weight: Any, *, negative_pads: bool
) -> tuple[Any, Any, Any, Entries, str]:
    """Check and prepare ``(y_pred, y_true)`` of shape ``[..., L]``.

    Returns ``(scores, labels, valid, entries, output dtype)``: scores and labels in the
    compute dtype with the padded items (and the lists ``where`` masks out) replaced by
    0, ``valid`` the bool mask of the items that count (shape of ``y_pred``), and the
    list-level :class:`Entries` (``where`` of lower rank, ``sample_weight``).
    """
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    if pred_shape[-1] == 0:
        raise ValueError(
            f"y_pred must hold at least one item on its last axis (the list), got shape "
            f"{pred_shape}"
        )
    dtype, out_dtype = compute_dtype(ops, y_pred)
    list_shape = pred_shape[:-1]
    item_mask = None
    if where is not None and len(static_shape(where)) == len(pred_shape):
        item_mask = entries(ops, where, None, pred_shape, dtype, "y_pred (a mask of items)").mask
        where = None
    chosen = entries(
        ops, where, sample_weight, list_shape, dtype, "the lists (y_pred without its last axis)"
    )
    scores, labels = chosen.hide(y_pred), chosen.hide(y_true)
    if item_mask is not None:  # selects: NaN/Inf in a padded item stays out
        scores = ops.convert_to_tensor(scores)
        labels = ops.convert_to_tensor(labels)
        scores = ops.where(item_mask, scores, ops.zeros_like(scores))
        labels = ops.where(item_mask, labels, ops.zeros_like(labels))
    scores = as_float(ops, scores, dtype)
    labels = as_float(ops, labels, dtype)
    valid = ops.equal(ops.zeros_like(scores), 0.0)  # all True, the shape of the scores
    if item_mask is not None:
        valid = ops.logical_and(valid, item_mask)
    if negative_pads:  # label < 0 pads (NaN does not: it must show in the result)
        valid = ops.logical_and(valid, ops.logical_not(ops.less(labels, 0.0)))
    return scores, labels, valid, chosen, out_dtype


def _has_relevant(ops: Any, labels: Any, valid: Any) -> Any:
    """Per list: some kept item has a label above 0 (or NaN, which must show)."""
    relevant = ops.logical_not(ops.less_equal(labels, 0.0))
    return ops.any(ops.logical_and(valid, relevant), axis=-1)


def _nan_where_nan(ops: Any, loss: Any, scores: Any, labels: Any, valid: Any) -> Any:
    """``loss`` with NaN for the lists with a NaN score or label among their kept items
    (labels enter the pairwise and ListMLE losses only through comparisons, which NaN
    fails silently, and a list of one kept item has no term at all)."""
    nan = ops.logical_or(ops.isnan(scores), ops.isnan(labels))
    bad = ops.any(ops.logical_and(valid, nan), axis=-1)
    return ops.where(bad, ops.full_like(loss, _NAN), loss)


# --- log-space helpers -------------------------------------------------------------------


def _masked_log_softmax(ops: Any, scores: Any, valid: Any) -> Any:
    """``log softmax`` over the kept items of the last axis (0 at padded ones): the
    shifted scores minus the log of their summed exponentials (>= 1), the shift (the
    largest kept score) held constant. A list without kept items gives 0."""
    any_valid = ops.any(valid, axis=-1, keepdims=True)
    peak = ops.max(ops.where(valid, scores, -_INF), axis=-1, keepdims=True)
    peak = ops.stop_gradient(ops.where(any_valid, peak, ops.zeros_like(peak)))
    shifted = scores - peak
    total = ops.sum(ops.exp(ops.where(valid, shifted, -_INF)), axis=-1, keepdims=True)
    log_total = ops.log(ops.where(any_valid, total, ops.ones_like(total)))
    return ops.where(valid, shifted - log_total, ops.zeros_like(shifted))


def _log_add_exp(ops: Any, a: Any, b: Any) -> Any:
    """``log(eᵃ + eᵇ)`` for finite ``a``, ``b``: the larger held constant and factored out,
    so the gradient is the exact softmax pair (½, ½ at a tie, on every framework)."""
    peak = ops.stop_gradient(ops.maximum(a, b))
    return peak + ops.log(ops.exp(a - peak) + ops.exp(b - peak))


def _shift_left(ops: Any, x: Any, step: int, fill: Any) -> Any:
    """``x[..., k + step]`` at ``k`` along the last axis, ``fill`` (like ``x[..., :step]``)
    past the end."""
    return ops.concatenate([x[..., step:], fill], axis=-1)


def _suffix_logsumexp(ops: Any, scores: Any, valid: Any) -> tuple[Any, Any]:
    """``(rest, has_rest)``: ``rest_k = log Σ_{j > k, valid_j} exp(s_j)`` along the last
    axis and whether that set is non-empty (``rest_k`` is 0 where it is empty).

    With a static list length, a log-depth inclusive scan (Hillis & Steele) of
    :func:`_log_add_exp`: ⌈log₂ L⌉ steps of one shifted merge each, O(L log L) work,
    exact (every merge is a log-sum-exp of two finite values). With a length known only
    at run time, the masked log-sum-exp of every suffix (O(L²) memory).
    """
    length = static_shape(scores)[-1]
    if length is None:
        return _suffix_logsumexp_dense(ops, scores, valid)
    total, filled = scores, valid
    step = 1
    while step < length:
        total_next = _shift_left(ops, total, step, ops.zeros_like(total[..., :step]))
        filled_next = _shift_left(ops, filled, step, ops.zeros_like(filled[..., :step]))
        both = ops.logical_and(filled, filled_next)
        merged = _log_add_exp(ops, total, ops.where(both, total_next, total))
        total = ops.where(both, merged, ops.where(filled_next, total_next, total))
        filled = ops.logical_or(filled, filled_next)
        step *= 2
    if length == 1:
        return ops.zeros_like(scores), ops.logical_and(valid, ops.logical_not(valid))
    rest = _shift_left(ops, total, 1, ops.zeros_like(total[..., :1]))
    has_rest = _shift_left(ops, filled, 1, ops.zeros_like(filled[..., :1]))
    return ops.where(has_rest, rest, ops.zeros_like(rest)), has_rest


def _suffix_logsumexp_dense(ops: Any, scores: Any, valid: Any) -> tuple[Any, Any]:
    """:func:`_suffix_logsumexp` for a list length unknown until run time: every suffix
    as a masked row of an ``[..., L, L]`` matrix."""
    position = ops.cumsum(ops.ones_like(scores), axis=-1)
    later = ops.greater(ops.expand_dims(position, -2), ops.expand_dims(position, -1))
    chosen = ops.logical_and(later, ops.expand_dims(valid, -2))  # [..., k, j]: j > k, kept
    others = ops.expand_dims(scores, -2) * ops.ones_like(ops.expand_dims(scores, -1))
    has_rest = ops.any(chosen, axis=-1)
    peak = ops.max(ops.where(chosen, others, -_INF), axis=-1)
    peak = ops.stop_gradient(ops.where(has_rest, peak, ops.zeros_like(peak)))
    shifted = ops.where(chosen, others - ops.expand_dims(peak, -1), -_INF)
    total = ops.sum(ops.exp(shifted), axis=-1)
    rest = peak + ops.log(ops.where(has_rest, total, ops.ones_like(total)))
    return ops.where(has_rest, rest, ops.zeros_like(rest)), has_rest


# --- losses -------------------------------------------------------------------------------

@register(kind="per_row", integer_args=("y_true",))
def softmax_ranking_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Softmax ranking loss (listwise cross entropy), per list.

    .. math::

        \ell(s, y) = -\sum_{i} y_i \log \frac{e^{s_i}}{\sum_{j} e^{s_j}}

    over the kept items :math:`i, j` of the list. The labels are used as given (not
    normalised to sum to 1, as optax): graded relevance weighs the items.

    Args:
        y_pred: scores ``[B, L]`` (``[..., L]``: the last axis is the list).
        y_true: relevance labels, same shape as ``y_pred`` (integers or floats).
        where: boolean mask of the items (shape of ``y_pred``): ``False`` items are
            padding, excluded from the softmax and the sum; or a mask of lower rank,
            broadcastable to ``[B]``, of whole lists. Masked-out lists and lists without
            a non-zero label among their kept items give 0 and are not counted by the
            mean.
        sample_weight: weights >= 0 broadcastable to ``[B]`` (one per list); they
            multiply the per-list loss, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per list, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Cao et al., *Learning to Rank: From Pairwise Approach to Listwise
        Approach* (ListNet), ICML 2007, https://doi.org/10.1145/1273496.1273513; Bruch et
        al., *An Analysis of the Softmax Cross Entropy Loss for Learning-to-Rank with Binary
        Relevance*, ICTIR 2019, https://doi.org/10.1145/3341981.3344221.

        Same numbers as ``optax.losses.ranking_softmax_loss(y_pred, y_true, where=where,
        reduce_fn=None)`` per list (``where`` of items). optax' ``jnp.mean`` counts the
        lists without a relevant item (their value is 0); ``"mean"`` here does not.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0]], np.float32)
        >>> loss = softmax_ranking_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [2.8575, 4.5228]
    """
    check_reduction(reduction)
    scores, labels, valid, chosen, out_dtype = _ranking_inputs(
        ops, y_pred, y_true, where, sample_weight, negative_pads=False
    )
    log_probs = _masked_log_softmax(ops, scores, valid)
    terms = ops.where(valid, labels * log_probs, ops.zeros_like(log_probs))
    loss = -ops.sum(terms, axis=-1)
    signal = ops.any(ops.logical_and(valid, ops.not_equal(labels, 0.0)), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, mask=signal, entries=chosen)


@register(kind="per_row", integer_args=("y_true",))
def pairwise_logistic_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Pairwise logistic loss (RankNet), per list: the mean over the list's items of
    each item's logistic losses against the items it should outrank.

    .. math::

        \ell(s, y) = \frac{1}{n} \sum_{i} \sum_{j} \mathbb{1}[y_i > y_j]\,
            \log\big(1 + e^{-(s_i - s_j)}\big)

    over the :math:`n` kept items of the list; each term is
    :math:`\operatorname{softplus}(s_j - s_i)`, exact and finite for any score spread.

    Args:
        y_pred: scores ``[B, L]`` (``[..., L]``: the last axis is the list).
        y_true: relevance labels, same shape as ``y_pred``; an item with a negative
            label is padding (keras-rs' convention).
        where: boolean mask of the items (shape of ``y_pred``): ``False`` items are
            padding (in no pair, not in :math:`n`); or a mask of lower rank,
            broadcastable to ``[B]``, of whole lists. Masked-out lists and lists without
            a label above 0 among their kept items give 0 and are not counted by the
            mean.
        sample_weight: weights >= 0 broadcastable to ``[B]`` (one per list); they
            multiply the per-list loss, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per list, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Burges et al., *Learning to Rank using Gradient Descent* (RankNet), ICML
        2005, https://doi.org/10.1145/1102351.1102363.

        Same numbers as ``keras_rs.losses.PairwiseLogisticLoss()``: its per-item values
        (``reduction="none"``, shape ``[B, L]``) averaged over each list's items, so
        ``"mean"`` equals keras-rs' default ``"sum_over_batch_size"`` when no item is padding
        and every list has a relevant item. With padding keras-rs still divides by ``L``;
        here a list's value is the mean over its kept items (``where`` as keras-rs'
        ``y_true={"labels": ..., "mask": where}``).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0]], np.float32)
        >>> loss = pairwise_logistic_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.3296, 0.8405]
    """
    check_reduction(reduction)
    scores, labels, valid, chosen, out_dtype = _ranking_inputs(
        ops, y_pred, y_true, where, sample_weight, negative_pads=True
    )
    row, column = ops.expand_dims(labels, -1), ops.expand_dims(labels, -2)  # y_i, y_j
    pairs = ops.logical_and(
        ops.greater(row, column),
        ops.logical_and(ops.expand_dims(valid, -1), ops.expand_dims(valid, -2)),
    )
    differences = ops.expand_dims(scores, -2) - ops.expand_dims(scores, -1)  # [i, j]: s_j - s_i
    # multiplied, not selected: NaN in a kept score shows even where it forms no pair
    per_item = ops.sum(ops.cast(pairs, ops.dtype(scores)) * ops.softplus(differences), axis=-1)
    count = ops.sum(ops.cast(valid, ops.dtype(scores)), axis=-1)
    loss = safe_divide(ops, ops.sum(per_item, axis=-1), count)
    loss = _nan_where_nan(ops, loss, scores, labels, valid)
    return reduce(
        ops, loss, reduction, out_dtype, mask=_has_relevant(ops, labels, valid), entries=chosen
    )


@register(kind="per_row", class_name="ListMLELoss", integer_args=("y_true",))
def listmle_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""ListMLE loss, per list: the Plackett–Luce negative log-likelihood of the
    permutation :math:`\pi` that sorts the labels in decreasing order.

    .. math::

        \ell(s, y) = -\sum_{k=1}^{n} \log \frac{e^{s_{\pi_k}}}{\sum_{m=k}^{n} e^{s_{\pi_m}}}
            = \sum_{k=1}^{n} \operatorname{softplus}\Big(
              \log \sum_{m > k} e^{s_{\pi_m}} - s_{\pi_k}\Big)

    over the :math:`n` kept items, :math:`y_{\pi_1} \ge y_{\pi_2} \ge \dots`, equal labels
    in the order of their positions (a stable sort). Computed in log space: the suffix
    log-sum-exps by an exact scan of pairwise log-sum-exps, never the log of a
    cumulative sum of exponentials, so the value is exact for any score spread (keras-rs'
    form loses accuracy beyond spreads of ~50 and its gradient vanishes there).

    The sort is ``keras.ops.argsort`` (stable, static shapes: jit-able); padded items
    are sorted last and masked.

    Args:
        y_pred: scores ``[B, L]`` (``[..., L]``: the last axis is the list).
        y_true: relevance labels, same shape as ``y_pred``; an item with a negative
            label is padding (keras-rs' convention).
        where: boolean mask of the items (shape of ``y_pred``): ``False`` items are
            padding (not in the permutation); or a mask of lower rank, broadcastable to
            ``[B]``, of whole lists. Masked-out lists and lists without a label above 0
            among their kept items give 0 and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]`` (one per list); they
            multiply the per-list loss, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per list, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Xia et al., *Listwise Approach to Learning to Rank: Theory and
        Algorithm*, ICML 2008, https://doi.org/10.1145/1390156.1390306.

        Same numbers as ``keras_rs.losses.ListMLELoss(reduction="none")`` (per list, where
        its float32 arithmetic is accurate: score spreads below ~50, every list with a
        relevant item) and as the float64 formula above.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0]], np.float32)
        >>> loss = listmle_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.9384, 2.2278]
    """
    check_reduction(reduction)
    scores, labels, valid, chosen, out_dtype = _ranking_inputs(
        ops, y_pred, y_true, where, sample_weight, negative_pads=True
    )
    key = ops.where(valid, -labels, ops.full_like(labels, _INF))  # padding last
    order = ops.argsort(key, axis=-1)
    sorted_scores = ops.take_along_axis(scores, order, axis=-1)
    sorted_valid = ops.greater(
        ops.take_along_axis(ops.cast(valid, ops.dtype(scores)), order, axis=-1), 0.0
    )
    rest, has_rest = _suffix_logsumexp(ops, sorted_scores, sorted_valid)
    has_rest = ops.logical_and(has_rest, sorted_valid)
    gap = ops.where(has_rest, rest - sorted_scores, ops.zeros_like(rest))
    terms = ops.where(has_rest, ops.softplus(gap), ops.zeros_like(gap))
    loss = _nan_where_nan(ops, ops.sum(terms, axis=-1), scores, labels, valid)
    return reduce(
        ops, loss, reduction, out_dtype, mask=_has_relevant(ops, labels, valid), entries=chosen
    )
