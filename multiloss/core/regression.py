"""Regression family: the square, absolute, Huber, smooth L1, log-cosh and quantile
losses and the cosine distance, each per example (the last axis averaged, as Keras).
The likelihood losses of regression (Poisson, Gaussian) are in
:mod:`multiloss.core.likelihood`."""

from __future__ import annotations

import math

import numpy as np

from multiloss.core.checks import (
    check_axis,
    check_rank,
    check_reduction,
    check_same_shape,
    check_scalar,
    check_vector,
    is_python_scalar,
    static_shape,
)
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.paired import check_positive, is_concrete, paired_inputs, scalar_param
from multiloss.core.reduction import entries, reduce
from multiloss.core.registry import register

_LOG_2 = math.log(2.0)


@register(kind="per_example", integer_args=())
def mean_squared_error(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Mean squared error, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} (\hat y_d - y_d)^2

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
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
        The least-squares criterion (Legendre 1805, Gauss 1809); see Hastie,
        Tibshirani & Friedman, *The Elements of Statistical Learning*, section 2.4,
        https://hastie.su.domains/ElemStatLearn/.

        Same numbers as ``torch.nn.functional.mse_loss(y_pred, y_true,
        reduction="none").mean(-1)`` and ``keras.losses.mean_squared_error(y_true, y_pred)``;
        ``"mean"`` equals ``mse_loss(..., reduction="mean")``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = mean_squared_error(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [2.125, 2.125]
    """
    check_reduction(reduction)
    prediction, target, out_dtype, chosen = paired_inputs(ops, y_pred, y_true, where, sample_weight)
    loss = ops.mean(ops.square(prediction - target), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


# --- robust point losses ----------------------------------------------------------------


@register(kind="per_example", integer_args=())
def mean_absolute_error(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Mean absolute error, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} |\hat y_d - y_d|

    The subgradient at :math:`\hat y_d = y_d` is 0 (as ``torch.nn.functional.l1_loss``).

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
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
        least absolute deviations (Boscovich 1757, Laplace 1789); Bloomfield &
        Steiger, *Least Absolute Deviations* (1983), https://doi.org/10.1007/978-1-4684-8574-5.

        Same numbers as ``keras.losses.mean_absolute_error(y_true, y_pred)`` and
        ``torch.nn.functional.l1_loss(y_pred, y_true, reduction="none").mean(-1)``.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = mean_absolute_error(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.25, 1.25]
    """
    check_reduction(reduction)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    loss = ops.mean(ops.abs(prediction - target), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


def _huber_terms(ops, error, threshold):
    """``(½·min(|e|, δ)², |e| − min(|e|, δ))``: the quadratic part and the linear
    excess of the Huber loss. No square of an unbounded error is formed (finite for
    any finite error), and at ``|e| = δ`` the slope is ``δ·sign(e)``, as torch."""
    size = ops.abs(error)
    inner = ops.minimum(size, threshold)  # the tie gives the gradient to |e|
    return 0.5 * ops.square(inner), size - inner


@register(kind="per_example", integer_args=())
def huber_loss(
    ops, y_pred, y_true, *, delta=1.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Huber loss, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D}
        \begin{cases}
            \tfrac12 e_d^2 & |e_d| \le \delta \\
            \delta \left(|e_d| - \tfrac12 \delta\right) & \text{otherwise}
        \end{cases},
        \qquad e = \hat y - y

    Computed as :math:`\tfrac12 m^2 + \delta (|e| - m)` with :math:`m = \min(|e|, \delta)`,
    so no square of a large error is formed: finite for any finite error.

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
        delta: δ > 0 where the loss turns from quadratic to linear (a Python number or
            a scalar tensor).
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
        Huber, *Robust Estimation of a Location Parameter*, Annals of
        Mathematical Statistics 35 (1964), https://doi.org/10.1214/aoms/1177703732.

        Same numbers as ``keras.losses.huber(y_true, y_pred, delta)`` and
        ``torch.nn.functional.huber_loss(y_pred, y_true, reduction="none",
        delta=delta).mean(-1)`` (torch's element-wise values).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = huber_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.8125, 0.8125]
    """
    check_reduction(reduction)
    check_positive("delta", delta)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    delta = scalar_param(ops, delta, ops.dtype(prediction))
    quadratic, excess = _huber_terms(ops, prediction - target, delta)
    loss = ops.mean(quadratic + delta * excess, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_example", class_name="SmoothL1Loss", integer_args=())
def smooth_l1_loss(
    ops, y_pred, y_true, *, beta=1.0, where=None, sample_weight=None, reduction="mean"
):
    r"""Smooth L1 loss (Fast R-CNN), averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D}
        \begin{cases}
            \tfrac12 e_d^2 / \beta & |e_d| < \beta \\
            |e_d| - \tfrac12 \beta & \text{otherwise}
        \end{cases},
        \qquad e = \hat y - y

    β = 0 is the L1 loss; for β > 0 it is ``huber_loss(delta=β) / β``. Computed as
    :math:`\tfrac12 m^2 / \beta + (|e| - m)` with :math:`m = \min(|e|, \beta)`: finite
    for any finite error.

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
        beta: β >= 0 where the loss turns from quadratic to linear (a Python number or
            a scalar tensor).
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
        Girshick, *Fast R-CNN*, ICCV 2015, https://arxiv.org/abs/1504.08083.

        Same numbers as ``torch.nn.functional.smooth_l1_loss(y_pred, y_true,
        reduction="none", beta=beta).mean(-1)``; ``"mean"`` equals torch's ``"mean"`` (every
        example has D entries).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = smooth_l1_loss(get_ops("jax"), y_pred, y_true, beta=0.5, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [1.0, 1.0]
    """
    check_reduction(reduction)
    check_positive("beta", beta, allow_zero=True)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    beta = scalar_param(ops, beta, ops.dtype(prediction))
    quadratic, excess = _huber_terms(ops, prediction - target, beta)
    if is_concrete(beta):  # β = 0: m = 0, the L1 loss
        scale = 1.0 / beta if beta > 0.0 else 0.0
    else:
        positive = ops.greater(beta, 0.0)
        scale = ops.where(positive, 1.0 / ops.where(positive, beta, 1.0), 0.0)
    loss = ops.mean(quadratic * scale + excess, axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


@register(kind="per_example", integer_args=())
def log_cosh_loss(
    ops, y_pred, y_true, *, where=None, sample_weight=None, reduction="mean"
):
    r"""Log-cosh loss, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D} \log\cosh(\hat y_d - y_d)

    Exact and finite for any finite difference :math:`e`: for :math:`|e| \ge 1` as
    :math:`|e| + \operatorname{softplus}(-2|e|) - \log 2` (``cosh`` itself overflows
    float32 beyond 89), for :math:`|e| < 1` as :math:`\log(1 + 2 \sinh^2(e/2))` with
    :math:`\sinh` from ``expm1`` (the first form would lose the value :math:`\approx e^2/2`
    to cancellation against :math:`\log 2`). The gradient is :math:`\tanh e`.

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
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
        Chen et al., *Log Hyperbolic Cosine Loss Improves Variational
        Auto-Encoder* (2019), https://openreview.net/forum?id=rkglvsC9Ym.

        Same numbers as ``keras.losses.log_cosh(y_true, y_pred)`` (which uses
        :math:`e + \operatorname{softplus}(-2e) - \log 2`, exact in float64).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = log_cosh_loss(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.7226, 0.7226]
    """
    check_reduction(reduction)
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    error = prediction - target
    size = ops.abs(error)
    near = ops.less(size, 1.0)
    half = 0.5 * ops.where(near, error, ops.zeros_like(error))
    sinh_half = 0.5 * (ops.expm1(half) - ops.expm1(-half))
    close = ops.log1p(2.0 * ops.square(sinh_half))
    far = size + ops.softplus(-2.0 * size) - _LOG_2
    loss = ops.mean(ops.where(near, close, far), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


def _quantile(ops, quantile, depth, dtype):
    """``quantile`` checked (each in the open interval (0, 1); a vector has one entry per
    last-axis entry) as a Python float or a tensor."""
    if isinstance(quantile, np.ndarray) and quantile.ndim == 0:
        quantile = quantile.item()
    if is_python_scalar(quantile):
        check_scalar("quantile", quantile)
        if not 0.0 < float(quantile) < 1.0:
            raise ValueError(f"quantile must lie in (0, 1), got quantile={float(quantile)}")
        return float(quantile)
    if hasattr(quantile, "shape") and not isinstance(quantile, np.ndarray):  # a tensor
        shape = static_shape(quantile)
        if shape != () and (len(shape) != 1 or shape[0] not in (None, depth)):
            raise ValueError(
                f"quantile must be a scalar or have one entry per last-axis entry of "
                f"y_pred (length {depth}), got shape {shape}"
            )
        return param_tensor(ops, quantile, dtype)
    check_vector("quantile", quantile, depth, what="the last axis of y_pred")
    values = np.asarray(quantile, np.float64).reshape(-1).tolist()
    if not all(0.0 < v < 1.0 for v in values):
        raise ValueError(f"every entry of quantile must lie in (0, 1), got {values}")
    return param_tensor(ops, quantile, dtype)


@register(kind="per_example", integer_args=())
def quantile_loss(
    ops, y_pred, y_true, *, quantile=0.5, where=None, sample_weight=None, reduction="mean"
):
    r"""Quantile (pinball) loss, averaged over the last axis per example.

    .. math::

        \ell = \frac{1}{D} \sum_{d=1}^{D}
        \max\big(q_d\, (y_d - \hat y_d),\ (q_d - 1)(y_d - \hat y_d)\big)

    Minimised in expectation by the :math:`q`-quantile of :math:`y`; :math:`q = ½` is
    half the absolute error. Computed as :math:`q\,[e]_+ + (1 - q)[-e]_+` with
    :math:`e = y - \hat y`: exact, and the subgradient at :math:`e = 0` is 0 (as for
    ``mean_absolute_error``).

    Args:
        y_pred: predictions, shape ``[..., D]``.
        y_true: targets, same shape as ``y_pred``.
        quantile: :math:`q`, each in the open interval (0, 1): a scalar, or one per
            last-axis entry (a list, NumPy array or tensor of length ``D``: several
            quantiles of one target predicted at once).
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
        Koenker & Bassett, *Regression Quantiles*, Econometrica 46 (1978),
        https://doi.org/10.2307/1913643.

        Same numbers as TensorFlow Addons' ``tfa.losses.pinball_loss(y_true, y_pred, tau)``
        (archived; tested against the float64 NumPy formula above).

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[0.5, 2.0], [1.5, -1.0]], np.float32)
        >>> y_true = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        >>> loss = quantile_loss(get_ops("jax"), y_pred, y_true, quantile=0.9, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.325, 0.925]
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    q = _quantile(ops, quantile, pred_shape[-1], compute_dtype(ops, y_pred)[0])
    prediction, target, out_dtype, chosen = paired_inputs(
        ops, y_pred, y_true, where, sample_weight
    )
    error = target - prediction
    loss = ops.mean(q * ops.relu(error) + (1.0 - q) * ops.relu(-error), axis=-1)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)


