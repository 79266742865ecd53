"""The base of the ops layer: ``keras.ops`` semantics bound to one framework.

Every loss in :mod:`multiloss.core` receives an ``ops`` object as its first argument
and calls ``keras.ops``-named methods on it. :class:`Ops` takes each op from Keras'
backend module of its framework (``keras.src.backend.<framework>``, the mechanism
``keras.src.utils.backend_utils.DynamicBackend`` uses), so the three frameworks run
side by side in one process whatever ``KERAS_BACKEND`` is. The framework classes
(:class:`~multiloss.core.ops.torch_ops.TorchOps`, ``JaxOps``, ``TensorFlowOps``)
override the ops worth a direct call into their framework, and implement the few
methods that are not ``keras.ops`` (eager values, seeded draws, index dtypes, the
scope a call runs in). They are the only place in multiloss that knows a framework.

Ties. Where an op is not differentiable (``maximum``/``minimum`` of equal arguments,
``clip`` at a bound, ``relu`` and ``abs`` at 0), the frameworks pick different
subgradients (torch and JAX split ``maximum``'s gradient in halves, TensorFlow gives it
to the first argument; JAX's ``abs`` has slope 1 at 0, the others 0). The ops layer
fixes one convention, the same in every framework, so gradients compare across
frameworks also at a tie: **the first argument takes the whole gradient** —
``maximum(x1, x2)`` and ``minimum(x1, x2)`` pass it to ``x1`` where ``x1 == x2``;
``clip(x, lo, hi)`` is ``minimum(maximum(x, lo), hi)``, so ``x`` keeps its gradient on the
closed interval ``[lo, hi]``; ``relu(x)`` is ``maximum(0, x)``, slope 0 at 0 (every
framework's ``relu``); ``abs`` has slope ``sign(x)``, 0 at 0. The ``max``/``min``
reductions share the gradient evenly between tied entries, as every framework does.

The backend modules are private Keras API: the tested Keras range is pinned in
:data:`SUPPORTED_KERAS` and an untested Keras raises a clear error (set
``MULTILOSS_ALLOW_UNTESTED_KERAS=1`` to try anyway).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

SUPPORTED_KERAS = (">=3.15", "<3.16")
_SUPPORTED_MIN = (3, 15)
_SUPPORTED_MAX = (3, 16)
FRAMEWORKS = ("tensorflow", "jax", "torch")


class UnsupportedKerasError(ImportError):
    """The installed Keras is outside the range multiloss was tested with."""


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_keras_version(version: str) -> None:
    """Raise :class:`UnsupportedKerasError` unless ``version`` is in the tested range."""
    parsed = _parse_version(version)
    if _SUPPORTED_MIN <= parsed[:2] < _SUPPORTED_MAX:
        return
    if os.environ.get("MULTILOSS_ALLOW_UNTESTED_KERAS") == "1":
        return
    raise UnsupportedKerasError(
        f"multiloss binds Keras' backend modules, which are private API; it is tested "
        f"with keras{','.join(SUPPORTED_KERAS)} but keras {version} is installed. "
        f"Install a supported Keras (pip install 'keras{','.join(SUPPORTED_KERAS)}') "
        f"or set MULTILOSS_ALLOW_UNTESTED_KERAS=1 to try anyway."
    )


def keras_config_path() -> str:
    """Where Keras reads its ``keras.json`` (``$KERAS_HOME``, else ``~/.keras``), as Keras does."""
    if "KERAS_HOME" in os.environ:
        directory = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        directory = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(os.path.join(directory, "keras.json"))


def keras_configured_backend() -> tuple[str, str]:
    """The backend Keras' own configuration names, and where from: ``keras.json``, else
    Keras' default, ``tensorflow`` (``KERAS_BACKEND`` is not looked at)."""
    path = keras_config_path()
    try:
        with open(path) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    if backend and backend != "tensorflow":  # Keras writes its default into a new keras.json
        return str(backend), f"the backend in {path}"
    return "tensorflow", "Keras' default backend"


