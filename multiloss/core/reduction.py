"""What every loss with a ``reduction`` shares: ``where`` masks, ``sample_weight``,
and the reductions (``"none"``, ``"sum"``, ``"mean"``, ``"global_mean"``).

A loss builds its :class:`Entries` from ``where`` and ``sample_weight`` once its
arguments are checked, hides the masked-out entries of its inputs with
:meth:`Entries.hide` (so NaN/Inf there never reaches the result or the gradient),
computes its unreduced values and hands them to :func:`reduce`.

Semantics (``../API.md``, "Every loss with a reduction"): ``where`` is a boolean mask
broadcastable to the unreduced loss (optax' convention), ``False`` entries contribute
0, get a zero gradient and are not counted; ``sample_weight`` multiplies (``"none"``
returns ``w·ℓ``) and ``"mean"`` is the weighted mean ``Σ w·ℓ / Σ w``, ``Σ w`` taken
over ``w`` broadcast to the unreduced shape, 0 when it is 0. Both combine with a loss'
own masks and weights (``ignore_index``, ``class_weight``) by multiplication.
``"global_mean"`` divides by the count summed over the data-parallel replicas
(:meth:`~multiloss.core.ops.base.Ops.global_totals`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

from multiloss.core.checks import (
    check_broadcastable,
    check_reduction,
    is_integer_dtype,
    static_shape,
    value_check_bounds,
)
from multiloss.core.common import as_float, safe_divide


def _check_where(ops: Any, where: Any, shape: tuple, what: str) -> Any:
    where = ops.convert_to_tensor(where)
    dtype = ops.dtype(where)
    if dtype != "bool":
        raise TypeError(
            f"where must be a boolean mask, got where of dtype {dtype} and shape "
            f"{static_shape(where)} (for a 0/1 or float mask pass where=mask > 0)"
        )
    check_broadcastable("where", static_shape(where), shape, what)
    return where


def _check_sample_weight(ops: Any, weight: Any, shape: tuple, what: str, dtype: str) -> Any:
    weight = ops.convert_to_tensor(weight)
    given = ops.dtype(weight)
    if given == "bool" or not (is_integer_dtype(given) or given.startswith(("float", "bfloat"))):
        raise TypeError(
            f"sample_weight must hold real numbers, got sample_weight of dtype {given} and "
            f"shape {static_shape(weight)}"
        )
    check_broadcastable("sample_weight", static_shape(weight), shape, what)
    bounds = value_check_bounds(ops, weight)
    if bounds is not None and bounds[0] < 0:
        raise ValueError(
            f"sample_weight must be >= 0, got a weight of {bounds[0]} (sample_weight of "
            f"shape {static_shape(weight)})"
        )
    return as_float(ops, weight, dtype)


@dataclasses.dataclass(frozen=True)
class Entries:
    """The ``where`` mask and ``sample_weight`` of one call, checked against the shape
    of the unreduced loss (``None`` for either when not given)."""

    ops: Any
    mask: Any  # bool, broadcastable to the unreduced loss, rank-aligned to it
    weight: Any  # compute dtype, 0 where masked out, rank-aligned
    rank: int  # rank of the unreduced loss

    @property
    def trivial(self) -> bool:
        """Neither ``where`` nor ``sample_weight`` was given."""
        return self.mask is None and self.weight is None

    def _aligned(self, x: Any, axis: int) -> Any:
        """The mask with a size-1 axis at ``axis`` per extra dimension of ``x``."""
        mask = self.mask
        extra = len(static_shape(x)) - self.rank
        for _ in range(max(extra, 0)):
            mask = self.ops.expand_dims(mask, axis)
        return mask

    def hide(self, x: Any, axis: int = -1) -> Any:
        """``x`` with its masked-out entries replaced by 0 (their gradient is then 0,
        and NaN/Inf in them never reaches the loss). ``x`` has the unreduced loss'
        shape, or more dimensions at ``axis`` (a class axis, trailing features)."""
        if self.mask is None or x is None:
            return x
        ops = self.ops
        x = ops.convert_to_tensor(x)
        return ops.where(self._aligned(x, axis), x, ops.zeros_like(x))

    def combine(self, mask: Any) -> Any:
        """The loss' own mask (``ignore_index``) and ``where`` together."""
        if self.mask is None:
            return mask
        if mask is None:
            return self.mask
        return self.ops.logical_and(mask, self.mask)


