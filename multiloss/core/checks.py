"""Argument checks shared by the losses. They run before any arithmetic and raise
``ValueError``/``TypeError`` naming the argument and the shapes involved."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

REDUCTIONS = ("none", "mean", "sum", "global_mean")
_INT = {int}
_INT_SHAPES: dict[tuple, tuple[int, ...]] = {}  # shapes of plain ints seen, by value


def static_shape(x: Any) -> tuple[int | None, ...]:
    """The static shape of a tensor as a tuple (``None`` for unknown dimensions)."""
    shape = getattr(x, "shape", None)
    if type(shape) is tuple and None not in shape:  # jax, NumPy
        return shape
    if isinstance(shape, tuple):  # torch.Size: plain ints (not symbolic) once seen
        try:
            return _INT_SHAPES[shape]
        except (KeyError, TypeError):  # new, or symbolic sizes (unhashable)
            pass
        if set(map(type, shape)) <= _INT:
            known = tuple(shape)
            if len(_INT_SHAPES) < 4096:
                _INT_SHAPES[known] = known
            return known
    if shape is None:
        return np.shape(x)
    if getattr(shape, "rank", 0) is None:  # tf.TensorShape of unknown rank
        raise ValueError(
            "multiloss needs the rank of every input; got a TensorFlow tensor of unknown "
            "rank (a tf.function traced with inputs of different ranks: give it an "
            "input_signature with the rank, or feed inputs of one rank)"
        )
    return tuple(None if d is None else int(d) for d in shape)


def check_reduction(reduction: Any, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got reduction={reduction!r}")


def check_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    """A Python or NumPy integer (not a bool) as a Python int: ``TypeError`` otherwise."""
    if type(value) is int or (value is None and allow_none):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        kind = "an int or None" if allow_none else "an int"
        raise TypeError(f"{name} must be {kind}, got {name}={value!r}")
    return int(value)


def check_axis(axis: Any, rank: int, name: str = "y_pred") -> int:
    """Normalise ``axis`` for a tensor of ``rank``; returns a non-negative axis."""
    axis = check_int("axis", axis)
    if not -rank <= axis < rank:
        raise ValueError(f"axis={axis} is out of range for {name} of rank {rank}")
    return int(axis) % rank


def check_rank(name: str, shape: tuple, min_rank: int) -> None:
    if len(shape) < min_rank:
        raise ValueError(f"{name} must have rank >= {min_rank}, got shape {shape}")


def _dims_match(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def check_same_shape(name_a: str, shape_a: tuple, name_b: str, shape_b: tuple) -> None:
    if shape_a == shape_b:
        return
    if len(shape_a) != len(shape_b) or not all(map(_dims_match, shape_a, shape_b)):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {name_a} {shape_a} "
            f"and {name_b} {shape_b}"
        )


def check_broadcastable(name: str, shape: tuple, target: tuple, target_name: str) -> None:
    """``shape`` must broadcast to ``target`` without enlarging it (NumPy rules)."""
    ok = len(shape) <= len(target) and all(
        n in (1, None) or t is None or n == t
        for n, t in zip(shape[::-1], target[::-1], strict=False)
    )
    if not ok:
        raise ValueError(
            f"{name} must broadcast to {target_name} of shape {target}, got {name} of "
            f"shape {shape}"
        )


def check_flag(name: str, value: Any) -> None:
    """A Python bool (a static switch: ``from_logits``, ``full``, ``swap``, ...)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {name}={value!r}")


def is_python_scalar(value: Any) -> bool:
    if type(value) is float or type(value) is int:  # the common case, no ABC check
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_scalar(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    allow_none: bool = False,
) -> None:
    """Check a Python (or NumPy) scalar hyper-parameter against ``[low, high]``.

    Tensors are accepted as they are (their value is not known before tracing).
    """
    if type(value) is float or type(value) is int:  # the common case, checked first
        if value - value == 0 and (low is None or value >= low) and (high is None or value <= high):
            return  # (value - value == 0: finite)
    if value is None:
        if allow_none:
            return
        raise TypeError(f"{name} must be a number, got {name}=None")
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {name}={value!r}")
    if isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        # Python numbers are checked in plain Python: NumPy calls on them would be
        # traced as tensor ops (and break the graph) under torch.compile.
        if not isinstance(value, numbers.Real):
            array = np.asarray(value, dtype=np.float64)
            if array.ndim != 0:
                raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {name}={v}")
        if low is not None and v < low:
            raise ValueError(f"{name} must be >= {low}, got {name}={v}")
        if high is not None and v > high:
            raise ValueError(f"{name} must be <= {high}, got {name}={v}")
        return
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be a number or a tensor, got {type(value).__name__}")


