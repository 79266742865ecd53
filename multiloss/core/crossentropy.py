"""Cross-entropy family: softmax cross entropy and sigmoid (binary) cross entropy."""

from __future__ import annotations

import dataclasses
from typing import Any

from multiloss.core.checks import check_reduction, check_scalar, check_static_scalar
from multiloss.core.common import param_tensor
from multiloss.core.reduction import reduce
from multiloss.core.registry import register
from multiloss.core.targets import categorical_targets, sigmoid_log_probs, sigmoid_targets


def _known_and_not_empty(shape: tuple) -> bool:
    return None not in shape and 0 not in shape


def _check_logit_terms(z_loss: Any, logit_softcap: Any, from_logits: Any) -> float:
    """Check ``z_loss`` and ``logit_softcap`` (static Python/NumPy numbers, for logits
    only); returns ``z_loss`` as a Python float."""
    check_static_scalar("z_loss", z_loss, low=0.0)
    z_loss = float(z_loss)
    if logit_softcap is not None:
        check_static_scalar("logit_softcap", logit_softcap)
        if not float(logit_softcap) > 0.0:
            raise ValueError(
                f"logit_softcap must be > 0 (or None: no capping), got "
                f"logit_softcap={float(logit_softcap)}"
            )
    if not from_logits and (z_loss or logit_softcap is not None):
        given = f"z_loss={z_loss}" if z_loss else f"logit_softcap={float(logit_softcap)}"
        raise ValueError(
            f"{given} applies to logits: z_loss must be 0 and logit_softcap None with "
            f"from_logits=False (y_pred holds probabilities)"
        )
    return z_loss


def _logsumexp(ops: Any, x: Any, num_classes: int | None) -> Any:
    """``log Σ_k exp(x_k)`` over the last axis in the max-shifted form
    ``m + log Σ_k exp(x_k − m)`` with ``m`` held constant: its gradient is the softmax
    ``exp(x − m) / Σ`` computed from exact differences (``exp(x − lse)``, the backward
    of the frameworks' ``logsumexp``, loses ~``ulp(lse)`` in the exponent: 1e-3 at
    logits of 1e4 in float32)."""
    if num_classes == 0:
        raise ValueError("z_loss needs at least one class; y_pred has an empty class axis")
    peak = ops.stop_gradient(ops.max(x, axis=-1, keepdims=True))
    return ops.log(ops.sum(ops.exp(x - peak), axis=-1)) + ops.squeeze(peak, -1)


