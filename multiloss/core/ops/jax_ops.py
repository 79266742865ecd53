"""The ops layer on JAX: Keras' jax backend, plus JAX's own random keys and tracers."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from multiloss.core.ops.base import Ops


class JaxOps(Ops):
    """``keras.ops`` on ``jax.Array``s (traces under ``jit``, ``grad`` and ``vmap``)."""

    name = "jax"

    def eager_value(self, x: Any) -> np.ndarray | None:
        if isinstance(x, jax.core.Tracer):
            return None
        return np.asarray(x)

    def value_range(
        self, x: Any, exclude: int | None = None, *, accelerators: bool = False
    ) -> tuple[int, int] | None:
        if isinstance(x, jax.core.Tracer):
            return None
        if isinstance(x, jax.Array) and not accelerators:
            if any(device.platform != "cpu" for device in x.devices()):
                return None
        return super().value_range(x, exclude, accelerators=accelerators)

    def seeded_uniform(self, size: int, seed: int | None) -> Any:
        """An int seed gives ``jax.random.PRNGKey(seed)``. JAX has no global generator:
        ``None`` draws a seed with NumPy at call time (fixed once traced)."""
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        return jax.random.uniform(jax.random.PRNGKey(seed), (size,), dtype="float32")

    def index_dtype(self, like: Any) -> str:
        """int32 unless ``like`` is int64 (JAX without x64 has no int64)."""
        return "int64" if self.dtype(like) == "int64" else "int32"
