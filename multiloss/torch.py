"""PyTorch adapter: every multiloss loss on ``torch.Tensor``s.

Functions take ``(y_pred, y_true, **params)`` like ``torch.nn.functional``; results
keep autograd, and come back on the input's device and in its dtype. Each loss with a
class form is also an ``nn.Module`` (``multiloss.torch.SigmoidFocalLoss(gamma=3.0)``).
Works whatever ``KERAS_BACKEND`` is set to.
"""

from __future__ import annotations

from typing import Any

import torch  # imported before Keras (and so before TensorFlow): the other order can crash

from multiloss._adapter import Namespace, bind_params, class_init_signature
from multiloss.core.ops import get_ops
from multiloss.core.registry import LossSpec

_OPS = get_ops("torch")
from keras.src.backend.torch import core as _keras_torch_core  # noqa: E402


def _device_of(args: tuple) -> torch.device | None:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device
    return None


def _call(spec: LossSpec, args: tuple, kwargs: dict) -> Any:
    device = _device_of(args)
    if device is None or str(device) == str(_keras_torch_core.get_device()):
        return spec.fn(_OPS, *args, **kwargs)
    # Keras' torch backend moves every tensor to its own default device; pin it to
    # the input's device so the result (and the work) stays where the user put it.
    with _keras_torch_core.device_scope(str(device)):
        return spec.fn(_OPS, *args, **kwargs)


def _make_module(spec: LossSpec, function: Any) -> type:
    class_name = spec.class_name

    def __init__(self, **kwargs: Any) -> None:
        torch.nn.Module.__init__(self)
        self.params = bind_params(spec, class_name, kwargs)

    def forward(self, *args: Any) -> Any:
        return function(*args, **self.params)

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
            "__doc__": f"``nn.Module`` form of :func:`multiloss.torch.{spec.name}`; "
            f"``forward({', '.join(spec.tensors)})``.\n\n{spec.doc}",
        },
    )


_namespace = Namespace(__name__, _call, class_factory=_make_module)
__getattr__ = _namespace.getattr


def __dir__() -> list[str]:
    return _namespace.dir(globals())
