"""Framework handles: which adapters can run here, and running one from NumPy inputs.

The bottom layer of :mod:`multiloss.verify` (it imports no other verify module). Used
by ``multiloss check``, :func:`multiloss.compare` and the test suite: finds the
installed adapters (and why the others cannot run), imports them in a safe order,
converts NumPy arrays to the framework's tensors, calls an adapter function and returns
the value and the gradient with respect to chosen arguments as NumPy (float64).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from multiloss.core.ops.base import keras_configured_backend

#: Adapters in the order reports list them.
ADAPTERS = ("keras", "torch", "jax", "tensorflow")
#: The frameworks Keras can run multiloss on, in the order a fallback backend is chosen.
FRAMEWORKS = ("torch", "jax", "tensorflow")
#: The package each adapter needs.
_REQUIRES = {"keras": "keras", "torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}
#: How to install each framework.
INSTALL = {
    "torch": "pip install 'multiloss[torch]'",
    "jax": "pip install 'multiloss[jax]'",
    "tensorflow": "pip install 'multiloss[tensorflow-cpu]'",
}


def keras_backend() -> str:
    """The backend ``multiloss.keras`` runs on (``KERAS_BACKEND``, else Keras' config)."""
    import keras

    return keras.config.backend()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclasses.dataclass(frozen=True)
class KerasPlan:
    """The backend ``multiloss.keras`` runs on in this environment (``None``: it cannot
    run here), and in words how it was chosen or why none can be."""

    backend: str | None
    reason: str


def keras_plan(prefer: Sequence[str] = ()) -> KerasPlan:
    """Which backend the Keras adapter gets here, without importing anything.

    Keras already imported: its backend. ``KERAS_BACKEND`` set: that one, when it is
    installed. Otherwise Keras' configured backend (``keras.json``, else TensorFlow)
    when it is installed; if not, the first installed framework (those in ``prefer``
    first), as after ``import multiloss.torch`` with ``KERAS_BACKEND`` unset.
    """
    if not _has("keras"):
        return KerasPlan(None, "keras is not installed (pip install 'keras>=3.15,<3.16')")
    if "keras" in sys.modules:
        backend = keras_backend()
        return KerasPlan(backend, f"Keras was imported on {backend}")
    env = os.environ.get("KERAS_BACKEND")
    if env:
        if env not in FRAMEWORKS:
            return KerasPlan(
                None, f"KERAS_BACKEND={env}: multiloss runs Keras on {', '.join(FRAMEWORKS)}"
            )
        if not _has(env):
            return KerasPlan(
                None, f"KERAS_BACKEND={env} but {env} is not installed ({INSTALL[env]}); "
                "set KERAS_BACKEND to an installed framework or unset it",
            )
        return KerasPlan(env, f"KERAS_BACKEND={env}")
    configured, source = keras_configured_backend()
    if configured in FRAMEWORKS and _has(configured):
        return KerasPlan(configured, f"{source} (KERAS_BACKEND unset)")
    order = [f for f in prefer if f in FRAMEWORKS] + list(FRAMEWORKS)
    fallback = next((f for f in order if _has(f)), None)
    if fallback is None:
        return KerasPlan(
            None, f"Keras' backend is {configured} ({source}, KERAS_BACKEND unset) and no "
            f"framework is installed; install one: {INSTALL['torch']}",
        )
    unavailable = (
        "not installed" if configured in FRAMEWORKS else "not a backend multiloss runs Keras on"
    )
    return KerasPlan(
        fallback, f"{configured} ({source}) is {unavailable} and KERAS_BACKEND is unset, so "
        f"the first installed framework, as after `import multiloss.{fallback}`; "
        "set KERAS_BACKEND to choose",
    )


def is_installed(adapter: str) -> bool:
    if adapter == "keras":
        return keras_plan().backend is not None
    return _has(_REQUIRES[adapter])


def not_installed_reason(adapter: str) -> str:
    """Why ``adapter`` cannot run here (for an adapter :func:`is_installed` rejects)."""
    if adapter == "keras":
        return keras_plan().reason
    return f"{adapter} is not installed ({INSTALL[adapter]})"


def installed_adapters(wanted: Sequence[str] | None = None) -> list[str]:
    return [a for a in (wanted or ADAPTERS) if is_installed(a)]


def select_adapters(wanted: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The installed adapters among ``wanted`` (default: all four) and why others are
    skipped: ``{"tensorflow": "tensorflow is not installed (pip install ...)"}``; the
    Keras adapter is skipped when no backend it can run on is installed
    (:func:`keras_plan`). A name that is no adapter raises ``ValueError``."""
    wanted = list(wanted or ADAPTERS)
    unknown = [a for a in wanted if a not in ADAPTERS]
    if unknown:
        raise ValueError(f"unknown framework(s) {unknown}; choose from {list(ADAPTERS)}")
    adapters, skipped = [], {}
    for adapter in wanted:
        if is_installed(adapter):
            adapters.append(adapter)
        else:
            skipped[adapter] = not_installed_reason(adapter)
    return adapters, skipped


def import_error_message(adapter: str, exc: BaseException) -> str:
    """What an installed adapter's failed import says, with the install command of a
    missing framework it needs."""
    message = f"import multiloss.{adapter} raised {type(exc).__name__}: {exc}"
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name and name.split(".")[0] in INSTALL:
        message += f" ({INSTALL[name.split('.')[0]]})"
    return message


def import_keras_for(adapters: Sequence[str] = ()) -> str:
    """Import Keras on the backend :func:`keras_plan` picks (``adapters`` preferred for a
    fallback); return that backend. Raises ``ImportError`` when none can run."""
    plan = keras_plan(adapters)
    if plan.backend is None:
        raise ImportError(plan.reason)
    if "keras" not in sys.modules:
        if _has("torch"):
            import torch  # noqa: F401  (torch before TensorFlow)
        from multiloss.core.ops import import_keras

        import_keras(plan.backend)
    return keras_backend()


def import_adapters(adapters: Sequence[str]) -> None:
    """Import adapters in a safe order: torch before TensorFlow (the reverse can crash),
    Keras on the backend :func:`keras_plan` picks before the other adapters choose one."""
    if "torch" in adapters or "keras" in adapters:
        if _has("torch"):
            import torch  # noqa: F401
    if "keras" in adapters:
        import_keras_for(adapters)
    for adapter in sorted(adapters, key=lambda a: ("torch", "jax", "keras", "tensorflow").index(a)):
        importlib.import_module(f"multiloss.{adapter}")


def _framework(adapter: str) -> str:
    return keras_backend() if adapter == "keras" else adapter


def adapter_label(adapter: str) -> str:
    """``keras (torch)`` for the Keras adapter (once Keras is imported), the framework
    name otherwise."""
    return f"keras ({keras_backend()})" if adapter == "keras" else adapter


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
            np.zeros(np.shape(args[i])) if g is None else _as_f64(g)
            for i, g in zip(wrt, grads, strict=True)
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
