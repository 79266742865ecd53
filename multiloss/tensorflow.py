"""TensorFlow adapter: every multiloss loss as a function on ``tf.Tensor``s.

Functions take ``(y_pred, y_true, **params)``; they run eagerly, inside
``tf.function`` and ``tf.function(jit_compile=True)``, with gradients through
``tf.GradientTape``. Works whatever ``KERAS_BACKEND`` is.
"""

from __future__ import annotations

from typing import Any

import tensorflow  # noqa: F401  (the framework this adapter serves; fails early if missing)

from multiloss._adapter import Namespace
from multiloss.core.ops import get_ops
from multiloss.core.registry import LossSpec

_OPS = get_ops("tensorflow")


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    return spec.fn(_OPS, *args, **kwargs)


_namespace = Namespace(__name__, _call)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
