"""Overlap losses for segmentation: soft Dice / Tversky, soft Jaccard, and the Lovász
extensions of the Jaccard index (Lovász-Softmax, Lovász hinge).

Predictions are channel-last, ``[B, ..., C]`` (batch first, the classes on the last
axis), and every loss gives one value per image (``reduction="none"``: shape ``[B]``);
``where`` and ``sample_weight`` act on images. Pixels whose target equals
``ignore_index`` count nowhere: they add nothing to any overlap sum and get a zero
gradient, and NaN in them never reaches the result. An image whose every pixel is
ignored gives 0 and still counts in ``"mean"`` (as the Lovász reference's per-image
mean); pass ``where`` to leave such images out.
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import (
    check_int,
    check_labels_in_range,
    check_rank,
    check_reduction,
    check_same_shape,
    check_scalar,
    check_vector,
    is_integer_dtype,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor, safe_divide
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register
from multiloss.core.targets import _check_whole_numbers

#: Below this denominator (reachable only with ``smooth`` < 1e-18, i.e. ``smooth=0``) a
#: class counts as perfectly overlapped: ratio 1, loss 0, zero gradient. A smaller
#: denominator would square to 0 in float32 in the quotient's backward pass (0/0).
_EMPTY_DENOMINATOR = 1e-18

_LOVASZ_CLASSES = ("present", "all")


# --- shared input handling ---------------------------------------------------------


def _class_count(name: str, shape: tuple, min_classes: int) -> int:
    """The static size of the class (last) axis of ``y_pred``."""
    check_rank(name, shape, 2)
    classes = shape[-1]
    if classes is None:
        raise ValueError(
            f"{name} needs a static class axis (its last); got shape {shape} (under "
            "tf.function give an input_signature with the number of classes)"
        )
    if classes < min_classes:
        raise ValueError(
            f"{name} must have at least {min_classes} class(es) on its last axis, got "
            f"shape {shape}"
        )
    return classes


def _ids_layout(pred_shape: tuple, true_shape: tuple) -> str:
    """``"ids"`` (``[B, ...]``), ``"ids_1"`` (``[B, ..., 1]``) or ``"dense"`` (one-hot,
    ``[B, ..., C]``) for ``y_true`` against channel-last ``y_pred`` of C > 1 classes."""
    ids_shape = pred_shape[:-1]
    if len(true_shape) == len(ids_shape):
        check_same_shape("y_true", true_shape, "y_pred without its class axis", ids_shape)
        return "ids"
    if len(true_shape) == len(pred_shape) and true_shape[-1] == 1:
        check_same_shape("y_true", true_shape, "y_pred with a class axis of 1", ids_shape + (1,))
        return "ids_1"
    check_same_shape("y_true", true_shape, "y_pred", pred_shape)
    return "dense"


def _class_ids(ops: Any, y_true: Any, num_classes: int, ignore_index: int | None) -> tuple[Any, Any]:
    """``(ids, kept)``: integer class ids with the ignored ones replaced by 0, and the
    bool mask of the pixels that count (``None`` without ``ignore_index``)."""
    y_true = ops.convert_to_tensor(y_true)
    dtype = ops.dtype(y_true)
    if dtype not in ("int32", "int64"):
        integer = is_integer_dtype(dtype)
        if not integer:
            _check_whole_numbers(ops, "y_true", y_true)
        y_true = ops.cast(y_true, ops.index_dtype(y_true) if integer else "int32")
    check_labels_in_range(ops, "y_true", y_true, num_classes, ignore_index)
    if ignore_index is None:
        return y_true, None
    kept = ops.not_equal(y_true, ignore_index)
    return ops.where(kept, y_true, ops.zeros_like(y_true)), kept


def _flatten_pixels(ops: Any, x: Any, pixel_dims: tuple, trailing: tuple = ()) -> Any:
    """``[B, *pixel_dims, *trailing]`` as ``[B, P, *trailing]`` (P = the number of
    pixels; sizes unknown until run time are taken from the tensor)."""
    shape = ops.shape(x)
    pixels = 1
    for i in range(len(pixel_dims)):
        pixels = pixels * shape[1 + i]
    return ops.reshape(x, (shape[0], pixels, *trailing))


# --- Dice / Tversky / Jaccard ------------------------------------------------------------


def _tversky(
    ops, y_pred, y_true, *, from_logits, smooth, alpha, beta, class_weight, ignore_index,
    where, sample_weight, reduction,
):
    """Per-image ``mean_c w_c (1 − (TP + s) / (TP + α FP + β FN + s))``, reduced."""
    check_reduction(reduction)
    check_scalar("smooth", smooth, low=0.0)
    check_scalar("alpha", alpha, low=0.0)
    check_scalar("beta", beta, low=0.0)
    ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
    pred_shape = static_shape(y_pred)
    num_classes = _class_count("y_pred", pred_shape, 1)
    true_shape = static_shape(y_true)
    binary = num_classes == 1
    if binary:  # y_true is the binary target, [B, ..., 1] or [B, ...]
        if len(true_shape) == len(pred_shape):
            check_same_shape("y_true", true_shape, "y_pred", pred_shape)
        else:
            check_same_shape("y_true", true_shape, "y_pred without its class axis", pred_shape[:-1])
        layout = "dense" if len(true_shape) == len(pred_shape) else "ids"
    else:
        layout = _ids_layout(pred_shape, true_shape)
        if layout == "dense" and ignore_index is not None:
            raise ValueError(
                f"ignore_index applies to integer class ids; y_true holds one-hot targets of "
                f"shape {true_shape} (same as y_pred)"
            )
    if class_weight is not None:
        check_vector("class_weight", class_weight, num_classes, low=0.0)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, pred_shape[:1], dtype, "the batch axis of y_pred")
    y_pred, y_true = chosen.hide(y_pred), chosen.hide(y_true)

    kept = None
    if binary:
        targets = as_float(ops, y_true, dtype)
        if layout == "ids":
            targets = ops.expand_dims(targets, -1)
        if ignore_index is not None:
            kept = ops.not_equal(targets, float(ignore_index))
            targets = ops.where(kept, targets, ops.zeros_like(targets))
    elif layout == "dense":
        targets = as_float(ops, y_true, dtype)
    else:
        y_true = ops.convert_to_tensor(y_true)
        if layout == "ids_1":
            y_true = ops.squeeze(y_true, -1)
        ids, kept = _class_ids(ops, y_true, num_classes, ignore_index)
        targets = ops.one_hot(ids, num_classes, dtype=dtype)
        if kept is not None:
            kept = ops.expand_dims(kept, -1)
            targets = ops.where(kept, targets, ops.zeros_like(targets))
    scores = as_float(ops, y_pred, dtype)
    if kept is not None:  # selects, before the softmax: NaN in an ignored pixel stays out
        scores = ops.where(kept, scores, ops.zeros_like(scores))
    if from_logits:
        probs = ops.sigmoid(scores) if binary else ops.softmax(scores, axis=-1)
    else:
        probs = scores
    if kept is not None:
        probs = ops.where(kept, probs, ops.zeros_like(probs))

    smooth, alpha, beta = (
        v if is_python_scalar(v) else param_tensor(ops, v, dtype) for v in (smooth, alpha, beta)
    )
    pixel_axes = tuple(range(1, len(pred_shape) - 1))
    overlap, predicted, present = probs * targets, probs, targets
    if pixel_axes:
        overlap = ops.sum(overlap, axis=pixel_axes)
        predicted = ops.sum(predicted, axis=pixel_axes)
        present = ops.sum(present, axis=pixel_axes)
    numerator = overlap + smooth
    denominator = overlap + alpha * (predicted - overlap) + beta * (present - overlap) + smooth
    counted = ops.logical_not(ops.less(ops.abs(denominator), _EMPTY_DENOMINATOR))
    ratio = ops.where(
        counted, numerator / ops.where(counted, denominator, ops.ones_like(denominator)),
        ops.ones_like(denominator),
    )
    per_class = 1.0 - ratio
    if class_weight is not None:
        per_class = per_class * param_tensor(ops, class_weight, dtype)
    loss = ops.mean(per_class, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_example")
def dice_loss(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    smooth=1.0,
    alpha=0.5,
    beta=0.5,
    class_weight=None,
    ignore_index=None,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Soft Dice loss (Tversky loss for other α, β), per image.

    With :math:`p_{ic}` the predicted probability of class :math:`c` at pixel :math:`i`
    of one image and :math:`t_{ic}` its target (one-hot):

    .. math::

        TP_c = \sum_i p_{ic} t_{ic},\quad FP_c = \sum_i p_{ic} - TP_c,\quad
        FN_c = \sum_i t_{ic} - TP_c

    .. math::

        \ell = \frac{1}{C} \sum_c w_c \Big(1 - \frac{TP_c + s}
               {TP_c + \alpha\, FP_c + \beta\, FN_c + s}\Big)

    α = β = ½ is the Dice loss (1 − 2·TP / (2·TP + FP + FN) for s = 0), α = β = 1 the
    soft Jaccard loss (:func:`jaccard_loss`), other values the Tversky loss (β > α
    penalises false negatives more). A denominator below 1e-18 (only with ``smooth=0``:
    a class absent from the target and predicted with probability 0, e.g. an image whose
    every pixel is ignored) counts as a perfect overlap: loss 0 for that class and a zero
    gradient, instead of 0/0.

    Args:
        y_pred: logits ``[B, ..., C]`` (channel-last): softmax over the last axis, or a
            sigmoid when C = 1 (binary segmentation). With ``from_logits=False``,
            probabilities, used as they are.
        y_true: integer class ids ``[B, ...]`` (or ``[B, ..., 1]``), or one-hot (or soft)
            targets ``[B, ..., C]``. When C = 1 it is the binary target, ``[B, ..., 1]``
            or ``[B, ...]``, not class ids.
        from_logits: ``y_pred`` holds logits (default) or probabilities.
        smooth: s >= 0, added to numerator and denominator (1.0 as optax).
        alpha: α >= 0, the weight of the false positives.
        beta: β >= 0, the weight of the false negatives.
        class_weight: per-class weights ``[C]`` (list, NumPy array or tensor) multiplying
            each class' loss before the mean over classes.
        ignore_index: a target value whose pixels count nowhere (neither in TP, FP nor FN;
            zero gradient). Integer ids, or the binary target when C = 1; refused with
            one-hot targets.
        where: boolean mask ``[B]`` (broadcastable to the per-image loss): ``False``
            images contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; they multiply the per-image
            loss, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per image, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Milletari, Navab & Ahmadi, *V-Net*, 3DV 2016,
        https://arxiv.org/abs/1606.04797 (Dice); Salehi, Erdogmus & Gholipour, *Tversky loss
        function for image segmentation*, 2017, https://arxiv.org/abs/1706.05721.

        Same numbers as ``optax.losses.dice_loss(y_pred, one_hot(y_true),
        class_weights=class_weight, smooth=smooth, alpha=alpha, beta=beta,
        apply_softmax=from_logits)`` per image (optax takes one-hot targets and has no
        ``ignore_index``: its value on the image with the ignored pixels removed). At
        α = β = ½ the ratio is (2·TP + 2s) / (Σp + Σt + 2s): the common form
        (2·TP + s′) / (Σp + Σt + s′) with s′ = 2s.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[[2.0, -1.0], [0.5, 1.0], [-1.0, 2.0]]], np.float32)
        >>> y_true = np.array([[0, 1, 1]])
        >>> loss = dice_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.096]
    """
    return _tversky(
        ops, y_pred, y_true, from_logits=from_logits, smooth=smooth, alpha=alpha, beta=beta,
        class_weight=class_weight, ignore_index=ignore_index, where=where,
        sample_weight=sample_weight, reduction=reduction,
    )