def entries(
    ops: Any,
    where: Any,
    sample_weight: Any,
    shape: tuple,
    dtype: str,
    what: str = "the unreduced loss",
) -> Entries:
    """Check ``where`` and ``sample_weight`` against ``shape`` (the static shape of the
    unreduced loss, described as ``what`` in errors) and prepare them."""
    if where is None and sample_weight is None:
        return NO_ENTRIES
    rank = len(shape)
    mask = weight = None
    if where is not None:
        mask = _check_where(ops, where, shape, what)
        for _ in range(rank - len(static_shape(mask))):
            mask = ops.expand_dims(mask, 0)
    if sample_weight is not None:
        weight = _check_sample_weight(ops, sample_weight, shape, what, dtype)
        for _ in range(rank - len(static_shape(weight))):
            weight = ops.expand_dims(weight, 0)
        if mask is not None:  # NaN weights of masked-out entries never reach the loss
            weight = ops.where(mask, weight, ops.zeros_like(weight))
    return Entries(ops, mask, weight, rank)


#: The entries of a call without ``where`` or ``sample_weight``: nothing to hide.
NO_ENTRIES = Entries(None, None, None, 0)


# --- counted entries: Keras' loss mask -------------------------------------------

_COUNTED: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "multiloss_counted_entries", default=None
)
#: How many ``counted_entries`` blocks are open in any thread: while none is (every call
#: outside the Keras adapter), ``reduce`` does not look at the context variable, which
#: ``torch.compile(fullgraph=True)`` cannot trace.
_OPEN_BLOCKS = 0
_OPEN_BLOCKS_LOCK = threading.Lock()


@contextlib.contextmanager
def counted_entries() -> Iterator[list]:
    """Collect the mask of the entries ``"mean"`` counts, from each ``reduction="none"``
    call made in the block (``None`` where every entry counts).

    The Keras adapter attaches it to the unreduced loss as Keras' own losses do
    (``keras.losses.circle`` masks its anchors without a positive, sparse cross entropy
    its ``ignore_class``), so Keras' reductions average over the same entries as
    ``reduction="mean"`` here.
    """
    global _OPEN_BLOCKS
    found: list = []
    token = _COUNTED.set(found)
    with _OPEN_BLOCKS_LOCK:
        _OPEN_BLOCKS += 1
    try:
        yield found
    finally:
        with _OPEN_BLOCKS_LOCK:
            _OPEN_BLOCKS -= 1
        _COUNTED.reset(token)


# --- reductions ------------------------------------------------------------------


def reduce(
    ops: Any,
    values: Any,
    reduction: str,
    out_dtype: str,
    *,
    mask: Any = None,
    weights: Any = None,
    entries: Entries | None = None,
) -> Any:
    """Apply ``reduction`` to the unreduced loss ``values`` and cast to ``out_dtype``.

    ``mask`` marks the entries the loss itself counts (``ignore_index``, anchors with
    a positive); ``weights`` are the per-entry weights ``"mean"`` divides by where the
    loss has its own (cross entropy's ``class_weight``, as ``torch``; 0 where ``mask``
    is False, set here). ``entries`` brings ``where`` and ``sample_weight``: masked-out
    entries give 0 (``where`` selects, so no NaN passes), the weights multiply both the
    values and the denominator. An empty denominator gives 0 with a zero gradient.
    """
    check_reduction(reduction)
    if entries is not None and entries.mask is not None:
        mask = entries.combine(mask)
    sample_weight = None if entries is None else entries.weight
    if sample_weight is not None:
        values = values * sample_weight
        weights = sample_weight if weights is None else weights * sample_weight
    if mask is not None:  # selects: NaN in a masked-out entry or weight stays out
        values = ops.where(mask, values, ops.zeros_like(values))
        if weights is not None:
            weights = ops.where(mask, weights, ops.zeros_like(weights))

    if reduction == "none":
        collector = _COUNTED.get() if _OPEN_BLOCKS else None
        if collector is not None:
            collector.append(mask)
        result = values
    elif reduction == "sum":
        result = ops.sum(values)
    elif reduction == "mean" and weights is None and mask is None and _known_and_not_empty(values):
        result = ops.mean(values)
    else:  # a mean with a denominator of its own (0 when empty: 0, not NaN)
        if weights is not None:
            count = ops.sum(weights * ops.ones_like(values))
        elif mask is not None:
            count = ops.sum(ops.cast(mask, ops.dtype(values)) * ops.ones_like(values))
        else:
            count = ops.sum(ops.ones_like(values))
        total = ops.sum(values)
        if reduction == "global_mean":
            total, count = ops.global_totals(total, ops.stop_gradient(count))
        result = safe_divide(ops, total, count)
    return result if ops.dtype(result) == out_dtype else ops.cast(result, out_dtype)


def _known_and_not_empty(values: Any) -> bool:
    shape = static_shape(values)
    return None not in shape and 0 not in shape
