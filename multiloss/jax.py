"""JAX adapter: every multiloss loss as a pure function on ``jax.Array``s.

Functions take ``(y_pred, y_true, **params)`` like ``optax.losses`` and trace under
``jax.jit``, ``jax.grad`` and ``jax.vmap``. Works whatever ``KERAS_BACKEND`` is.
"""

from __future__ import annotations

from typing import Any

import jax  # noqa: F401  (the framework this adapter serves; fails early if missing)

from multiloss._adapter import Namespace
from multiloss.core.ops import get_ops
from multiloss.core.registry import LossSpec

_OPS = get_ops("jax")


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    return spec.fn(_OPS, *args, **kwargs)


_namespace = Namespace(__name__, _call)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
