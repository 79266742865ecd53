"""The ops layer on TensorFlow: Keras' tensorflow backend, under TensorFlow's dtype rules.

Keras decides at import, from its global backend, whether its promotion rules keep
64-bit types (``keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE``): under a jax or
torch global backend they fold float64 and int64 to 32 bits, which made Keras'
TensorFlow ops mix float32 and float64 tensors (a TF error) on float64 inputs. The
TensorFlow ops run their calls with TensorFlow's own rules. The switch is held in a
``contextvars.ContextVar``: Keras code running in another thread (or another asyncio
task) keeps its rules while a multiloss call runs here.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from multiloss.core.ops.base import Ops

_KEEP_64_BIT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "multiloss_keep_64_bit", default=False
)


class _ContextualBitTable(dict):
    """Keras' ``BIT64_TO_BIT32_DTYPE``, except that inside :func:`tensorflow_dtype_rules`
    (in the current context only) 64-bit types map to themselves, as under TensorFlow."""

    def get(self, key: Any, default: Any = None) -> Any:
        if key in ("float64", "int64") and _KEEP_64_BIT.get():
            return key
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        if key in ("float64", "int64") and _KEEP_64_BIT.get():
            return key
        return super().__getitem__(key)


def _install_contextual_table() -> bool:
    """Put the contextual table in Keras' place (once); ``False`` when Keras already keeps
    64-bit types (TensorFlow is its global backend) and nothing needs switching."""
    from keras.src.backend.common import dtypes

    table = dtypes.BIT64_TO_BIT32_DTYPE
    if isinstance(table, _ContextualBitTable):
        return True
    if all(table.get(k) == k for k in ("float64", "int64")):
        return False
    dtypes.BIT64_TO_BIT32_DTYPE = _ContextualBitTable(table)
    return True


@contextlib.contextmanager
def tensorflow_dtype_rules() -> Iterator[None]:
    """Keras' dtype promotion as under ``KERAS_BACKEND=tensorflow``, in this context only."""
    token = _KEEP_64_BIT.set(True)
    try:
        yield
    finally:
        _KEEP_64_BIT.reset(token)


