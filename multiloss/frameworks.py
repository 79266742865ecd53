"""Run a multiloss function in any installed framework from NumPy inputs.

Used by the test suite, ``multiloss check`` and :func:`multiloss.compare`: converts
NumPy arrays to the framework's tensors, calls an adapter function and returns the
value and the gradient with respect to chosen arguments as NumPy (float64).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Adapters in the order reports list them.
ADAPTERS = ("keras", "torch", "jax", "tensorflow")
#: The package each adapter needs.
_REQUIRES = {"keras": "keras", "torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}


def keras_backend() -> str:
    """The backend ``multiloss.keras`` runs on (``KERAS_BACKEND``, else Keras' config)."""
    import keras

    return keras.config.backend()


def is_installed(adapter: str) -> bool:
    if importlib.util.find_spec(_REQUIRES[adapter]) is None:
        return False
    if adapter == "keras":
        backend = os.environ.get("KERAS_BACKEND")
        if backend and importlib.util.find_spec(_REQUIRES.get(backend, backend)) is None:
            return False
    return True


def installed_adapters(wanted: Sequence[str] | None = None) -> list[str]:
    return [a for a in (wanted or ADAPTERS) if is_installed(a)]


def import_adapters(adapters: Sequence[str]) -> None:
    """Import adapters in a safe order: torch before TensorFlow (the reverse can crash)."""
    if "torch" in adapters or "keras" in adapters:
        if importlib.util.find_spec("torch") is not None:
            import torch  # noqa: F401
    for adapter in sorted(adapters, key=lambda a: ("torch", "jax", "keras", "tensorflow").index(a)):
        importlib.import_module(f"multiloss.{adapter}")


def _framework(adapter: str) -> str:
    return keras_backend() if adapter == "keras" else adapter


def to_tensor(adapter: str, array: Any) -> Any:
    """A NumPy array (or Python value) as a tensor of the adapter's framework."""
    framework = _framework(adapter)
    array = np.asarray(array)
    if framework == "torch":
        import torch

        # reshape: np.ascontiguousarray turns a 0-d array into shape (1,).
        return torch.from_numpy(np.ascontiguousarray(array).reshape(array.shape))
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(array)
    import tensorflow as tf

    return tf.convert_to_tensor(array)


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        return np.asarray(value.numpy())
    return np.asarray(value)


def value_and_grad(
    adapter: str,
    fn: Callable[..., Any],
    args: Sequence[Any],
    wrt: Sequence[int] = (0,),
    *,
    dtype: str | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Call ``fn(*tensors)`` on ``args`` converted to the adapter's framework.

    Floating arguments are cast to ``dtype`` when given. Returns the value and the
    gradients of its sum with respect to the arguments at positions ``wrt``, as NumPy
    (zeros for an argument the value does not depend on; none when ``wrt`` is empty).
    """
    framework = _framework(adapter)

    def convert(a: Any) -> Any:
        a = np.asarray(a)
        t = to_tensor(adapter, a)
        if dtype is not None and a.dtype.kind == "f":
            t = cast(framework, t, dtype)
        return t

    tensors = [convert(a) for a in args]
    if not wrt:
        return _as_f64(fn(*tensors)), []

    def as_grads(grads: Sequence[Any]) -> list[np.ndarray]:
        return [
            np.zeros(np.shape(args[i])) if g is None else _as_f64(g) for i, g in zip(wrt, grads, strict=True)
        ]

    if framework == "torch":
        for i in wrt:
            tensors[i].requires_grad_(True)
        value = fn(*tensors)
        total = value.float().sum()
        grads = list(_torch_grad(total, [tensors[i] for i in wrt]))
        return _as_f64(value), as_grads(grads)
    if framework == "jax":
        import jax

        def total(*diff):
            full = list(tensors)
            for i, d in zip(wrt, diff, strict=True):
                full[i] = d
            out = fn(*full)
            return out.astype("float32").sum(), out

        grads, value = jax.grad(total, argnums=tuple(range(len(wrt))), has_aux=True)(
            *[tensors[i] for i in wrt]
        )
        return _as_f64(value), as_grads(grads)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        value = fn(*tensors)
        total = tf.reduce_sum(tf.cast(value, tf.float32))
    grads = tape.gradient(total, [tensors[i] for i in wrt])
    # a gather (embedding lookup) gives tf.IndexedSlices: densify
    grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
    return _as_f64(value), as_grads(grads)


def _torch_grad(total: Any, inputs: list) -> tuple:
    import torch

    return torch.autograd.grad(total, inputs, allow_unused=True)


def cast(framework: str, tensor: Any, dtype: str) -> Any:
    if framework == "torch":
        import torch

        return tensor.to(getattr(torch, dtype))
    if framework == "jax":
        return tensor.astype(dtype)
    import tensorflow as tf

    return tf.cast(tensor, dtype)


def _as_f64(value: Any) -> np.ndarray:
    if value is None:
        return np.asarray(np.nan)
    return to_numpy(value).astype(np.float64)


def adapter_function(adapter: str, loss_name: str) -> Callable[..., Any]:
    """``multiloss.<adapter>.<loss_name>`` taking its tensors in the core order
    (prediction first), whatever the adapter's own positional order is."""
    from multiloss.core.registry import get_spec

    spec = get_spec(loss_name)
    module = importlib.import_module(f"multiloss.{adapter}")
    function = getattr(module, loss_name)
    if adapter != "keras" or spec.keras_order == spec.arguments:
        return function
    order = [spec.arguments.index(name) for name in spec.keras_order]

    def core_order(*tensors: Any, **params: Any) -> Any:
        return function(*(tensors[i] for i in order), **params)

    return core_order
