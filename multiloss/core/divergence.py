"""Divergence family: the Kullback-Leibler divergence between class distributions, the
knowledge-distillation loss (a temperature-scaled KL between two sets of logits) and the
Jensen-Shannon divergence."""

from __future__ import annotations

import math

from multiloss.core.checks import (
    check_axis,
    check_rank,
    check_reduction,
    check_same_shape,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype
from multiloss.core.paired import check_positive, scalar_param
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register
from multiloss.core.targets import TINY, categorical_targets


@register(kind="per_example", class_name="KLDivergence", class_aliases=("KlDivergence",))
def kl_divergence(
    ops, y_pred, y_true, *, from_logits=True, axis=-1,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Kullback-Leibler divergence KL(y_true ‖ softmax(y_pred)) per example.

    .. math::

        \ell = \sum_c y_c \left(\log y_c - \log \operatorname{softmax}(x)_c\right),
        \qquad 0 \log 0 = 0

    Computed from ``log_softmax`` (no probability is formed and logged); the
    :math:`y \log y` term is taken as ``y * log(where(y > 0, y, 1))``, so zero
    targets contribute 0 with finite gradients.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape
            ``[..., C, ...]`` with the classes on ``axis``.
        y_true: target class probabilities, same shape as ``y_pred``.
        from_logits: ``y_pred`` holds logits (default). With ``False`` it holds
            probabilities, normalised over ``axis`` and logged at >= the smallest
            normal float32.
        axis: the class axis.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` (over examples) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    References:
        Kullback and Leibler, *On Information and Sufficiency* (1951); as a
        distillation loss, Hinton et al. 2015, https://arxiv.org/abs/1503.02531.

        Same numbers as ``torch.nn.functional.kl_div(log_softmax(y_pred), y_true,
        reduction="none").sum(-1)``; for 2-D inputs ``"mean"`` equals torch's
        ``reduction="batchmean"`` (torch's default ``"mean"`` divides by the element count
        and is not the KL) and ``keras.losses.kl_divergence(y_true, softmax(y_pred))``
        (which clips probabilities to [1e-7, 1]).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], np.float32)
        >>> loss = kl_divergence(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.8126, 0.0252]
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    t = categorical_targets(
        ops, y_pred, y_true, axis=axis, from_logits=from_logits, where=where,
        sample_weight=sample_weight,
    )
    target = t.target_probs
    positive = ops.greater(target, 0.0)
    target_log_target = target * ops.log(ops.where(positive, target, ops.ones_like(target)))
    loss = ops.sum(target_log_target - target * t.log_probs, axis=-1)
    return reduce(ops, loss, reduction, t.out_dtype, entries=t.entries)


# --- distillation and Jensen-Shannon: two distributions over the class axis -----------

#: ``log(p/m)`` is evaluated with the log-ratio floored here: below it the term is
#: ``p·log(p/m)`` with ``p < e^-80 q``, under 1e-33 in magnitude (and ``expm1`` of the
#: floor stays finite in float32).
_LOG_RATIO_FLOOR = -80.0


def _distribution_pair(ops, y_pred, y_true, axis, where, sample_weight):
    """Check two tensors of one shape holding distributions over ``axis`` and prepare
    them: ``(pred, true, out_dtype, entries)`` in the compute dtype with the class axis
    last and the examples ``where`` masks out replaced by 0 (NaN/Inf there never reaches
    the loss or its gradient)."""
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    axis = check_axis(axis, len(pred_shape))
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(
        ops, where, sample_weight, pred_shape[:axis] + pred_shape[axis + 1 :], dtype,
        "y_pred without the class axis",
    )
    pred = as_float(ops, chosen.hide(y_pred, axis), dtype)
    true = as_float(ops, chosen.hide(y_true, axis), dtype)
    if axis != len(pred_shape) - 1:
        pred, true = ops.moveaxis(pred, axis, -1), ops.moveaxis(true, axis, -1)
    return pred, true, out_dtype, chosen


@register(kind="per_example", integer_args=())
def distillation_loss(
    ops, y_pred, y_true, *, temperature=1.0, axis=-1,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Knowledge distillation loss (Hinton et al. 2015) per example: the KL divergence
    from the teacher's softened distribution to the student's, times :math:`T^2`.

    .. math::

        \ell = T^2 \sum_c p_c \left(\log p_c - \log q_c\right),
        \qquad \log p = \operatorname{log\_softmax}(t / T),
        \quad \log q = \operatorname{log\_softmax}(s / T)

    with student logits :math:`s` (``y_pred``) and teacher logits :math:`t`
    (``y_true``). The teacher is held constant (``stop_gradient``: no gradient flows
    into ``y_true``); the student's gradient is :math:`T\,(q - p)`, the
    :math:`T^2` keeping its size independent of :math:`T` as the paper advises.

    Computed in log space as :math:`T^2 \sum_c (p_c d_c - p_c + q_c)` (the same sum,
    as :math:`\sum p = \sum q = 1`; each term >= 0, a Taylor series where
    :math:`|d_c| \le 1/4`) with :math:`d = \log p - \log q = (t - s)/T` plus the
    difference of the two log-normalisers (``log1p`` of a sum of ``expm1`` where
    :math:`t - s` varies by at most :math:`2T` over the classes, else ``logsumexp``):
    never negative, exact to relative precision for close student and teacher and at
    high temperatures (where two ``log_softmax`` and a subtraction lose digits that
    :math:`T^2` magnifies), and finite for any temperature (``T = 0.05``: logits × 20)
    and any logits whose scaled values :math:`s/T`, :math:`t/T` are finite.

    Args:
        y_pred: student logits, shape ``[..., C, ...]`` with the classes on ``axis``.
        y_true: teacher logits, same shape as ``y_pred``.
        temperature: T > 0; both logits are divided by it.
        axis: the class axis.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` (over examples) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    References:
        Hinton, Vinyals and Dean, *Distilling the Knowledge in a Neural Network*
        (2015), https://arxiv.org/abs/1503.02531.

        Same numbers as ``T**2 * torch.nn.functional.kl_div(log_softmax(y_pred / T),
        log_softmax(y_true / T), log_target=True, reduction="none").sum(-1)`` with the
        teacher detached; ``"mean"`` over 2-D inputs is torch's ``reduction="batchmean"``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[1.5, 0.5, 0.0], [0.0, 0.5, 2.0]], np.float32)
        >>> loss = distillation_loss(get_ops("jax"), y_pred, y_true, temperature=2.0, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.0645, 0.0631]
    """
    check_reduction(reduction)
    check_positive("temperature", temperature)
    student, teacher, out_dtype, chosen = _distribution_pair(
        ops, y_pred, y_true, axis, where, sample_weight
    )
    t = scalar_param(ops, temperature, ops.dtype(student))
    teacher = ops.stop_gradient(teacher)
    log_p = ops.log_softmax(teacher / t, axis=-1)
    log_ratio = _log_ratio(ops, log_p, (teacher - student) / t)
    loss = (t * t) * ops.sum(_kl_terms(ops, log_p, log_ratio), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


def _log_ratio(ops, log_p, u):
    """``d = log p − log q`` for ``p = softmax(a)``, ``q = softmax(b)`` from ``u = a − b``:
    ``d = u + log Σ_c p_c e^{−u_c}`` (the difference of the two log-normalisers).

    ``u`` is centred first (``d`` does not change when a constant is subtracted). Rows
    whose ``u`` spans at most 2 take the sum as ``log1p(Σ p·expm1(−u))``, so ``d`` is
    exact to about one float epsilon of ``|u|``, not of ``|log p|``: the log-ratio of two
    close distributions, or of any two at a high temperature, keeps its digits (with two
    ``log_softmax`` and a subtraction, ``T = 100`` loses four of them to the ``T²``
    factor). Other rows take the ``logsumexp``, finite for logits of any size."""
    mid = ops.stop_gradient(0.5 * (ops.max(u, axis=-1, keepdims=True) + ops.min(u, axis=-1, keepdims=True)))
    u = u - mid
    spread = ops.max(u, axis=-1, keepdims=True) - ops.min(u, axis=-1, keepdims=True)
    small = ops.less_equal(spread, 2.0)
    u_small = ops.clip(u, -2.0, 2.0)  # |u| <= 1 in the rows that use it; safe elsewhere
    close = ops.log1p(ops.sum(ops.exp(log_p) * ops.expm1(-u_small), axis=-1, keepdims=True))
    general = ops.logsumexp(log_p - u, axis=-1, keepdims=True)
    return u + ops.where(small, close, general)


#: Below this ``|log p − log q|`` a class' KL or JS term is taken from its Taylor series:
#: the closed forms cancel to ``d²``-size values there (about ``2ε/|d|`` relative error).
_SERIES_BOUND = 0.25
#: ``d + expm1(−d) = Σ_{n>=2} (−d)^n / n!`` to ``n = 10`` (truncation < 1e-12 relative
#: at ``|d| = 1/4``), lowest power first, after the factor ``d²``.
_KL_SERIES = tuple((-1.0) ** k / math.factorial(k + 2) for k in range(9))
#: ``log 2 − H((1 + t)/2) = Σ_{n>=1} t^{2n} / (2n(2n − 1))`` to ``n = 6`` with
#: ``t = tanh(d/2)`` (truncation < 1e-13 relative at ``|d| = 1/4``), in powers of ``t²``
#: after the factor ``t²``.
_JS_SERIES = tuple(1.0 / (2 * n * (2 * n - 1)) for n in range(1, 7))


def _polynomial(x, coefficients):
    """``Σ_k c_k x^k`` by Horner's rule (``coefficients`` lowest power first)."""
    result = coefficients[-1]
    for c in coefficients[-2::-1]:
        result = result * x + c
    return result


def _kl_terms(ops, log_p, d):
    """The terms ``p·log(p/q) − p + q`` of KL(p ‖ q) (their sum is the KL: Σp = Σq = 1),
    each >= 0, from ``log p`` and ``d = log p − log q``.

    A term is ``p·(d + expm1(−d))``: its Taylor series ``p·d²(1/2 − d/6 + ...)`` for
    ``|d| <=`` :data:`_SERIES_BOUND`, the closed form above it, ``p·(d − 1) + q`` below
    ``d = −1`` (where ``expm1`` could overflow). No cancellation between classes or
    within a term, so the sum is never negative and keeps relative precision where
    ``p ≈ q`` (a naive ``Σ p·d`` leaves an absolute error of about one float epsilon, far
    larger than the KL of two close distributions), and its gradient with respect to
    ``log q`` is ``q − p = p·expm1(−d)`` to relative precision."""
    p = ops.exp(log_p)
    small = ops.less_equal(ops.abs(d), _SERIES_BOUND)
    d_small = ops.clip(d, -_SERIES_BOUND, _SERIES_BOUND)
    series = p * (d_small * d_small) * _polynomial(d_small, _KL_SERIES)
    d_high = ops.maximum(d, -1.0)
    near = p * ops.maximum(d_high + ops.expm1(-d_high), 0.0)
    far = p * (ops.minimum(d, -1.0) - 1.0) + ops.exp(log_p - d)
    return ops.where(small, series, ops.where(ops.greater_equal(d, -1.0), near, far))


def _log_ratio_to_midpoint(ops, delta, weight):
    """``log(p/m)`` with ``m = (p + q)/2``, from ``delta = log p − log q``:
    ``log p − (logaddexp(log p, log q) − log 2) = −log1p(expm1(−delta)/2)`` (``log 2`` as
    ``q/p → 0``; ``delta`` floored at :data:`_LOG_RATIO_FLOOR`). Where ``weight`` (``p``)
    is 0 it is 0, so ``p·log(p/m)`` is 0 there with zero gradients (0·log 0 = 0; NaN in
    ``weight`` stays NaN)."""
    ratio = -ops.log1p(0.5 * ops.expm1(-ops.maximum(delta, _LOG_RATIO_FLOOR)))
    return ops.where(ops.equal(weight, 0.0), ops.zeros_like(ratio), ratio)


def _js_terms(ops, p, q, delta):
    """Each class' ``p·log(p/m) + q·log(q/m)`` (twice its JS share), from ``p``, ``q`` and
    ``delta = log p − log q``: ``(p + q)·(log 2 − H(p/(p + q)))``, >= 0.

    For ``|delta| <=`` :data:`_SERIES_BOUND` the two logs nearly cancel: there it is
    ``(p + q)·Σ t^{2n}/(2n(2n − 1))`` with ``t = tanh(delta/2) = (p − q)/(p + q)``;
    above, the two terms with :func:`_log_ratio_to_midpoint` (floored at 0 against
    rounding)."""
    small = ops.less_equal(ops.abs(delta), _SERIES_BOUND)
    t = ops.tanh(0.5 * ops.clip(delta, -_SERIES_BOUND, _SERIES_BOUND))
    t2 = t * t
    series = (p + q) * t2 * _polynomial(t2, _JS_SERIES)
    direct = p * _log_ratio_to_midpoint(ops, delta, p) + q * _log_ratio_to_midpoint(ops, -delta, q)
    return ops.where(small, series, ops.maximum(direct, 0.0))


@register(kind="per_example", class_name="JSDivergence", integer_args=())
def js_divergence(
    ops, y_pred, y_true, *, from_logits=True, axis=-1,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Jensen-Shannon divergence between two class distributions per example
    (natural log, so values lie in :math:`[0, \log 2]`).

    .. math::

        \ell = \tfrac12 \sum_c p_c \log\frac{p_c}{m_c}
             + \tfrac12 \sum_c q_c \log\frac{q_c}{m_c},
        \qquad m = \tfrac12 (p + q),
        \qquad 0 \log 0 = 0

    with :math:`p` from ``y_pred`` and :math:`q` from ``y_true`` (softmax of logits,
    or normalised probabilities). Computed in log space from
    :math:`\delta = \log p - \log q` (for logits, the difference of the logits plus
    that of the log-normalisers, so shifted logits give exactly 0):
    :math:`\log m = \operatorname{logaddexp}(\log p, \log q) - \log 2`, i.e.
    :math:`\log(p/m) = -\operatorname{log1p}(\operatorname{expm1}(-\delta)/2)`, and
    each class' two terms together are
    :math:`(p_c + q_c)\sum_{n \ge 1} t^{2n}/(2n(2n-1))` with
    :math:`t = \tanh(\delta_c/2)` where :math:`|\delta_c| \le 1/4` (there the two logs
    cancel). So it keeps relative precision when :math:`p \approx q`, is never negative,
    and stays finite for one-hot-like logits (classes with :math:`p_c = 0` add 0 with
    zero gradients). Symmetric; gradients flow into both inputs.

    Args:
        y_pred: logits (or probabilities with ``from_logits=False``), shape
            ``[..., C, ...]`` with the classes on ``axis``.
        y_true: the other distribution, as ``y_pred`` (logits or probabilities),
            same shape.
        from_logits: both inputs hold logits (default). With ``False`` they hold
            probabilities, normalised over ``axis`` and logged at >= the smallest
            normal float32.
        axis: the class axis.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example), ``"mean"`` (over examples) or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar;
        in the dtype of ``y_pred``.

    References:
        Lin, *Divergence measures based on the Shannon entropy*, IEEE Trans.
        Information Theory 37(1), 1991, https://doi.org/10.1109/18.61115.

        Same numbers as ``scipy.spatial.distance.jensenshannon(softmax(y_pred),
        softmax(y_true), axis=-1) ** 2`` (natural log by default); the gradients are those
        of the formula above (torch autograd in float64 in the conformance cases).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[2.0, 0.5, 1.0], [0.1, 1.0, 3.0]], np.float32)
        >>> y_true = np.array([[1.5, 0.5, 0.0], [0.0, 0.5, 2.0]], np.float32)
        >>> loss = js_divergence(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.0113, 0.009]
    """
    check_reduction(reduction)
    pred, true, out_dtype, chosen = _distribution_pair(
        ops, y_pred, y_true, axis, where, sample_weight
    )
    if from_logits:
        log_p = ops.log_softmax(pred, axis=-1)
        delta = _log_ratio(ops, log_p, pred - true)
        p, q = ops.exp(log_p), ops.exp(log_p - delta)
    else:
        p = pred / ops.sum(pred, axis=-1, keepdims=True)
        q = true / ops.sum(true, axis=-1, keepdims=True)
        delta = ops.log(ops.maximum(p, TINY)) - ops.log(ops.maximum(q, TINY))
    loss = 0.5 * ops.sum(_js_terms(ops, p, q, delta), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