# --- directions -------------------------------------------------------------------------

#: Norms below this are floored to it (optax' ``epsilon=1e-24`` floors squared norms).
_MIN_NORM = 1e-12


def _unit_vectors(ops, x, axis):
    """``x / max(‖x‖, 1e-12)`` along ``axis``, exact for vectors of any finite size: the
    norm is taken of ``x`` divided by its largest magnitude (held constant), so squares
    neither underflow (‖x‖ < 1e-19 in float32) nor overflow (‖x‖ > 1e19); below the
    floor the division is by the floor (a zero vector stays zero, finite gradient)."""
    peak = ops.stop_gradient(ops.max(ops.abs(x), axis=axis, keepdims=True))
    scale = ops.where(ops.greater(peak, 0.0), peak, ops.ones_like(peak))
    scaled = x / scale
    squares = ops.sum(ops.square(scaled), axis=axis, keepdims=True)  # in [1, D] or 0
    small = ops.less(scale * ops.sqrt(squares), _MIN_NORM)
    safe = ops.where(small, ops.ones_like(squares), squares)
    return ops.where(small, x / _MIN_NORM, scaled / ops.sqrt(safe))


@register(kind="per_example", integer_args=())
def cosine_distance(
    ops, y_pred, y_true, *, axis=-1, where=None, sample_weight=None, reduction="mean"
):
    r"""Cosine distance: one minus the cosine similarity of the vectors along ``axis``.

    .. math::

        \ell = 1 - \frac{\langle \hat y, y \rangle}
        {\max(\lVert \hat y \rVert, 10^{-12})\, \max(\lVert y \rVert, 10^{-12})}

    Norms are floored at 1e-12 (squared norms at 1e-24, optax' ``epsilon``), so a zero
    vector gives 1 with a finite gradient. The norms are computed from the vectors
    divided by their largest magnitude: exact for vectors of any finite size (no square
    underflows or overflows).

    Args:
        y_pred: predicted vectors, shape ``[..., D, ...]`` with the vectors on ``axis``.
        y_true: target vectors, same shape as ``y_pred``.
        axis: the axis of the vector entries.
        where: boolean mask broadcastable to the unreduced loss: ``False`` entries
            contribute 0, get a zero gradient and are not counted by the mean.
        sample_weight: weights >= 0 broadcastable to the unreduced loss; they multiply
            it, and ``"mean"`` is the weighted mean.
        reduction: ``"none"`` (per vector, shape of ``y_pred`` without ``axis``),
            ``"mean"`` or ``"sum"``.
            ``"global_mean"``: the mean over every data-parallel replica.

    Returns:
        Shape of ``y_pred`` without ``axis`` for ``reduction="none"``, else a scalar; in
        the dtype of ``y_pred``.

    References:
        Singhal, *Modern Information Retrieval: A Brief Overview*, IEEE Data
        Engineering Bulletin 24 (2001), http://sites.computer.org/debull/A01DEC-CD.pdf.

        Same numbers as ``optax.losses.cosine_distance(y_pred, y_true, epsilon=1e-24,
        axis=axis)``; ``keras.losses.cosine_similarity(y_true, y_pred, axis)`` is this minus
        1 (up to Keras' own 1e-12 floor); ``1 - torch.nn.functional.cosine_similarity(y_pred,
        y_true, dim=axis, eps=1e-12)`` away from the floor.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_pred = np.array([[1.0, 2.0], [0.0, 1.0]], np.float32)
        >>> y_true = np.array([[2.0, 1.0], [0.0, 3.0]], np.float32)
        >>> loss = cosine_distance(get_ops("jax"), y_pred, y_true, reduction="none")
        >>> np.asarray(loss, np.float64).round(4).tolist()
        [0.2, 0.0]
    """
    check_reduction(reduction)
    pred_shape = static_shape(y_pred)
    check_rank("y_pred", pred_shape, 1)
    axis = check_axis(axis, len(pred_shape))
    check_same_shape("y_true", static_shape(y_true), "y_pred", pred_shape)
    dtype, out_dtype = compute_dtype(ops, y_pred)
    chosen = entries(
        ops, where, sample_weight, pred_shape[:axis] + pred_shape[axis + 1 :], dtype,
        "y_pred without axis",
    )
    prediction = _unit_vectors(ops, as_float(ops, chosen.hide(y_pred, axis), dtype), axis)
    target = _unit_vectors(ops, as_float(ops, chosen.hide(y_true, axis), dtype), axis)
    loss = 1.0 - ops.sum(prediction * target, axis=axis)
    return reduce(ops, loss, reduction, out_dtype, entries=chosen)
