"""TensorFlow adapter: every multiloss loss as a function on ``tf.Tensor``s.

Functions take ``(y_pred, y_true, **params)``; they run eagerly, inside
``tf.function`` and ``tf.function(jit_compile=True)``, with gradients through
``tf.GradientTape``. The stateful objects (``UncertaintyWeighting``,
``DynamicTaskPriority``) are ``tf.Module``s holding ``tf.Variable``s. Works whatever
``KERAS_BACKEND`` is.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from multiloss._adapter import Namespace, run_step, stateful_init_signature
from multiloss.core.ops import get_ops
from multiloss.core.registry import LossSpec, StatefulSpec

_OPS = get_ops("tensorflow")


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    return _OPS.run(spec.fn, args, kwargs)


def _make_stateful_module(spec: StatefulSpec) -> type:
    """A ``tf.Module`` whose variables are ``tf.Variable``s (trainable or not)."""

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        tf.Module.__init__(self, name=name)
        self.config = spec.bind_config(args, kwargs)
        with self.name_scope:
            for var in spec.state:
                value = tf.fill(spec.shape(var, self.config), tf.constant(var.initial, tf.float32))
                setattr(self, var.name, tf.Variable(value, trainable=var.trainable, name=var.name))

    def __call__(self, *inputs: Any) -> Any:
        state = {var.name: getattr(self, var.name) for var in spec.state}
        with _OPS.scope_of(tuple(state.values())):
            output, updates = run_step(spec, _OPS, state, inputs, self.config)
        for name, value in updates.items():
            getattr(self, name).assign(value)
        return output

    __init__.__signature__ = stateful_init_signature(spec)  # type: ignore[attr-defined]
    return type(spec.class_name, (tf.Module,), {"__init__": __init__, "__call__": __call__})


_namespace = Namespace(__name__, _call, stateful_factory=_make_stateful_module)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