@register(kind="per_example")
def jaccard_loss(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    smooth=1.0,
    class_weight=None,
    ignore_index=None,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Soft Jaccard (IoU) loss, per image: :func:`dice_loss` with α = β = 1.

    .. math::

        \ell = \frac{1}{C} \sum_c w_c \Big(1 - \frac{TP_c + s}{TP_c + FP_c + FN_c + s}\Big)
             = \frac{1}{C} \sum_c w_c \Big(1 - \frac{\sum_i p_{ic} t_{ic} + s}
               {\sum_i (p_{ic} + t_{ic} - p_{ic} t_{ic}) + s}\Big)

    Args:
        y_pred: logits ``[B, ..., C]`` (channel-last; softmax over the last axis, a
            sigmoid when C = 1) or probabilities with ``from_logits=False``.
        y_true: integer class ids ``[B, ...]`` (or ``[B, ..., 1]``), or one-hot targets
            ``[B, ..., C]``; the binary target when C = 1.
        from_logits: ``y_pred`` holds logits (default) or probabilities.
        smooth: s >= 0, added to numerator and denominator.
        class_weight: per-class weights ``[C]``.
        ignore_index: a target value whose pixels count nowhere.
        where: boolean mask broadcastable to ``[B]``: ``False`` images contribute 0, get
            a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; ``"mean"`` is the weighted
            mean.
        reduction: ``"none"`` (per image, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Rahman & Wang, *Optimizing Intersection-Over-Union in Deep Neural
        Networks for Image Segmentation*, ISVC 2016,
        https://doi.org/10.1007/978-3-319-50835-1_22; the index: Jaccard, 1912,
        https://doi.org/10.1111/j.1469-8137.1912.tb05611.x.

        Same numbers as ``optax.losses.dice_loss(y_pred, one_hot(y_true), alpha=1.0,
        beta=1.0, class_weights=class_weight, smooth=smooth, apply_softmax=from_logits)``
        per image.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[[2.0, -1.0], [0.5, 1.0], [-1.0, 2.0]]], np.float32)
        >>> y_true = np.array([[0, 1, 1]])
        >>> loss = jaccard_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.1749]
    """
    return _tversky(
        ops, y_pred, y_true, from_logits=from_logits, smooth=smooth, alpha=1.0, beta=1.0,
        class_weight=class_weight, ignore_index=ignore_index, where=where,
        sample_weight=sample_weight, reduction=reduction,
    )


# --- Lovász extensions -------------------------------------------------------------------


def _lovasz_weights(ops: Any, truth_sorted: Any, kept_sorted: Any) -> Any:
    """The gradient of the Lovász extension of the Jaccard loss at errors sorted in
    decreasing order (Berman et al., Algorithm 1), along the last axis.

    ``truth_sorted`` holds the targets (1 foreground, 0 background) in the errors'
    order, 0 at ignored pixels; ``kept_sorted`` 1 where the pixel counts. An ignored
    pixel adds to neither running sum, so its Jaccard loss equals its predecessor's and
    its weight is exactly 0, wherever the sort put it (the sums are whole numbers:
    exact). No target at all before a position gives an empty union: Jaccard loss 0.
    """
    foreground = ops.sum(truth_sorted, axis=-1, keepdims=True)
    intersection = foreground - ops.cumsum(truth_sorted, axis=-1)
    union = foreground + ops.cumsum((1.0 - truth_sorted) * kept_sorted, axis=-1)
    nonempty = ops.greater(union, 0.0)
    jaccard = ops.where(
        nonempty, 1.0 - intersection / ops.where(nonempty, union, ops.ones_like(union)),
        ops.zeros_like(union),
    )
    previous = ops.concatenate([ops.zeros_like(jaccard[..., :1]), jaccard], axis=-1)[..., :-1]
    return jaccard - previous


def _lovasz_sorted(ops: Any, errors: Any, truth: Any, kept: Any) -> tuple[Any, Any]:
    """``(errors sorted in decreasing order, Lovász weights)`` along the last axis.

    A stable sort (ties keep the pixel order: one subgradient in every framework); the
    weights come from the targets only and carry no gradient."""
    order = ops.argsort(-ops.stop_gradient(errors), axis=-1)
    errors_sorted = ops.take_along_axis(errors, order, axis=-1)
    truth_sorted = ops.take_along_axis(truth, order, axis=-1)
    kept_sorted = ops.take_along_axis(kept, order, axis=-1)
    return errors_sorted, ops.stop_gradient(_lovasz_weights(ops, truth_sorted, kept_sorted))


@register(kind="per_example")
def lovasz_softmax_loss(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    ignore_index=None,
    classes="present",
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Lovász-Softmax loss, per image: a convex surrogate of the Jaccard loss
    (1 − IoU) of each class, averaged over the classes.

    For class :math:`c` of one image, with errors :math:`m_i = |[y_i = c] - p_{ic}|`
    sorted so that :math:`m_{\pi_1} \ge m_{\pi_2} \ge \dots` and
    :math:`\Delta J_c(A) = 1 - |F_c \cap \bar A| / |F_c \cup A|` the Jaccard loss of the
    foreground :math:`F_c` when the pixels :math:`A` are wrong:

    .. math::

        \bar\Delta_c(m) = \sum_{k=1}^{P} m_{\pi_k}\,
            \big(\Delta J_c(\{\pi_1..\pi_k\}) - \Delta J_c(\{\pi_1..\pi_{k-1}\})\big),
        \qquad \ell = \frac{1}{|\mathcal C|} \sum_{c \in \mathcal C} \bar\Delta_c(m)

    :math:`\mathcal C` is the set of classes present in the image's (kept) targets
    (``classes="present"``; no class present, i.e. every pixel ignored, gives 0) or
    every class (``"all"``: an absent class contributes its largest probability).

    The errors are sorted with a stable sort (``keras.ops.argsort``, ignored pixels
    masked, not removed: static shapes, jit-able), per image and class.

    Args:
        y_pred: logits ``[B, ..., C]`` (channel-last, C >= 2; softmax over the last
            axis), or probabilities with ``from_logits=False``.
        y_true: integer class ids ``[B, ...]`` (or ``[B, ..., 1]``).
        from_logits: ``y_pred`` holds logits (default) or probabilities.
        ignore_index: a class id whose pixels count nowhere (zero gradient).
        classes: ``"present"`` (default) or ``"all"``.
        where: boolean mask broadcastable to ``[B]``: ``False`` images contribute 0, get
            a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; ``"mean"`` is the weighted
            mean.
        reduction: ``"none"`` (per image, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Berman, Rannen Triki & Blaschko, *The Lovász-Softmax loss: A tractable
        surrogate for the optimization of the intersection-over-union measure in neural
        networks*, CVPR 2018, https://arxiv.org/abs/1705.08790.

        Same numbers as the reference implementation (github.com/bermanmaxim/LovaszSoftmax,
        ``pytorch/lovasz_losses.py``): ``lovasz_softmax(softmax(y_pred), y_true,
        classes=classes, per_image=True, ignore=ignore_index)`` is ``"mean"`` (with the
        classes on axis 1 there); ``"none"`` is its per-image values.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[[2.0, -1.0], [0.5, 1.0], [-1.0, 2.0]]], np.float32)
        >>> y_true = np.array([[0, 1, 1]])
        >>> loss = lovasz_softmax_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.2125]
    """
    check_reduction(reduction)
    if classes not in _LOVASZ_CLASSES:
        raise ValueError(f"classes must be one of {_LOVASZ_CLASSES}, got classes={classes!r}")
    ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
    pred_shape = static_shape(y_pred)
    if len(pred_shape) >= 2 and pred_shape[-1] == 1:
        raise ValueError(
            f"lovasz_softmax_loss needs C >= 2 classes on the last axis of y_pred, got shape "
            f"{pred_shape}; for a binary (sigmoid) output use lovasz_hinge_loss"
        )
    num_classes = _class_count("y_pred", pred_shape, 2)
    true_shape = static_shape(y_true)
    if _ids_layout(pred_shape, true_shape) == "dense":
        raise ValueError(
            f"lovasz_softmax_loss takes integer class ids y_true of shape {pred_shape[:-1]} "
            f"(y_pred without its class axis), got y_true of shape {true_shape}, the shape "
            "of y_pred (one-hot targets: pass their argmax)"
        )
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, pred_shape[:1], dtype, "the batch axis of y_pred")
    y_pred, y_true = chosen.hide(y_pred), ops.convert_to_tensor(chosen.hide(y_true))
    if len(true_shape) == len(pred_shape):
        y_true = ops.squeeze(y_true, -1)
    ids, kept = _class_ids(ops, y_true, num_classes, ignore_index)

    scores = as_float(ops, y_pred, dtype)
    if kept is not None:  # selects, before the softmax: NaN in an ignored pixel stays out
        scores = ops.where(ops.expand_dims(kept, -1), scores, ops.zeros_like(scores))
    probs = ops.softmax(scores, axis=-1) if from_logits else scores
    pixel_dims = pred_shape[1:-1]
    probs = _flatten_pixels(ops, probs, pixel_dims, (num_classes,))  # [B, P, C]
    truth = ops.one_hot(_flatten_pixels(ops, ids, pixel_dims), num_classes, dtype=dtype)
    if kept is None:
        kept = ops.ones_like(truth)
    else:
        kept = ops.expand_dims(ops.cast(_flatten_pixels(ops, kept, pixel_dims), dtype), -1)
        kept = kept * ops.ones_like(truth)
        truth = truth * kept
    # per class: [B, C, P]
    probs, truth, kept = (ops.moveaxis(x, -1, 1) for x in (probs, truth, kept))
    errors = ops.abs(truth - probs)
    errors = ops.where(ops.greater(kept, 0.0), errors, ops.zeros_like(errors))
    errors_sorted, weights = _lovasz_sorted(ops, errors, truth, kept)
    per_class = ops.sum(errors_sorted * weights, axis=-1)  # [B, C]
    if classes == "all":
        loss = ops.mean(per_class, axis=-1)
    else:
        present = ops.greater(ops.sum(truth, axis=-1), 0.0)
        total = ops.sum(ops.where(present, per_class, ops.zeros_like(per_class)), axis=-1)
        loss = safe_divide(ops, total, ops.sum(ops.cast(present, dtype), axis=-1))
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_example")
def lovasz_hinge_loss(
    ops, y_pred, y_true, *, ignore_index=None, where=None, sample_weight=None, reduction="mean"
):
    r"""Lovász hinge loss (binary segmentation), per image: the Lovász extension of the
    foreground's Jaccard loss applied to hinge errors.

    With signs :math:`s_i = 2 y_i - 1`, errors :math:`m_i = 1 - s_i x_i` sorted
    :math:`m_{\pi_1} \ge m_{\pi_2} \ge \dots` and :math:`\Delta J` the Jaccard loss of
    the foreground:

    .. math::

        \ell = \sum_{k=1}^{P} \max(m_{\pi_k}, 0)\,
            \big(\Delta J(\{\pi_1..\pi_k\}) - \Delta J(\{\pi_1..\pi_{k-1}\})\big)

    The errors are sorted with a stable sort (``keras.ops.argsort``, ignored pixels
    masked, not removed: static shapes, jit-able).

    Args:
        y_pred: logits ``[B, ...]`` (one per pixel; every axis after the first is the
            image).
        y_true: binary targets {0, 1}, same shape as ``y_pred``.
        ignore_index: a target value whose pixels count nowhere (zero gradient); an image
            whose every pixel is ignored gives 0.
        where: boolean mask broadcastable to ``[B]``: ``False`` images contribute 0, get
            a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[B]``; ``"mean"`` is the weighted
            mean.
        reduction: ``"none"`` (per image, shape ``[B]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape ``[B]`` for ``reduction="none"``, else a scalar; in the dtype of ``y_pred``.

    References:
        Berman, Rannen Triki & Blaschko, *The Lovász-Softmax loss*, CVPR 2018,
        https://arxiv.org/abs/1705.08790 (section 3.1).

        Same numbers as the reference implementation (github.com/bermanmaxim/LovaszSoftmax,
        ``pytorch/lovasz_losses.py``): ``lovasz_hinge(y_pred, y_true, per_image=True,
        ignore=ignore_index)`` is ``"mean"``; ``"none"`` is its per-image values.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[[2.0, -1.0], [0.5, -0.5]]], np.float32)
        >>> y_true = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
        >>> loss = lovasz_hinge_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.0]
    """
    check_reduction(reduction)
    ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, pred_shape[:1], dtype, "the batch axis of y_pred")
    y_pred, y_true = chosen.hide(y_pred), chosen.hide(y_true)
    pixel_dims = pred_shape[1:]
    logits = _flatten_pixels(ops, as_float(ops, y_pred, dtype), pixel_dims)  # [B, P]
    labels = _flatten_pixels(ops, ops.convert_to_tensor(y_true), pixel_dims)
    truth = as_float(ops, labels, dtype)
    kept = ops.ones_like(truth)
    if ignore_index is not None:
        keep = ops.not_equal(truth, float(ignore_index))
        truth = ops.where(keep, truth, ops.zeros_like(truth))
        kept = ops.cast(keep, dtype)
    if ignore_index is not None:  # selects: NaN in an ignored pixel stays out
        logits = ops.where(keep, logits, ops.zeros_like(logits))
    errors = 1.0 - logits * (2.0 * truth - 1.0)
    if ignore_index is not None:
        errors = ops.where(keep, errors, ops.zeros_like(errors))
    errors_sorted, weights = _lovasz_sorted(ops, errors, truth, kept)
    loss = ops.sum(ops.relu(errors_sorted) * weights, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
