"""multiloss: loss functions written once, the same numbers in Keras, PyTorch, JAX and
TensorFlow.

``import multiloss`` loads no framework. Pick an adapter::

    import multiloss.torch       # fn(y_pred, y_true, **params) on torch tensors + nn.Modules
    import multiloss.jax         # pure functions on jax arrays (jit/grad/vmap)
    import multiloss.tensorflow  # functions on tf tensors (tf.function, jit_compile)
    import multiloss.keras       # fn(y_true, y_pred) + keras.losses.Loss classes
"""

from __future__ import annotations

__version__ = "0.1.0"

from multiloss.core.checks import set_label_check
from multiloss.core.registry import registry as _registry


def available_losses() -> list[str]:
    """Names of every registered loss (the same in every adapter)."""
    return sorted(_registry())


def __getattr__(name: str):
    # multiloss.compare is imported on first use (it loads no framework either).
    if name == "compare":
        from multiloss.verify.compare import compare

        return compare
    raise AttributeError(f"module 'multiloss' has no attribute {name!r}")


__all__ = ["__version__", "available_losses", "compare", "set_label_check"]
