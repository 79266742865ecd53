"""Target preparation shared by the loss families.

:func:`categorical_targets` checks and prepares the inputs of every softmax-type loss
(integer class ids or class probabilities, ``ignore_index`` masks, the class axis moved
last); :func:`sigmoid_targets` those of the element-wise sigmoid losses.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from multiloss.core.checks import (
    check_axis,
    check_int,
    check_labels_in_range,
    check_rank,
    check_same_shape,
    check_static_scalar,
    check_vector,
    is_integer_dtype,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.reduction import NO_ENTRIES, Entries, entries

#: Smallest positive normal float32; log() of probabilities is taken at >= this.
TINY = 1.1754944e-38


@dataclasses.dataclass
class CategoricalTargets:
    """Predictions and targets of a softmax-type loss with the class axis moved last.

    ``scores`` are logits (or, for probability inputs, log-probabilities, which give the
    same softmax); the ``[..., C]`` log-softmax is formed only if a loss asks for it
    (:attr:`log_probs`): with integer labels the losses take the fused
    ``−log p_t`` and ``log(1 − p_t)`` primitives of the ops layer instead.
    """

    ops: Any
    scores: Any  # [..., C] logits or log-probabilities, compute dtype
    num_classes: int | None
    labels: Any | None  # [...] integer ids, ignored entries replaced by 0
    target_probs: Any | None  # [..., C] class probabilities (probability targets)
    mask: Any | None  # [...] bool, False where y_true == ignore_index (``where`` apart)
    dtype: str  # compute dtype
    out_dtype: str  # dtype of the returned loss
    normalized: bool = False  # scores are log-probabilities already
    example_shape: tuple = ()  # static shape of one value per example ([...])
    pred_shape: tuple = ()  # static shape of y_pred as given
    entries: Entries = NO_ENTRIES  # ``where`` and ``sample_weight`` of the call
    _log_probs: Any = None

    @property
    def log_probs(self) -> Any:
        """``[..., C]`` log-probabilities (formed on first use; a plain cache, as
        ``functools.cached_property`` takes a lock ``torch.compile`` cannot trace)."""
        if self._log_probs is None:
            self._log_probs = (
                self.scores if self.normalized else self.ops.log_softmax(self.scores, axis=-1)
            )
        return self._log_probs

    def true_neg_log_prob(self, label_smoothing: float = 0.0, reduction: str = "none") -> Any:
        """``−log p_t`` of integer labels ``[...]`` (with ``label_smoothing`` ε:
        ``−(1 − ε) log p_t − ε mean_c log p_c``): the fused sparse cross entropy,
        reduced over the examples by ``reduction``."""
        ops = self.ops
        if not self.normalized:
            return ops.sparse_cross_entropy_with_logits(
                self.scores, self.labels, label_smoothing, reduction
            )
        # log-probabilities: their log-softmax is themselves
        picked = ops.squeeze(ops.take_along_axis(self.scores, ops.expand_dims(self.labels, -1), -1), -1)
        loss = -picked
        if label_smoothing:
            loss = -(1.0 - label_smoothing) * picked - label_smoothing * ops.mean(self.scores, axis=-1)
        return ops.reduce_examples(loss, reduction)

    def true_terms(self) -> tuple[Any, Any]:
        """``(−log p_t, 1 − p_t)`` of integer labels, both exact as ``p_t → 1`` (see :meth:`~multiloss.core.ops.base.Ops.softmax_target_terms`)."""
        return self.ops.softmax_target_terms(self.scores, self.labels)

    def true_log_prob(self, ops: Any) -> Any:
        """log p of the target class, shape [...] (expected value for soft targets)."""
        if self.labels is not None:
            return -self.true_neg_log_prob()
        return ops.sum(self.target_probs * self.log_probs, axis=-1)

    def class_count(self) -> Any:
        """``C`` as a Python int, or as a scalar tensor of the compute dtype where the
        class axis is unknown until run time (``tf.function`` with a ``None`` axis)."""
        if self.num_classes is not None:
            return self.num_classes
        return self.ops.cast(self.ops.shape(self.scores)[-1], self.dtype)

    def one_hot(self, ops: Any) -> Any:
        """Targets as a [..., C] float tensor (one-hot ids or the given probabilities)."""
        if self.labels is None:
            return self.target_probs
        if self.num_classes is not None:
            return ops.one_hot(self.labels, self.num_classes, dtype=self.dtype)
        classes = ops.arange(ops.shape(self.scores)[-1], dtype=ops.dtype(self.labels))
        return ops.cast(ops.equal(ops.expand_dims(self.labels, -1), classes), self.dtype)

    def check_smoothing(self, label_smoothing: float) -> None:
        """Label smoothing spreads mass over the classes: refused without any."""
        if label_smoothing and self.num_classes == 0:
            raise ValueError(
                f"label_smoothing={label_smoothing} needs at least one class; y_pred "
                f"{tuple(self.example_shape) + (0,)} has an empty class axis, shape "
                f"{self.pred_shape}"
            )

    def class_vector(self, ops: Any, name: str, value: Any) -> Any:
        """A per-class hyper-parameter vector, checked against the number of classes."""
        check_vector(name, value, self.num_classes, low=0.0)
        return param_tensor(ops, value, self.dtype)


def _check_whole_numbers(ops: Any, name: str, ids: Any) -> None:
    """Class ids given as floats must be whole numbers (checked eagerly: traced values
    are not known)."""
    values = ops.eager_value(ids)
    if values is None or values.size == 0:
        return
    bad = values[~(np.isfinite(values) & (values == np.round(values)))]
    if bad.size:
        raise ValueError(
            f"{name} holds class ids as {values.dtype} with a value that is not a whole "
            f"number: {float(bad.reshape(-1)[0])} (shape {values.shape})"
        )


@dataclasses.dataclass(frozen=True)
class _Layout:
    """What the static shapes say about a softmax-type call (checked once per shapes)."""

    axis: int  # the class axis, non-negative
    num_classes: int | None
    ids_shape: tuple  # y_pred's shape without the class axis
    true_shape: tuple  # y_true's shape, a size-1 class axis of ids squeezed away
    ids: bool  # y_true holds class ids (else class probabilities)
    squeeze: bool  # y_true has a size-1 class axis holding ids


@functools.lru_cache(maxsize=1024)
def _layout(pred_shape: tuple, true_shape: tuple, axis: int, ignoring: bool) -> _Layout:
    check_rank("y_pred", pred_shape, 1)
    axis = check_axis(axis, len(pred_shape))
    num_classes = pred_shape[axis]
    ids_shape = pred_shape[:axis] + pred_shape[axis + 1 :]
    # a size-1 class axis holds class ids (integral floats too, as Keras accepts)
    squeeze = len(true_shape) == len(pred_shape) and true_shape[axis] == 1 and num_classes != 1
    if squeeze:
        true_shape = true_shape[:axis] + true_shape[axis + 1 :]
    ids = len(true_shape) == len(pred_shape) - 1
    if ids:
        check_same_shape("y_true", true_shape, "y_pred without the class axis", ids_shape)
    else:
        check_same_shape("y_true", true_shape, "y_pred", pred_shape)
        if ignoring:
            raise ValueError(
                "ignore_index applies to integer class ids; y_true holds class "
                f"probabilities of shape {true_shape} (same as y_pred)"
            )
    return _Layout(axis, num_classes, ids_shape, true_shape, ids, squeeze)


def categorical_targets(
    ops: Any,
    y_pred: Any,
    y_true: Any,
    *,
    axis: int = -1,
    from_logits: bool = True,
    ignore_index: int | None = None,
    where: Any = None,
    sample_weight: Any = None,
) -> CategoricalTargets:
    """Check and prepare the inputs of a softmax-type loss.

    ``y_true`` holds integer class ids (``y_pred``'s shape without ``axis``, or with a
    size-1 class axis) or class probabilities (``y_pred``'s shape). ``where`` and
    ``sample_weight`` apply per example (``y_pred``'s shape without ``axis``); the
    entries ``where`` masks out are replaced by 0 in both inputs before anything else.
    The shape checks run once per combination of shapes (cached); the value checks
    (label range, whole numbers) on every eager call.
    """
    pred_shape = static_shape(y_pred)
    if type(axis) is not int:
        axis = check_int("axis", axis)
    ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
    layout = _layout(pred_shape, static_shape(y_true), axis, ignore_index is not None)
    axis, num_classes = layout.axis, layout.num_classes
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = NO_ENTRIES
    if where is not None or sample_weight is not None:
        chosen = entries(
            ops, where, sample_weight, layout.ids_shape, dtype, "y_pred without the class axis"
        )
        y_pred, y_true = chosen.hide(y_pred, axis), chosen.hide(y_true, axis)
    y_true = ops.convert_to_tensor(y_true)
    if layout.squeeze:
        y_true = ops.squeeze(y_true, axis)
    logits = as_float(ops, y_pred, dtype)
    if axis != len(pred_shape) - 1:
        logits = ops.moveaxis(logits, axis, -1)
    scores = logits
    if not from_logits:
        probs = logits / ops.sum(logits, axis=-1, keepdims=True)
        scores = ops.log(ops.maximum(probs, TINY))
    normalized = not from_logits

    if layout.ids:
        # Class ids in an index dtype (int32/int64): small or unsigned dtypes are not
        # gather indices everywhere, and -100 (ignore_index) wraps to 156 in uint8.
        true_dtype = ops.dtype(y_true)
        if true_dtype not in ("int32", "int64"):
            integer = is_integer_dtype(true_dtype)
            if not integer:
                _check_whole_numbers(ops, "y_true", y_true)
            labels = ops.cast(y_true, ops.index_dtype(y_true) if integer else "int32")
        else:
            labels = y_true
        check_labels_in_range(ops, "y_true", labels, num_classes, ignore_index)
        mask = None
        if ignore_index is not None:
            mask = ops.not_equal(labels, ignore_index)
            labels = ops.where(mask, labels, ops.zeros_like(labels))
        return CategoricalTargets(
            ops, scores, num_classes, labels, None, mask, dtype, out_dtype, normalized,
            layout.true_shape, pred_shape, chosen,
        )

    target = as_float(ops, y_true, dtype)
    if axis != len(pred_shape) - 1:
        target = ops.moveaxis(target, axis, -1)
    return CategoricalTargets(
        ops, scores, num_classes, None, target, None, dtype, out_dtype, normalized,
        layout.ids_shape, pred_shape, chosen,
    )


def sigmoid_targets(
    ops: Any,
    y_pred: Any,
    y_true: Any,
    label_smoothing: float = 0.0,
    where: Any = None,
    sample_weight: Any = None,
) -> tuple[Any, Any, str, str, Entries]:
    """Check and prepare the inputs of a sigmoid-type (element-wise) loss.

    Returns ``(logits, targets, compute dtype, output dtype, entries)``; the targets
    are smoothed toward 0.5: ``y (1 - ε) + 0.5 ε``. ``where`` and ``sample_weight``
    apply element-wise; the entries ``where`` masks out are replaced by 0 first.
    """
    pred_shape = static_shape(y_pred)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    label_smoothing = float(label_smoothing)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(ops, where, sample_weight, pred_shape, dtype, "y_pred")
    if chosen.mask is not None:
        y_pred, y_true = chosen.hide(y_pred), chosen.hide(y_true)
    logits = as_float(ops, y_pred, dtype)
    targets = as_float(ops, y_true, dtype)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return logits, targets, dtype, out_dtype, chosen


def sigmoid_log_probs(ops: Any, y_pred: Any, from_logits: bool) -> tuple[Any, Any]:
    """``(log p, log(1 - p))`` of the positive class, exact for logits of any size.

    From probabilities (``from_logits=False``) the logs are clamped at -100, as
    ``torch.nn.functional.binary_cross_entropy`` does.
    """
    if from_logits:
        return ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
    positive = ops.greater(y_pred, 0.0)
    below_one = ops.less(y_pred, 1.0)
    log_p = ops.where(positive, ops.log(ops.where(positive, y_pred, 1.0)), -100.0)
    log_q = ops.where(below_one, ops.log1p(-ops.where(below_one, y_pred, 0.0)), -100.0)
    # the clamp keeps NaN (NaN in, NaN out; the comparisons above are False for NaN)
    nan = ops.isnan(y_pred)
    log_p = ops.where(nan, y_pred, ops.maximum(log_p, -100.0))
    log_q = ops.where(nan, y_pred, ops.maximum(log_q, -100.0))
    return log_p, log_q
