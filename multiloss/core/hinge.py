"""Hinge family: the binary hinge and squared hinge losses, the multi-class hinge
losses (Crammer–Singer, Weston–Watkins) and the pairwise (ranking) hinge loss."""

from __future__ import annotations

import numbers

from multiloss.core.checks import (
    check_reduction,
    check_same_shape,
    check_scalar,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.paired import paired_inputs
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets


def _binary_margin(ops, scores, labels):
    """``max(0, 1 − y·ŷ)`` with labels in {−1, 1} (a label of exactly 0 read as −1)."""
    labels = ops.where(ops.equal(labels, 0.0), -ops.ones_like(labels), labels)
    return ops.relu(1.0 - labels * scores)


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

    References:
        Cortes & Vapnik, *Support-Vector Networks*, Machine Learning 20 (1995),
        https://doi.org/10.1007/BF00994018; Rosasco et al., *Are Loss Functions All the
        Same?*, Neural Computation 16 (2004).

        Same numbers as ``keras.losses.hinge(y_true, y_pred)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, -2.0], [1.5, 0.3]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> loss = hinge_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.25, 1.6]
    """
    check_reduction(reduction)
    scores, labels, out_dtype, chosen = paired_inputs(ops, y_pred, y_true, where, sample_weight)
    margin = _binary_margin(ops, scores, labels)
    loss = ops.mean(margin, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_row", integer_args=())
def pairwise_hinge_loss(
    ops, pos_score, neg_score, *, margin=1.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Pairwise (margin ranking) hinge loss: a positive should outscore its negative.

    .. math::

        \ell = \max(0,\ m + s^- - s^+)

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

    References:
        Herbrich, Graepel & Obermayer, *Large Margin Rank Boundaries for Ordinal
        Regression* (1999), and Joachims, *Optimizing Search Engines using Clickthrough Data*,
        KDD 2002, https://doi.org/10.1145/775047.775067.

        Same numbers as ``torch.nn.functional.margin_ranking_loss(pos_score, neg_score,
        torch.ones_like(pos_score), margin=margin)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> pos_score = np.array([0.9, 0.2], np.float32)
        >>> neg_score = np.array([0.3, 0.5], np.float32)
        >>> loss = pairwise_hinge_loss(get_ops("jax"), pos_score, neg_score, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.4, 1.3]
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


@register(kind="per_example", integer_args=())
def squared_hinge_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Squared hinge loss, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} \max(0,\ 1 - y_d\, \hat y_d)^2,
        \qquad y_d \in \{-1, 1\}

    Labels in {0, 1} are mapped to {−1, 1} as in ``hinge_loss`` (a label of exactly 0
    is read as −1).

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

    References:
        the L2-SVM loss; Janocha & Czarnecki, *On Loss Functions for Deep Neural
        Networks in Classification* (2017), https://arxiv.org/abs/1702.05659.

        Same numbers as ``keras.losses.squared_hinge(y_true, y_pred)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, -2.0], [1.5, 0.3]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> loss = squared_hinge_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.125, 3.37]
    """
    check_reduction(reduction)
    scores, labels, out_dtype, chosen = paired_inputs(ops, y_pred, y_true, where, sample_weight)
    margin = _binary_margin(ops, scores, labels)
    loss = ops.mean(ops.square(margin), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


def _target_scores(ops, t):
    """``(target score, target mask)`` of class scores ``[..., C]``: with integer ids the
    score of the labelled class and the mask of that class; with one-hot targets
    :math:`\\sum_k y_k \\hat y_k` and the mask ``y != 0``."""
    if t.num_classes == 0:
        raise ValueError(
            f"y_pred needs at least one class; got an empty class axis, shape {t.pred_shape}"
        )
    scores = t.scores
    if t.labels is not None:
        ids = ops.expand_dims(t.labels, -1)
        target = ops.squeeze(ops.take_along_axis(scores, ids, -1), -1)
        classes = ops.arange(ops.shape(scores)[-1], dtype=ops.dtype(t.labels))
        return target, ops.equal(ids, classes)
    return ops.sum(t.target_probs * scores, axis=-1), ops.not_equal(t.target_probs, 0.0)


@register(kind="per_example")
def categorical_hinge_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Multi-class (Crammer–Singer) hinge loss per example: the target score should beat
    every other score by a margin of 1.

    .. math::

        \ell = \max\big(0,\ 1 + \max_{k \ne t} \hat y_k - \hat y_t\big)

    With one class there is no other score and the loss is 0. At a tie between the
    largest other scores their gradient is shared equally (as ``max`` in every framework).

    Args:
        y_pred: class scores, shape ``[..., C]``.
        y_true: integer class ids, shape ``[...]`` (or ``[..., 1]``); or one-hot targets,
            shape ``[..., C]`` (the target score is then :math:`\sum_k y_k \hat y_k` and
            the other scores those where :math:`y_k = 0`).
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Crammer & Singer, *On the Algorithmic Implementation of Multiclass
        Kernel-based Vector Machines*, JMLR 2 (2001),
        https://www.jmlr.org/papers/v2/crammer01a.html.

        Same numbers as ``optax.losses.multiclass_hinge_loss(y_pred, y_true)`` (integer
        ids). ``keras.losses.categorical_hinge(one_hot, y_pred)`` takes the maximum over
        :math:`(1 - y) \cdot \hat y`, which counts the target slot as a score of 0: it equals
        this loss whenever some non-target score is >= 0, and is larger otherwise.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = categorical_hinge_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [2.5, 0.0]
    """
    check_reduction(reduction)
    t = categorical_targets(
        ops, y_pred, y_true, where=where, sample_weight=sample_weight
    )
    target, is_target = _target_scores(ops, t)
    others = ops.where(is_target, float("-inf"), t.scores)
    loss = ops.relu(1.0 + ops.max(others, axis=-1) - target)
    return reduce(ops, loss, reduction, t.out_dtype, entries=t.entries)


def _check_power(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be 1 or 2, got p={p!r}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got p={p!r}")
    return int(p)


@register(kind="per_example")
def multi_margin_loss(
    ops, y_pred, y_true, *, p=1, margin=1.0, class_weight=None,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Multi-class margin loss (Weston–Watkins) per example: every other score is
    penalised for coming within ``margin`` of the target score.

    .. math::

        \ell = \frac{w_t}{C} \sum_{k \ne t} \max\big(0,\ m + \hat y_k - \hat y_t\big)^p

    Args:
        y_pred: class scores, shape ``[..., C]``.
        y_true: integer class ids, shape ``[...]`` (or ``[..., 1]``); or one-hot targets,
            shape ``[..., C]`` (the target score is then :math:`\sum_k y_k \hat y_k`, the
            other classes those where :math:`y_k = 0`, and :math:`w_t = \sum_k y_k w_k`).
        p: 1 or 2, the power of each term.
        margin: :math:`m` (a Python number or a scalar tensor).
        class_weight: per-class weights ``[C]`` >= 0 (list, NumPy array or tensor);
            the example's loss is multiplied by the weight of its target class.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"mean"`` is the plain mean over the examples (``class_weight`` does not
            enter the denominator, as torch).
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Weston & Watkins, *Support Vector Machines for Multi-Class Pattern
        Recognition*, ESANN 1999,
        https://www.esann.org/sites/default/files/proceedings/legacy/es1999-461.pdf.

        Same numbers as ``torch.nn.functional.multi_margin_loss(y_pred, y_true, p, margin,
        weight=class_weight, reduction="none")`` (``[N, C]`` scores; other shapes as
        ``[-1, C]``); ``"mean"`` and ``"sum"`` equal torch's.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = multi_margin_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.3333, 0.0]
    """
    check_reduction(reduction)
    p = _check_power(p)
    check_scalar("margin", margin)
    t = categorical_targets(
        ops, y_pred, y_true, where=where, sample_weight=sample_weight
    )
    weights = None if class_weight is None else t.class_vector(ops, "class_weight", class_weight)
    target, is_target = _target_scores(ops, t)
    margin = margin if is_python_scalar(margin) else param_tensor(ops, margin, t.dtype)
    terms = ops.relu((t.scores - ops.expand_dims(target, -1)) + margin)
    if p == 2:
        terms = ops.square(terms)
    terms = ops.where(is_target, ops.zeros_like(terms), terms)
    loss = ops.sum(terms, axis=-1) / t.class_count()
    if weights is not None:
        if t.labels is not None:
            loss = loss * ops.take(weights, t.labels)
        else:
            loss = loss * ops.sum(t.target_probs * weights, axis=-1)
    return reduce(ops, loss, reduction, t.out_dtype, entries=t.entries)
