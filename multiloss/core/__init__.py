"""The losses, each written once against the ``keras.ops`` API.

Importing this package loads no framework: the families only define functions
``fn(ops, *tensors, **params)`` and register them (see :mod:`multiloss.core.registry`).
"""

# Importing a family registers its losses.
from multiloss.core import (  # noqa: F401
    angular,
    boxes,
    circle,
    crossentropy,
    divergence,
    focal,
    hinge,
    likelihood,
    linear,
    metric,
    multitask,
    overlap,
    poly,
    ranking,
    regression,
    sampled,
    sequence,
    smoothing,
)
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