class TensorFlowOps(Ops):
    """``keras.ops`` on ``tf.Tensor``s (eager, ``tf.function``, ``jit_compile=True``)."""

    name = "tensorflow"

    def __init__(self) -> None:
        super().__init__()
        self._switch_rules = _install_contextual_table()

    # TensorFlow's own gradients follow the ops layer's tie rule (base module docstring):
    # no ``where`` needed. ``Maximum``/``Minimum`` give the gradient to ``x`` where
    # ``x >= y`` / ``x <= y``, ``ClipByValue`` passes it on ``[lo, hi]``, ``Abs`` has slope
    # ``sign(x)``; ``tests/test_fuzz_ops.py`` holds them to it.
    def maximum(self, x1: Any, x2: Any) -> Any:
        """``tf.maximum``: at a tie the whole gradient goes to ``x1``."""
        return self.keras_functions["maximum"](x1, x2)

    def minimum(self, x1: Any, x2: Any) -> Any:
        """``tf.minimum``: at a tie the whole gradient goes to ``x1``."""
        return self.keras_functions["minimum"](x1, x2)

    def clip(self, x: Any, x_min: Any, x_max: Any) -> Any:
        """``tf.clip_by_value``: ``x`` keeps its gradient on the closed interval."""
        return self.keras_functions["clip"](x, x_min, x_max)

    def abs(self, x: Any) -> Any:
        """``tf.abs``: slope ``sign(x)``, 0 at 0."""
        return self.keras_functions["abs"](x)

    def sparse_cross_entropy_with_logits(
        self, logits: Any, labels: Any, label_smoothing: float = 0.0, reduction: str = "none"
    ) -> Any:
        """``tf.nn.sparse_softmax_cross_entropy_with_logits`` (one fused kernel) unsmoothed."""
        floating = isinstance(logits, tf.Tensor | tf.Variable) and logits.dtype in (tf.float32, tf.float64)
        if floating and not label_smoothing:
            labels = tf.convert_to_tensor(labels)
            if labels.dtype not in (tf.int32, tf.int64):
                labels = tf.cast(labels, tf.int64)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            return self.reduce_examples(loss, reduction)
        return super().sparse_cross_entropy_with_logits(logits, labels, label_smoothing, reduction)

    def scan(
        self, f: Callable[..., Any], init: Any, xs: Any = None, length: Any = None,
        reverse: bool = False, unroll: Any = 1,
    ) -> tuple[Any, Any]:
        """``keras.ops.scan`` (``jax.lax.scan``'s semantics) as a ``tf.while_loop`` with
        ``maximum_iterations``, which XLA needs to differentiate the loop (Keras' own
        loop has none: ``jit_compile=True`` refuses its gradient). The first step runs
        before the loop, to learn the structure of the outputs ``f`` stacks."""
        xs_flat = [] if xs is None else [tf.convert_to_tensor(x) for x in tf.nest.flatten(xs)]
        if length is not None:
            n = int(length)
        else:
            n = xs_flat[0].shape[0]
            n = tf.shape(xs_flat[0])[0] if n is None else n
        if isinstance(n, int) and n == 0:
            raise ValueError("scan over 0 steps: nothing gives the outputs' structure")

        def inputs(i: Any) -> Any:
            if xs is None:
                return None
            return tf.nest.pack_sequence_as(xs, [tf.gather(x, i) for x in xs_flat])

        first = n - 1 if reverse else 0
        carry, y = f(init, inputs(first))
        y_flat = [] if y is None else [tf.convert_to_tensor(v) for v in tf.nest.flatten(y)]
        arrays = [
            tf.TensorArray(v.dtype, size=n, element_shape=v.shape).write(first, v)
            for v in y_flat
        ]

        def body(i: Any, carry: Any, arrays: list) -> tuple:
            carry, y = f(carry, inputs(i))
            if arrays:
                arrays = [a.write(i, v) for a, v in zip(arrays, tf.nest.flatten(y), strict=True)]
            return (i - 1 if reverse else i + 1), carry, arrays

        start = n - 2 if reverse else 1
        _, carry, arrays = tf.while_loop(
            lambda i, carry, arrays: i >= 0 if reverse else i < n,
            body,
            (tf.constant(start), carry, arrays),
            maximum_iterations=n - 1,
        )
        if y is None:
            return carry, None
        return carry, tf.nest.pack_sequence_as(y, [a.stack() for a in arrays])

    def custom_vjp(
        self,
        forward: Callable[..., tuple[Any, tuple]],
        backward: Callable[[tuple, Any], tuple],
    ) -> Callable[..., Any]:
        """``tf.custom_gradient`` (eager, ``tf.function``, ``jit_compile=True``). The
        inputs are read into tensors first (a ``tf.Variable`` gets its gradient through
        the read); the backward pass runs under TensorFlow's dtype rules as the forward
        pass did (the tape calls it outside :meth:`run`'s scope)."""

        def function(*tensors: Any) -> Any:
            tensors = tuple(tf.convert_to_tensor(t) for t in tensors)

            @tf.custom_gradient
            def node(*inputs: Any) -> Any:
                output, residuals = forward(*inputs)

                def grad(upstream: Any) -> list:
                    with self.scope_of(()):
                        return list(backward(tuple(residuals), upstream))

                return output, grad

            return node(*tensors)

        return function

    def after(self, x: Any, *deps: Any) -> Any:
        """In a graph (``tf.function``, XLA): the base class' data dependency (the graph
        executor runs ready ops in parallel, XLA schedules as it likes); eagerly ``x``
        itself."""
        if tf.executing_eagerly():
            return x
        return super().after(x, *deps)

    def scope_of(self, tensors: tuple) -> contextlib.AbstractContextManager:
        return tensorflow_dtype_rules() if self._switch_rules else contextlib.nullcontext()

    def eager_value(self, x: Any) -> np.ndarray | None:
        if isinstance(x, tf.Tensor | tf.Variable):
            if not tf.executing_eagerly() or not hasattr(x, "numpy"):
                return None
            return x.numpy()
        return np.asarray(x)

    def value_range(
        self, x: Any, exclude: int | None = None, *, accelerators: bool = False
    ) -> tuple[float, float] | None:
        if isinstance(x, tf.Tensor | tf.Variable):
            if not tf.executing_eagerly() or not hasattr(x, "numpy"):
                return None
            if not accelerators and "CPU" not in x.device.upper():
                return None
        return super().value_range(x, exclude, accelerators=accelerators)

    def global_totals(self, total: Any, count: Any) -> tuple[Any, Any]:
        """Inside ``strategy.run`` of a ``tf.distribute`` strategy: the count summed
        over the replicas; the total as it is, as optimizers sum the replicas'
        gradients."""
        if not tf.distribute.has_strategy():
            return total, count
        if tf.distribute.in_cross_replica_context():
            raise ValueError(
                "reduction='global_mean' needs a replica context: call the loss inside "
                f"strategy.run(...), not in the cross-replica context of "
                f"{type(tf.distribute.get_strategy()).__name__}.scope()"
            )
        context = tf.distribute.get_replica_context()
        if context.num_replicas_in_sync == 1:
            return total, count
        return total, context.all_reduce(tf.distribute.ReduceOp.SUM, count)

    def seeded_uniform(self, size: int, seed: int | None) -> Any:
        """An int seed draws statelessly (philox); ``None`` from TF's global generator."""
        if seed is None:
            return tf.random.uniform((size,), dtype=tf.float32)
        return tf.random.stateless_uniform((size,), seed=[seed, 0], dtype=tf.float32, alg="philox")
