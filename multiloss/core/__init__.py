"""The losses, each written once against the ``keras.ops`` API.

Importing this package loads no framework: the families only define functions
``fn(ops, *tensors, **params)`` and register them (see :mod:`multiloss.core.registry`).
"""

from multiloss.core import crossentropy  # noqa: F401  (registers the family)
from multiloss.core import circle  # noqa: F401
from multiloss.core import divergence  # noqa: F401
from multiloss.core import hinge  # noqa: F401
from multiloss.core import regression  # noqa: F401
from multiloss.core import smoothing  # noqa: F401
from multiloss.core import focal  # noqa: F401
from multiloss.core import poly  # noqa: F401
from multiloss.core import multitask  # noqa: F401
from multiloss.core.registry import (
    KINDS,
    LossSpec,
    StatefulSpec,
    StateVariable,
    get_spec,
    register,
    register_stateful,
    registry,
    stateful_registry,
    unregister,
)

__all__ = [
    "KINDS",
    "LossSpec",
    "StateVariable",
    "StatefulSpec",
    "get_spec",
    "register",
    "register_stateful",
    "registry",
    "stateful_registry",
    "unregister",
]
