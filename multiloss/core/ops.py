"""A tiny keras.ops facade bound to one framework, whatever ``KERAS_BACKEND`` is.

Every loss in :mod:`multiloss.core` is written against the ``keras.ops`` API and
receives an ``ops`` object as its first argument. For the Keras adapter that object
dispatches to the backend Keras is configured with; for the torch, jax and
tensorflow adapters it is bound to ``keras.src.backend.<framework>`` directly (the
mechanism ``keras.src.utils.backend_utils.DynamicBackend`` uses), so the three
frameworks can run side by side in one process.

The public ``keras.ops`` layer normalises a few things the backend modules do not
(dtype of ``one_hot``, Python scalars); those few are re-done here, and the facade
is tested op by op against ``keras.ops`` (``tests/test_ops_facade.py``).

The backend modules are private Keras API: the tested Keras range is pinned in
:data:`SUPPORTED_KERAS` and an untested Keras raises a clear error (set
``MULTILOSS_ALLOW_UNTESTED_KERAS=1`` to try anyway).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from typing import Any

import numpy as np

SUPPORTED_KERAS = (">=3.15", "<3.16")
_SUPPORTED_MIN = (3, 15)
_SUPPORTED_MAX = (3, 16)
FRAMEWORKS = ("tensorflow", "jax", "torch")

# keras.ops names the losses may use, and the backend sub-module that defines them.
_OP_NAMES = {
    "numpy": (
        "abs", "all", "any", "arange", "argmax", "clip", "concatenate", "cumsum",
        "equal", "exp", "expand_dims", "floor", "full_like", "greater",
        "greater_equal", "isfinite", "isnan", "less", "less_equal", "linspace",
        "log", "log1p", "logaddexp", "logical_and", "logical_not", "logical_or",
        "matmul", "max", "maximum", "mean", "min", "minimum", "moveaxis",
        "negative", "not_equal", "ones", "ones_like", "power", "reshape",
        "sign", "sqrt", "square", "squeeze", "stack", "sum", "take",
        "take_along_axis", "transpose", "where", "zeros", "zeros_like",
        "broadcast_to", "tile", "triu", "eye", "dot", "einsum", "expm1", "log2",
        "sort", "unique", "searchsorted", "count_nonzero",
    ),
    "nn": (
        "binary_crossentropy", "log_sigmoid", "log_softmax", "relu", "sigmoid", "softmax",
        "softplus",
    ),
    "math": ("logsumexp", "top_k", "in_top_k"),
    "core": (
        "cast", "cond", "convert_to_tensor", "custom_gradient", "fori_loop",
        "is_tensor", "scatter", "shape", "slice", "slice_update", "stop_gradient",
        "while_loop",
    ),
    "random": ("uniform", "categorical", "randint"),
}


class UnsupportedKerasError(ImportError):
    """The installed Keras is outside the range multiloss was tested with."""


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_keras_version(version: str) -> None:
    """Raise :class:`UnsupportedKerasError` unless ``version`` is in the tested range."""
    parsed = _parse_version(version)
    if _SUPPORTED_MIN <= parsed[:2] < _SUPPORTED_MAX:
        return
    if os.environ.get("MULTILOSS_ALLOW_UNTESTED_KERAS") == "1":
        return
    raise UnsupportedKerasError(
        f"multiloss binds Keras' backend modules, which are private API; it is tested "
        f"with keras{','.join(SUPPORTED_KERAS)} but keras {version} is installed. "
        f"Install a supported Keras (pip install 'keras{','.join(SUPPORTED_KERAS)}') "
        f"or set MULTILOSS_ALLOW_UNTESTED_KERAS=1 to try anyway."
    )


class Ops:
    """``keras.ops``-named functions bound to one framework's Keras backend module."""

    def __init__(self, framework: str):
        if framework not in FRAMEWORKS:
            raise ValueError(
                f"framework must be one of {FRAMEWORKS}, got framework={framework!r}"
            )
        import keras

        check_keras_version(keras.__version__)
        self.name = framework
        self.framework = framework
        missing = []
        for module_name, names in _OP_NAMES.items():
            try:
                module = importlib.import_module(f"keras.src.backend.{framework}.{module_name}")
            except ImportError as exc:  # pragma: no cover - depends on Keras layout
                raise UnsupportedKerasError(
                    f"keras.src.backend.{framework}.{module_name} cannot be imported "
                    f"({exc}); multiloss is tested with keras{','.join(SUPPORTED_KERAS)}"
                ) from exc
            for op_name in names:
                fn = getattr(module, op_name, None)
                if fn is None:
                    missing.append(f"{module_name}.{op_name}")
                elif op_name not in type(self).__dict__:
                    setattr(self, op_name, fn)
        if missing:
            raise UnsupportedKerasError(
                f"keras {keras.__version__} backend {framework!r} lacks {missing}; "
                f"multiloss is tested with keras{','.join(SUPPORTED_KERAS)}"
            )
        self._core = importlib.import_module(f"keras.src.backend.{framework}.core")
        self._nn = importlib.import_module(f"keras.src.backend.{framework}.nn")
        self._standardize_dtype = importlib.import_module(
            "keras.src.backend.common.variables"
        ).standardize_dtype
        if framework == "torch":
            from multiloss.core import fast_torch

            fast_torch.install(self)

    def __repr__(self) -> str:
        return f"Ops({self.name!r})"

    # --- keras.ops semantics the backend modules skip -------------------------------
    def one_hot(self, x, num_classes, axis=-1, dtype="float32"):
        """``keras.ops.one_hot``: float32 by default (the backend returns int64 on torch)."""
        return self._nn.one_hot(x, num_classes, axis=axis, dtype=dtype)

    def binary_crossentropy(self, target, output, from_logits=False):
        """``keras.ops.binary_crossentropy`` (element-wise, unreduced).

        While ``torch.compile`` traces, the torch backend's MPS probe
        (``torch.backends.mps.is_available()``) breaks the graph, so the fused kernel
        it wraps is called directly (same numbers; the MPS squeeze does not apply).
        """
        if self.name == "torch" and from_logits:
            import torch

            if torch.compiler.is_compiling():
                return torch.nn.functional.binary_cross_entropy_with_logits(
                    self.convert_to_tensor(output), self.convert_to_tensor(target),
                    reduction="none",
                )
        return self._nn.binary_crossentropy(target, output, from_logits=from_logits)

    def dtype(self, x) -> str:
        """``keras.ops.dtype``: the standardized dtype name of a tensor."""
        return self._standardize_dtype(x.dtype)

    # --- extensions used by the argument checks (not part of keras.ops) -------------
    def eager_value(self, x) -> np.ndarray | None:
        """The value of ``x`` as NumPy when it is concrete (eager), else ``None``.

        ``None`` under ``jax.jit``/``grad`` tracing, inside ``tf.function`` and while
        ``torch.compile`` traces: value checks then give way to shape checks.
        """
        if self.name == "torch":
            import torch

            if torch.compiler.is_compiling():
                return None
            return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if self.name == "jax":
            import jax

            if isinstance(x, jax.core.Tracer):
                return None
            return np.asarray(x)
        import tensorflow as tf

        if isinstance(x, (tf.Tensor, tf.Variable)):
            if not tf.executing_eagerly() or not hasattr(x, "numpy"):
                return None
            return x.numpy()
        return np.asarray(x)


