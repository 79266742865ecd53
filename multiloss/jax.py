"""JAX adapter: every multiloss loss as a pure function on ``jax.Array``s.

Functions take ``(y_pred, y_true, **params)`` like ``optax.losses`` and trace under
``jax.jit``, ``jax.grad`` and ``jax.vmap``. The stateful objects
(``UncertaintyWeighting``, ``DynamicTaskPriority``) are pure ``init``/``apply`` pairs:
``state = obj.init()`` gives a dict of arrays (put the trainable ones, e.g.
``state["log_vars"]``, in your parameter pytree) and ``output, state = obj.apply(state,
*inputs)`` computes without side effects. Works whatever ``KERAS_BACKEND`` is.

``reduction="global_mean"`` inside ``shard_map``/``pmap``: name the data-parallel axis
with ``with multiloss.jax.data_parallel("batch"): ...`` (see docs/reductions.md).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from multiloss._adapter import Namespace, run_step, stateful_init_signature
from multiloss.core.ops import get_ops
from multiloss.core.ops.jax_ops import data_parallel
from multiloss.core.registry import LossSpec, StatefulSpec

_OPS = get_ops("jax")


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    return _OPS.run(spec.fn, args, kwargs)


def _make_stateful(spec: StatefulSpec) -> type:
    """A stateless object with ``init()`` and the pure ``apply(state, *inputs)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.config = spec.bind_config(args, kwargs)

    def init(self, dtype: Any = jnp.float32) -> dict[str, Any]:
        """The initial state: ``{name: array}`` for every variable."""
        return {
            var.name: jnp.full(spec.shape(var, self.config), var.initial, dtype=dtype)
            for var in spec.state
        }

    def apply(self, state: dict[str, Any], *inputs: Any) -> tuple[Any, dict[str, Any]]:
        """``(output, new_state)``; trainable entries of ``state`` get gradients."""
        output, updates = run_step(spec, _OPS, dict(state), inputs, self.config)
        return output, {**state, **updates}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{spec.class_name}({params})"

    __init__.__signature__ = stateful_init_signature(spec)  # type: ignore[attr-defined]
    return type(
        spec.class_name,
        (),
        {"__init__": __init__, "init": init, "apply": apply, "__call__": apply, "__repr__": __repr__},
    )


_namespace = Namespace(
    __name__, _call, stateful_factory=_make_stateful, extras={"data_parallel": data_parallel}
)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
