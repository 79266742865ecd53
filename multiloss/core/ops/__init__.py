"""The ops layer: one class per framework, the only code in multiloss that knows one.

``get_ops("torch")`` (``"jax"``, ``"tensorflow"``) gives the cached
:class:`~multiloss.core.ops.base.Ops` of that framework: ``keras.ops``-named methods
(Keras' backend functions, with direct framework calls where they are faster) plus a
few services the losses need (eager values, seeded draws, the scope of a call).
Importing this package loads no framework; ``get_ops`` imports the one it is asked for.
"""

from __future__ import annotations

import functools
import importlib

from multiloss.core.ops.base import (
    FRAMEWORKS,
    SUPPORTED_KERAS,
    KerasFunction,
    Ops,
    UnsupportedKerasError,
    check_keras_version,
    import_keras,
    is_float_dtype,
)

_CLASSES = {
    "torch": ("multiloss.core.ops.torch_ops", "TorchOps"),
    "jax": ("multiloss.core.ops.jax_ops", "JaxOps"),
    "tensorflow": ("multiloss.core.ops.tensorflow_ops", "TensorFlowOps"),
}


@functools.cache
def get_ops(framework: str) -> Ops:
    """The cached ops of ``framework`` ("tensorflow", "jax" or "torch")."""
    if framework not in _CLASSES:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got framework={framework!r}")
    module, class_name = _CLASSES[framework]
    return getattr(importlib.import_module(module), class_name)()


def keras_backend_ops() -> Ops:
    """The ops of the backend Keras is configured with (``keras.config.backend()``)."""
    return get_ops(import_keras().config.backend())


__all__ = [
    "FRAMEWORKS",
    "SUPPORTED_KERAS",
    "KerasFunction",
    "Ops",
    "UnsupportedKerasError",
    "check_keras_version",
    "get_ops",
    "import_keras",
    "is_float_dtype",
    "keras_backend_ops",
]