def import_keras(framework: str | None = None) -> Any:
    """Import Keras, with ``framework`` as its backend if nothing chose one yet.

    Keras imports its global backend when it is first imported: TensorFlow unless
    ``KERAS_BACKEND`` (or ``~/.keras/keras.json``) says otherwise. So that the torch and
    jax adapters work where TensorFlow is not installed, and import no TensorFlow (nor
    print its log lines) where it is, the first adapter imported before Keras, with
    neither ``KERAS_BACKEND`` nor a ``keras.json`` naming an installed backend other
    than Keras' default, makes its own framework Keras' backend. Set ``KERAS_BACKEND``
    (or import Keras first) to choose another.
    """
    chosen = "keras" in sys.modules or os.environ.get("KERAS_BACKEND")
    if not chosen:
        configured, source = keras_configured_backend()
        chosen = source != "Keras' default backend" and importlib.util.find_spec(configured) is not None
    if framework is not None and not chosen:
        os.environ["KERAS_BACKEND"] = framework
        try:
            import keras
        finally:
            os.environ.pop("KERAS_BACKEND", None)
    try:
        import keras
    except ModuleNotFoundError as exc:
        if exc.name != "tensorflow" or os.environ.get("KERAS_BACKEND"):
            raise
        raise ModuleNotFoundError(
            "Keras' backend is TensorFlow (KERAS_BACKEND is unset), which is not installed: "
            "set KERAS_BACKEND=torch or jax, or import multiloss.torch / multiloss.jax "
            "before multiloss.keras (pip install 'multiloss[tensorflow-cpu]' for TensorFlow)",
            name="tensorflow",
        ) from exc

    check_keras_version(keras.__version__)
    return keras


class KerasFunction:
    """An op taken from the Keras backend module ``keras.src.backend.<framework>.<module>``.

    Used as a class attribute of :class:`Ops`: ``ops.exp`` is Keras' ``exp`` of the
    framework ``ops`` is bound to. A framework class overrides it with a method.
    """

    def __init__(self, module: str, name: str = ""):
        self.module = module
        self.name = name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, ops: Ops | None, owner: type | None = None) -> Any:
        if ops is None:
            return self
        return ops.keras_functions[self.name]


