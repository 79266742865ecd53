"""PyTorch adapter: every multiloss loss on ``torch.Tensor``s.

Functions take ``(y_pred, y_true, **params)`` like ``torch.nn.functional``; results
keep autograd, and come back on the input's device and in its dtype. Each loss with a
class form is also an ``nn.Module`` (``multiloss.torch.SigmoidFocalLoss(gamma=3.0)``).
Works whatever ``KERAS_BACKEND`` is set to.
"""

from __future__ import annotations

from typing import Any

import torch  # imported before Keras (and so before TensorFlow): the other order can crash

from multiloss._adapter import (
    Namespace,
    bind_params,
    class_init_signature,
    run_step,
    stateful_init_signature,
)
from multiloss.core.ops import get_ops
from multiloss.core.registry import LossSpec, StatefulSpec

_OPS = get_ops("torch")


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    return _OPS.run(spec.fn, args, kwargs)


def _make_module(spec: LossSpec, function: Any) -> type:
    class_name = spec.class_name

    def __init__(self, **kwargs: Any) -> None:
        torch.nn.Module.__init__(self)
        self.params = bind_params(spec, class_name, kwargs)

    call_params = spec.call_params

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        unknown = sorted(set(kwargs) - set(call_params))
        if unknown:
            raise TypeError(
                f"{class_name}.forward() got unexpected keyword argument(s) {unknown}; "
                f"per call it takes {list(call_params)} (the rest goes to {class_name}())"
            )
        return function(*args, **self.params, **kwargs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())

    __init__.__signature__ = class_init_signature(spec, [])  # type: ignore[attr-defined]
    return type(
        class_name,
        (torch.nn.Module,),
        {
            "__init__": __init__,
            "forward": forward,
            "extra_repr": extra_repr,
            # __doc__: written by multiloss._help when the namespace builds the class
        },
    )


def _make_stateful_module(spec: StatefulSpec) -> type:
    """An ``nn.Module`` holding the spec's variables: trainable ones as ``nn.Parameter``,
    the others as buffers (saved in ``state_dict``, updated in place by each call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        torch.nn.Module.__init__(self)
        self.config = spec.bind_config(args, kwargs)
        for var in spec.state:
            value = torch.full(spec.shape(var, self.config), float(var.initial))
            if var.trainable:
                self.register_parameter(var.name, torch.nn.Parameter(value))
            else:
                self.register_buffer(var.name, value)

    def forward(self, *inputs: Any) -> Any:
        state = {var.name: getattr(self, var.name) for var in spec.state}
        with _OPS.scope_of(tuple(state.values())):
            output, updates = run_step(spec, _OPS, state, inputs, self.config)
        with torch.no_grad():
            for name, value in updates.items():
                getattr(self, name).copy_(value)
        return output

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())

    __init__.__signature__ = stateful_init_signature(spec)  # type: ignore[attr-defined]
    return type(
        spec.class_name,
        (torch.nn.Module,),
        {"__init__": __init__, "forward": forward, "extra_repr": extra_repr},
    )


_namespace = Namespace(
    __name__, _call, class_factory=_make_module, stateful_factory=_make_stateful_module
)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
