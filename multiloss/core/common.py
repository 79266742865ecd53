"""Numerics shared by the loss families: compute dtypes, masks and reductions."""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import check_reduction, static_shape

#: Half-precision inputs are computed in float32 and the result cast back.
_COMPUTE_DTYPE = {"float16": "float32", "bfloat16": "float32"}


def compute_dtype(ops: Any, x: Any) -> tuple[str, str]:
    """``(compute dtype, output dtype)`` for a prediction tensor ``x``.

    float32 and float64 compute as they are; float16 and bfloat16 are computed in
    float32 and the loss is returned in the input dtype; integer inputs give float32.
    """
    dtype = ops.dtype(x)
    if dtype in ("float32", "float64"):
        return dtype, dtype
    if dtype in _COMPUTE_DTYPE:
        return _COMPUTE_DTYPE[dtype], dtype
    return "float32", "float32"


def as_float(ops: Any, x: Any, dtype: str) -> Any:
    x = ops.convert_to_tensor(x)
    return x if ops.dtype(x) == dtype else ops.cast(x, dtype)


def param_tensor(ops: Any, value: Any, dtype: str) -> Any:
    """A hyper-parameter (Python number, list, NumPy array or tensor) as a tensor."""
    return ops.convert_to_tensor(value, dtype=dtype)


def safe_where(ops: Any, mask: Any, values: Any) -> Any:
    """``where(mask, values, 0)``, with no gradient leaking from masked-out entries."""
    return ops.where(mask, values, ops.zeros_like(values))


def safe_divide(ops: Any, total: Any, count: Any) -> Any:
    """``total / count`` that is 0 (with a zero gradient) when ``count`` is 0 (only
    then: a NaN count gives NaN)."""
    nonzero = ops.not_equal(count, 0)
    denominator = ops.where(nonzero, count, ops.ones_like(count))
    return ops.where(nonzero, total / denominator, ops.zeros_like(total))


def reduce(
    ops: Any,
    values: Any,
    reduction: str,
    out_dtype: str,
    *,
    mask: Any = None,
    weight_sum: Any = None,
) -> Any:
    """Apply ``reduction`` to the unreduced loss ``values`` and cast to ``out_dtype``.

    ``mask`` marks the entries that count (ignored entries must already hold 0 in
    ``values``); ``"mean"`` divides by their number, or by ``weight_sum`` when given.
    An empty denominator gives 0 with a zero gradient.
    """
    check_reduction(reduction)
    if reduction == "none":
        result = values
    elif reduction == "sum":
        result = ops.sum(values)
    elif weight_sum is None and mask is None:
        # Plain mean: an empty tensor averages to 0 (not NaN), as every mean here.
        shape = static_shape(values)
        if None not in shape and 0 not in shape:
            result = ops.mean(values)
        else:
            result = safe_divide(ops, ops.sum(values), ops.sum(ops.ones_like(values)))
    else:
        count = weight_sum
        if count is None:
            count = ops.sum(ops.cast(mask, ops.dtype(values)))
        result = safe_divide(ops, ops.sum(values), count)
    return result if ops.dtype(result) == out_dtype else ops.cast(result, out_dtype)