@contextlib.contextmanager
def tensorflow_dtype_rules():
    """Keras' dtype promotion as under ``KERAS_BACKEND=tensorflow``, for the TF facade.

    Keras decides at import, from the global backend, whether its promotion rules keep
    64-bit types (``keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE``): under a jax
    or torch global backend they fold float64 and int64 to 32 bits, which made Keras'
    TensorFlow ops mix float32 and float64 tensors (a TF error) on float64 inputs. The
    TensorFlow adapter runs inside this scope, which restores TensorFlow's own rules
    and puts the previous ones back after the call (a no-op under a TF global backend).
    """
    from keras.src.backend.common import dtypes

    table = dtypes.BIT64_TO_BIT32_DTYPE
    saved = {k: table[k] for k in ("float64", "int64") if table.get(k) != k}
    if not saved:
        yield
        return
    table.update({k: k for k in saved})
    try:
        yield
    finally:
        table.update(saved)


@functools.cache
def get_ops(framework: str) -> Ops:
    """The cached :class:`Ops` facade for ``framework`` ("tensorflow", "jax" or "torch")."""
    return Ops(framework)


def keras_backend_ops() -> Ops:
    """The facade for the backend Keras is configured with (``keras.config.backend()``)."""
    import keras

    return get_ops(keras.config.backend())


def is_float_dtype(dtype: Any) -> bool:
    return str(dtype) in ("float16", "bfloat16", "float32", "float64")
