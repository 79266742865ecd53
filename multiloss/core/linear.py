r"""Cross entropy of a linear layer's logits over a large vocabulary, computed in chunks.

The last layer of a language model maps hidden states ``[N, D]`` to logits ``[N, V]``
over a vocabulary of ``V`` = 10⁵–10⁶ tokens; for ``N`` = 8192 tokens and ``V`` = 256 000
the float32 logits alone take 8 GiB, and their gradient as much again.
:func:`linear_cross_entropy` takes the hidden states and the weight instead, and
visits the vocabulary ``chunk_size`` classes at a time: each chunk's logits are
formed, folded into a running log-sum-exp (and the target logit, and the sums label
smoothing needs), and freed; the backward pass forms them again, chunk by chunk, and
turns them straight into the gradients of ``hidden``, ``weight`` and ``bias``. What is
kept between the passes is ``O(N)`` (two numbers per row) besides the inputs.

The gradient is written out once in the core (``ops.custom_vjp``: a
``torch.autograd.Function``, ``jax.custom_vjp``, ``tf.custom_gradient``), so values and
gradients are the same in every framework, eagerly and compiled (``jax.jit``,
``tf.function(jit_compile=True)``, ``torch.compile``).
"""

from __future__ import annotations

from typing import Any

from multiloss.core.checks import (
    check_int,
    check_labels_in_range,
    check_reduction,
    check_static_scalar,
    check_vector,
    is_integer_dtype,
    static_shape,
)
from multiloss.core.common import compute_dtype, param_tensor
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register

#: Default chunks hold about this many logits (4 MiB of float32) ...
_CHUNK_ELEMENTS = 1 << 20
#: ... and at least this many classes (fewer make small matrix products) ...
_MIN_CHUNK = 1024
#: ... and there are at most this many of them (each is a step of an unrolled loop in a
#: compiled graph: ``jax.jit`` and XLA compile time grow with the count).
_MAX_CHUNKS = 256


