"""The ops layer on PyTorch: Keras' torch backend, with direct torch calls on the hot path.

Keras' torch backend routes every op through ``convert_to_tensor`` and dtype
bookkeeping, a fixed cost of microseconds per op that dominates small losses. For
float32/float64 torch tensors the methods below call torch directly with the same
semantics; any other input (Python values, NumPy arrays, integer or half tensors
where Keras does extra work) goes to the Keras backend function.
``tests/test_ops_facade.py`` checks them against ``keras.ops``. Unlike Keras, nothing
is moved to Keras' default device: results stay on the input's device.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils._pytree as pytree

from multiloss.core.ops.base import Ops

_FLOATS = (torch.float32, torch.float64)
_NAMES = {
    torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
    torch.float64: "float64", torch.int8: "int8", torch.int16: "int16",
    torch.int32: "int32", torch.int64: "int64", torch.uint8: "uint8", torch.bool: "bool",
}
_DTYPES = {name: dtype for dtype, name in _NAMES.items()}
#: The binding F.cross_entropy calls (private to torch: used when present, eagerly, on
#: plain tensors; F.cross_entropy otherwise), and its reduction codes.
_CROSS_ENTROPY_KERNEL = getattr(getattr(torch._C, "_nn", None), "cross_entropy_loss", None)
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _is_float(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.dtype in _FLOATS


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _unary(name: str, torch_fn: Callable[[Any], Any]) -> Callable[..., Any]:
    def op(self: TorchOps, x: Any) -> Any:
        return torch_fn(x) if _is_float(x) else self.keras_functions[name](x)

    op.__name__ = op.__qualname__ = name
    return op


def _comparison(name: str, torch_fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def op(self: TorchOps, x1: Any, x2: Any) -> Any:
        if _is_float(x1) and (_is_scalar(x2) or (_is_float(x2) and x2.dtype == x1.dtype)):
            return torch_fn(x1, x2)
        return self.keras_functions[name](x1, x2)

    op.__name__ = op.__qualname__ = name
    return op


def _extremum(
    name: str, clamp: Callable[[Any, Any], Any], torch_fn: Callable[[Any, Any], Any]
) -> Callable[..., Any]:
    """``maximum``/``minimum`` with the ops layer's tie rule: at ``x1 == x2`` the whole
    gradient goes to ``x1`` (``torch.maximum`` splits it in halves). Against a Python
    number ``clamp_min``/``clamp_max`` has the rule built in (one kernel; NaN stays NaN)."""

    def op(self: TorchOps, x1: Any, x2: Any) -> Any:
        if _is_float(x1):
            if _is_scalar(x2):
                return clamp(x1, x2)
            if _is_float(x2) and x1.dtype == x2.dtype:
                return torch.where(x1 == x2, x1, torch_fn(x1, x2))
        elif _is_scalar(x1) and _is_float(x2):
            return torch.where(x2 == x1, x1, clamp(x2, x1))
        return getattr(Ops, name)(self, x1, x2)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = getattr(Ops, name).__doc__
    return op


def _reduction(name: str, torch_fn: Callable[..., Any]) -> Callable[..., Any]:
    # max/min also keep torch.compile(fullgraph=True) whole: Keras' versions test
    # isinstance(getattr(result, "values", None), torch.Tensor), a graph break.
    def op(self: TorchOps, x: Any, axis: Any = None, keepdims: bool = False, **initial: Any) -> Any:
        if not _is_float(x) or initial or 0 in x.shape:
            return self.keras_functions[name](x, axis=axis, keepdims=keepdims, **initial)
        if axis is None:
            out = torch_fn(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return torch_fn(x, dim=axis, keepdim=keepdims)

    op.__name__ = op.__qualname__ = name
    return op


_LN2 = math.log(2.0)


#: Logits with fewer elements than this take the fewest torch calls (each costs
#: microseconds, more than the arithmetic), more take the fewest passes over memory.
_FEW_ELEMENTS = 1 << 15


def _probs_and_log_pt_few_calls(logits: Any, index: Any) -> tuple[Any, Any]:
    log_p = torch.log_softmax(logits, dim=-1)
    log_pt = log_p.gather(-1, index).squeeze(-1)
    return log_p.exp_(), log_pt


def _probs_and_log_pt_few_passes(logits: Any, index: Any) -> tuple[Any, Any]:
    # On CPU torch's softmax kernel is faster than log_softmax, and than one exp pass.
    p = torch.softmax(logits, dim=-1)
    if logits.is_cpu and not torch.jit.is_tracing():
        # log p_t is exact from p_t itself where p_t is a normal number; on the CPU a
        # data-dependent branch costs no device sync, so the two extra passes below
        # run only for a batch where some p_t underflows (not under torch.jit.trace,
        # which would record one branch for every later input).
        p_t = p.gather(-1, index).squeeze(-1)
        if not bool((p_t < torch.finfo(p.dtype).tiny).any()):
            return p, torch.log(p_t)
    # log p_t = (x_t − m) + log p_max: p_max = 1 / Σ_k e^{x_k − m} >= 1 / C never
    # underflows, so log p_t stays exact where p_t itself underflows.
    log_pt = torch.log(p.amax(dim=-1)).add_(
        logits.gather(-1, index).squeeze(-1) - logits.amax(dim=-1)
    )
    return p, log_pt


class _SoftmaxTargetTerms(torch.autograd.Function):
    """``(−log p_t, 1 − p_t)`` of :meth:`Ops.softmax_target_terms
    <multiloss.core.ops.base.Ops.softmax_target_terms>` with its gradient written out,
    from torch's fused softmax kernels. ``R = 1 − p_t = Σ_{k≠t} p_k`` is summed directly
    (exact as ``p_t → 1``) and, where ``p_t > 1/2``, ``log p_t = log1p(−R)``. With
    upstream gradients ``a`` (of ``−log p_t``) and ``c`` (of ``R``), ``k = a + c p_t``:

        ∂/∂x_j = k p_j  (j ≠ t),    ∂/∂x_t = −k R

    Once differentiable: a second derivative raises (the element-wise form, under
    ``torch.compile`` or ``torch.func``, has them all).
    """

    @staticmethod
    def forward(ctx: Any, logits: Any, index: Any) -> tuple[Any, Any]:
        # No autograd inside: in-place ops on fresh tensors, no [..., C] copies.
        few = logits.numel() < _FEW_ELEMENTS
        p, log_pt = (_probs_and_log_pt_few_calls if few else _probs_and_log_pt_few_passes)(
            logits, index
        )
        rest = p.scatter_(-1, index, 0.0).sum(dim=-1)  # p keeps the target zeroed
        # p_t > 1/2: log1p(−R) is exact where the log-softmax rounds (the NaN of R > 1,
        # a rounding, only in the branch not taken)
        neg_log_pt = torch.where(log_pt > -_LN2, torch.log1p(-rest), log_pt).neg_()
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(p, rest, neg_log_pt, index)
        return neg_log_pt, rest

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_ce: Any, grad_rest: Any) -> tuple[Any, None]:
        p, rest, neg_log_pt, index = ctx.saved_tensors
        if grad_rest is None:
            if grad_ce is None:  # neither output reached the loss
                return None, None
            k = grad_ce
        else:
            k = grad_rest * torch.exp(-neg_log_pt)
            if grad_ce is not None:
                k = k + grad_ce
        grad = p * k.unsqueeze(-1)
        return grad.scatter_(-1, index, (-k * rest).unsqueeze(-1)), None


class _TracedSoftmaxTargetTerms(torch.autograd.Function):
    """The terms of :class:`_SoftmaxTargetTerms` in the form ``torch.compile`` fuses
    best (Dynamo traces both passes; no in-place ops): the forward is the native cross
    entropy's two row passes, a max and a sum of ``e = exp(x − m)``, plus one
    comparison ``z < 0`` instead of a class-index one-hot (which Inductor builds lane by
    lane on the CPU) and the target logit gathered; the backward is one pass,
    ``exp(x − m)·k/S`` with ``−k R/S`` at the target, as the native gradient.

    With ``S = Σ e`` and ``A = Σ_{z<0} e``: where ``p_t > 1/2``, ``t`` is the only
    arg max, so ``R = A`` is summed directly (exact as ``p_t → 1``); elsewhere
    ``R = S − e^{z_t} >= S/2`` has no cancellation.
    """

    @staticmethod
    def forward(ctx: Any, logits: Any, index: Any) -> tuple[Any, Any]:
        peak = logits.amax(dim=-1, keepdim=True)
        z = logits - peak
        e = torch.exp(z)
        total = e.sum(dim=-1)
        below_peak = torch.where(z < 0, e, 0.0).sum(dim=-1)
        z_t = logits.gather(-1, index).squeeze(-1) - peak.squeeze(-1)
        e_t = torch.exp(z_t)
        rest = torch.where(e_t > 0.5 * total, below_peak, total - e_t)
        ctx.save_for_backward(logits, index, peak, e_t, rest)
        return torch.log1p(rest + (e_t - 1.0)) - z_t, rest / (rest + e_t)

    @staticmethod
    def backward(ctx: Any, grad_ce: Any, grad_rest: Any) -> tuple[Any, None]:
        logits, index, peak, e_t, rest = ctx.saved_tensors
        total = rest + e_t  # the S the forward divided by
        k = grad_ce + grad_rest * (e_t / total)
        is_target = index == torch.arange(logits.shape[-1], device=logits.device)
        grad = torch.where(
            is_target,
            (-k * (rest / total)).unsqueeze(-1),
            torch.exp(logits - peak) * (k / total).unsqueeze(-1),
        )
        return grad, None


def _let_dynamo_trace_caches() -> None:
    """Tell Dynamo that the ``functools.lru_cache`` functions a loss calls (multiloss'
    shape checks, Keras' dtype promotion) are pure: traced through without the
    UserWarning it otherwise prints on a user's first ``torch.compile`` of a loss.
    (A private Dynamo registry, as einops uses it; absent, the warning stays.)"""
    import sys

    allow = getattr(torch._dynamo.utils, "allow_lru_cache_wrapper_trace_without_warning", None)
    if allow is None:
        return
    from keras.src.backend.common import dtypes as keras_dtypes

    modules = [m for name, m in list(sys.modules.items()) if name.startswith("multiloss.core")]
    for module in [*modules, keras_dtypes]:
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_info") and hasattr(value, "__wrapped__"):
                allow(value)


def _autocast_on(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (False for devices autocast
    does not know, such as ``meta``)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:
        return False


#: ``softplus(x) = x`` past this: ``log1p(e^{−x}) < 2^{−53}·x``, below float64's resolution
#: too (``F.softplus``' default, 20, is for float32 only).
_SOFTPLUS_THRESHOLD = 40.0
_softplus_backward = torch.ops.aten.softplus_backward


def _binary_cross_entropy_few_calls(logits: Any, targets: Any) -> Any:
    """``(1 − y)·softplus(x) + y·softplus(−x)`` (``torch.lerp``: exact at ``y = 0, 1``),
    differentiated by autograd: ``(1 − y)·σ(x) − y·σ(−x)``, each term from its own
    ``softplus`` (no ``σ(x) − 1`` rounding)."""
    if logits.dtype == torch.float32:  # the default threshold, and the fastest call
        return torch.lerp(F.softplus(logits), F.softplus(-logits), targets)
    return torch.lerp(
        F.softplus(logits, 1.0, _SOFTPLUS_THRESHOLD),
        F.softplus(-logits, 1.0, _SOFTPLUS_THRESHOLD),
        targets,
    )


class _BinaryCrossEntropyWithLogits(torch.autograd.Function):
    """Element-wise binary cross entropy of logits ``x`` and targets ``y``, exact for
    logits of any size, with its gradient written out.

    ``F.binary_cross_entropy_with_logits`` computes ``(1 − y)·x − log σ(x)``, which
    rounds a loss of 2e-9 next to a logit of −20 to 0, and the gradient ``σ(x) − y``,
    0 instead of −2e-9 at ``x = 20, y = 1``. Here, in as many passes over memory as that
    kernel (seven, forward and backward) and as few new tensors:

    * forward (three passes): ``logaddexp(x·(1 − y), −x·y) = max(x, 0) − x·y +
      log1p(e^{−|x|})`` (torch's kernel adds the ``log1p`` term to the larger argument,
      exactly 0 at a saturated hard label);
    * backward (four): ``lerp(g·σ(x), −g·σ(−x), y)``, each product one
      ``softplus_backward`` pass with ``β = ±1`` (accurate in its tail), the lerp exact
      at ``y = 0`` and ``y = 1``.
    """

    @staticmethod
    def forward(ctx: Any, logits: Any, targets: Any) -> Any:
        zero = logits.new_zeros(())
        # x·(1 − y) and −x·y, each in one rounding: lerp(x, 0, y) is x·(1 − y) with
        # 1 − y exact where y >= 1/2 (0 at y = 1); addcmul(0, x, y) is −x·y (0 at y = 0)
        above = torch.lerp(logits, zero, targets)
        below = torch.addcmul(zero, logits, targets, value=-1.0)
        ctx.save_for_backward(logits, targets)
        return torch.logaddexp(above, below, out=below)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> tuple[Any, Any]:
        logits, targets = ctx.saved_tensors
        grad_logits = grad_targets = None
        if torch.is_grad_enabled():  # create_graph: the same gradient, differentiable
            if ctx.needs_input_grad[0]:
                grad_logits = torch.lerp(
                    grad * torch.sigmoid(logits), -grad * torch.sigmoid(-logits), targets
                )
            if ctx.needs_input_grad[1]:
                grad_targets = -logits * grad
            return grad_logits, grad_targets
        if ctx.needs_input_grad[0]:
            negated = torch.neg(grad)
            # −g·σ(−x), written over −g
            tail = _softplus_backward.grad_input(
                negated, logits, -1.0, _SOFTPLUS_THRESHOLD, grad_input=negated
            )
            head = _softplus_backward(grad, logits, 1.0, _SOFTPLUS_THRESHOLD)  # g·σ(x)
            grad_logits = head.lerp_(tail, targets)
        if ctx.needs_input_grad[1]:
            grad_targets = -logits * grad
        return grad_logits, grad_targets


class _SigmoidPair(torch.autograd.Function):
    """``(σ(x), σ(−x))`` with the gradient written out: ``(g_p − g_q)·σ(x)·σ(−x)``,
    accurate in both tails (autograd's ``σ(x)·(1 − σ(x))`` is 0 past ``x ≈ 17`` in
    float32), with one pass and one tensor fewer each way than two ``torch.sigmoid``
    nodes and the ``neg`` between them. On large CPU tensors a new tensor can cost more
    than a pass (the allocator returns freed memory to the system and touches it anew):
    with :class:`_Lerp` it pays for the exact binary cross entropy in the sigmoid focal
    loss."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> tuple[Any, Any]:
        p = torch.sigmoid(x)
        q = torch.neg(x).sigmoid_()
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(p, q)
        return p, q

    @staticmethod
    def backward(ctx: Any, grad_p: Any, grad_q: Any) -> Any:  # differentiable ops only
        p, q = ctx.saved_tensors
        if grad_q is None:
            return None if grad_p is None else (grad_p * p).mul_(q)
        grad = torch.neg(grad_q) if grad_p is None else torch.sub(grad_p, grad_q)
        return grad.mul_(p).mul_(q)


class _Lerp(torch.autograd.Function):
    """``torch.lerp(a, b, w)`` with the gradient written out: ``g·w`` to ``b`` and
    ``g − g·w`` to ``a`` (exact at ``w = 0, 1``), one product shared where torch's node
    computes ``1 − w``, ``g·(1 − w)`` and ``g·w``; ``g·(b − a)`` to ``w`` if needed."""

    @staticmethod
    def forward(ctx: Any, start: Any, end: Any, weight: Any) -> Any:
        ctx.set_materialize_grads(False)
        if ctx.needs_input_grad[2]:
            ctx.save_for_backward(start, end, weight)
        else:
            ctx.save_for_backward(None, None, weight)
        return torch.lerp(start, end, weight)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> tuple[Any, Any, Any]:  # differentiable ops only
        start, end, weight = ctx.saved_tensors
        if grad is None:
            return None, None, None
        to_start_needed, to_end_needed, to_weight_needed = ctx.needs_input_grad
        to_end = grad * weight if to_start_needed or to_end_needed else None
        to_start = torch.sub(grad, to_end) if to_start_needed else None
        to_weight = torch.sub(end, start).mul_(grad) if to_weight_needed else None
        return to_start, to_end if to_end_needed else None, to_weight


class _CustomVjp(torch.autograd.Function):
    """The node of :meth:`TorchOps.custom_vjp`: ``forward(*tensors) -> (output,
    residuals)`` runs without autograd, only ``residuals`` are saved, ``backward(residuals,
    grad) -> grads`` gives the inputs' gradients (first order only)."""

    @staticmethod
    def forward(ctx: Any, forward: Any, backward: Any, *tensors: Any) -> Any:
        output, residuals = forward(*tensors)
        ctx.backward_fn = backward
        ctx.save_for_backward(*residuals)
        return output

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Any) -> tuple:
        grads = ctx.backward_fn(tuple(ctx.saved_tensors), grad)
        return (None, None, *grads)


