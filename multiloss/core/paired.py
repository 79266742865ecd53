"""Inputs of the per-example losses of a prediction and a target of one shape (the
regression and likelihood families): checks, the compute dtype, ``where`` and
``sample_weight``, and their scalar hyper-parameters."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from multiloss.core.checks import check_rank, check_same_shape, check_scalar, static_shape
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.reduction import Entries, entries


def paired_inputs(
    ops: Any, y_pred: Any, y_true: Any, where: Any, sample_weight: Any
) -> tuple[Any, Any, str, Entries]:
    """Check ``y_pred`` ``[..., D]`` and ``y_true`` (same shape) and prepare them.

    Returns ``(prediction, target, output dtype, entries)``: both tensors in the compute
    dtype with the examples ``where`` masks out replaced by 0 (so NaN/Inf there never
    reaches the loss or its gradient); ``where`` and ``sample_weight`` apply per example
    (``y_pred`` without its last axis).
    """
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(
        ops, where, sample_weight, pred_shape[:-1], dtype, "y_pred without its last axis"
    )
    prediction = as_float(ops, chosen.hide(y_pred), dtype)
    target = as_float(ops, chosen.hide(y_true), dtype)
    return prediction, target, out_dtype, chosen


def is_concrete(value: Any) -> bool:
    """A Python or NumPy number or array (its value is known before tracing)."""
    return isinstance(value, (numbers.Real, np.ndarray, np.generic))


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """A scalar hyper-parameter > 0 (>= 0 with ``allow_zero``): a Python or NumPy number,
    checked here, or a tensor (accepted as it is: its value is not known when traced)."""
    check_scalar(name, value, low=0.0)
    if is_concrete(value) and not allow_zero and float(value) == 0.0:
        raise ValueError(f"{name} must be > 0, got {name}={float(value)}")


def scalar_param(ops: Any, value: Any, dtype: str) -> Any:
    """A scalar hyper-parameter as a Python float or a tensor of the compute dtype."""
    return float(value) if is_concrete(value) else param_tensor(ops, value, dtype)
