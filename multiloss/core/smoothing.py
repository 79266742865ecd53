"""Label transforms: label smoothing."""

from __future__ import annotations

from multiloss.core.checks import check_rank, check_scalar, is_python_scalar, static_shape
from multiloss.core.common import as_float, compute_dtype, param_tensor
from multiloss.core.registry import register


@register(kind="transform", class_name=None)
def smooth_labels(ops, y_true, epsilon):
    r"""Label smoothing: mix one-hot (or soft) targets with the uniform distribution.

    .. math::

        \tilde y = (1 - \varepsilon)\, y + \frac{\varepsilon}{V}

    over the last axis of :math:`V` classes.

    Args:
        y_true: one-hot labels or class probabilities, shape ``[..., V]`` (integer
            one-hot labels give float32).
        epsilon (float or scalar tensor): ε in [0, 1], positional as in
            ``optax.losses.smooth_labels(labels, alpha)``: a Python number or a scalar
            tensor (traced values are not range-checked).

    Returns:
        The smoothed labels, shape of ``y_true``; in its floating dtype (half
        precision is computed in float32 and cast back).

    References:
        Szegedy et al., *Rethinking the Inception Architecture for Computer
        Vision*, section 7, https://arxiv.org/abs/1512.00567.

        Same numbers as ``optax.losses.smooth_labels(y_true, epsilon)``; the targets
        ``cross_entropy(..., label_smoothing=ε)`` uses.

    Example:
        >>> import numpy as np
        >>> from multiloss.core.ops import get_ops
        >>> y_true = np.array([[0.0, 1.0, 0.0]], np.float32)
        >>> labels = smooth_labels(get_ops("jax"), y_true, 0.1)
        >>> np.asarray(labels, np.float64).round(4).tolist()
        [[0.0333, 0.9333, 0.0333]]
    """
    shape = static_shape(y_true)
    check_rank("y_true", shape, 1)
    check_scalar("epsilon", epsilon, low=0.0, high=1.0)
    if not is_python_scalar(epsilon):
        epsilon_shape = static_shape(epsilon)
        if len(epsilon_shape) != 0:
            raise ValueError(f"epsilon must be a scalar, got shape {epsilon_shape}")
    dtype, out_dtype = compute_dtype(ops, y_true)
    labels = as_float(ops, y_true, dtype)
    if not is_python_scalar(epsilon):
        epsilon = param_tensor(ops, epsilon, dtype)
    num_classes = shape[-1]
    if num_classes == 0:  # nothing to smooth: the (empty) labels as they are
        return labels if dtype == out_dtype else ops.cast(labels, out_dtype)
    if num_classes is None:
        num_classes = ops.cast(ops.shape(labels)[-1], dtype)
    smoothed = (1.0 - epsilon) * labels + epsilon / num_classes
    return smoothed if dtype == out_dtype else ops.cast(smoothed, out_dtype)