class Ops:
    """``keras.ops``-named functions bound to one framework's Keras backend module.

    Subclasses set :attr:`name` and override ops with direct framework calls of the
    same semantics (``tests/test_ops_facade.py`` holds every op to public
    ``keras.ops``).
    """

    name = ""

    # --- keras.ops.numpy ---------------------------------------------------------
    keras_abs = KerasFunction("numpy", "abs")
    all = KerasFunction("numpy")
    any = KerasFunction("numpy")
    arange = KerasFunction("numpy")
    argmax = KerasFunction("numpy")
    argsort = KerasFunction("numpy")
    arctan2 = KerasFunction("numpy")
    broadcast_to = KerasFunction("numpy")
    keras_clip = KerasFunction("numpy", "clip")
    concatenate = KerasFunction("numpy")
    count_nonzero = KerasFunction("numpy")
    cumsum = KerasFunction("numpy")
    dot = KerasFunction("numpy")
    einsum = KerasFunction("numpy")
    equal = KerasFunction("numpy")
    exp = KerasFunction("numpy")
    expand_dims = KerasFunction("numpy")
    expm1 = KerasFunction("numpy")
    eye = KerasFunction("numpy")
    floor = KerasFunction("numpy")
    full_like = KerasFunction("numpy")
    greater = KerasFunction("numpy")
    greater_equal = KerasFunction("numpy")
    isfinite = KerasFunction("numpy")
    isnan = KerasFunction("numpy")
    less = KerasFunction("numpy")
    less_equal = KerasFunction("numpy")
    linspace = KerasFunction("numpy")
    log = KerasFunction("numpy")
    log1p = KerasFunction("numpy")
    log2 = KerasFunction("numpy")
    logaddexp = KerasFunction("numpy")
    logical_and = KerasFunction("numpy")
    logical_not = KerasFunction("numpy")
    logical_or = KerasFunction("numpy")
    matmul = KerasFunction("numpy")
    max = KerasFunction("numpy")
    keras_maximum = KerasFunction("numpy", "maximum")
    mean = KerasFunction("numpy")
    min = KerasFunction("numpy")
    keras_minimum = KerasFunction("numpy", "minimum")
    moveaxis = KerasFunction("numpy")
    negative = KerasFunction("numpy")
    not_equal = KerasFunction("numpy")
    ones = KerasFunction("numpy")
    ones_like = KerasFunction("numpy")
    power = KerasFunction("numpy")
    reshape = KerasFunction("numpy")
    searchsorted = KerasFunction("numpy")
    sign = KerasFunction("numpy")
    sort = KerasFunction("numpy")
    sqrt = KerasFunction("numpy")
    square = KerasFunction("numpy")
    squeeze = KerasFunction("numpy")
    stack = KerasFunction("numpy")
    sum = KerasFunction("numpy")
    take = KerasFunction("numpy")
    take_along_axis = KerasFunction("numpy")
    tanh = KerasFunction("numpy")
    tile = KerasFunction("numpy")
    transpose = KerasFunction("numpy")
    triu = KerasFunction("numpy")
    unique = KerasFunction("numpy")
    where = KerasFunction("numpy")
    zeros = KerasFunction("numpy")
    zeros_like = KerasFunction("numpy")
    # --- keras.ops.nn ------------------------------------------------------------
    keras_binary_crossentropy = KerasFunction("nn", "binary_crossentropy")
    log_sigmoid = KerasFunction("nn")
    log_softmax = KerasFunction("nn")
    keras_relu = KerasFunction("nn", "relu")
    sigmoid = KerasFunction("nn")
    softmax = KerasFunction("nn")
    softplus = KerasFunction("nn")
    # --- keras.ops.math ----------------------------------------------------------
    in_top_k = KerasFunction("math")
    logsumexp = KerasFunction("math")
    top_k = KerasFunction("math")
    # --- keras.ops.core ----------------------------------------------------------
    cast = KerasFunction("core")
    cond = KerasFunction("core")
    convert_to_tensor = KerasFunction("core")
    custom_gradient = KerasFunction("core")
    fori_loop = KerasFunction("core")
    is_tensor = KerasFunction("core")
    scan = KerasFunction("core")
    scatter = KerasFunction("core")
    shape = KerasFunction("core")
    slice = KerasFunction("core")
    slice_update = KerasFunction("core")
    stop_gradient = KerasFunction("core")
    while_loop = KerasFunction("core")
    # --- keras.random ------------------------------------------------------------
    categorical = KerasFunction("random")
    randint = KerasFunction("random")
    uniform = KerasFunction("random")

    def __init__(self) -> None:
        keras = import_keras(self.name)
        self.keras_functions: dict[str, Callable[..., Any]] = {}
        modules: dict[str, Any] = {}
        missing = []
        # Every declared op, overridden or not: an override falls back to Keras' function.
        declared = {
            attribute: op
            for cls in reversed(type(self).__mro__)
            for attribute, op in vars(cls).items()
            if isinstance(op, KerasFunction)
        }
        for op in declared.values():
            if op.module not in modules:
                path = f"keras.src.backend.{self.name}.{op.module}"
                try:
                    modules[op.module] = importlib.import_module(path)
                except ImportError as exc:  # pragma: no cover - depends on Keras layout
                    raise UnsupportedKerasError(
                        f"{path} cannot be imported ({exc}); multiloss is tested with "
                        f"keras{','.join(SUPPORTED_KERAS)}"
                    ) from exc
            fn = getattr(modules[op.module], op.name, None)
            if fn is None:
                missing.append(f"{op.module}.{op.name}")
            else:
                self.keras_functions[op.name] = fn
        if missing:
            raise UnsupportedKerasError(
                f"keras {keras.__version__} backend {self.name!r} lacks {missing}; "
                f"multiloss is tested with keras{','.join(SUPPORTED_KERAS)}"
            )
        self._keras_nn = importlib.import_module(f"keras.src.backend.{self.name}.nn")
        self._standardize_dtype = importlib.import_module(
            "keras.src.backend.common.variables"
        ).standardize_dtype

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # --- keras.ops semantics the backend modules skip ------------------------------
    def one_hot(self, x: Any, num_classes: int, axis: int = -1, dtype: str = "float32") -> Any:
        """``keras.ops.one_hot``: float32 by default (the torch backend returns int64)."""
        return self._keras_nn.one_hot(x, num_classes, axis=axis, dtype=dtype)

    def dtype(self, x: Any) -> str:
        """``keras.ops.dtype``: the standardized dtype name of a tensor."""
        return self._standardize_dtype(x.dtype)

    # --- ops with a tie: one subgradient in every framework (module docstring) ----------
    def _is_float(self, x: Any) -> bool:
        return hasattr(x, "dtype") and is_float_dtype(self.dtype(x))

    def _first_takes_ties(self, x1: Any, x2: Any, result: Any) -> Any:
        """``result`` (of ``x1`` and ``x2``), with ``x1`` itself where ``x1 == x2``: the
        value is the same and the whole gradient of a tie goes to ``x1``. NaN stays NaN
        (it equals nothing, so ``result`` is kept)."""
        if not self._is_float(result):
            return result
        dtype = self.dtype(result)
        tie = x1 if self._is_float(x1) and self.dtype(x1) == dtype else self.cast(x1, dtype)
        return self.where(self.equal(x1, x2), tie, result)

    def maximum(self, x1: Any, x2: Any) -> Any:
        """``keras.ops.maximum``; at a tie ``x1 == x2`` the whole gradient goes to ``x1``
        (``maximum(x, bound)``: ``x`` keeps it; ``maximum(0.0, x)``: ``x`` gets 0)."""
        return self._first_takes_ties(x1, x2, self.keras_functions["maximum"](x1, x2))

    def minimum(self, x1: Any, x2: Any) -> Any:
        """``keras.ops.minimum``; at a tie ``x1 == x2`` the whole gradient goes to ``x1``
        (``minimum(x, bound)``: ``x`` keeps it; ``minimum(1.0, x)``: ``x`` gets 0)."""
        return self._first_takes_ties(x1, x2, self.keras_functions["minimum"](x1, x2))

    def clip(self, x: Any, x_min: Any, x_max: Any) -> Any:
        """``keras.ops.clip``, as ``minimum(maximum(x, x_min), x_max)`` with the tie rule:
        ``x`` keeps its whole gradient on the closed interval ``[x_min, x_max]`` (at a
        bound too, as ``torch.clamp`` and ``tf.clip_by_value``; ``jnp.clip`` halves it),
        0 outside."""
        clipped = self.keras_functions["clip"](x, x_min, x_max)
        if not self._is_float(clipped):
            return clipped
        # x where it is unchanged (inside or at a bound), the bound (no gradient to x) else
        return self.where(self.equal(clipped, x), x, clipped)

    def relu(self, x: Any) -> Any:
        """``keras.ops.relu``: ``maximum(0, x)`` with the tie rule, so slope 0 at 0. Every
        framework's ``relu`` has it (torch's ``threshold_backward``, ``jax.nn.relu``'s
        JVP, TensorFlow's ``ReluGrad``); ``tests/test_fuzz_ops.py`` holds them to it."""
        return self.keras_functions["relu"](x)

    def abs(self, x: Any) -> Any:
        """``keras.ops.abs`` with slope ``sign(x)``: 0 at 0 (torch and TensorFlow; JAX's
        ``abs`` has slope 1 at 0, so the tie is taken out with a ``where``)."""
        result = self.keras_functions["abs"](x)
        if not self._is_float(result):
            return result
        return self.where(self.equal(x, 0.0), 0.0, result)

    # --- fused primitives (not keras.ops) -------------------------------------------
    def sparse_cross_entropy_with_logits(
        self, logits: Any, labels: Any, label_smoothing: float = 0.0, reduction: str = "none"
    ) -> Any:
        """``−Σ_c q_c log softmax(logits)_c`` for integer ``labels`` ``[...]`` (classes last),
        ``q = (1 − ε)·one_hot(labels) + ε / C`` with ``ε = label_smoothing``.

        ``logsumexp − (1 − ε)·picked logit − ε·mean logit``: one reduction and a gather,
        no ``[..., C]`` log-softmax tensor (optax' formulation). Frameworks with a fused
        kernel of the same numbers override it (torch ``F.cross_entropy``, TensorFlow
        ``tf.nn.sparse_softmax_cross_entropy_with_logits``). ``reduction`` ``"mean"`` or
        ``"sum"`` reduces over every example (a fused reduction where the kernel has one).
        """
        picked = self.squeeze(self.take_along_axis(logits, self.expand_dims(labels, -1), axis=-1), -1)
        loss = self.logsumexp(logits, axis=-1) - picked
        if label_smoothing:
            loss = loss + label_smoothing * (picked - self.mean(logits, axis=-1))
        return self.reduce_examples(loss, reduction)

    def reduce_examples(self, values: Any, reduction: str) -> Any:
        """``values`` as they are (``"none"``), their ``"mean"`` or their ``"sum"``."""
        if reduction == "none":
            return values
        return self.mean(values) if reduction == "mean" else self.sum(values)

    def softmax_target_terms(self, logits: Any, labels: Any) -> tuple[Any, Any]:
        """``(−log p_t, 1 − p_t)`` of ``p = softmax(logits)`` at integer ``labels``:
        what cross entropy, focal and poly-1 losses take from the logits.

        Both exact as ``p_t → 1``, where ``log_softmax`` rounds ``log p_t`` to 0 and
        ``1 − p_t`` to 0: with ``z = x − max x``, ``e = exp(z)`` (the only transcendental
        per element) and the row sum ``R = Σ_{k≠t} e_k`` (summed directly, no
        ``S − e_t`` cancellation),

            −log p_t = log1p(R + e^{z_t} − 1) − z_t,    1 − p_t = R / (R + e^{z_t}).

        No ``[..., C]`` log-softmax is written: one max and one fused pass of sums. The
        denominator is at least 1 (the largest logit's ``e`` is 1, in ``R`` or as
        ``e^{z_t}``); ``1 − p_t`` underflows to 0 only past a logit gap of ~87 (float32).
        """
        num_classes = logits.shape[-1]
        if num_classes is None:  # a class axis known only at run time (tf.function)
            num_classes = self.shape(logits)[-1]
        peak = self.stop_gradient(self.max(logits, axis=-1, keepdims=True))
        z = logits - peak
        e = self.exp(z)
        is_target = self.equal(self.expand_dims(labels, -1), self.arange(num_classes))
        rest = self.sum(self.where(is_target, 0.0, e), axis=-1)
        z_t = self.sum(self.where(is_target, z, 0.0), axis=-1)
        e_t = self.exp(z_t)
        # S − 1 = R + (e^{z_t} − 1): exact where t is the arg max (z_t = 0), with the
        # gradient e^{z_t}; exp − 1 rather than expm1, which compilers do not vectorise.
        neg_log_pt = self.log1p(rest + (e_t - 1.0)) - z_t
        return neg_log_pt, rest / (rest + e_t)

    def binary_crossentropy(self, target: Any, output: Any, from_logits: bool = False) -> Any:
        """``keras.ops.binary_crossentropy`` (element-wise). From logits as
        ``x·(H(x) − y) + log1p(e)`` (``H(x) = [x >= 0]``, so the first term is
        ``max(x, 0) − x·y``) with the ``e = exp(−|x|)`` of :meth:`sigmoid_pair`, so a
        compiler computes one ``exp`` for both (``−|x|`` written as a ``where``: exact
        derivatives at 0).

        Exact for logits of any size, the gradient ``(H − y) ∓ e / (1 + e)`` too: it is
        the sum of two terms, one of them exactly 0 at a saturated hard label (``H = y``),
        so no order in which autodiff adds them up rounds ``σ(x) − y`` (JAX summed
        ``max(x, 0)``'s and ``x·y``'s terms after the small one)."""
        if not from_logits:
            return self.keras_functions["binary_crossentropy"](target, output, from_logits=False)
        positive = self.greater_equal(output, 0.0)
        e = self.exp(self.where(positive, self.negative(output), output))
        step_minus_target = self.where(positive, 1.0 - target, self.negative(target))
        return output * step_minus_target + self.log1p(e)

    def sigmoid_pair(self, x: Any) -> tuple[Any, Any]:
        """``(σ(x), σ(−x))``, each accurate in its tail, from one ``exp(−|x|)``:
        ``σ(|x|) = 1 / (1 + e)`` and ``σ(−|x|) = e / (1 + e)``."""
        positive = self.greater_equal(x, 0.0)
        # -|x| written as a where: |x|'s derivative at 0 is 0 in every framework.
        e = self.exp(self.where(positive, self.negative(x), x))
        big = 1.0 / (1.0 + e)
        small = e * big
        return self.where(positive, big, small), self.where(positive, small, big)

    def lerp(self, a: Any, b: Any, w: Any) -> Any:
        """``(1 − w)·a + w·b``: exactly ``a`` at ``w = 0`` and ``b`` at ``w = 1``."""
        return (1.0 - w) * a + w * b

    # --- gradients written out (not keras.ops) ----------------------------------------
    def custom_vjp(
        self,
        forward: Callable[..., tuple[Any, tuple]],
        backward: Callable[[tuple, Any], tuple],
    ) -> Callable[..., Any]:
        """A function of tensors whose gradient is ``backward``, not autodiff of ``forward``.

        ``forward(*tensors) -> (output, residuals)``: the output (one tensor) and a tuple
        of tensors the backward pass needs; nothing else of the forward pass is kept for
        the gradient (what ``forward`` computes on the way is freed as it goes).
        ``backward(residuals, grad_output) -> grads``: one per input tensor, ``None``
        where it gets no gradient (integer class ids, constants). Both are written with
        ``ops`` calls only and called once per call of the returned function; anything
        static (sizes, flags, hyper-parameters) is closed over, never passed as a
        tensor, and ``None`` inputs are left out of ``tensors`` by the caller. The
        gradient is first order only (the backward pass is not differentiated again).

        ``torch.autograd.Function`` (TorchOps), ``jax.custom_vjp`` (JaxOps: traces
        under ``jit``, ``grad`` and ``vmap``), ``tf.custom_gradient`` (TensorFlowOps:
        eager, ``tf.function``, ``jit_compile=True``).
        """
        raise NotImplementedError(f"{type(self).__name__}.custom_vjp")

    def after(self, x: Any, *deps: Any) -> Any:
        """``x``'s value, for use only once ``deps`` are computed: a compiler may neither
        compute what uses the result before ``deps`` (so a loop written out step by
        step runs one step at a time, instead of holding every step's temporaries at
        once) nor merge it with an equal value computed elsewhere (so what a backward
        pass recomputes is recomputed, not kept from the forward pass).

        A data dependency: ``x + 0·d``, ``d`` the first entry of each of ``deps`` (0
        where that is not finite, so ``x`` keeps its value exactly). Compilers keep it
        (``x·0`` is not ``0`` under IEEE rules); XLA's optimization barrier is not
        enough, as XLA:CPU schedules past it. The frameworks return ``x`` itself where
        they run eagerly, in program order.
        """
        zero = None
        for dep in deps:
            if 0 in tuple(dep.shape):  # nothing to depend on
                continue
            first = self.slice(self.reshape(dep, (-1,)), [0], [1])
            first = self.where(self.isfinite(first), first, self.zeros_like(first))
            zero = first if zero is None else zero + self.cast(first, self.dtype(zero))
        if zero is None:
            return x
        zero = self.cast(self.sum(zero) * 0.0, self.dtype(x))
        return x + zero

    # --- framework services (not keras.ops) -----------------------------------------
    def run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Call the core function ``fn(self, *args, **kwargs)`` in the scope the framework
        needs (:meth:`scope_of` the arguments: torch pins Keras' device to the inputs',
        TensorFlow applies its dtype rules)."""
        with self.scope_of(args):
            return fn(self, *args, **kwargs)

    def scope_of(self, tensors: tuple) -> contextlib.AbstractContextManager:
        """The scope :meth:`run` calls in, for code holding ``tensors`` (stateful steps)."""
        return contextlib.nullcontext()

    def eager_value(self, x: Any) -> np.ndarray | None:
        """The value of ``x`` as NumPy when it is concrete (eager), else ``None``.

        ``None`` under ``jax.jit``/``grad`` tracing, inside ``tf.function`` and while
        ``torch.compile`` traces: value checks then give way to shape checks.
        """
        return np.asarray(x)

    def value_range(
        self, x: Any, exclude: int | None = None, *, accelerators: bool = False
    ) -> tuple[float, float] | None:
        """``(min, max)`` of a concrete tensor (Python ints for integer tensors), entries
        equal to ``exclude`` left out.

        ``None`` when ``x`` is traced or has no entry left, and, unless ``accelerators``,
        when it lives on an accelerator (reading the two scalars back would make the
        host wait for the device at every step). The reduction runs where ``x`` lives:
        no copy of the tensor to the host.
        """
        values = self.eager_value(x)
        if values is None:
            return None
        if exclude is not None:
            values = values[values != exclude]
        if values.size == 0:
            return None
        return values.min().item(), values.max().item()

    def global_totals(self, total: Any, count: Any) -> tuple[Any, Any]:
        """``(numerator, denominator)`` of ``reduction="global_mean"`` from one replica's
        sum of losses ``total`` and count of entries ``count`` (no gradient): the
        denominator is the count over every data-parallel replica, the numerator scaled
        so that after the framework's usual reduction of the replicas' gradients they
        equal one process' ``"mean"`` over the global batch. Outside data parallelism
        ``(total, count)``."""
        return total, count

    def seeded_uniform(self, size: int, seed: int | None) -> Any:
        """``size`` float32 draws from U[0, 1) with the framework's own generator.

        Keras' backend random ops convert int seeds with the *configured* Keras backend,
        so each framework draws directly: an int seed gives a fixed draw, ``None`` the
        framework's global generator.
        """
        raise NotImplementedError(f"{type(self).__name__}.seeded_uniform")

    def index_dtype(self, like: Any) -> str:
        """The integer dtype of class ids derived from the integer tensor ``like``."""
        return "int64"


def is_float_dtype(dtype: Any) -> bool:
    return str(dtype) in ("float16", "bfloat16", "float32", "float64")
