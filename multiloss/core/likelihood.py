"""Likelihood losses of regression: the negative log-likelihood of the targets under a
Poisson or a Gaussian distribution predicted per entry, each per example (the last axis
averaged, as Keras)."""

from __future__ import annotations

import math

from multiloss.core.checks import (
    check_broadcastable,
    check_flag,
    check_rank,
    check_reduction,
    static_shape,
    value_check_bounds,
)
from multiloss.core.common import as_float
from multiloss.core.paired import check_positive, paired_inputs, scalar_param
from multiloss.core.reduction import reduce
from multiloss.core.registry import register

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)


@register(kind="per_example", class_name="PoissonNLLLoss", integer_args=())
def poisson_nll_loss(
    ops, y_pred, y_true, *, log_input=True, full=False, eps=1e-8,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Poisson negative log-likelihood, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D}
        \begin{cases}
            e^{\hat y_d} - y_d \hat y_d & \texttt{log\_input} \\
            \hat y_d - y_d \log(\hat y_d + \varepsilon) & \text{otherwise}
        \end{cases}
        \;+\; [y_d > 1] \left(y_d \log y_d - y_d + \tfrac12 \log(2\pi y_d)\right)

    The last term (Stirling's approximation of :math:`\log y!`, which the loss omits as
    a constant) is added with ``full=True``, for targets above 1 only (as torch). It is
    computed on targets replaced by 1 where they are <= 1, so its gradient for the
    targets is finite at 0 (torch's is NaN there).

    Args:
        y_pred: the predicted rate: its log with ``log_input=True`` (any real; the
            value overflows to ``inf`` only where :math:`e^{\hat y}` does, above 88 in
            float32), else the rate itself (>= 0).
        y_true: observed counts (>= 0), same shape as ``y_pred``.
        log_input: ``y_pred`` holds log-rates (default) or rates.
        full: add the Stirling term.
        eps: ε >= 0 added to the rate inside the log when ``log_input=False``.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        McCullagh & Nelder, *Generalized Linear Models* (2nd ed., 1989), chapter
        6 (log-linear models for counts), https://doi.org/10.1007/978-1-4899-3242-6.

        Same numbers as ``torch.nn.functional.poisson_nll_loss(y_pred, y_true, log_input,
        full, eps=eps, reduction="none").mean(-1)``; ``"mean"`` equals torch's ``"mean"``.
        With ``log_input=True, full=False`` also ``keras.losses.poisson(y_true,
        exp(y_pred))`` up to Keras' 1e-7 inside its log.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, -1.0], [1.0, 0.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [3.0, 2.0]], np.float32)
        >>> loss = poisson_nll_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.7583, 0.3591]
    """
    check_reduction(reduction)
    check_flag("log_input", log_input)
    check_flag("full", full)
    check_positive("eps", eps, allow_zero=True)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    if log_input:
        loss = ops.exp(prediction) - target * prediction
    else:
        eps = scalar_param(ops, eps, ops.dtype(prediction))
        loss = prediction - target * ops.log(prediction + eps)
    if full:
        above = ops.greater(target, 1.0)
        count = ops.where(above, target, ops.ones_like(target))
        stirling = count * ops.log(count) - count + 0.5 * (ops.log(count) + _LOG_2PI)
        loss = loss + ops.where(above, stirling, ops.zeros_like(stirling))
    loss = ops.mean(loss, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


def _variance_layout(var_shape, pred_shape):
    """Whether ``var`` needs a last axis (``y_pred``'s shape without its last axis);
    raises unless ``var`` has ``y_pred``'s rank and broadcasts to it."""
    if len(var_shape) == len(pred_shape) - 1 and all(
        a is None or b is None or a == b for a, b in zip(var_shape, pred_shape, strict=False)
    ):
        return True
    if len(var_shape) != len(pred_shape):
        raise ValueError(
            f"var must have y_pred's shape {pred_shape}, that shape with size-1 axes (a "
            f"last axis of size 1: one variance per example), or y_pred's shape without "
            f"its last axis; got var of shape {var_shape}"
        )
    check_broadcastable("var", var_shape, pred_shape, "y_pred")
    return False


@register(
    kind="per_example", class_name="GaussianNLLLoss", integer_args=(),
    keras_packed=("y_pred", "var"),
)
def gaussian_nll_loss(
    ops, y_pred, y_true, var, *, full=False, eps=1e-6,
    where=None, sample_weight=None, reduction="mean",
):
    r"""Gaussian negative log-likelihood with predicted variances, averaged over the
    last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D}
        \frac12 \left(\log \max(\sigma^2_d, \varepsilon)
        + \frac{(\hat y_d - y_d)^2}{\max(\sigma^2_d, \varepsilon)}\right)
        \;\big[+\ \tfrac12 \log 2\pi\big]

    As torch, the variance is clamped at ε for the value only: the gradient for ``var``
    is that of the formula at the clamped value, passed to ``var`` unchanged (a
    straight-through clamp; torch clamps a copy in place without recording it).

    Args:
        y_pred: predicted means, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
        var: predicted variances >= 0: shape of ``y_pred`` (one per entry), that shape
            with size-1 axes such as a last axis of size 1 (one per example,
            homoscedastic), or ``y_pred``'s shape without its last axis (as torch).
            Negative entries raise a ``ValueError`` in eager calls (as torch); traced
            calls cannot raise and clamp them at ε.
        full: add the constant :math:`\tfrac12 \log 2\pi`.
        eps: ε > 0, the smallest variance used.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per example, shape ``[...]``), ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without its last axis for ``reduction="none"``, else a
        scalar; in the dtype of ``y_pred``.

    References:
        Nix & Weigend, *Estimating the Mean and Variance of the Target
        Probability Distribution*, ICNN 1994, https://doi.org/10.1109/ICNN.1994.374138.

        Same numbers (values, and gradients for ``y_pred`` and ``var``) as
        ``torch.nn.functional.gaussian_nll_loss(y_pred, y_true, var, full, eps,
        reduction="none").mean(-1)``; ``"mean"`` equals torch's ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[1.0, 2.0], [0.0, -1.0]], np.float32)
        >>> y_true = np.array([[1.5, 1.0], [0.5, -1.0]], np.float32)
        >>> var = np.array([[0.5, 2.0], [1.0, 0.25]], np.float32)
        >>> loss = gaussian_nll_loss(get_ops("jax"), y_pred, y_true, var, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.25, -0.2841]
    """
    check_reduction(reduction)
    check_flag("full", full)
    check_positive("eps", eps)
    pred_shape, var_shape = static_shape(y_pred), static_shape(var)
    check_rank("y_pred", pred_shape, 1)
    unsqueeze = _variance_layout(var_shape, pred_shape)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    variance = ops.convert_to_tensor(var)
    if unsqueeze:
        variance = ops.expand_dims(variance, -1)
    variance = chosen.hide(variance)  # (masked-out entries are not checked)
    bounds = value_check_bounds(ops, variance)
    if bounds is not None and bounds[0] < 0:
        raise ValueError(
            f"var must be >= 0 (a variance), got an entry of {bounds[0]} (var of shape "
            f"{var_shape})"
        )
    variance = as_float(ops, variance, ops.dtype(prediction))
    eps = scalar_param(ops, eps, ops.dtype(prediction))
    # the clamped value, with the gradient passed to var unchanged (exactly: x − sg(x) = 0)
    clamped = ops.stop_gradient(ops.maximum(variance, eps))
    variance = clamped + (variance - ops.stop_gradient(variance))
    loss = 0.5 * (ops.log(variance) + ops.square(prediction - target) / variance)
    if full:
        loss = loss + _HALF_LOG_2PI
    loss = ops.mean(loss, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
