"""The ops layer on JAX: Keras' jax backend, plus JAX's own random keys and tracers."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from multiloss.core.ops.base import Ops

_DATA_PARALLEL_AXIS: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "multiloss_data_parallel_axis", default=None
)


@contextlib.contextmanager
def data_parallel(axis_name: Any) -> Iterator[None]:
    """Losses called (traced) in this block with ``reduction="global_mean"`` average
    over every device of the mapped axis ``axis_name`` of ``shard_map``/``pmap``.

    The count of entries is summed over the axis (``lax.psum``). Under ``shard_map``'s
    default ``check_vma=True`` the loss is the global mean on every device (a
    differentiable ``psum`` of the sums; JAX then sums a replicated parameter's
    gradient over the axis itself); under ``pmap`` or ``check_vma=False`` it is scaled
    by the axis size, so that ``lax.pmean`` of the devices' gradients, the usual
    data-parallel step, gives the gradient of ``"mean"`` over the global batch. Under
    ``jax.jit`` on globally sharded arrays plain ``"mean"`` is global already.
    """
    if axis_name is None or not isinstance(axis_name, (str, tuple)):
        raise TypeError(
            f"axis_name must name a mapped axis (a str, or a tuple of them), got "
            f"axis_name={axis_name!r}"
        )
    token = _DATA_PARALLEL_AXIS.set(axis_name)
    try:
        yield
    finally:
        _DATA_PARALLEL_AXIS.reset(token)


def _varies_over(x: Any, axis: Any) -> bool:
    """Whether ``shard_map`` tracks ``x`` as varying over the mapped ``axis``."""
    aval = jax.typeof(x)
    manual = getattr(aval, "manual_axis_type", None)
    varying = manual.varying if manual is not None else getattr(aval, "vma", frozenset())
    return any(name in varying for name in (axis if isinstance(axis, tuple) else (axis,)))


class JaxOps(Ops):
    """``keras.ops`` on ``jax.Array``s (traces under ``jit``, ``grad`` and ``vmap``)."""

    name = "jax"

    def eager_value(self, x: Any) -> np.ndarray | None:
        if isinstance(x, jax.core.Tracer):
            return None
        return np.asarray(x)

    def value_range(
        self, x: Any, exclude: int | None = None, *, accelerators: bool = False
    ) -> tuple[float, float] | None:
        if isinstance(x, jax.core.Tracer):
            return None
        if isinstance(x, jax.Array) and not accelerators:
            if any(device.platform != "cpu" for device in x.devices()):
                return None
        return super().value_range(x, exclude, accelerators=accelerators)

    def global_totals(self, total: Any, count: Any) -> tuple[Any, Any]:
        """Inside :func:`data_parallel`: the count summed over its axis. Where the
        loss varies over the axis as ``shard_map`` tracks it (its default
        ``check_vma=True``, under which JAX sums a replicated parameter's gradient over
        the axis itself) the total is summed too, a differentiable ``psum``: the same
        global mean on every device. Elsewhere (``pmap``, ``check_vma=False``) the
        total is scaled by the axis size, for ``lax.pmean`` of the gradients."""
        axis = _DATA_PARALLEL_AXIS.get()
        if axis is None:
            return total, count
        try:
            count = jax.lax.psum(count, axis)
            if _varies_over(total, axis):
                return jax.lax.psum(total, axis), count
            return total * jax.lax.psum(1, axis), count
        except NameError:
            raise ValueError(
                f"reduction='global_mean' inside multiloss.jax.data_parallel({axis!r}): no "
                f"mapped axis named {axis!r} is bound here; call the loss inside "
                "shard_map/pmap over that axis"
            ) from None

    def custom_vjp(
        self,
        forward: Callable[..., tuple[Any, tuple]],
        backward: Callable[[tuple, Any], tuple],
    ) -> Callable[..., Any]:
        """``jax.custom_vjp``: the residuals are those ``forward`` returns; a ``None``
        gradient is a zero cotangent (integer inputs get JAX's ``float0``). Traces under
        ``jit``, ``grad`` and ``vmap`` (static values are closed over by the caller)."""

        @jax.custom_vjp
        def function(*tensors: Any) -> Any:
            return forward(*tensors)[0]

        def function_fwd(*tensors: Any) -> tuple[Any, tuple]:
            output, residuals = forward(*tensors)
            return output, tuple(residuals)

        def function_bwd(residuals: tuple, grad: Any) -> tuple:
            return tuple(backward(residuals, grad))

        function.defvjp(function_fwd, function_bwd)
        return function

    def after(self, x: Any, *deps: Any) -> Any:
        """Traced (``jit``, ``grad``, ``vmap``): the base class' data dependency; eagerly
        ``x`` itself."""
        if not any(isinstance(t, jax.core.Tracer) for t in (x, *deps)):
            return x
        return super().after(x, *deps)

    def seeded_uniform(self, size: int, seed: int | None) -> Any:
        """An int seed gives ``jax.random.PRNGKey(seed)``. JAX has no global generator:
        ``None`` draws a seed with NumPy at call time (fixed once traced)."""
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        return jax.random.uniform(jax.random.PRNGKey(seed), (size,), dtype="float32")

    def index_dtype(self, like: Any) -> str:
        """int32 unless ``like`` is int64 (JAX without x64 has no int64)."""
        return "int64" if self.dtype(like) == "int64" else "int32"