def check_static_scalar(
    name: str, value: Any, *, low: float | None = None, high: float | None = None
) -> None:
    """A hyper-parameter that shapes the computation (e.g. ``label_smoothing``: whether
    the smoothing terms exist at all) must be a Python or NumPy number, as in
    ``torch.nn.functional.cross_entropy``: a tensor is refused with a ``TypeError``,
    eagerly and under tracing alike (a traced value has no Python truth value)."""
    if type(value) is float or type(value) is int:  # the common case
        check_scalar(name, value, low=low, high=high)
        return
    if not isinstance(value, (numbers.Real, np.generic)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be a Python number (a static hyper-parameter), got "
            f"{name} of type {type(value).__name__}"
        )
    check_scalar(name, value, low=low, high=high)


def check_vector(
    name: str,
    value: Any,
    length: int | None,
    *,
    low: float | None = None,
    high: float | None = None,
    what: str = "number of classes",
) -> None:
    """Check a per-class vector (list, NumPy array or tensor) of ``length`` entries."""
    shape = static_shape(value) if hasattr(value, "shape") else np.shape(value)
    if len(shape) != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {tuple(shape)}")
    if length is not None and shape[0] is not None and shape[0] != length:
        raise ValueError(
            f"{name} must have one entry per class: length {length} ({what}), "
            f"got shape {tuple(shape)}"
        )
    if not hasattr(value, "shape") or isinstance(value, np.ndarray):
        # Compared in plain Python: NumPy comparisons would be traced as tensor ops
        # (a data-dependent branch) under torch.compile.
        entries = [float(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
        if not all(map(math.isfinite, entries)):
            raise ValueError(f"every entry of {name} must be finite, got {entries}")
        if low is not None and any(v < low for v in entries):
            raise ValueError(f"every entry of {name} must be >= {low}, got {entries}")
        if high is not None and any(v > high for v in entries):
            raise ValueError(f"every entry of {name} must be <= {high}, got {entries}")


#: Where eager integer labels are checked against the number of classes (see
#: :func:`set_label_check`).
LABEL_CHECK_MODES = ("host", "always", "never")
_label_check = os.environ.get("MULTILOSS_LABEL_CHECK", "host")
if _label_check not in LABEL_CHECK_MODES:
    _label_check = "host"


def set_label_check(mode: str) -> str:
    """Choose when eager integer labels are checked to lie in ``[0, num_classes)`` (and
    ``sample_weight`` to be >= 0).

    ``"host"`` (the default): labels on the host (CPU tensors, NumPy) are checked on
    every eager call, with two reductions on the tensor (no copy); labels on an
    accelerator are not, since reading the result back would make the host wait for
    the device at every step. ``"always"``: accelerators too (one sync per call, for
    debugging). ``"never"``: no check. Traced calls (``jax.jit``, ``tf.function``,
    ``torch.compile``) are never checked: a compiled graph cannot raise. Also set by
    the environment variable ``MULTILOSS_LABEL_CHECK``. Returns the previous mode.
    """
    global _label_check
    if mode not in LABEL_CHECK_MODES:
        raise ValueError(f"mode must be one of {LABEL_CHECK_MODES}, got mode={mode!r}")
    previous, _label_check = _label_check, mode
    return previous


def value_check_bounds(ops: Any, x: Any) -> tuple[float, float] | None:
    """``(min, max)`` of ``x`` when :func:`set_label_check`'s mode checks its values."""
    if _label_check == "never":
        return None
    return ops.value_range(x, accelerators=_label_check == "always")


def check_labels_in_range(
    ops: Any,
    name: str,
    labels: Any,
    num_classes: int | None,
    ignore_index: int | None = None,
) -> None:
    """Integer labels must lie in ``[0, num_classes)`` (or equal ``ignore_index``).

    Checked on concrete (eager) labels as :func:`set_label_check` says; under tracing
    the check is skipped, as a compiled graph cannot raise.
    """
    if num_classes is None or _label_check == "never":
        return
    bounds = ops.value_range(labels, ignore_index, accelerators=_label_check == "always")
    if bounds is None:
        return
    low, high = bounds
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        extra = f" or equal ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{name} holds class id {bad}, outside [0, {num_classes}) for "
            f"{num_classes} classes{extra}"
        )


def is_integer_dtype(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))