def _one_node(*tensors: Any) -> bool:
    """Whether an eager op on ``tensors`` (float, one dtype and shape) runs as one
    autograd node with its gradient written out: enough elements that passes over
    memory cost more than calls, no ``torch.compile`` (it fuses the op-by-op form) nor
    ``torch.func`` transform (they need the op-by-op form)."""
    first = tensors[0]
    return (
        first.numel() >= _FEW_ELEMENTS
        and all(t.shape == first.shape for t in tensors[1:])
        and not torch.compiler.is_compiling()
        and not torch._C._are_functorch_transforms_active()
    )


class TorchOps(Ops):
    """``keras.ops`` on torch tensors; the only module of multiloss that calls torch."""

    name = "torch"

    exp = _unary("exp", torch.exp)
    log = _unary("log", torch.log)
    log1p = _unary("log1p", torch.log1p)
    expm1 = _unary("expm1", torch.expm1)
    abs = _unary("abs", torch.abs)
    square = _unary("square", torch.square)
    sqrt = _unary("sqrt", torch.sqrt)
    negative = _unary("negative", torch.neg)
    sigmoid = _unary("sigmoid", torch.sigmoid)
    log_sigmoid = _unary("log_sigmoid", F.logsigmoid)
    softplus = _unary("softplus", F.softplus)
    relu = _unary("relu", torch.relu)

    greater = _comparison("greater", torch.gt)
    greater_equal = _comparison("greater_equal", torch.ge)
    less = _comparison("less", torch.lt)
    less_equal = _comparison("less_equal", torch.le)
    equal = _comparison("equal", torch.eq)
    not_equal = _comparison("not_equal", torch.ne)

    maximum = _extremum("maximum", torch.clamp_min, torch.maximum)
    minimum = _extremum("minimum", torch.clamp_max, torch.minimum)

    sum = _reduction("sum", torch.sum)
    mean = _reduction("mean", torch.mean)
    max = _reduction("max", torch.amax)
    min = _reduction("min", torch.amin)

    def __init__(self) -> None:
        super().__init__()
        from keras.src.backend.common import global_state
        from keras.src.backend.torch import core as keras_torch_core

        _let_dynamo_trace_caches()

        self._keras_core = keras_torch_core
        # Keras' torch device is a thread-local attribute over a default: read directly
        # (``get_device()`` costs as much as a small kernel).
        self._keras_state = global_state.GLOBAL_STATE_TRACKER
        self._keras_default_cpu = keras_torch_core.DEFAULT_DEVICE == "cpu"
        self._same_device: dict[tuple[torch.device, str], bool] = {}

    def dtype(self, x: Any) -> str:
        name = _NAMES.get(getattr(x, "dtype", None))
        return name if name is not None else super().dtype(x)

    def logsumexp(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        if _is_float(x) and axis is not None:
            return torch.logsumexp(x, dim=axis, keepdim=keepdims)
        return self.keras_functions["logsumexp"](x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        if _is_float(x) and axis is not None:
            return torch.log_softmax(x, dim=axis)
        return self.keras_functions["log_softmax"](x, axis=axis)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        if _is_float(x) and axis is not None:
            return torch.softmax(x, dim=axis)
        return self.keras_functions["softmax"](x, axis=axis)

    def power(self, x1: Any, x2: Any) -> Any:
        if _is_float(x1) and _is_scalar(x2):
            return torch.pow(x1, x2)
        return self.keras_functions["power"](x1, x2)

    def matmul(self, x1: Any, x2: Any) -> Any:
        """``torch.matmul`` of float tensors of one dtype (Keras' torch ``matmul`` takes
        its result dtype from Keras' promotion table, which folds float64 to float32
        under a jax or torch global backend)."""
        if _is_float(x1) and _is_float(x2) and x1.dtype == x2.dtype:
            return torch.matmul(x1, x2)
        return self.keras_functions["matmul"](x1, x2)

    def where(self, condition: Any, x1: Any = None, x2: Any = None) -> Any:
        if (
            isinstance(condition, torch.Tensor)
            and condition.dtype == torch.bool
            and (_is_float(x1) or _is_float(x2))
            and (_is_float(x1) or _is_scalar(x1))
            and (_is_float(x2) or _is_scalar(x2))
            and not (_is_float(x1) and _is_float(x2) and x1.dtype != x2.dtype)
        ):
            return torch.where(condition, x1, x2)
        return self.keras_functions["where"](condition, x1, x2)

    def take_along_axis(self, x: Any, indices: Any, axis: Any = None) -> Any:
        if _is_float(x) and isinstance(indices, torch.Tensor) and axis is not None:
            indices = indices.long()
            indices = torch.where(indices < 0, indices + x.shape[axis], indices)
            return torch.take_along_dim(x, indices, dim=axis)
        return self.keras_functions["take_along_axis"](x, indices, axis=axis)

    def expand_dims(self, x: Any, axis: Any) -> Any:
        if isinstance(x, torch.Tensor) and isinstance(axis, int):
            return x.unsqueeze(axis)
        return self.keras_functions["expand_dims"](x, axis)

    def squeeze(self, x: Any, axis: Any = None) -> Any:
        if isinstance(x, torch.Tensor) and isinstance(axis, int):
            if x.shape[axis] != 1:
                raise ValueError(f"Cannot squeeze axis {axis} of a tensor of shape {tuple(x.shape)}")
            return x.squeeze(axis)
        return self.keras_functions["squeeze"](x, axis=axis)

    def zeros_like(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, torch.Tensor) and dtype is None:
            return torch.zeros_like(x)
        return self.keras_functions["zeros_like"](x, dtype=dtype)

    def ones_like(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, torch.Tensor) and dtype is None:
            return torch.ones_like(x)
        return self.keras_functions["ones_like"](x, dtype=dtype)

    def stop_gradient(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.detach()
        return self.keras_functions["stop_gradient"](x)

    def cast(self, x: Any, dtype: Any) -> Any:
        target = _DTYPES.get(dtype) if isinstance(dtype, str) else None
        if isinstance(x, torch.Tensor) and target is not None:
            return x if x.dtype == target else x.to(target)
        return self.keras_functions["cast"](x, dtype)

    def convert_to_tensor(self, x: Any, dtype: Any = None, sparse: Any = None, ragged: Any = None) -> Any:
        if isinstance(x, torch.Tensor) and not sparse and not ragged:
            if dtype is None:
                return x
            target = _DTYPES.get(dtype) if isinstance(dtype, str) else None
            if target is not None:
                return x if x.dtype == target else x.to(target)
        return self.keras_functions["convert_to_tensor"](x, dtype=dtype, sparse=sparse, ragged=ragged)

    def binary_crossentropy(self, target: Any, output: Any, from_logits: bool = False) -> Any:
        """``keras.ops.binary_crossentropy``; eagerly from logits, exact for logits of any
        size and about as fast as ``F.binary_cross_entropy_with_logits`` (which is not
        exact: :class:`_BinaryCrossEntropyWithLogits`): few elements as
        :func:`_binary_cross_entropy_few_calls` (fewest calls, any derivative order),
        more as the autograd node (fewest passes). Under ``torch.compile``, the
        shared-``exp`` form of the base class."""
        if (
            from_logits
            and _is_float(output)
            and _is_float(target)
            and target.dtype == output.dtype
            and target.shape == output.shape
            and not torch.compiler.is_compiling()
        ):
            if _one_node(output, target):
                return _BinaryCrossEntropyWithLogits.apply(output, target)
            return _binary_cross_entropy_few_calls(output, target)
        return super().binary_crossentropy(target, output, from_logits=from_logits)

    def clip(self, x: Any, x_min: Any, x_max: Any) -> Any:
        """``torch.clamp``: the tie rule built in (``x`` keeps its gradient on the closed
        interval ``[x_min, x_max]``)."""
        if _is_float(x) and _is_scalar(x_min) and _is_scalar(x_max):
            return torch.clamp(x, x_min, x_max)
        return super().clip(x, x_min, x_max)

    def sparse_cross_entropy_with_logits(
        self, logits: Any, labels: Any, label_smoothing: float = 0.0, reduction: str = "none"
    ) -> Any:
        """``F.cross_entropy``: log-softmax, pick, smoothing and reduction fused."""
        if _is_float(logits) and isinstance(labels, torch.Tensor) and _is_scalar(label_smoothing):
            if labels.dtype != torch.int64:
                labels = labels.long()
            if logits.ndim == 2:
                if (
                    _CROSS_ENTROPY_KERNEL is not None
                    and type(logits) is torch.Tensor
                    and not torch.compiler.is_compiling()
                ):
                    # F.cross_entropy's own kernel, without its Python argument handling
                    return _CROSS_ENTROPY_KERNEL(
                        logits, labels, None, _REDUCTIONS[reduction], -100, float(label_smoothing)
                    )
                return F.cross_entropy(
                    logits, labels, reduction=reduction, label_smoothing=label_smoothing
                )
            flat = logits.reshape(-1, logits.shape[-1])
            loss = F.cross_entropy(
                flat, labels.reshape(-1), reduction=reduction, label_smoothing=label_smoothing
            )
            return loss.reshape(labels.shape) if reduction == "none" else loss
        return super().sparse_cross_entropy_with_logits(logits, labels, label_smoothing, reduction)

    def softmax_target_terms(self, logits: Any, labels: Any) -> tuple[Any, Any]:
        """The base class' terms as one autograd node with its gradient written out:
        eagerly :class:`_SoftmaxTargetTerms` (a few passes over ``[..., C]`` each way
        instead of one per op), under ``torch.compile`` :class:`_TracedSoftmaxTargetTerms`
        (one fused kernel each way without a class-index one-hot in the forward)."""
        if (
            not _is_float(logits)
            or not isinstance(labels, torch.Tensor)
            or logits.shape[-1] == 0
            or torch._C._are_functorch_transforms_active()  # torch.func: the op-by-op form
        ):
            return super().softmax_target_terms(logits, labels)
        if labels.dtype != torch.int64:
            labels = labels.long()
        if torch.compiler.is_compiling():
            return _TracedSoftmaxTargetTerms.apply(logits, labels.unsqueeze(-1))
        return _SoftmaxTargetTerms.apply(logits, labels.unsqueeze(-1))

    def sigmoid_pair(self, x: Any) -> tuple[Any, Any]:
        """Eagerly two ``torch.sigmoid`` kernels (fewer passes than the shared form,
        which ``torch.compile`` fuses to one ``exp`` per element instead); on many
        elements as one autograd node (:class:`_SigmoidPair`)."""
        if _is_float(x) and not torch.compiler.is_compiling():
            if _one_node(x):
                return _SigmoidPair.apply(x)
            return torch.sigmoid(x), torch.sigmoid(-x)
        return super().sigmoid_pair(x)

    def lerp(self, a: Any, b: Any, w: Any) -> Any:
        """``torch.lerp``; on many elements of one shape, as :class:`_Lerp`."""
        if _is_float(a) and _is_float(b) and _is_float(w) and a.dtype == b.dtype == w.dtype:
            if _one_node(a, b, w):
                return _Lerp.apply(a, b, w)
            return torch.lerp(a, b, w)
        return super().lerp(a, b, w)

    def after(self, x: Any, *deps: Any) -> Any:
        """Under ``torch.compile``: the base class' data dependency (without it the
        partitioner computes what a backward pass recomputes in the forward graph and
        saves it); eagerly ``x`` itself."""
        if not torch.compiler.is_compiling():
            return x
        return super().after(x, *deps)

    def scan(
        self, f: Callable[..., Any], init: Any, xs: Any = None, length: Any = None,
        reverse: bool = False, unroll: Any = 1,
    ) -> tuple[Any, Any]:
        """``keras.ops.scan`` as a Python loop (``torch.compile`` unrolls it), without
        Keras' zero placeholder per step when ``f`` returns no output."""
        leaves, tree = pytree.tree_flatten(xs)
        n = int(length) if length is not None else leaves[0].shape[0]
        carry, ys = init, []
        for i in reversed(range(n)) if reverse else range(n):
            carry, y = f(carry, None if xs is None else pytree.tree_unflatten([x[i] for x in leaves], tree))
            ys.append(y)
        if not ys or ys[0] is None:
            return carry, None
        if reverse:
            ys.reverse()
        return carry, pytree.tree_map(lambda *step: torch.stack(step), *ys)

    def custom_vjp(
        self,
        forward: Callable[..., tuple[Any, tuple]],
        backward: Callable[[tuple, Any], tuple],
    ) -> Callable[..., Any]:
        """A ``torch.autograd.Function`` node (:class:`_CustomVjp`): ``forward`` runs
        without autograd and only the residuals are saved; the backward pass runs with
        Keras' device pinned to the residuals' (autograd may call it from another
        thread). ``torch.compile`` traces both (``fullgraph=True`` too). First order
        only; ``torch.func`` transforms are not supported."""

        def scoped_backward(residuals: tuple, grad: Any) -> tuple:
            if torch.compiler.is_compiling():  # traced: no device state to pin
                return backward(residuals, grad)
            with self.scope_of(residuals):
                return backward(residuals, grad)

        def function(*tensors: Any) -> Any:
            return _CustomVjp.apply(forward, scoped_backward, *tensors)

        return function

    # --- framework services -------------------------------------------------------
    def _keras_on_cpu(self) -> bool:
        device = getattr(self._keras_state, "torch_device", None)
        return self._keras_default_cpu if device is None else device == "cpu"

    def _is_keras_device(self, device: torch.device) -> bool:
        keras_device = self._keras_core.get_device()
        key = (device, keras_device)
        same = self._same_device.get(key)
        if same is None:
            wanted = torch.device(self._keras_core._parse_device_input(keras_device))
            if wanted.type == device.type and wanted.index is None and device.type == "cuda":
                same = device.index == torch.cuda.current_device()
            else:
                same = wanted == device
            self._same_device[key] = same
        return same

    def run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """``fn(self, *args, **kwargs)`` with Keras' torch device pinned to the inputs'.

        Keras' torch backend moves the tensors it creates to its own default device;
        pinned to the input's device, the result (and the work) stays where the user
        put it. Under ``torch.autocast`` a loss follows torch's policy for losses: its
        float16/bfloat16 inputs are cast to float32 and it computes (and returns) in
        float32, as ``F.cross_entropy`` does.
        """
        for arg in args:
            if isinstance(arg, torch.Tensor):
                if torch._C._is_any_autocast_enabled() and _autocast_on(arg.device.type):
                    return self._run_autocast(fn, args, kwargs, arg.device.type)
                if arg.is_cpu and self._keras_on_cpu():  # the common case, no context
                    return fn(self, *args, **kwargs)
                break
        with self.scope_of(args):
            return fn(self, *args, **kwargs)

    def _run_autocast(self, fn: Callable[..., Any], args: tuple, kwargs: dict, device: str) -> Any:
        def full(x: Any) -> Any:
            if isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.bfloat16):
                return x.float()
            return x

        args = tuple(full(a) for a in args)
        kwargs = {k: full(v) for k, v in kwargs.items()}
        with torch.autocast(device, enabled=False), self.scope_of(args):
            return fn(self, *args, **kwargs)

    @contextlib.contextmanager
    def scope_of(self, tensors: tuple) -> Any:
        """A context pinning Keras' torch device to that of the first of ``tensors``."""
        device = next((t.device for t in tensors if isinstance(t, torch.Tensor)), None)
        if device is None or self._is_keras_device(device):
            yield
        else:
            with self._keras_core.device_scope(str(device)):
                yield

    def eager_value(self, x: Any) -> np.ndarray | None:
        if torch.compiler.is_compiling():
            return None
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    def value_range(
        self, x: Any, exclude: int | None = None, *, accelerators: bool = False
    ) -> tuple[float, float] | None:
        if not isinstance(x, torch.Tensor):
            return super().value_range(x, exclude, accelerators=accelerators)
        if torch.compiler.is_compiling():
            return None
        size = x.numel()
        if size == 0 or not (x.is_cpu or accelerators):
            return None
        if size <= 1024 and x.is_cpu:  # small: Python beats two kernels
            values = x.reshape(-1).tolist() if x.ndim != 1 else x.tolist()  # (views too)
            if exclude is not None:
                values = [v for v in values if v != exclude]
            return (min(values), max(values)) if values else None
        x = x.detach()
        if exclude is not None:
            keep = x != exclude
            if not bool(keep.any()):
                return None
            low = torch.where(keep, x, x.max()).min()
            high = torch.where(keep, x, x.min()).max()
            return low.item(), high.item()
        low, high = torch.aminmax(x)
        return low.item(), high.item()

    def global_totals(self, total: Any, count: Any) -> tuple[Any, Any]:
        """With ``torch.distributed`` initialised: the count summed over the ranks
        (``all_reduce``), the total times the world size, as ``DistributedDataParallel``
        averages the ranks' gradients."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return total, count
        count = count.detach().clone()  # all_reduce works in place
        dist.all_reduce(count, op=dist.ReduceOp.SUM)
        return total * float(dist.get_world_size()), count

    def seeded_uniform(self, size: int, seed: int | None) -> Any:
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return self.convert_to_tensor(torch.rand((size,), generator=generator, dtype=torch.float32))