def default_chunk_size(num_rows: int | None, num_classes: int) -> int:
    """Classes per chunk when ``chunk_size=None``: ``2²⁰ / N`` (4 MiB of float32 logits
    per chunk), at least 1024 and ``V / 256`` (at most 256 chunks), at most ``V``."""
    rows = num_rows if num_rows else 1024  # unknown batch (tf.function): a typical one
    chunk = max(_MIN_CHUNK, _CHUNK_ELEMENTS // max(rows, 1), -(-num_classes // _MAX_CHUNKS))
    return max(1, min(chunk, num_classes))


def _check_shapes(hidden: Any, weight: Any, labels: Any, bias: Any) -> tuple[int | None, int]:
    """``(N, V)`` of ``hidden [N, D]``, ``weight [V, D]``, ``labels [N]``, ``bias [V]``."""
    hidden_shape, weight_shape = static_shape(hidden), static_shape(weight)
    labels_shape = static_shape(labels)
    if len(hidden_shape) != 2:
        raise ValueError(f"hidden must have rank 2 ([N, D]), got hidden of shape {hidden_shape}")
    if len(weight_shape) != 2:
        raise ValueError(f"weight must have rank 2 ([V, D]), got weight of shape {weight_shape}")
    rows, dim = hidden_shape
    classes, weight_dim = weight_shape
    if dim is None or classes is None:
        raise ValueError(
            f"hidden's last dimension and weight's first must be known before the call "
            f"(the vocabulary is split into chunks of static size), got hidden of shape "
            f"{hidden_shape} and weight of shape {weight_shape}"
        )
    if weight_dim is not None and weight_dim != dim:
        raise ValueError(
            f"weight must be [V, D] with D = hidden's last dimension: got hidden of shape "
            f"{hidden_shape} and weight of shape {weight_shape}"
        )
    if classes == 0:
        raise ValueError(f"weight must hold at least one class, got weight of shape {weight_shape}")
    if len(labels_shape) != 1 or (
        labels_shape[0] is not None and rows is not None and labels_shape[0] != rows
    ):
        raise ValueError(
            f"labels must be [N], one class id per row of hidden: got labels of shape "
            f"{labels_shape} and hidden of shape {hidden_shape}"
        )
    if bias is not None:
        bias_shape = static_shape(bias)
        if len(bias_shape) != 1 or (bias_shape[0] is not None and bias_shape[0] != classes):
            raise ValueError(
                f"bias must be [V], one entry per row of weight: got bias of shape "
                f"{bias_shape} and weight of shape {weight_shape}"
            )
    return rows, classes


def check_chunk_size(chunk_size: Any) -> int | None:
    chunk_size = check_int("chunk_size", chunk_size, allow_none=True)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int (or None), got chunk_size={chunk_size}")
    return chunk_size


def check_softcap(logit_softcap: Any) -> float | None:
    if logit_softcap is None:
        return None
    check_static_scalar("logit_softcap", logit_softcap)
    if not float(logit_softcap) > 0.0:
        raise ValueError(
            f"logit_softcap must be > 0 (or None: no capping), got "
            f"logit_softcap={float(logit_softcap)}"
        )
    return float(logit_softcap)


def _as_labels(ops: Any, labels: Any) -> Any:
    labels = ops.convert_to_tensor(labels)
    dtype = ops.dtype(labels)
    if not is_integer_dtype(dtype):
        raise TypeError(
            f"labels must hold integer class ids, got labels of dtype {dtype} and shape "
            f"{static_shape(labels)}"
        )
    # int32/int64 gather and compare everywhere; narrow or unsigned ids are widened
    return labels if dtype in ("int32", "int64") else ops.cast(labels, ops.index_dtype(labels))


def _cast(ops: Any, x: Any, dtype: str) -> Any:
    return x if ops.dtype(x) == dtype else ops.cast(x, dtype)


class _Chunked:
    """The forward and backward passes over the vocabulary chunks of one call.

    Static facts only (sizes, which optional inputs are present, hyper-parameters):
    the tensors come as arguments of :meth:`forward` and the residuals of
    :meth:`backward`, as ``ops.custom_vjp`` requires.
    """

    def __init__(
        self, ops: Any, *, classes: int, chunk: int, dtype: str, has_bias: bool,
        has_class_weight: bool, label_smoothing: float, z_loss: float, softcap: float | None,
    ):
        self.ops = ops
        self.classes = classes
        self.bounds = [(start, min(start + chunk, classes)) for start in range(0, classes, chunk)]
        self.dtype = dtype
        self.has_bias = has_bias
        self.has_class_weight = has_class_weight
        self.smoothing = label_smoothing
        self.z_loss = z_loss
        self.softcap = softcap

    # --- the tensors of one call, in the order custom_vjp receives them --------------
    def unpack(self, tensors: tuple) -> tuple[Any, Any, Any, Any, Any]:
        """``(hidden, weight, bias or None, labels, class_weight or None)``."""
        hidden, weight, *rest = tensors
        bias = rest.pop(0) if self.has_bias else None
        labels = rest.pop(0)
        class_weight = rest.pop(0) if self.has_class_weight else None
        return hidden, weight, bias, labels, class_weight

    def _rows(self, x: Any, start: int, stop: int) -> Any:
        """Rows ``start:stop`` of ``x`` (``[V, D]`` or ``[V]``), in the compute dtype."""
        ops = self.ops
        shape = static_shape(x)
        size = [stop - start] + [d for d in shape[1:]]
        return _cast(ops, ops.slice(x, [start] + [0] * (len(shape) - 1), size), self.dtype)

    def _logits(self, h: Any, weight: Any, bias: Any, start: int, stop: int) -> tuple[Any, Any, Any]:
        """``(x, w_c, t)``: the chunk's logits ``[N, stop − start]`` (capped), its weight
        rows in the compute dtype, and ``tanh(s / cap)`` (``None`` uncapped)."""
        ops = self.ops
        w_c = self._rows(weight, start, stop)
        s = ops.matmul(h, ops.transpose(w_c))
        if bias is not None:
            s = s + ops.expand_dims(self._rows(bias, start, stop), 0)
        if self.softcap is None:
            return s, w_c, None
        t = ops.tanh(s / self.softcap)
        return self.softcap * t, w_c, t

    def _target_logits(self, h: Any, weight: Any, bias: Any, labels: Any) -> Any:
        """``x_t [N]``, each row's logit of its label (capped): ``h · W[t] + b[t]``, from
        the gathered weight rows instead of a pass over every chunk."""
        ops = self.ops
        s = ops.sum(h * _cast(ops, ops.take(weight, labels, axis=0), self.dtype), axis=-1)
        if bias is not None:
            s = s + _cast(ops, ops.take(bias, labels), self.dtype)
        return s if self.softcap is None else self.softcap * ops.tanh(s / self.softcap)

    def _is_target(self, labels: Any, start: int, stop: int) -> Any:
        ops = self.ops
        classes = ops.arange(start, stop, dtype=ops.dtype(labels))
        return ops.equal(ops.expand_dims(labels, -1), ops.expand_dims(classes, 0))

    def _weight_total(self, class_weight: Any) -> Any:
        """``Σ_c w_c`` (``C`` without class weights)."""
        if class_weight is None:
            return float(self.classes)
        return self.ops.sum(class_weight)

    def forward(self, *tensors: Any) -> tuple[Any, tuple]:
        """The per-row loss ``[N]`` and the residuals ``(inputs..., m, log S)``: the row
        maximum of the logits and the log of ``Σ_c exp(x_c − m)``."""
        ops = self.ops
        hidden, weight, bias, labels, class_weight = self.unpack(tensors)
        h = _cast(ops, hidden, self.dtype)
        picked = self._target_logits(h, weight, bias, labels)
        peak = total = spread = None
        seen = 0.0  # Σ w_c over the chunks folded so far (count without class weights)
        for start, stop in self.bounds:
            # one chunk at a time, also in a compiled graph (ops.after: a sequence point)
            step_h = h if peak is None else ops.after(h, peak, total)
            x, _, _ = self._logits(step_h, weight, bias, start, stop)
            chunk_peak = ops.max(x, axis=-1)
            if peak is None:
                new_peak = chunk_peak
                total = ops.sum(ops.exp(x - ops.expand_dims(new_peak, -1)), axis=-1)
            else:
                new_peak = ops.maximum(peak, chunk_peak)
                total = total * ops.exp(peak - new_peak) + ops.sum(
                    ops.exp(x - ops.expand_dims(new_peak, -1)), axis=-1
                )
            if self.smoothing:
                # spread = Σ_c w_c (x_c − m) over the chunks so far, m the running peak
                centred = x - ops.expand_dims(new_peak, -1)
                if class_weight is None:
                    term, chunk_weight = ops.sum(centred, axis=-1), float(stop - start)
                else:
                    w = self._rows(class_weight, start, stop)
                    term, chunk_weight = ops.matmul(centred, w), ops.sum(w)
                if spread is None:
                    spread = term
                else:
                    spread = spread - (new_peak - peak) * seen + term
                seen = seen + chunk_weight
            peak = new_peak
        log_total = ops.log(total)
        # lse − x_t; x_t rounded apart from the chunk's logit can pass lse by an ulp
        neg_log_pt = ops.maximum(log_total + (peak - picked), 0.0)
        true_weight = None if class_weight is None else ops.take(class_weight, labels)
        loss = neg_log_pt if true_weight is None else neg_log_pt * true_weight
        if self.smoothing:
            # Σ_c w_c (lse − x_c) / C = (Σ_c w_c · log S − spread) / C
            smooth = (self._weight_total(class_weight) * log_total - spread) / float(self.classes)
            loss = (1.0 - self.smoothing) * loss + self.smoothing * smooth
        if self.z_loss:
            loss = loss + self.z_loss * ops.square(peak + log_total)
        return loss, (*tensors, peak, log_total)

    def backward(self, residuals: tuple, grad: Any) -> tuple:
        """Gradients of ``hidden``, ``weight`` (and ``bias``): per chunk,
        ``∂ℓ/∂x_c = g·(a·p_c − b·[c = t] − (ε/C)·w_c)`` with ``a = (1 − ε)·w_t + ε·Σw/C +
        2z·lse`` and ``b = (1 − ε)·w_t``, times ``1 − tanh²`` where capped."""
        ops = self.ops
        *tensors, peak, log_total = residuals
        hidden, weight, bias, labels, class_weight = self.unpack(tuple(tensors))
        h = _cast(ops, hidden, self.dtype)
        g = _cast(ops, grad, self.dtype)
        keep = 1.0 - self.smoothing
        true_weight = None if class_weight is None else ops.take(class_weight, labels)
        b = g * keep if true_weight is None else g * keep * true_weight
        a = b
        if self.smoothing:
            a = a + g * (self.smoothing / float(self.classes)) * self._weight_total(class_weight)
        if self.z_loss:
            a = a + g * (2.0 * self.z_loss) * (peak + log_total)
        spread = g * (self.smoothing / float(self.classes)) if self.smoothing else None
        # what the chunks recompute waits for the gradient (else a compiler could keep it
        # from the forward pass: the [N, V] logits or target masks)
        labels = ops.after(labels, a)
        a, b = ops.expand_dims(a, -1), ops.expand_dims(b, -1)
        # (x − m) − log S, not x − (m + log S): m + log S would round to the ulp of
        # large logits
        shift = ops.expand_dims(peak, -1)
        log_total = ops.expand_dims(log_total, -1)
        grad_h = None
        grad_w, grad_b = [], []
        for start, stop in self.bounds:
            # recomputed once the gradient arrives (not kept from the forward pass), one
            # chunk at a time
            step_h = ops.after(h, a) if grad_h is None else ops.after(h, grad_h, grad_w[-1])
            x, w_c, t = self._logits(step_h, weight, bias, start, stop)
            p = ops.exp((x - shift) - log_total)
            gx = a * p - ops.where(self._is_target(labels, start, stop), b, 0.0)
            if spread is not None:
                uniform = ops.expand_dims(spread, -1)
                if class_weight is not None:
                    uniform = uniform * ops.expand_dims(self._rows(class_weight, start, stop), 0)
                gx = gx - uniform
            if t is not None:
                gx = gx * (1.0 - ops.square(t))
            step = ops.matmul(gx, w_c)
            grad_h = step if grad_h is None else grad_h + step
            grad_w.append(_cast(ops, ops.matmul(ops.transpose(gx), step_h), ops.dtype(weight)))
            if bias is not None:
                grad_b.append(_cast(ops, ops.sum(gx, axis=0), ops.dtype(bias)))
        grads = [
            _cast(ops, grad_h, ops.dtype(hidden)),
            grad_w[0] if len(grad_w) == 1 else ops.concatenate(grad_w, axis=0),
        ]
        if bias is not None:
            grads.append(grad_b[0] if len(grad_b) == 1 else ops.concatenate(grad_b, axis=0))
        grads.append(None)  # labels
        if class_weight is not None:
            grads.append(None)  # a constant, as F.cross_entropy's weight
        return tuple(grads)


@register(kind="per_row", integer_args=("labels",))
def linear_cross_entropy(
    ops,
    hidden,
    weight,
    labels,
    *,
    bias=None,
    chunk_size=None,
    ignore_index=None,
    label_smoothing=0.0,
    class_weight=None,
    z_loss=0.0,
    logit_softcap=None,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Softmax cross entropy of the logits ``hidden @ weight.T + bias``, never formed whole.

    .. math::

        x = h W^\top + b, \qquad
        \ell = (1-\varepsilon)\, w_t\, (\mathrm{lse}(x) - x_t)
             + \frac{\varepsilon}{V} \sum_c w_c\, (\mathrm{lse}(x) - x_c)
             + z\, \mathrm{lse}(x)^2

    per row, with :math:`\mathrm{lse}(x) = \log \sum_c e^{x_c}`, ``w`` the class weights
    (1 without ``class_weight``), ε ``label_smoothing`` and z ``z_loss``; with
    ``logit_softcap`` :math:`c` the logits are :math:`c \tanh(x / c)` first. This is
    ``cross_entropy(hidden @ weight.T + bias, labels, ...)`` with the same parameters,
    values and gradients: it is computed over the vocabulary in chunks of
    ``chunk_size`` classes, so the ``[N, V]`` logits and their gradient never exist
    whole, forward or backward.

    Memory: the forward pass keeps a running maximum, sum of exponentials, target
    logit (and, with label smoothing, weighted logit sum) per row while it visits the
    chunks; the backward pass recomputes each chunk's logits and turns them into the
    chunk's gradient at once (``∂ℓ/∂x = g·((1−ε)w_t(p − onehot) + ε(Σw/V·p − w/V) +
    2z·lse·p)``, times ``1 − tanh²`` where capped): ``grad hidden += g_x W_c``,
    ``grad W_c = g_xᵀ h``, ``grad b_c = Σ_rows g_x``. Between the passes only the inputs
    and two numbers per row are kept; at any time a few ``[N, chunk_size]`` tensors
    exist. Half-precision inputs are computed (and the gradients accumulated) in
    float32 chunk by chunk, without a float32 copy of ``weight``; the loss and the
    gradients come back in the inputs' dtypes. The gradient is first order (it is not
    differentiated again); ``class_weight`` gets none.

    Args:
        hidden: hidden states ``[N, D]`` (float; flatten batch and time first).
        weight: the output layer's weight ``[V, D]`` (``torch.nn.Linear.weight``'s
            layout; a Keras ``Dense`` kernel is its transpose), ``V`` known statically.
        labels: integer class ids ``[N]`` in ``[0, V)`` (or equal to ``ignore_index``),
            of any integer dtype; checked eagerly as ``cross_entropy``'s ``y_true``.
        bias: the output layer's bias ``[V]``, or ``None``.
        chunk_size: classes per chunk, a positive Python int; ``None`` picks
            ``2²⁰ / N`` (4 MiB of float32 logits per chunk), at least 1024 and
            ``V / 256`` (at most 256 chunks, each a step of an unrolled loop in a
            compiled graph), at most ``V``. It changes the memory and the speed, not
            the numbers (beyond rounding).
        ignore_index: class id whose rows contribute nothing (``None``: no such id).
        label_smoothing: ε in [0, 1], a Python number; mixes the target with the
            uniform distribution (as ``F.cross_entropy``).
        class_weight: per-class weights ``[V]`` (list, NumPy array or tensor; no
            gradient), as ``F.cross_entropy``'s ``weight``.
        z_loss: z >= 0, a Python number: adds ``z · lse²`` per row (PaLM; not multiplied
            by the class weight).
        logit_softcap: c > 0, a Python number, or ``None``: logits become
            ``c · tanh(x / c)`` before everything else (Gemma 2).
        where: boolean mask broadcastable to ``[N]``: ``False`` rows contribute 0, get
            a zero gradient (their ``hidden`` rows are replaced by 0 first, so NaN there
            reaches nothing) and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to ``[N]``; they multiply the loss,
            and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per row), ``"mean"`` or ``"sum"``. With ``class_weight``
            ``"mean"`` divides by the summed weights of the kept rows' targets (as
            ``F.cross_entropy``); all rows ignored gives 0. ``"global_mean"``: the
            mean over every data-parallel replica.

    Returns:
        ``[N]`` for ``reduction="none"``, else a scalar; in the dtype of ``hidden``.

    References:
        Wijmans et al., *Cut Your Losses in Large-Vocabulary Language Models*,
        2024, https://arxiv.org/abs/2411.09009 (the chunked log-sum-exp and the
        recomputing backward pass); the Liger kernel's fused linear cross entropy, Hsu et
        al. 2024, https://arxiv.org/abs/2410.10989; z-loss: Chowdhery et al., *PaLM*, 2022,
        https://arxiv.org/abs/2204.02311; soft-capping: Gemma Team, *Gemma 2*, 2024,
        https://arxiv.org/abs/2408.00118.

        Same numbers as ``cross_entropy(hidden @ weight.T + bias, labels, class_weight=...,
        ignore_index=..., label_smoothing=..., z_loss=..., logit_softcap=...)`` and as
        ``torch.nn.functional.linear_cross_entropy(hidden, weight, labels,
        linear_bias=bias, weight=class_weight, ignore_index=..., label_smoothing=...,
        reduction=...)`` (torch >= 2.13), which has no ``z_loss``, ``logit_softcap``,
        ``where`` or ``sample_weight``; its ``ignore_index=None`` means -100 there, no
        ignored id here.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> hidden = np.array([[1.0, 0.5], [-0.5, 2.0]], np.float32)
        >>> weight = np.array([[0.2, 1.0], [1.0, -1.0], [0.5, 0.5]], np.float32)
        >>> labels = np.array([1, 2])
        >>> loss = linear_cross_entropy(get_ops("jax"), hidden, weight, labels, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.2543, 1.4344]
    """
    check_reduction(reduction)
    check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    label_smoothing = float(label_smoothing)
    check_static_scalar("z_loss", z_loss, low=0.0)
    z_loss = float(z_loss)
    softcap = check_softcap(logit_softcap)
    chunk_size = check_chunk_size(chunk_size)
    ignore_index = check_int("ignore_index", ignore_index, allow_none=True)
    rows, classes = _check_shapes(hidden, weight, labels, bias)
    hidden, weight = ops.convert_to_tensor(hidden), ops.convert_to_tensor(weight)
    dtype, out_dtype = compute_dtype(ops, hidden)
    labels = _as_labels(ops, labels)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
    if class_weight is not None:
        check_vector("class_weight", class_weight, classes, low=0.0, what="rows of weight")
        class_weight = ops.stop_gradient(param_tensor(ops, class_weight, dtype))

    chosen = entries(ops, where, sample_weight, (rows,), dtype, "labels ([N])")
    hidden, labels = chosen.hide(hidden), chosen.hide(labels)
    check_labels_in_range(ops, "labels", labels, classes, ignore_index)
    mask = None
    if ignore_index is not None:
        mask = ops.not_equal(labels, ignore_index)
        labels = ops.where(mask, labels, ops.zeros_like(labels))

    chunked = _Chunked(
        ops, classes=classes,
        chunk=chunk_size if chunk_size is not None else default_chunk_size(rows, classes),
        dtype=dtype, has_bias=bias is not None, has_class_weight=class_weight is not None,
        label_smoothing=label_smoothing, z_loss=z_loss, softcap=softcap,
    )
    tensors = [hidden, weight] + ([bias] if bias is not None else []) + [labels]
    if class_weight is not None:
        tensors.append(class_weight)
    loss = ops.custom_vjp(chunked.forward, chunked.backward)(*tensors)
    true_weight = None if class_weight is None else ops.take(class_weight, labels)
    return reduce(
        ops, loss, reduction, out_dtype, mask=mask, weights=true_weight, entries=chosen
    )