@register(kind="per_example")
def cross_entropy(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    class_weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    z_loss=0.0,
    logit_softcap=None,
    axis=-1,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Softmax cross entropy.

    .. math::

        \ell = -\sum_c w_c\, q_c \log \operatorname{softmax}(x)_c,
        \qquad q = (1 - \varepsilon)\, y + \varepsilon / C

    For integer targets the class weight enters as in PyTorch:
    :math:`\ell = (1-\varepsilon)\, w_t (-\log p_t) + \varepsilon \sum_c w_c (-\log p_c) / C`.

    With ``logit_softcap`` :math:`c` the logits are capped first (Gemma 2), and with
    ``z_loss`` :math:`z` the squared log-normaliser is added per example (PaLM):

    .. math::

        \tilde x = c \tanh(x / c), \qquad
        \ell_{\text{total}} = \ell(\tilde x) + z \Big(\log \sum_k e^{\tilde x_k}\Big)^2

    The z term is not multiplied by ``class_weight``; ``sample_weight`` and ``where``
    apply to the total, and examples equal to ``ignore_index`` give 0 (both terms).
    ``"mean"`` with ``class_weight`` and integer targets divides the summed totals by
    the summed weights of the kept targets, as without ``z_loss``:
    :math:`\sum_i (w_{t_i} \ell_i + z\, \mathrm{lse}_i^2) / \sum_i w_{t_i}`.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape ``[..., C, ...]``
            with the classes on ``axis``.
        y_true: integer class ids, shape of ``y_pred`` without ``axis``; or class
            probabilities, shape of ``y_pred``.
        from_logits: ``y_pred`` holds logits (default). With ``False`` it holds
            probabilities, normalised over ``axis`` and logged at >= the smallest
            normal float32 (finite, never clipped to 1e-7 as Keras does).
        class_weight: per-class weights ``[C]`` (list, NumPy array or tensor).
        ignore_index: class id whose targets contribute nothing (integer targets).
        label_smoothing: ε in [0, 1], a Python number (as in ``F.cross_entropy``; a tensor
            is refused); mixes the target with the uniform distribution.
        z_loss: z >= 0, a Python number (a tensor is refused): adds
            ``z · logsumexp(x)²`` per example (the logsumexp over the classes of the
            capped logits, max-shifted: finite for logits of any size). Logits only
            (``from_logits=False`` needs 0). PaLM uses 1e-4.
        logit_softcap: c > 0, a Python number, or ``None`` (default: no capping): the
            logits become ``c · tanh(x / c)`` before anything else (Gemma 2 uses 30).
            Logits only.
        axis: the class axis of ``y_pred``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` or ``"sum"``. With
            ``class_weight`` and integer targets ``"mean"`` divides by the summed
            weights of the non-ignored targets; all targets ignored gives 0.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    References:
        Goodfellow, Bengio & Courville, *Deep Learning*, section 6.2.2.3
        (softmax units), https://www.deeplearningbook.org/contents/mlp.html; label
        smoothing: Szegedy et al. 2016, https://arxiv.org/abs/1512.00567; z-loss: Chowdhery
        et al., *PaLM*, 2022, section 5, https://arxiv.org/abs/2204.02311; logit soft-capping:
        Gemma Team, *Gemma 2*, 2024, https://arxiv.org/abs/2408.00118.

        Same numbers as ``torch.nn.functional.cross_entropy(y_pred, y_true, weight=class_weight,
        ignore_index=..., label_smoothing=...)`` (classes on axis 1 there) and
        ``optax.losses.softmax_cross_entropy_with_integer_labels``. With ``logit_softcap=c``:
        ``F.cross_entropy(c * torch.tanh(y_pred / c), y_true, ...)``. ``z_loss`` has no
        counterpart in ``F.cross_entropy`` or ``optax.losses`` (optax 0.2.8); per example it
        is the term T5X's ``cross_entropy_with_logits(logits, targets, z_loss)`` adds
        (``z_loss · log(z)²``), and the tests hold it to a float64 NumPy formula.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([1, 2])
        >>> loss = cross_entropy(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.9644, 0.1743]
    """
    check_reduction(reduction)
    check_static_scalar("label_smoothing", label_smoothing, low=0.0, high=1.0)
    label_smoothing = float(label_smoothing)
    if logit_softcap is not None or type(z_loss) is not float or z_loss:  # not the default
        z_loss = _check_logit_terms(z_loss, logit_softcap, from_logits)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, ignore_index=ignore_index,
        where=where, sample_weight=sample_weight,
    )
    t.check_smoothing(label_smoothing)
    if logit_softcap is not None:  # before everything else (the log-softmax not yet formed)
        cap = float(logit_softcap)
        t = dataclasses.replace(t, scores=cap * ops.tanh(t.scores / cap))
    weights = None if class_weight is None else t.class_vector(ops, "class_weight", class_weight)
    true_weight = None
    if (
        t.labels is not None and weights is None and t.mask is None and t.entries.trivial
        and reduction in ("mean", "sum") and not z_loss and _known_and_not_empty(t.example_shape)
    ):  # one fused kernel, reduction included
        loss = t.true_neg_log_prob(label_smoothing, reduction)
        return loss if ops.dtype(loss) == t.out_dtype else ops.cast(loss, t.out_dtype)
    if t.labels is not None and weights is None:
        loss = t.true_neg_log_prob(label_smoothing)
    elif t.labels is not None:
        true_weight = ops.take(weights, t.labels)
        loss = t.true_neg_log_prob() * true_weight
        if label_smoothing:
            smooth = -ops.mean(t.log_probs * weights, axis=-1)
            loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    else:
        target = t.target_probs
        if label_smoothing:
            target = (1.0 - label_smoothing) * target + label_smoothing / t.class_count()
        weighted_log_probs = t.log_probs if weights is None else t.log_probs * weights
        loss = -ops.sum(target * weighted_log_probs, axis=-1)
    if z_loss:  # not weighted by class_weight; ignored examples are masked by reduce()
        loss = loss + z_loss * ops.square(_logsumexp(ops, t.scores, t.num_classes))
    return reduce(
        ops, loss, reduction, t.out_dtype, mask=t.mask, weights=true_weight, entries=t.entries
    )


@register(kind="elementwise")
def binary_cross_entropy(
    ops,
    y_pred,
    y_true,
    *,
    from_logits=True,
    alpha=None,
    label_smoothing=0.0,
    where=None,
    sample_weight=None,
    reduction="mean",
):
    r"""Sigmoid (binary, multi-label) cross entropy, element-wise.

    .. math::

        \ell = -\alpha\, y \log \sigma(x) - (1 - \alpha)(1 - y) \log(1 - \sigma(x))

    computed without cancellation for logits of any size: the backend's fused
    ``max(x, 0) − x·y + log1p(exp(−|x|))`` when unweighted, and
    ``α·y·softplus(−x) + (1 − α)(1 − y)·softplus(x)`` through ``log_sigmoid`` with ``alpha``.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), any shape.
        y_true: targets in [0, 1], same shape as ``y_pred``.
        from_logits: ``y_pred`` holds logits (default); probabilities otherwise (their
            logs clamped at -100 as ``torch.nn.functional.binary_cross_entropy``).
        alpha: balanced cross entropy: weight α on positives and 1 − α on negatives
            (``None``: no weighting, the plain BCE).
        label_smoothing: ε in [0, 1], a Python number (a tensor is refused); targets
            become ``y (1 − ε) + 0.5 ε`` (Keras).
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (element-wise, shape of ``y_pred``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` for ``reduction="none"``, else a scalar; dtype of ``y_pred``.

    References:
        Goodfellow, Bengio & Courville, *Deep Learning*, section 6.2.2.2
        (sigmoid units), https://www.deeplearningbook.org/contents/mlp.html; balanced
        cross entropy: Xie & Tu, *Holistically-Nested Edge Detection*, 2015,
        https://arxiv.org/abs/1504.06375.

        Same numbers as ``torch.nn.functional.binary_cross_entropy_with_logits`` (element-wise)
        and ``optax.losses.sigmoid_binary_cross_entropy``; Keras' ``binary_crossentropy``
        additionally averages over the last axis.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, -1.0], [0.5, 3.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
        >>> loss = binary_cross_entropy(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [[0.1269, 0.3133], [0.9741, 0.0486]]
    """
    check_reduction(reduction)
    check_scalar("alpha", alpha, low=0.0, high=1.0, allow_none=True)
    logits, targets, dtype, out_dtype, chosen = sigmoid_targets(
        ops, y_pred, y_true, label_smoothing, where, sample_weight
    )
    if from_logits and alpha is None:
        # The backend's fused kernel (torch: binary_cross_entropy_with_logits, tf:
        # sigmoid_cross_entropy_with_logits): max(x, 0) - x y + log1p(exp(-|x|)),
        # exact for hard labels at any logit size.
        loss = ops.binary_crossentropy(targets, logits, from_logits=True)
        return reduce(ops, loss, reduction, out_dtype, entries=chosen)
    log_p, log_q = sigmoid_log_probs(ops, logits, from_logits)
    positive_term = -targets * log_p
    negative_term = -(1.0 - targets) * log_q
    if alpha is not None:
        alpha = param_tensor(ops, alpha, dtype)
        positive_term = alpha * positive_term
        negative_term = (1.0 - alpha) * negative_term
    return reduce(ops, positive_term + negative_term, reduction, out_dtype, entries=chosen)
