"""Numerics shared by the loss families: compute dtypes, masks and safe division."""

from __future__ import annotations

from typing import Any

#: The logit a mask puts on left-out entries: its exp is exactly 0 beside any real
#: logit, and a row of only masked entries still has a finite logsumexp.
MASKED_LOGIT = -1e30

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


def safe_divide(ops: Any, total: Any, count: Any) -> Any:
    """``total / count`` that is 0 (with a zero gradient) when ``count`` is 0 (only
    then: a NaN count gives NaN)."""
    nonzero = ops.not_equal(count, 0)
    denominator = ops.where(nonzero, count, ops.ones_like(count))
    return ops.where(nonzero, total / denominator, ops.zeros_like(total))


def masked_logsumexp(ops: Any, logits: Any, mask: Any, axis: int = -1) -> Any:
    """``logsumexp`` over ``axis`` of the entries where ``mask`` is True (``None``: all);
    a row with none gives a finite value near :data:`MASKED_LOGIT`."""
    if mask is not None:
        logits = ops.where(mask, logits, ops.full_like(logits, MASKED_LOGIT))
    return ops.logsumexp(logits, axis=axis)
